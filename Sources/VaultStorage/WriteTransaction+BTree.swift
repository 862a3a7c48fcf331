import VaultCore
import VaultFormat

/// A value found in a tree during a write transaction.
enum FoundValue {
  case bytes([UInt8])
  case overflow(length: UInt64, head: PageLink)
  case extent(pages: UInt32, head: PageLink)
  case large(Int)
  case tree(TreeRoot)
  case treeState(Int)
}

/// A value to store: small bytes kept in the leaf, a large value by index, or a
/// catalog entry by tree-state index.
enum NewValue {
  case bytes([UInt8])
  case large(Int)
  case tree(Int, rooted: Bool)
  /// A blob extent already written (``WriteTree/insertExtent(bodyLength:forKey:fill:)``).
  case extent(pages: UInt32, head: PageLink)
}

/// The copy-on-write B+tree algorithms of a write transaction.
///
/// A committed node is never changed: the first change to it copies it into a
/// ``MutableNode`` (and its parent, up to the root) and frees the committed page for
/// reuse by later transactions. Nodes split when they outgrow a page and merge with or
/// borrow from a sibling when they fall under a quarter full.
extension WriteTransaction {
  // MARK: Reading

  /// The value under `key` in `tree`.
  func lookup(_ key: [UInt8], in tree: TreeState) throws(VaultError) -> FoundValue? {
    var current = tree.root
    while let reference = current {
      switch reference {
      case .dirty(let node):
        if node.isLeaf {
          let (index, found) = node.search(key)
          return found ? foundValue(node.cells[index].value, in: node.arena) : nil
        }
        current = node.children[node.childIndex(for: key)]
      case .clean(let link):
        let node = try reader.node(link, tree: tree.id, in: base)
        if node.isLeaf {
          let (index, found) = node.search(key)
          return found ? foundValue(.stored(node.cells[index].value), in: node.bytes) : nil
        }
        current = .clean(node.children[node.childIndex(for: key)])
      }
    }
    return nil
  }

  private func foundValue(_ value: PendingValue, in bytes: [UInt8]) -> FoundValue {
    switch value {
    case .stored(.inline(let range)): .bytes(Array(bytes[range]))
    case .stored(.overflow(let length, let head)): .overflow(length: length, head: head)
    case .stored(.extent(let pages, let head)): .extent(pages: pages, head: head)
    case .stored(.tree(let root)): .tree(root)
    case .large(let index): .large(index)
    case .tree(let index, _): .treeState(index)
    }
  }

  /// The bytes of a value.
  func materialize(_ value: FoundValue, tree: TreeID) throws(VaultError) -> [UInt8] {
    switch value {
    case .bytes(let bytes): return bytes
    case .overflow(let length, let head):
      return try reader.overflowValue(head: head, length: length, tree: tree, in: base)
    case .extent(let pages, let head):
      return try reader.extentBody(head, pages: pages, tree: tree, in: base)
    case .large(let index): return largeValues[index]
    case .tree, .treeState:
      throw VaultError(.corrupt, "a tree entry is not a value")
    }
  }

  /// Visits the entries with keys in `start ..< end`, in order, until `body` says stop.
  func forEachEntry(
    in tree: TreeState, from start: [UInt8]?, to end: [UInt8]?,
    _ body: ([UInt8], FoundValue) throws(VaultError) -> Bool
  ) throws(VaultError) {
    guard let root = tree.root else { return }
    let changes = changeCount
    var previous: [UInt8]?
    _ = try visit(root, tree: tree.id, from: start, to: end) { key, value throws(VaultError) in
      // Keys must keep ascending; a forged tree that links one child twice fails here.
      if let previous, KeyOrder.compare(previous, key) >= 0 {
        throw VaultError(.corruptPage, "keys do not ascend across leaves")
      }
      previous = key
      let more = try body(key, value)
      guard changeCount == changes else {
        throw VaultError(.misuse, "the tree changed while it was being iterated")
      }
      return more
    }
  }

  /// One node as iteration sees it, whether committed or changed by this transaction.
  private struct NodeView {
    let bytes: [UInt8]
    let isLeaf: Bool
    /// Leaf keys or interior separators, as ranges of `bytes`.
    let keys: [Range<Int>]
    let value: (Int) -> PendingValue
    let child: (Int) -> ChildRef
  }

