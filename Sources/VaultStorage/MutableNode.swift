import VaultCore
import VaultFormat

/// A reference from a parent (or a tree's root) to a child node during a write
/// transaction: either a committed page or a node this transaction has changed.
enum ChildRef {
  case clean(PageLink)
  case dirty(MutableNode)
}

/// A leaf value during a write transaction.
enum PendingValue {
  /// A value as committed (inline bytes, an overflow chain, or a tree root).
  case stored(CellValue)
  /// A new value too large for a leaf; its overflow chain is written at commit.
  case large([UInt8])
  /// A catalog entry for a tree this transaction changed; its root is written first.
  case tree(TreeState)
}

/// A B+tree node changed by the current write transaction. It gets a page number only
/// at commit, when every dirty page of the transaction is allocated at once so that
/// they land in as few contiguous runs as possible.
final class MutableNode {
  var isLeaf: Bool
  /// Leaf keys or interior separators. Slices share the storage of committed pages.
  var keys: [ArraySlice<UInt8>]
  var values: [PendingValue]
  var children: [ChildRef]
  /// Exactly the bytes the node's links and body will take when encoded.
  var contentSize: Int

  init(leafKeys keys: [ArraySlice<UInt8>], values: [PendingValue], pageSize: Int) {
    isLeaf = true
    self.keys = keys
    self.values = values
    children = []
    contentSize = 0
    recomputeSize()
  }

  init(separators: [ArraySlice<UInt8>], children: [ChildRef]) {
    isLeaf = false
    keys = separators
    values = []
    self.children = children
    contentSize = 0
    recomputeSize()
  }

  /// A mutable copy of the system tree's root, embedded in a meta page.
  convenience init?(systemRoot: SystemRoot) {
    switch systemRoot {
    case .empty: return nil
    case .leaf(let cells):
      self.init(leafKeys: cells.map(\.key), values: cells.map { .stored($0.value) }, pageSize: 0)
    case .interior(let separators, let children):
      self.init(separators: separators, children: children.map { .clean($0) })
    }
  }

  /// A mutable copy of a committed node. Copies arrays of slices, never key bytes.
  init(copying node: Node) {
    isLeaf = node.isLeaf
    keys = node.keys
    values = node.values.map { .stored($0) }
    children = node.children.map { .clean($0) }
    contentSize = node.contentSize
  }

  func recomputeSize() {
    if isLeaf {
      contentSize =
        2 + zip(keys, values).reduce(0) { $0 + MutableNode.cellSize(key: $1.0, value: $1.1) }
    } else {
      contentSize = InteriorPage.contentSize(
        separatorBytes: keys.reduce(0) { $0 + InteriorPage.entrySize(keyLength: $1.count) })
    }
  }

  /// The bytes a leaf cell takes, including the link it adds.
  static func cellSize(key: ArraySlice<UInt8>, value: PendingValue) -> Int {
    switch value {
    case .stored(let stored):
      return LeafPage.cellSize(keyLength: key.count, value: stored)
    case .large:
      return LeafPage.cellSize(
        keyLength: key.count, value: .overflow(length: 0, head: PageLink.null))
    case .tree(let state):
      let root = state.root == nil ? PageLink.null : PageLink.placeholder
      return LeafPage.cellSize(
        keyLength: key.count, value: .tree(TreeRoot(root: root, id: state.id, count: 0)))
    }
  }
}

extension PageLink {
  /// A non-null link used only to size a cell before the real link is known.
  static let placeholder = PageLink(
    page: PageNumber(UInt64.max), transaction: TransactionID(0), checksum: .zero)
}

/// A tree as one write transaction sees it.
final class TreeState {
  /// The catalog name, or nil for the system tree.
  let name: String?
  let id: TreeID
  /// The most content bytes the root may hold: a page's, or for the system tree, what
  /// the meta page leaves for it.
  let rootCapacity: Int
  var root: ChildRef?
  var count: UInt64
  /// Changed by this transaction (its catalog entry must be rewritten).
  var isModified = false
  var isDropped = false
  /// The root as written at commit.
  var writtenRoot: PageLink?

  init(name: String?, id: TreeID, root: PageLink, count: UInt64, rootCapacity: Int) {
    self.name = name
    self.id = id
    self.root = root.isNull ? nil : .clean(root)
    self.count = count
    self.rootCapacity = rootCapacity
  }

  /// The system tree as of `meta`: its root is always a mutable copy, since every
  /// commit rewrites the meta page that holds it.
  init(systemOf meta: MetaPage, pageSize: Int) {
    name = nil
    id = .system
    root = MutableNode(systemRoot: meta.root).map { .dirty($0) }
    count = 0
    rootCapacity = MetaPage.rootCapacity(pageSize: pageSize)
  }
}
