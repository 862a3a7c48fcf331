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

/// The value part of a leaf cell, as stored.
public enum CellValue: Equatable, Sendable {
  /// The value's bytes, stored in the leaf.
  case inline(ArraySlice<UInt8>)
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
}
