import VaultCore

/// Encoding and decoding of B+tree leaf pages.
///
/// Links: one per cell whose value refers to a page (overflow head or tree root), in
/// cell order.
///
/// Body layout:
///
/// | size | field |
/// |---|---|
/// | 2 | cell count C (at least 1) |
/// | ... | C cells, keys strictly ascending (bytewise, shorter first on a tie) |
///
/// A cell: `u16` key length, key bytes, `u8` value kind, then by kind:
/// - 0 inline: `u32` length, the bytes;
/// - 1 overflow: `u64` total length, `u16` link index;
/// - 2 tree: `u16` link index (`0xFFFF` for an empty tree), `u64` tree id, `u64` key count;
/// - 3 extent: `u32` page count, `u16` link index (a blob extent, ``BlobExtent``).
public enum LeafPage {
  /// Marks a tree cell whose tree is empty and has no root page.
  public static let noLink: UInt16 = 0xFFFF

  /// Bytes a cell takes in the body, plus the link it adds.
  public static func cellSize(keyLength: Int, value: StoredValue) -> Int {
    2 + keyLength + 1 + value.encodedSize + (value.link == nil ? 0 : FileFormat.linkSize)
  }

  /// Size of an inline cell holding `valueLength` bytes under a key of `keyLength`.
  public static func inlineCellSize(keyLength: Int, valueLength: Int) -> Int {
    2 + keyLength + 1 + 4 + valueLength
  }

  /// The largest inline cell: a quarter of the page's content, so a leaf always holds
  /// at least four cells and a split always yields two leaves that fit.
  public static func maximumInlineCellSize(pageSize: Int) -> Int {
    (FileFormat.contentCapacity(pageSize: pageSize) - 2) / 4
  }

  /// Content bytes (links and body) a leaf of these cells takes.
  public static func contentSize(of cells: some Collection<LeafCell>) -> Int {
    cells.reduce(2) { $0 + cellSize(keyLength: $1.key.count, value: $1.value) }
  }

  /// Bytes of body (links excluded) a leaf of these cells takes.
  public static func bodyLength(of cells: some Collection<LeafCell>) -> Int {
    cells.reduce(2) { $0 + 2 + $1.key.count + 1 + $1.value.encodedSize }
  }

  /// A leaf page holding `cells` (keys and inline values in `bytes`), which must be
  /// sorted and fit the page.
  public static func encode(
    _ cells: [LeafCell], in bytes: [UInt8], page: PageNumber, transaction: TransactionID,
    tree: TreeID, pageSize: Int, sealed: Bool = false
  ) -> [UInt8] {
    encodeNode(
      cells, in: bytes, page: page, transaction: transaction, tree: tree, pageSize: pageSize,
      sealed: sealed
    )
    .bytes
  }

  /// Like ``encode(_:in:page:transaction:tree:pageSize:)``, and also returns the leaf as
  /// it lies in the new page (cells as ranges of the page), as decoding it would.
  public static func encodeNode(
    _ cells: [LeafCell], in bytes: [UInt8], page: PageNumber, transaction: TransactionID,
    tree: TreeID, pageSize: Int, sealed: Bool = false
  ) -> LeafNode {
    let links = cells.compactMap(\.value.link)
    let bodyLength = bodyLength(of: cells)
    let header = PageHeader(
      type: .leaf, pageNumber: page, transaction: transaction, tree: tree,
      linkCount: links.count, bodyLength: bodyLength,
      flags: sealed ? FileFormat.sealedFlag : 0)
    var placed = [LeafCell]()
    placed.reserveCapacity(cells.count)
    let page = Page.build(
      header: header, links: links, bodyLength: bodyLength, pageSize: pageSize
    ) { output in
      bytes.withUnsafeBytes { source in
        var body = RawWriter(output)
        writeBody(cells, source: source, into: &body) { placed.append($0) }
      }
    }
    let bodyOffset = header.bodyOffset
    return LeafNode(
      bytes: page,
      cells: placed.map { cell in
        var moved = cell
        moved.key = cell.key.lowerBound + bodyOffset..<cell.key.upperBound + bodyOffset
        if case .inline(let range) = cell.value {
          moved.value = .inline(range.lowerBound + bodyOffset..<range.upperBound + bodyOffset)
        }
        return moved
      })
  }