  private func view(_ reference: ChildRef, tree: TreeID) throws(VaultError) -> NodeView {
    switch reference {
    case .dirty(let node):
      return NodeView(
        bytes: node.arena, isLeaf: node.isLeaf,
        keys: node.isLeaf ? node.cells.map(\.key) : node.separators,
        value: { node.cells[$0].value }, child: { node.children[$0] })
    case .clean(let link):
      let node = try reader.node(link, tree: tree, in: base)
      return NodeView(
        bytes: node.bytes, isLeaf: node.isLeaf,
        keys: node.isLeaf ? node.cells.map(\.key) : node.separators,
        value: { .stored(node.cells[$0].value) }, child: { .clean(node.children[$0]) })
    }
  }

  /// Returns false once iteration should stop.
  private func visit(
    _ reference: ChildRef, tree: TreeID, from start: [UInt8]?, to end: [UInt8]?,
    _ body: ([UInt8], FoundValue) throws(VaultError) -> Bool
  ) throws(VaultError) -> Bool {
    let node = try view(reference, tree: tree)
    let keys = node.keys
    if node.isLeaf {
      var index =
        start.map {
          KeySearch.lowerBound(of: $0, in: node.bytes, count: keys.count) { keys[$0] }.index
        }
        ?? 0
      while index < keys.count {
        let key = Array(node.bytes[keys[index]])
        if let end, KeyOrder.compare(key, end) >= 0 { return false }
        if try !body(key, foundValue(node.value(index), in: node.bytes)) { return false }
        index += 1
      }
      return true
    }
    let first =
      start.map { KeySearch.upperBound(of: $0, in: node.bytes, count: keys.count) { keys[$0] } }
      ?? 0
    for index in first...keys.count {
      // Children right of a separator at or past `end` hold only larger keys.
      if let end, index > 0, KeyOrder.compare(node.bytes[keys[index - 1]], end) >= 0 {
        return false
      }
      if try !visit(
        node.child(index), tree: tree, from: index == first ? start : nil, to: end, body)
      {
        return false
      }
    }
    return true
  }

  // MARK: Copy on write

  /// The mutable version of the node `reference` points to, copying a committed node
  /// (and freeing its page) on first change.
  func makeMutable(_ reference: ChildRef, tree: TreeID) throws(VaultError) -> MutableNode {
    switch reference {
    case .dirty(let node): return node
    case .clean(let link):
      let node = try reader.node(link, tree: tree, in: base)
      pendingFree.append(link.page)
      let copy = MutableNode(copying: node)
      copy.origin = link
      return copy
    }
  }

  /// Frees the pages a replaced or removed value held.
  func release(_ value: PendingValue, tree: TreeID) throws(VaultError) {
    switch value {
    case .stored(.overflow(let length, let head)):
      pendingFree += try reader.overflowPages(head: head, length: length, tree: tree, in: base)
    case .stored(.extent(let pages, let head)):
      // Its pages are known from the cell: freeing a large extent reads nothing.
      let first = head.page.rawValue
      let (end, overflow) = first.addingReportingOverflow(UInt64(pages))
      guard !overflow, first >= FileFormat.initialPageCount,
        end <= base.pageCount + extentPages
      else {
        throw VaultError(
          .corruptPage, "extent cell names pages outside the file", page: head.page.rawValue)
      }
      pendingFree += (first..<end).map { PageNumber($0) }
    default:
      break
    }
  }

  /// Frees every committed page below `reference` (dropping a tree).
  func freeSubtree(_ reference: ChildRef, tree: TreeID) throws(VaultError) {
    switch reference {
    case .dirty(let node):
      for child in node.children { try freeSubtree(child, tree: tree) }
      for cell in node.cells { try release(cell.value, tree: tree) }
    case .clean(let link):
      let node = try reader.node(link, tree: tree, in: base)
      pendingFree.append(link.page)
      for child in node.children { try freeSubtree(.clean(child), tree: tree) }
      for cell in node.cells { try release(.stored(cell.value), tree: tree) }
    }
  }

  // MARK: Insert

