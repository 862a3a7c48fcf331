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
