import VaultCore

/// Encoding and decoding of B+tree interior pages.
///
/// Links: the N + 1 children, left to right (never null).
///
/// Body layout:
///
/// | size | field |
/// |---|---|
/// | 2 | separator count N (at least 1; equals link count − 1) |
/// | ... | N separators: `u16` length, key bytes, strictly ascending |
///
/// Child `i` holds the keys `k` with `separator[i−1] ≤ k < separator[i]`.
public enum InteriorPage {
  /// Bytes a separator adds to the page, including the link of the child to its right.
  public static func entrySize(keyLength: Int) -> Int { 2 + keyLength + FileFormat.linkSize }

  /// Content bytes of an interior page with these separators: the first child's link,
  /// the count, and one entry per separator.
  public static func contentSize(separatorBytes: Int) -> Int {
    FileFormat.linkSize + 2 + separatorBytes
  }

  /// Content bytes (links and body) of an interior node with these separators.
  public static func contentSize(of separators: some Collection<Range<Int>>) -> Int {
    contentSize(separatorBytes: separators.reduce(0) { $0 + entrySize(keyLength: $1.count) })
  }

  /// Bytes of body (links excluded) for these separators.
  public static func bodyLength(of separators: some Collection<Range<Int>>) -> Int {
    separators.reduce(2) { $0 + 2 + $1.count }
  }

  /// An interior page. `children.count` must be `separators.count + 1`; separators are
  /// ranges of `bytes`.
  public static func encode(
    separators: [Range<Int>], in bytes: [UInt8], children: [PageLink], page: PageNumber,
    transaction: TransactionID, tree: TreeID, pageSize: Int, sealed: Bool = false
  ) -> [UInt8] {
    encodeNode(
      separators: separators, in: bytes, children: children, page: page,
      transaction: transaction, tree: tree, pageSize: pageSize, sealed: sealed
    ).bytes
  }

  /// Like ``encode(separators:in:children:page:transaction:tree:pageSize:)``, and also
  /// returns the node as it lies in the new page, as decoding it would.
  public static func encodeNode(
    separators: [Range<Int>], in bytes: [UInt8], children: [PageLink], page: PageNumber,
    transaction: TransactionID, tree: TreeID, pageSize: Int, sealed: Bool = false
  ) -> InteriorNode {
    precondition(children.count == separators.count + 1 && !separators.isEmpty)
    let bodyLength = bodyLength(of: separators)
    let header = PageHeader(
      type: .interior, pageNumber: page, transaction: transaction, tree: tree,
      linkCount: children.count, bodyLength: bodyLength,
      flags: sealed ? FileFormat.sealedFlag : 0)
    let encoded = Page.build(
      header: header, links: children, bodyLength: bodyLength, pageSize: pageSize
    ) { output in
      bytes.withUnsafeBytes { source in
        var body = RawWriter(output)
        writeBody(separators, source: source, into: &body)
      }
    }
    // Separators follow one another after the count, each after its 2-byte length.
    var offset = header.bodyOffset + 2
    var placed = [Range<Int>]()
    placed.reserveCapacity(separators.count)
    for range in separators {
      placed.append(offset + 2..<offset + 2 + range.count)
      offset += 2 + range.count
    }
    return InteriorNode(bytes: encoded, separators: placed, children: children)
  }

  /// Writes an interior body; `source` holds the separators' bytes.
  public static func writeBody(
    _ separators: [Range<Int>], source: UnsafeRawBufferPointer, into body: inout RawWriter
  ) {
    body.write(UInt16(separators.count))
    for range in separators {
      body.write(UInt16(range.count))
      body.write(UnsafeRawBufferPointer(rebasing: source[range]))
    }
  }

  /// Decodes an interior page: separators as ranges of its bytes, children its links.
  public static func decode(_ page: Page) throws(VaultError) -> InteriorNode {
    guard page.header.type == .interior else {
      throw VaultError(
        .corruptPage, "expected an interior page, found \(page.header.type)",
        page: page.header.pageNumber.rawValue)
    }
    try page.requirePlaintextBody()
    var reader = page.bodyReader()
    return InteriorNode(
      bytes: page.bytes, separators: try decodeBody(&reader, links: page.links),
      children: page.links)
  }

  /// Decodes an interior body from `reader` up to its limit; `links` are its children.
  public static func decodeBody(_ reader: inout ByteReader, links: [PageLink]) throws(VaultError)
    -> [Range<Int>]
  {
    let count = Int(try reader.readUInt16("separator count"))
    guard count >= 1, count + 1 == links.count else {
      throw reader.corrupt("\(count) separators for \(links.count) children")
    }
    var separators = [Range<Int>]()
    separators.reserveCapacity(count)
    for _ in 0..<count {
      let length = Int(try reader.readUInt16("separator length"))
      guard length <= FileFormat.maximumKeyLength else {
        throw reader.corrupt("separator length \(length) exceeds the maximum")
      }
      let key = try reader.readRange(length, "separator")
      if let previous = separators.last,
        KeyOrder.compare(reader.bytes[previous], reader.bytes[key]) >= 0
      {
        throw reader.corrupt("separators are not in ascending order")
      }
      separators.append(key)
    }
    guard reader.isAtEnd else { throw reader.corrupt("unexpected bytes after the separators") }
    if links.contains(where: \.isNull) {
      throw reader.corrupt("interior node has a null child")
    }
    return separators
  }
}