  /// Stores `value` under `key`. Returns whether a value was replaced.
  @discardableResult
  func insert(_ value: NewValue, forKey key: [UInt8], in tree: TreeState) throws(VaultError)
    -> Bool
  {
    changeCount += 1
    if appendAtRightEdge(value, forKey: key, in: tree) { return false }
    tree.rightEdge = nil
    if tree.id != .system, case .clean(let link)? = tree.root,
      let (separator, leaf) = try leafBeside(link, for: value, key: key, tree: tree.id)
    {
      // A full root leaf stays as it is too: a new root above it and the new leaf.
      tree.root = .dirty(
        MutableNode(
          interiorArena: separator, separators: [0..<separator.count],
          children: [.clean(link), .dirty(leaf)]))
      tree.count &+= 1
      tree.rightEdge = leaf
      return false
    }
    let root: MutableNode
    if let rootReference = tree.root {
      root = try makeMutable(rootReference, tree: tree.id)
    } else {
      root = MutableNode(leafArena: [], cells: [])
    }
    tree.root = .dirty(root)
    let replaced = try insert(value, forKey: key, into: root, tree: tree.id, rightmost: true)
    try fixRoot(of: tree)
    if !replaced { tree.count &+= 1 }  // wraps only for a forged count
    if tree.id != .system { tree.rightEdge = Self.rightEdge(of: tree) }
    return replaced
  }

  /// Sequential inserts (audit entries, data-key references) append to the rightmost
  /// leaf: while it is in memory with every ancestor and has room, a key after its
  /// last goes straight there, no descent and no rebalancing.
  ///
  /// - Returns: whether the value was appended.
  private func appendAtRightEdge(_ value: NewValue, forKey key: [UInt8], in tree: TreeState)
    -> Bool
  {
    guard case .bytes(let bytes) = value, let leaf = tree.rightEdge,
      let last = leaf.cells.last,
      KeyOrder.compare(leaf.arena[last.key], key[...]) < 0
    else { return false }
    let size = LeafPage.inlineCellSize(keyLength: key.count, valueLength: bytes.count)
    var limit = capacity
    if case .dirty(let root)? = tree.root, root === leaf { limit = tree.rootCapacity }
    guard leaf.contentSize + size <= limit else { return false }
    let keyRange = leaf.append(key)
    leaf.cells.append(MutableCell(key: keyRange, value: .stored(.inline(leaf.append(bytes)))))
    leaf.contentSize += size
    leaf.compactIfBloated(pageSize: reader.pageSize)
    tree.count &+= 1
    return true
  }

  /// The rightmost leaf, if it and every node above it are in memory (dirty).
  private static func rightEdge(of tree: TreeState) -> MutableNode? {
    var current = tree.root
    while case .dirty(let node)? = current {
      if node.isLeaf { return node }
      current = node.children.last
    }
    return nil
  }

  private func insert(
    _ value: NewValue, forKey key: [UInt8], into node: MutableNode, tree: TreeID,
    rightmost: Bool
  ) throws(VaultError) -> Bool {
    if node.isLeaf {
      let (index, found) = node.search(key)
      let keyRange = found ? node.cells[index].key : node.append(key)
      let pending: PendingValue
      switch value {
      case .bytes(let bytes): pending = .stored(.inline(node.append(bytes)))
      case .large(let large): pending = .large(large)
      case .tree(let state, let rooted): pending = .tree(state, rooted: rooted)
      case .extent(let pages, let head): pending = .stored(.extent(pages: pages, head: head))
      }
      let cell = MutableCell(key: keyRange, value: pending)
      if found {
        if keepsReplacedValue {
          replacedValue = foundValue(node.cells[index].value, in: node.arena)
        }
        try release(node.cells[index].value, tree: tree)
        node.contentSize += MutableNode.cellSize(cell) - MutableNode.cellSize(node.cells[index])
        node.cells[index] = cell
      } else {
        node.cells.insert(cell, at: index)
        node.contentSize += MutableNode.cellSize(cell)
      }
      node.compactIfBloated(pageSize: reader.pageSize)
      return found
    }
    let index = node.childIndex(for: key)
    let isRightmost = rightmost && index == node.children.count - 1
    if isRightmost, case .clean(let link) = node.children[index],
      let (separator, leaf) = try leafBeside(link, for: value, key: key, tree: tree)
    {
      node.separators.append(node.append(separator))
      node.children.append(.dirty(leaf))
      node.contentSize += InteriorPage.entrySize(keyLength: separator.count)
      return false
    }
    let child = try makeMutable(node.children[index], tree: tree)
    node.children[index] = .dirty(child)
    let replaced = try insert(value, forKey: key, into: child, tree: tree, rightmost: isRightmost)
    try fixChild(
      at: index, of: node, tree: tree, appending: isRightmost && !replaced, mergingUnderfull: false)
    return replaced
  }

