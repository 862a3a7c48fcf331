import VaultCore

/// The value part of a leaf cell, as stored. Plain data: inline values are byte ranges
/// of the buffer that holds the node, so copying cells never touches reference counts.
public enum StoredValue: Equatable, Sendable {
  /// The value's bytes, stored in the leaf (a range of the node's buffer).
  case inline(Range<Int>)
  /// A value too large for the leaf: its length and the first page of its overflow chain.
  case overflow(length: UInt64, head: PageLink)
  /// A named tree (catalog entries only).
  case tree(TreeRoot)
  /// A blob extent (``BlobExtent``): the run of `pages` pages starting at `head`.
  case extent(pages: UInt32, head: PageLink)

  /// The value kind byte that precedes the value in a cell.
  public var kind: UInt8 {
    switch self {
    case .inline: 0
    case .overflow: 1
    case .tree: 2
    case .extent: 3
    }
  }

  /// The link this value stores in the page's link array, if any.
  public var link: PageLink? {
    switch self {
    case .inline: nil
    case .overflow(_, let head): head
    case .tree(let root): root.root.isNull ? nil : root.root
    case .extent(_, let head): head
    }
  }

  /// Bytes the value part of a cell takes in a body (kind byte excluded), and whether
  /// it adds a link.
  var encodedSize: Int {
    switch self {
    case .inline(let range): 4 + range.count
    case .overflow: 8 + 2
    case .tree: 2 + 8 + 8
    case .extent: 4 + 2
    }
  }
}