  /// Writes a leaf body; `source` holds the keys and inline values. `placed` receives
  /// each cell as written (ranges relative to the start of the body).
  public static func writeBody(
    _ cells: [LeafCell], source: UnsafeRawBufferPointer, into body: inout RawWriter,
    placed: (LeafCell) -> Void = { _ in }
  ) {
    body.write(UInt16(cells.count))
    var linkIndex: UInt16 = 0
    for cell in cells {
      body.write(UInt16(cell.key.count))
      let keyStart = body.offset
      body.write(UnsafeRawBufferPointer(rebasing: source[cell.key]))
      let key = keyStart..<body.offset
      body.write(cell.value.kind)
      switch cell.value {
      case .inline(let range):
        body.write(UInt32(range.count))
        let valueStart = body.offset
        body.write(UnsafeRawBufferPointer(rebasing: source[range]))
        placed(LeafCell(key: key, value: .inline(valueStart..<body.offset)))
      case .overflow(let length, _):
        body.write(length)
        body.write(linkIndex)
        linkIndex += 1
        placed(LeafCell(key: key, value: cell.value))
      case .tree(let root):
        if root.root.isNull {
          body.write(noLink)
        } else {
          body.write(linkIndex)
          linkIndex += 1
        }
        body.write(root.id.rawValue)
        body.write(root.count)
        placed(LeafCell(key: key, value: cell.value))
      case .extent(let pages, _):
        body.write(pages)
        body.write(linkIndex)
        linkIndex += 1
        placed(LeafCell(key: key, value: cell.value))
      }
    }
  }

  /// Decodes a leaf page. Checks that keys ascend, every link is used once in order,
  /// and the body holds nothing else. Cells are ranges of the page's bytes: no copy.
  public static func decode(_ page: Page) throws(VaultError) -> LeafNode {
    guard page.header.type == .leaf else {
      throw VaultError(
        .corruptPage, "expected a leaf page, found \(page.header.type)",
        page: page.header.pageNumber.rawValue)
    }
    try page.requirePlaintextBody()
    var reader = page.bodyReader()
    return LeafNode(bytes: page.bytes, cells: try decodeBody(&reader, links: page.links))
  }

  /// Decodes a leaf body from `reader` up to its limit; `links` are the page's links.
  /// Ranges refer to `reader.bytes`.
  public static func decodeBody(_ reader: inout ByteReader, links: [PageLink]) throws(VaultError)
    -> [LeafCell]
  {
    let count = Int(try reader.readUInt16("cell count"))
    guard count >= 1 else { throw reader.corrupt("leaf has no cells") }
    var cells = [LeafCell]()
    cells.reserveCapacity(count)
    var nextLink = 0
    for _ in 0..<count {
      let keyLength = Int(try reader.readUInt16("key length"))
      guard keyLength <= FileFormat.maximumKeyLength else {
        throw reader.corrupt("key length \(keyLength) exceeds the maximum")
      }
      let key = try reader.readRange(keyLength, "key")
      if let previous = cells.last?.key,
        KeyOrder.compare(reader.bytes[previous], reader.bytes[key]) >= 0
      {
        throw reader.corrupt("leaf keys are not in ascending order")
      }
      let kind = try reader.readUInt8("value kind")
      let value: StoredValue
      switch kind {
      case 0:
        let length = Int(try reader.readUInt32("value length"))
        value = .inline(try reader.readRange(length, "value"))
      case 1:
        let length = try reader.readUInt64("overflow length")
        let index = Int(try reader.readUInt16("link index"))
        guard index == nextLink, index < links.count, !links[index].isNull else {
          throw reader.corrupt("overflow cell refers to link \(index), expected \(nextLink)")
        }
        nextLink += 1
        value = .overflow(length: length, head: links[index])
      case 2:
        let index = try reader.readUInt16("link index")
        var root = PageLink.null
        if index != noLink {
          guard Int(index) == nextLink, Int(index) < links.count, !links[Int(index)].isNull else {
            throw reader.corrupt("tree cell refers to link \(index), expected \(nextLink)")
          }
          root = links[Int(index)]
          nextLink += 1
        }
        let id = TreeID(try reader.readUInt64("tree id"))
        let keyCount = try reader.readUInt64("tree key count")
        value = .tree(TreeRoot(root: root, id: id, count: keyCount))
      case 3:
        let pages = try reader.readUInt32("extent page count")
        let index = Int(try reader.readUInt16("link index"))
        guard pages >= 1 else { throw reader.corrupt("extent of no pages") }
        guard index == nextLink, index < links.count, !links[index].isNull else {
          throw reader.corrupt("extent cell refers to link \(index), expected \(nextLink)")
        }
        nextLink += 1
        value = .extent(pages: pages, head: links[index])
      default:
        throw reader.corrupt("unknown value kind \(kind)")
      }
      cells.append(LeafCell(key: key, value: value))
    }
    guard nextLink == links.count else {
      throw reader.corrupt("leaf has \(links.count) links but its cells use \(nextLink)")
    }
    guard reader.isAtEnd else { throw reader.corrupt("unexpected bytes after the last cell") }
    return cells
  }
}