  /// Appends never rewrite a committed leaf they cannot add to: a key after the last of
  /// the rightmost leaf, which has no room for it, starts a new leaf beside it, and the
  /// full one keeps its page (the audit log's full pages never change, FORMAT.md 20.7).
  ///
  /// - Returns: the separator and the new leaf, or nil when the insert belongs in the
  ///   leaf `link` leads to.
  private func leafBeside(
    _ link: PageLink, for value: NewValue, key: [UInt8], tree: TreeID
  ) throws(VaultError) -> ([UInt8], MutableNode)? {
    let full = try reader.node(link, tree: tree, in: base)
    guard full.isLeaf, let last = full.cells.last else { return nil }
    let lastKey = full.bytes[last.key]
    guard KeyOrder.compare(lastKey, key[...]) < 0 else { return nil }
    let cellSize: Int
    switch value {
    case .bytes(let bytes):
      cellSize = LeafPage.inlineCellSize(keyLength: key.count, valueLength: bytes.count)
    case .large: cellSize = MutableNode.cellSize(keyLength: key.count, value: .large(0))
    case .extent(let pages, let head):
      cellSize = MutableNode.cellSize(
        keyLength: key.count, value: .stored(.extent(pages: pages, head: head)))
    case .tree: return nil
    }
    guard full.contentSize + cellSize > capacity else { return nil }
    let leaf = MutableNode(leafArena: [], cells: [])
    _ = try insert(value, forKey: key, into: leaf, tree: tree, rightmost: true)
    return (shortestSeparator(after: lastKey, upTo: key[...]), leaf)
  }

  // MARK: Remove

  /// Whether `tree` holds `key`, without copying its value.
  func contains(_ key: [UInt8], in tree: TreeState) throws(VaultError) -> Bool {
    var current = tree.root
    while let reference = current {
      switch reference {
      case .dirty(let node):
        if node.isLeaf { return node.search(key).found }
        current = node.children[node.childIndex(for: key)]
      case .clean(let link):
        let node = try reader.node(link, tree: tree.id, in: base)
        if node.isLeaf { return node.search(key).found }
        current = .clean(node.children[node.childIndex(for: key)])
      }
    }
    return false
  }

  /// Removes the value under `key`. Returns whether there was one.
  func remove(_ key: [UInt8], from tree: TreeState) throws(VaultError) -> Bool {
    // Look first, so that removing an absent key copies nothing.
    guard try contains(key, in: tree), let rootReference = tree.root else { return false }
    changeCount += 1
    tree.rightEdge = nil
    let root = try makeMutable(rootReference, tree: tree.id)
    tree.root = .dirty(root)
    try remove(key, from: root, tree: tree.id)
    try fixRoot(of: tree)
    // The system tree does not record its key count; every other tree does.
    if tree.count > 0 { tree.count -= 1 }
    return true
  }

  private func remove(_ key: [UInt8], from node: MutableNode, tree: TreeID) throws(VaultError) {
    if node.isLeaf {
      let (index, found) = node.search(key)
      guard found else { throw VaultError(.internal, "key vanished during removal") }
      try release(node.cells[index].value, tree: tree)
      node.contentSize -= MutableNode.cellSize(node.cells[index])
      node.cells.remove(at: index)
      return
    }
    let index = node.childIndex(for: key)
    let child = try makeMutable(node.children[index], tree: tree)
    node.children[index] = .dirty(child)
    try remove(key, from: child, tree: tree)
    try fixChild(at: index, of: node, tree: tree, appending: false, mergingUnderfull: true)
  }

  // MARK: Balance

  private func isUnderfull(_ node: MutableNode) -> Bool {
    (node.isLeaf ? node.cells.isEmpty : node.separators.isEmpty)
      || node.contentSize < capacity / 4
  }

