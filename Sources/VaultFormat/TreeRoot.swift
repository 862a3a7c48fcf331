import VaultCore

/// What a catalog entry records about a named tree: its root page, id and size.
public struct TreeRoot: Equatable, Sendable {
  /// The root page, or ``PageLink/null`` for an empty tree.
  public var root: PageLink
  public var id: TreeID
  /// The number of keys in the tree.
  public var count: UInt64

  public init(root: PageLink, id: TreeID, count: UInt64) {
    self.root = root
    self.id = id
    self.count = count
  }
}

/// The value part of a leaf cell, as stored. Plain data: inline values are byte ranges
/// of the buffer that holds the node, so copying cells never touches reference counts.
public enum StoredValue: Equatable, Sendable {
  /// The value's bytes, stored in the leaf (a range of the node's buffer).
  case inline(Range<Int>)
  /// A value too large for the leaf: its length and the first page of its overflow chain.
  case overflow(length: UInt64, head: PageLink)
  /// A named tree (catalog entries only).
  case tree(TreeRoot)

  /// The value kind byte that precedes the value in a cell.
  public var kind: UInt8 {
    switch self {
    case .inline: 0
    case .overflow: 1
    case .tree: 2
    }
  }

  /// The link this value stores in the page's link array, if any.
  public var link: PageLink? {
    switch self {
    case .inline: nil
    case .overflow(_, let head): head
    case .tree(let root): root.root.isNull ? nil : root.root
    }
  }

  /// Bytes the value part of a cell takes in a body (kind byte excluded), and whether
  /// it adds a link.
  var encodedSize: Int {
    switch self {
    case .inline(let range): 4 + range.count
    case .overflow: 8 + 2
    case .tree: 2 + 8 + 8
    }
  }
}

/// One cell of a leaf: its key and value, as ranges of the buffer holding the node.
public struct LeafCell: Equatable, Sendable {
  public var key: Range<Int>
  public var value: StoredValue

  public init(key: Range<Int>, value: StoredValue) {
    self.key = key
    self.value = value
  }
}

/// A decoded leaf: cells whose keys and inline values are ranges of `bytes`.
public struct LeafNode: Sendable {
  public var bytes: [UInt8]
  public var cells: [LeafCell]

  public init(bytes: [UInt8], cells: [LeafCell]) {
    self.bytes = bytes
    self.cells = cells
  }

  /// Builds a leaf from owned keys and values (tests, tools, new vaults).
  public init(_ entries: [(key: [UInt8], value: OwnedValue)]) {
    var bytes = [UInt8]()
    var cells = [LeafCell]()
    for (key, value) in entries {
      let keyRange = bytes.count..<bytes.count + key.count
      bytes += key
      switch value {
      case .inline(let data):
        cells.append(
          LeafCell(key: keyRange, value: .inline(bytes.count..<bytes.count + data.count)))
        bytes += data
      case .overflow(let length, let head):
        cells.append(LeafCell(key: keyRange, value: .overflow(length: length, head: head)))
      case .tree(let root):
        cells.append(LeafCell(key: keyRange, value: .tree(root)))
      }
    }
    self.init(bytes: bytes, cells: cells)
  }

  public func key(_ index: Int) -> ArraySlice<UInt8> { bytes[cells[index].key] }

  /// The links the cells refer to, in cell order.
  public var links: [PageLink] { cells.compactMap(\.value.link) }
}

/// A leaf value with its bytes owned, for building leaves outside the engine.
public enum OwnedValue: Equatable, Sendable {
  case inline([UInt8])
  case overflow(length: UInt64, head: PageLink)
  case tree(TreeRoot)
}

/// A decoded interior node: separators are ranges of `bytes`; children are links.
public struct InteriorNode: Sendable {
  public var bytes: [UInt8]
  public var separators: [Range<Int>]
  public var children: [PageLink]

  public init(bytes: [UInt8], separators: [Range<Int>], children: [PageLink]) {
    self.bytes = bytes
    self.separators = separators
    self.children = children
  }

  public func separator(_ index: Int) -> ArraySlice<UInt8> { bytes[separators[index]] }
}
