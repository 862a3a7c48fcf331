import VaultCore
import VaultFormat

/// A reference from a parent (or a tree's root) to a child node during a write
/// transaction: either a committed page or a node this transaction has changed.
enum ChildRef {
  case clean(PageLink)
  case dirty(MutableNode)
}

/// A leaf value during a write transaction. Plain data: copying cells touches no
/// reference counts.
enum PendingValue {
  /// A value as committed, or new and small: inline ranges refer to the node's arena.
  case stored(StoredValue)
  /// A new value too large for a leaf, by index in the transaction's large values; its
  /// overflow chain is written at commit.
  case large(Int)
  /// A catalog entry for a tree this transaction changed, by index in the transaction's
  /// tree states, and whether the tree has a root page; its root is written first.
  case tree(Int, rooted: Bool)
}

/// One cell of a mutable leaf.
struct MutableCell {
  var key: Range<Int>
  var value: PendingValue

  /// The same cell after its arena bytes moved by `offset`.
  func shifted(by offset: Int) -> MutableCell {
    var copy = self
    copy.key = key.shifted(by: offset)
    if case .stored(.inline(let range)) = value {
      copy.value = .stored(.inline(range.shifted(by: offset)))
    }
    return copy
  }
}

extension Range<Int> {
  func shifted(by offset: Int) -> Range<Int> { lowerBound + offset..<upperBound + offset }
}

/// A B+tree node changed by the current write transaction.
///
/// Keys and inline values live in `arena`, a byte buffer that starts as the committed
/// page's bytes (shared, not copied, until the first change) and to which new keys
/// and values are appended. The node gets a page number only at commit, when every
/// dirty page of the transaction is allocated at once.
final class MutableNode {
  var isLeaf: Bool
  var arena: [UInt8]
  /// Leaf cells, keys ascending.
  var cells: [MutableCell]
  /// Interior separators, ranges of `arena`.
  var separators: [Range<Int>]
  var children: [ChildRef]
  /// Exactly the bytes the node's links and body will take when encoded.
  var contentSize: Int
  /// The committed page this node is a copy of (nil for a node new in this
  /// transaction): how recently it was written decides where it goes at commit.
  var origin: PageLink?

  init(leafArena arena: [UInt8], cells: [MutableCell]) {
    isLeaf = true
    self.arena = arena
    self.cells = cells
    separators = []
    children = []
    contentSize = 0
    recomputeSize()
  }

  init(interiorArena arena: [UInt8], separators: [Range<Int>], children: [ChildRef]) {
    isLeaf = false
    self.arena = arena
    cells = []
    self.separators = separators
    self.children = children
    contentSize = 0
    recomputeSize()
  }

  /// A mutable copy of a committed node. Shares the page's bytes until the first change.
  init(copying node: Node) {
    isLeaf = node.isLeaf
    arena = node.bytes
    cells = node.cells.map { MutableCell(key: $0.key, value: .stored($0.value)) }
    separators = node.separators
    children = node.children.map { .clean($0) }
    contentSize = node.contentSize
  }

  func recomputeSize() {
    if isLeaf {
      contentSize = cells.reduce(2) { $0 + MutableNode.cellSize($1) }
    } else {
      contentSize = InteriorPage.contentSize(of: separators)
    }
  }

  /// The bytes a leaf cell takes, including the link it adds.
  static func cellSize(_ cell: MutableCell) -> Int {
    cellSize(keyLength: cell.key.count, value: cell.value)
  }

  static func cellSize(keyLength: Int, value: PendingValue) -> Int {
    switch value {
    case .stored(let stored):
      return LeafPage.cellSize(keyLength: keyLength, value: stored)
    case .large:
      return LeafPage.cellSize(
        keyLength: keyLength, value: .overflow(length: 0, head: .placeholder))
    case .tree(_, let rooted):
      return LeafPage.cellSize(
        keyLength: keyLength,
        value: .tree(TreeRoot(root: rooted ? .placeholder : .null, id: .none, count: 0)))
    }
  }

  /// Appends `bytes` to the arena; returns their range.
  func append<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Range<Int> {
    let start = arena.count
    arena.append(contentsOf: bytes)
    return start..<arena.count
  }

  func key(_ index: Int) -> ArraySlice<UInt8> { arena[cells[index].key] }
  func separator(_ index: Int) -> ArraySlice<UInt8> { arena[separators[index]] }

  /// The first cell whose key is not less than `key`, and whether it equals `key`.
  func search(_ key: [UInt8]) -> (index: Int, found: Bool) {
    KeySearch.lowerBound(of: key, in: arena, count: cells.count) { cells[$0].key }
  }

  /// The child an interior node routes `key` to.
  func childIndex(for key: [UInt8]) -> Int {
    KeySearch.upperBound(of: key, in: arena, count: separators.count) { separators[$0] }
  }

  /// Rebuilds the arena with only the bytes still referenced, once dead bytes (from
  /// replaced or removed cells) outweigh the live ones.
  func compactIfBloated(pageSize: Int) {
    guard arena.count > 2 * pageSize else { return }
    var fresh = [UInt8]()
    fresh.reserveCapacity(pageSize)
    func move(_ range: Range<Int>) -> Range<Int> {
      let start = fresh.count
      fresh.append(contentsOf: arena[range])
      return start..<fresh.count
    }
    if isLeaf {
      for index in cells.indices {
        cells[index].key = move(cells[index].key)
        if case .stored(.inline(let range)) = cells[index].value {
          cells[index].value = .stored(.inline(move(range)))
        }
      }
    } else {
      for index in separators.indices { separators[index] = move(separators[index]) }
    }
    arena = fresh
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
  /// The rightmost leaf, while it and its ancestors are in memory: where sequential
  /// inserts append (``WriteTransaction/insert(_:forKey:in:)``). Any other change to
  /// the tree's shape clears it.
  var rightEdge: MutableNode?

  init(name: String?, id: TreeID, root: PageLink, count: UInt64, rootCapacity: Int) {
    self.name = name
    self.id = id
    self.root = root.isNull ? nil : .clean(root)
    self.count = count
    self.rootCapacity = rootCapacity
  }

  /// The system tree whose root is `root` (decoded from a meta page): the root is
  /// always a mutable copy, since every commit rewrites the meta page that holds it.
  init(systemRoot: Node?, pageSize: Int) {
    name = nil
    id = .system
    root = systemRoot.map { .dirty(MutableNode(copying: $0)) }
    count = 0
    rootCapacity = MetaPage.rootCapacity(pageSize: pageSize)
  }
}