  /// After a change below `parent.children[index]`: split the child if it outgrew its
  /// page (after sharing its cells with a neighbour, when one has room), or (after a
  /// removal) merge it with a sibling, splitting again evenly if the two do not fit one
  /// page, if it fell under a quarter full. Inserts never merge: the new last leaf of an
  /// append holds one key, and merging it would rewrite the full leaf before it.
  private func fixChild(
    at index: Int, of parent: MutableNode, tree: TreeID, appending: Bool, mergingUnderfull: Bool
  ) throws(VaultError) {
    guard case .dirty(let child) = parent.children[index] else { return }
    if child.contentSize > capacity {
      if !appending, let left = try neighbourSharing(with: child, at: index, of: parent, tree: tree)
      {
        try mergeWithNext(left, of: parent, tree: tree)
        return
      }
      let (separator, right) = split(child, appending: appending)
      parent.separators.insert(parent.append(separator), at: index)
      parent.children.insert(.dirty(right), at: index + 1)
      parent.contentSize += InteriorPage.entrySize(keyLength: separator.count)
      return
    }
    guard mergingUnderfull, isUnderfull(child), parent.children.count > 1 else { return }
    try mergeWithNext(index + 1 < parent.children.count ? index : index - 1, of: parent, tree: tree)
  }

  /// Before an overflowing leaf splits, a neighbour under the same parent with room to
  /// spare takes a share of its cells (as in B*-trees and SQLite's balancing). Under
  /// copy-on-write that writes no more pages than the split would (the neighbour is
  /// rewritten instead of a new leaf written), but a shared pair fills up sooner, and
  /// each overflow rewrites a page: so the two must keep room for a few more cells each.
  /// Under random inserts, leaves of small cells (index entries, data keys) then end
  /// about 80% full instead of 69%, for no more page writes; leaves of a few large
  /// cells (record bodies) mostly split as before, since filling them further would
  /// cost a tenth more writes.
  ///
  /// The system tree keeps plain splits (its page count settles the free list).
  ///
  /// - Returns: the index of the left one of the two leaves to rebalance, or nil to split.
  private func neighbourSharing(
    with child: MutableNode, at index: Int, of parent: MutableNode, tree: TreeID
  ) throws(VaultError) -> Int? {
    guard child.isLeaf, tree != .system else { return nil }
    for neighbour in [index - 1, index + 1] where parent.children.indices.contains(neighbour) {
      let (size, cellCount): (Int, Int)
      switch parent.children[neighbour] {
      case .dirty(let node):
        guard node.isLeaf else { continue }
        (size, cellCount) = (node.contentSize, node.cells.count)
      case .clean(let link):
        let node = try reader.node(link, tree: tree, in: base)
        guard node.isLeaf else { continue }
        (size, cellCount) = (node.contentSize, node.cells.count)
      }
      // Room left for three more cells of their average size in each.
      let combined = child.contentSize + size
      let cells = child.cells.count + cellCount
      if combined + combined * 2 * Self.sharingHeadroom / max(cells, 1) <= 2 * capacity {
        return min(index, neighbour)
      }
    }
    return nil
  }

  /// Cells of average size that each leaf of a shared pair must still have room for.
  private static let sharingHeadroom = 3

  /// Joins child `leftIndex` of `parent` and the child after it into one node, then
  /// splits that again, evenly, into as many nodes as it takes to fit (one or two, three
  /// when large cells fall badly).
  private func mergeWithNext(_ leftIndex: Int, of parent: MutableNode, tree: TreeID)
    throws(VaultError)
  {
    let left = try makeMutable(parent.children[leftIndex], tree: tree)
    let right = try makeMutable(parent.children[leftIndex + 1], tree: tree)
    parent.children[leftIndex] = .dirty(left)
    parent.children[leftIndex + 1] = .dirty(right)
    let separator = parent.separator(leftIndex)
    parent.contentSize -= InteriorPage.entrySize(keyLength: separator.count)

    // Put everything into `left`, then split again if that does not fit one page.
    if left.isLeaf {
      let offset = left.arena.count
      left.arena.append(contentsOf: right.arena)
      left.cells += right.cells.map { $0.shifted(by: offset) }
      left.contentSize += right.contentSize - 2
    } else {
      let separatorRange = left.append(separator)
      let offset = left.arena.count
      left.arena.append(contentsOf: right.arena)
      left.separators.append(separatorRange)
      left.separators += right.separators.map { $0.shifted(by: offset) }
      left.children += right.children
      left.contentSize +=
        right.contentSize - InteriorPage.contentSize(separatorBytes: 0)
        + InteriorPage.entrySize(keyLength: separator.count)
    }
    left.compactIfBloated(pageSize: reader.pageSize)
    parent.separators.remove(at: leftIndex)
    parent.children.remove(at: leftIndex + 1)
    var position = leftIndex
    var last = leftIndex
    while position <= last {
      guard case .dirty(let piece) = parent.children[position], piece.contentSize > capacity
      else {
        position += 1
        continue
      }
      let (newSeparator, newRight) = split(piece, appending: false)
      parent.separators.insert(parent.append(newSeparator), at: position)
      parent.children.insert(.dirty(newRight), at: position + 1)
      parent.contentSize += InteriorPage.entrySize(keyLength: newSeparator.count)
      last += 1
    }
  }

