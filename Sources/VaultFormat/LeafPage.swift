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
/// - 2 tree: `u16` link index (`0xFFFF` for an empty tree), `u64` tree id, `u64` key count.
public enum LeafPage {
  /// Marks a tree cell whose tree is empty and has no root page.
  public static let noLink: UInt16 = 0xFFFF

  /// Bytes a cell takes in the body, plus the link it adds.
  public static func cellSize(keyLength: Int, value: CellValue) -> Int {
    let fixed = 2 + keyLength + 1
    switch value {
    case .inline(let bytes): return fixed + 4 + bytes.count
    case .overflow: return fixed + 8 + 2 + FileFormat.linkSize
    case .tree(let root): return fixed + 2 + 8 + 8 + (root.root.isNull ? 0 : FileFormat.linkSize)
    }
  }

  /// Size of an inline cell holding `valueLength` bytes under a key of `keyLength`.
  public static func inlineCellSize(keyLength: Int, valueLength: Int) -> Int {
    2 + keyLength + 1 + 4 + valueLength
  }

  /// Content bytes (links plus body) of a leaf whose cells total `cellBytes`.
  public static func contentSize(cellBytes: Int) -> Int { 2 + cellBytes }

  /// The largest inline cell: a quarter of the page's content, so a leaf always holds
  /// at least four cells and a split always yields two leaves that fit.
  public static func maximumInlineCellSize(pageSize: Int) -> Int {
    (FileFormat.contentCapacity(pageSize: pageSize) - 2) / 4
  }

  /// A leaf page holding `cells`, which must be sorted and fit the page.
  public static func encode(
    cells: [(key: ArraySlice<UInt8>, value: CellValue)], page: PageNumber,
    transaction: TransactionID, tree: TreeID, pageSize: Int
  ) -> [UInt8] {
    var links = [PageLink]()
    var bodyLength = 2
    for cell in cells {
      bodyLength += cellSize(keyLength: cell.key.count, value: cell.value)
      if let link = cell.value.link {
        links.append(link)
        bodyLength -= FileFormat.linkSize
      }
    }
    let header = PageHeader(
      type: .leaf, pageNumber: page, transaction: transaction, tree: tree,
      linkCount: links.count, bodyLength: bodyLength)
    return Page.build(header: header, links: links, bodyLength: bodyLength, pageSize: pageSize) {
      var body = RawWriter($0)
      body.write(UInt16(cells.count))
      var linkIndex: UInt16 = 0
      for cell in cells {
        body.write(UInt16(cell.key.count))
        body.write(cell.key)
        body.write(cell.value.kind)
        switch cell.value {
        case .inline(let bytes):
          body.write(UInt32(bytes.count))
          body.write(bytes)
        case .overflow(let length, _):
          body.write(length)
          body.write(linkIndex)
          linkIndex += 1
        case .tree(let root):
          if root.root.isNull {
            body.write(noLink)
          } else {
            body.write(linkIndex)
            linkIndex += 1
          }
          body.write(root.id.rawValue)
          body.write(root.count)
        }
      }
    }
  }

  /// Appends the body of a leaf holding `cells` to `body`; returns the links the cells
  /// refer to, in order.
  public static func encodeBody(
    cells: [(key: ArraySlice<UInt8>, value: CellValue)], into body: inout ByteWriter
  ) -> [PageLink] {
    var links = [PageLink]()
    body.write(UInt16(cells.count))
    for cell in cells {
      body.write(UInt16(cell.key.count))
      body.write(cell.key)
      body.write(cell.value.kind)
      switch cell.value {
      case .inline(let bytes):
        body.write(UInt32(bytes.count))
        body.write(bytes)
      case .overflow(let length, let head):
        body.write(length)
        body.write(UInt16(links.count))
        links.append(head)
      case .tree(let root):
        if root.root.isNull {
          body.write(noLink)
        } else {
          body.write(UInt16(links.count))
          links.append(root.root)
        }
        body.write(root.id.rawValue)
        body.write(root.count)
      }
    }
    return links
  }

  /// Decodes the cells of a leaf page. Checks that keys ascend, every link is used once
  /// in order, and the body holds nothing else. Keys and inline values are slices of the
  /// page's bytes: no copy.
  public static func decode(_ page: Page) throws(VaultError) -> [(
    key: ArraySlice<UInt8>, value: CellValue
  )] {
    guard page.header.type == .leaf else {
      throw VaultError(
        .corruptPage, "expected a leaf page, found \(page.header.type)",
        page: page.header.pageNumber.rawValue)
    }
    var reader = page.bodyReader()
    return try decodeBody(&reader, links: page.links)
  }

  /// Decodes a leaf body from `reader` up to its limit; `links` are the page's links.
  public static func decodeBody(_ reader: inout ByteReader, links: [PageLink]) throws(VaultError)
    -> [(key: ArraySlice<UInt8>, value: CellValue)]
  {
    let count = Int(try reader.readUInt16("cell count"))
    guard count >= 1 else { throw reader.corrupt("leaf has no cells") }
    var cells = [(key: ArraySlice<UInt8>, value: CellValue)]()
    cells.reserveCapacity(count)
    var nextLink = 0
    for _ in 0..<count {
      let keyLength = Int(try reader.readUInt16("key length"))
      guard keyLength <= FileFormat.maximumKeyLength else {
        throw reader.corrupt("key length \(keyLength) exceeds the maximum")
      }
      let key = reader.bytes[try reader.readRange(keyLength, "key")]
      if let previous = cells.last?.key, !KeyOrder.less(previous, key) {
        throw reader.corrupt("leaf keys are not in ascending order")
      }
      let kind = try reader.readUInt8("value kind")
      let value: CellValue
      switch kind {
      case 0:
        let length = Int(try reader.readUInt32("value length"))
        value = .inline(reader.bytes[try reader.readRange(length, "value")])
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
      default:
        throw reader.corrupt("unknown value kind \(kind)")
      }
      cells.append((key, value))
    }
    guard nextLink == links.count else {
      throw reader.corrupt("leaf has \(links.count) links but its cells use \(nextLink)")
    }
    guard reader.isAtEnd else { throw reader.corrupt("unexpected bytes after the last cell") }
    return cells
  }
}
