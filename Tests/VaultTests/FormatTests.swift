import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@Suite struct FormatTests {
  let vaultID = Array(0..<16).map { UInt8($0) }

  @Test(arguments: [4096, 8192, 16_384, 32_768, 65_536])
  func headerRoundTrips(pageSize: Int) throws {
    let header = FileHeader(
      pageSize: pageSize, vaultID: vaultID, createdAtMilliseconds: 1_700_000_000_123,
      generation: 3, keySlot: [9, 8, 7])
    let bytes = header.encodePage(PageNumber(1), transaction: TransactionID(5))
    #expect(bytes.count == pageSize)
    #expect(try FileHeader.peekPageSize(Array(bytes.prefix(4096)), page: PageNumber(1)) == pageSize)
    let page = try Page(bytes, location: PageNumber(1))
    #expect(page.hasValidChecksum)
    #expect(try FileHeader(page: page) == header)
  }

  @Test func headerFromTheFutureIsRefused() throws {
    var header = FileHeader(pageSize: 4096, vaultID: vaultID, createdAtMilliseconds: 0)
    header.incompatibleFeatures = 0x80
    let page = try Page(
      header.encodePage(PageNumber(0), transaction: TransactionID(0)), location: PageNumber(0))
    #expect { try FileHeader(page: page) } throws: {
      ($0 as? VaultError)?.code == .unsupportedVersion
    }
    header.incompatibleFeatures = 0
    header.formatVersion = 2
    let newer = header.encodePage(PageNumber(0), transaction: TransactionID(0))
    #expect {
      try FileHeader.peekPageSize(Array(newer.prefix(4096)), page: PageNumber(0))
    } throws: { ($0 as? VaultError)?.code == .unsupportedVersion }
  }

  @Test func metaRoundTripsWithEachKindOfEmbeddedRoot() throws {
    let link = PageLink(
      page: PageNumber(9), transaction: TransactionID(4), checksum: Checksum(low: 1, high: 2))
    let other = PageLink(
      page: PageNumber(12), transaction: TransactionID(6), checksum: Checksum(low: 3, high: 4))
    let free = FreeListEntry(freedBy: TransactionID(3), chunk: 0, pages: [PageNumber(8)])
    let leaf = LeafNode([
      (SystemTree.catalogKey("clients"), .tree(TreeRoot(root: link, id: TreeID(16), count: 5))),
      (free.key, .inline(free.value)),
    ])
    let roots: [SystemRoot] = [
      .empty,
      .leaf(leaf),
      .interior(InteriorNode(bytes: [2], separators: [0..<1], children: [link, other])),
    ]
    for root in roots {
      let meta = MetaPage(
        transaction: TransactionID(7), vaultID: vaultID, pageCount: 20,
        committedAtMilliseconds: 5, nextTreeID: TreeID(17), freePageCount: 3, treeCount: 1,
        root: root)
      let bytes = meta.encode(pageSize: 4096)
      #expect(FileFormat.metaPage(for: TransactionID(7)) == PageNumber(11))
      let decoded = try MetaPage(page: Page(bytes, location: PageNumber(11)))
      #expect(decoded == meta)
      #expect(decoded.root.links == root.links)
      // The same bytes read from the other slot are a misdirected write.
      #expect(throws: VaultError.self) { try Page(bytes, location: PageNumber(2)) }
    }
  }

  /// A blob extent's header and checksum round-trip, and each kind of damage is named:
  /// a wrong type, a misdirected or stale run, a length that does not fill its pages, a
  /// flipped body bit, padding that is not zero.
  @Test func blobExtentsVerifyAgainstTheirLink() throws {
    let pageSize = 4096
    let body = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
    var run = BlobExtent.emptyRun(bodyLength: body.count, pageSize: pageSize)
    #expect(run.count == 3 * pageSize)
    run.replaceSubrange(64..<64 + body.count, with: body)
    let link = BlobExtent.finish(
      &run, bodyLength: body.count, page: PageNumber(40), transaction: TransactionID(9),
      tree: TreeID(20))
    let header = try BlobExtent.verify(
      run, against: link, tree: TreeID(20), pages: 3, pageSize: pageSize)
    #expect(header.bodyLength == body.count && header.page == PageNumber(40))
    func fails(_ change: (inout [UInt8]) -> Void, pages: Int = 3, tree: TreeID = TreeID(20))
      -> Bool
    {
      var copy = run
      change(&copy)
      do {
        _ = try BlobExtent.verify(copy, against: link, tree: tree, pages: pages, pageSize: pageSize)
        return false
      } catch { return error.code == .corruptPage }
    }
    #expect(fails { $0[16] = 5 })
    #expect(fails { $0[24] ^= 1 })
    #expect(fails { $0[100] ^= 0x40 })
    #expect(fails { $0[$0.count - 1] = 1 })
    #expect(fails({ _ in }, pages: 4))
    #expect(fails({ _ in }, tree: TreeID(21)))
    var stale = link
    stale.transaction = TransactionID(8)
    #expect(throws: VaultError.self) {
      try BlobExtent.verify(run, against: stale, tree: TreeID(20), pages: 3, pageSize: pageSize)
    }
    // Skipping the body's checksum (a keyed reader) still checks the header.
    #expect(throws: VaultError.self) {
      var moved = run
      moved[24] ^= 1
      try BlobExtent.verify(
        moved, against: link, tree: TreeID(20), pages: 3, pageSize: pageSize, checksum: false)
    }
    #expect(throws: VaultError.self) {
      try BlobExtent.decodeHeader(Array(run.prefix(10))[...], location: PageNumber(40))
    }
  }

  @Test func leafRoundTripsEveryValueKind() throws {
    let head = PageLink(
      page: PageNumber(30), transaction: TransactionID(2), checksum: Checksum(low: 5, high: 6))
    let root = PageLink(
      page: PageNumber(31), transaction: TransactionID(2), checksum: Checksum(low: 7, high: 8))
    let extent = PageLink(
      page: PageNumber(40), transaction: TransactionID(2), checksum: Checksum(low: 9, high: 10))
    let leaf = LeafNode([
      ([], .inline([1, 2, 3])),
      ([0x61], .overflow(length: 100_000, head: head)),
      ([0x62], .tree(TreeRoot(root: root, id: TreeID(16), count: 44))),
      ([0x63], .tree(TreeRoot(root: .null, id: TreeID(17), count: 0))),
      ([0x64], .extent(pages: 1025, head: extent)),
    ])
    let bytes = LeafPage.encode(
      leaf.cells, in: leaf.bytes, page: PageNumber(12), transaction: TransactionID(3),
      tree: TreeID(1), pageSize: 4096)
    let page = try Page(bytes, location: PageNumber(12))
    #expect(page.links == [head, root, extent])
    let decoded = try LeafPage.decode(page)
    #expect(
      decoded.cells.map { Array(decoded.bytes[$0.key]) }
        == leaf.cells.map { Array(leaf.bytes[$0.key]) })
    #expect(decoded.cells.map(\.value.kind) == [0, 1, 2, 2, 3])
    #expect(decoded.cells[4].value == .extent(pages: 1025, head: extent))
    if case .inline(let range) = decoded.cells[0].value {
      #expect(Array(decoded.bytes[range]) == [1, 2, 3])
    } else {
      Issue.record("first cell is not inline")
    }
    #expect(decoded.cells[1].value == .overflow(length: 100_000, head: head))
    #expect(decoded.cells[3].value == .tree(TreeRoot(root: .null, id: TreeID(17), count: 0)))
    let expectedSize = leaf.cells.reduce(2) {
      $0 + LeafPage.cellSize(keyLength: $1.key.count, value: $1.value)
    }
    #expect(page.header.linkCount * 32 + page.header.bodyLength == expectedSize)
  }

  /// Written pages go into the cache without being decoded: the layout the encoder
  /// reports must be exactly what decoding finds.
  @Test func encodersReportTheLayoutDecodingFinds() throws {
    let head = PageLink(
      page: PageNumber(30), transaction: TransactionID(2), checksum: Checksum(low: 5, high: 6))
    let leaf = LeafNode([
      ([1, 2], .inline([9, 9, 9])), ([3], .overflow(length: 70_000, head: head)),
      ([4, 4], .inline([])),
    ])
    let encoded = LeafPage.encodeNode(
      leaf.cells, in: leaf.bytes, page: PageNumber(5), transaction: TransactionID(3),
      tree: TreeID(16), pageSize: 4096)
    let decoded = try LeafPage.decode(Page(encoded.bytes, location: PageNumber(5)))
    #expect(encoded.cells == decoded.cells)
    let interior = InteriorPage.encodeNode(
      separators: [0..<2, 2..<5], in: [1, 2, 3, 4, 5], children: [head, head, head],
      page: PageNumber(6), transaction: TransactionID(3), tree: TreeID(16), pageSize: 4096)
    let decodedInterior = try InteriorPage.decode(Page(interior.bytes, location: PageNumber(6)))
    #expect(interior.separators == decodedInterior.separators)
  }

  @Test func interiorAndOverflowRoundTrip() throws {
    let children = (1...3).map {
      PageLink(
        page: PageNumber(UInt64(10 + $0)), transaction: TransactionID(1),
        checksum: Checksum(low: UInt64($0), high: 0))
    }
    let separatorBytes: [UInt8] = [5, 5, 1]
    let interior = InteriorPage.encode(
      separators: [0..<1, 1..<3], in: separatorBytes, children: children, page: PageNumber(8),
      transaction: TransactionID(2), tree: TreeID(16), pageSize: 4096)
    let page = try Page(interior, location: PageNumber(8))
    let node = try InteriorPage.decode(page)
    #expect(node.separators.map { Array(node.bytes[$0]) } == [[5], [5, 1]])
    #expect(node.children == children)
    let piece = Array(repeating: UInt8(3), count: OverflowPage.capacity(pageSize: 4096))
    let overflow = OverflowPage.encode(
      piece: piece[...], next: children[0], page: PageNumber(9), transaction: TransactionID(2),
      tree: TreeID(16), pageSize: 4096)
    let decoded = try OverflowPage.decode(Page(overflow, location: PageNumber(9)))
    #expect(Array(decoded.piece) == piece && decoded.next == children[0])
  }

  @Test func freeListEntriesRoundTripAndSortByTransaction() throws {
    let entry = FreeListEntry(
      freedBy: TransactionID(300), chunk: 2, pages: [PageNumber(5), PageNumber(9)])
    #expect(try FreeListEntry(key: entry.key[...], value: entry.value[...]) == entry)
    #expect(KeyOrder.less(FreeListEntry.key(freedBy: TransactionID(2), chunk: 9), entry.key))
    #expect(throws: VaultError.self) {
      try FreeListEntry(
        key: entry.key[...], value: (entry.value.suffix(8) + entry.value.prefix(8))[...])
    }
  }

  @Test func keyOrderIsBytewiseWithPrefixesFirst() {
    #expect(KeyOrder.less([UInt8](), [0]))
    #expect(KeyOrder.less([1, 2], [1, 2, 0]))
    #expect(KeyOrder.less([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 9]))
    #expect(KeyOrder.less([0x7F], [0x80]))
    #expect(KeyOrder.compare([9, 9], [9, 9]) == 0)
  }

  /// Random bytes fed to every decoder: typed errors, never a trap.
  @Test func decodersRejectRandomPagesWithoutTrapping() throws {
    var random = SeededGenerator(seed: testSeed(2026))
    for round in 0..<3000 {
      var bytes = random.bytes(4096)
      // Make the framing plausible often, so decoders past it get exercised too.
      if round % 2 == 0 {
        bytes[16] = UInt8(1 + round % 5)
        bytes[17] = 0
        bytes[18] = UInt8(round % 4)
        bytes[19] = 0
        let length = UInt32(round % 600)
        withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(20..<24, with: $0) }
        withUnsafeBytes(of: UInt64(7).littleEndian) { bytes.replaceSubrange(24..<32, with: $0) }
      }
      guard let page = try? Page(bytes, location: PageNumber(7)) else { continue }
      _ = try? LeafPage.decode(page)
      _ = try? InteriorPage.decode(page)
      _ = try? OverflowPage.decode(page)
      _ = try? MetaPage(page: page)
      _ = try? FileHeader(page: page)
    }
  }

  @Test func zstdRoundTripsAndRefusesOversizedFrames() throws {
    let text = Array(String(repeating: "studio vault ", count: 500).utf8)
    let compressed = try Zstd.compress(text)
    #expect(compressed.count < text.count / 10)
    #expect(try Zstd.decompress(compressed, maximumSize: text.count) == text)
    #expect(throws: VaultError.self) { try Zstd.decompress(compressed, maximumSize: 100) }
    #expect(throws: VaultError.self) { try Zstd.decompress([1, 2, 3, 4, 5, 6], maximumSize: 100) }
  }

  /// Expected values from an independent Poly1305 (RFC 8439, section 2.5) written in
  /// Python with big integers, itself checked against the RFC's test vector.
  @Test func checksumIsPoly1305UnderThePublicKey() {
    #expect(Checksum(of: [UInt8]()).description == "20636865636b73756d206b6579207631")
    #expect(
      Checksum(of: Array("Cryptographic Forum Research Group".utf8)).description
        == "b1f1508f81738cb24452a6436858163f")
    let pattern = Array((0..<4).flatMap { _ in (0...255).map { UInt8($0) } })
    #expect(Checksum(of: pattern).description == "6367d2a59f9e0273738fa719e75751af")
    // Split anywhere, the two-part form is the same function.
    for split in [0, 1, 15, 16, 17, 500, 1024] {
      let parts = pattern.withUnsafeBytes {
        Checksum(
          of: UnsafeRawBufferPointer(rebasing: $0[..<split]),
          then: UnsafeRawBufferPointer(rebasing: $0[split...]))
      }
      #expect(parts == Checksum(of: pattern), "split at \(split)")
    }
  }
}