  /// Splits a node in two by bytes; returns the separator for the parent and the new
  /// right node. Appending at the right edge of the tree leaves the left node full
  /// instead of half full, so sequential inserts pack pages densely.
  private func split(_ node: MutableNode, appending: Bool) -> ([UInt8], MutableNode) {
    if node.isLeaf {
      let sizes = node.cells.map(MutableNode.cellSize)
      var cut = balancedCut(sizes: sizes, total: node.contentSize - 2)
      if appending, node.cells.count >= 2, node.contentSize - sizes[sizes.count - 1] <= capacity {
        cut = node.cells.count - 1
      }
      cut = min(max(cut, 1), node.cells.count - 1)
      // Both halves share the arena until either changes it.
      let right = MutableNode(leafArena: node.arena, cells: Array(node.cells[cut...]))
      node.cells.removeSubrange(cut...)
      node.recomputeSize()
      let separator = shortestSeparator(after: node.key(node.cells.count - 1), upTo: right.key(0))
      return (separator, right)
    }
    let sizes = node.separators.map { InteriorPage.entrySize(keyLength: $0.count) }
    var cut = balancedCut(sizes: sizes, total: sizes.reduce(0, +))
    if appending { cut = node.separators.count - 2 }
    cut = min(max(cut, 1), node.separators.count - 2)
    let separator = Array(node.separator(cut))
    let right = MutableNode(
      interiorArena: node.arena, separators: Array(node.separators[(cut + 1)...]),
      children: Array(node.children[(cut + 1)...]))
    node.separators.removeSubrange(cut...)
    node.children.removeSubrange((cut + 1)...)
    node.recomputeSize()
    return (separator, right)
  }

  /// The index at which the running total of `sizes` first passes half of `total`.
  private func balancedCut(sizes: [Int], total: Int) -> Int {
    var running = 0
    for (index, size) in sizes.enumerated() {
      running += size
      if running * 2 >= total { return index + 1 }
    }
    return sizes.count - 1
  }

  /// The shortest prefix of `right` that sorts after `left` (suffix truncation): it
  /// separates the two nodes while keeping interior pages small.
  private func shortestSeparator(after left: ArraySlice<UInt8>, upTo right: ArraySlice<UInt8>)
    -> [UInt8]
  {
    var common = 0
    var l = left.startIndex
    var r = right.startIndex
    while l < left.endIndex, r < right.endIndex, left[l] == right[r] {
      common += 1
      l += 1
      r += 1
    }
    return Array(right.prefix(min(common + 1, right.count)))
  }

  /// Grows or shrinks the tree by a level when its root outgrew its space or emptied.
  private func fixRoot(of tree: TreeState) throws(VaultError) {
    while case .dirty(let root) = tree.root {
      if root.contentSize > tree.rootCapacity {
        let (separator, right) = split(root, appending: false)
        tree.root = .dirty(
          MutableNode(
            interiorArena: separator, separators: [0..<separator.count],
            children: [.dirty(root), .dirty(right)]))
        return
      }
      guard root.isLeaf ? root.cells.isEmpty : root.separators.isEmpty else { return }
      if root.isLeaf {
        tree.root = nil
        return
      }
      // The only child becomes the root. The system tree's root lives in the meta
      // page, so it must be in memory, and has less room than a page: it may need
      // splitting again, hence the loop.
      guard let child = root.children.first else { return }
      guard tree.id == .system else {
        tree.root = child
        return
      }
      tree.root = .dirty(try makeMutable(child, tree: tree.id))
    }
  }
}
