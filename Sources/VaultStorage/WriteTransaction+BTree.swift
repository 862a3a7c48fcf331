import VaultCore
import VaultFormat

/// The copy-on-write B+tree algorithms of a write transaction.
///
/// A committed node is never changed: the first change to it copies it into a
/// ``MutableNode`` (and its parent, up to the root) and frees the committed page for
/// reuse by later transactions. Nodes split when they outgrow a page and merge with or
/// borrow from a sibling when they fall under a quarter full.
extension WriteTransaction {
  // MARK: Reading

  /// The value under `key` in `tree`, as stored.
  func lookup(_ key: [UInt8], in tree: TreeState) throws(VaultError) -> PendingValue? {
    var current = tree.root
    while let reference = current {
      switch reference {
      case .dirty(let node):
        if node.isLeaf {
          let (index, found) = node.keys.lowerBound(of: key)
          return found ? node.values[index] : nil
        }
        current = node.children[node.keys.upperBound(of: key)]
      case .clean(let link):
        let node = try reader.node(link, tree: tree.id, in: base)
        if node.isLeaf {
          let (index, found) = node.search(key)
          return found ? .stored(node.values[index]) : nil
        }
        current = .clean(node.children[node.childIndex(for: key)])
      }
    }
    return nil
  }

  /// The bytes of a stored value.
  func materialize(_ value: PendingValue, tree: TreeID) throws(VaultError) -> [UInt8] {
    switch value {
    case .stored(.inline(let bytes)): return Array(bytes)
    case .stored(.overflow(let length, let head)):
      return try reader.overflowValue(head: head, length: length, tree: tree, in: base)
    case .large(let bytes): return bytes
    case .stored(.tree), .tree:
      throw VaultError(.corrupt, "a tree entry is not a value")
    }
  }

  /// Visits the entries with keys in `start ..< end`, in order, until `body` says stop.
  func forEachEntry(
    in tree: TreeState, from start: [UInt8]?, to end: [UInt8]?,
    _ body: (ArraySlice<UInt8>, PendingValue) throws(VaultError) -> Bool
  ) throws(VaultError) {
    guard let root = tree.root else { return }
    let changes = changeCount
    _ = try visit(root, tree: tree.id, from: start, to: end) { key, value throws(VaultError) in
      let more = try body(key, value)
      guard changeCount == changes else {
        throw VaultError(.misuse, "the tree changed while it was being iterated")
      }
      return more
    }
  }

  /// Returns false once iteration should stop.
  private func visit(
    _ reference: ChildRef, tree: TreeID, from start: [UInt8]?, to end: [UInt8]?,
    _ body: (ArraySlice<UInt8>, PendingValue) throws(VaultError) -> Bool
  ) throws(VaultError) -> Bool {
    let keys: [ArraySlice<UInt8>]
    let isLeaf: Bool
    var dirty: MutableNode?
    var clean: Node?
    switch reference {
    case .dirty(let node):
      (keys, isLeaf, dirty) = (node.keys, node.isLeaf, node)
    case .clean(let link):
      let node = try reader.node(link, tree: tree, in: base)
      (keys, isLeaf, clean) = (node.keys, node.isLeaf, node)
    }
    if isLeaf {
      var index = start.map { keys.lowerBound(of: $0).index } ?? 0
      while index < keys.count {
        if let end, KeyOrder.compare(keys[index], end) >= 0 { return false }
        let value = dirty.map { $0.values[index] } ?? .stored(clean!.values[index])
        if try !body(keys[index], value) { return false }
        index += 1
      }
      return true
    }
    let first = start.map { keys.upperBound(of: $0) } ?? 0
    let childCount = keys.count + 1
    for index in first..<childCount {
      // Children right of a separator at or past `end` hold only larger keys.
      if let end, index > 0, KeyOrder.compare(keys[index - 1], end) >= 0 { return false }
      let child = dirty.map { $0.children[index] } ?? .clean(clean!.children[index])
      if try !visit(child, tree: tree, from: index == first ? start : nil, to: end, body) {
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
      return MutableNode(copying: node)
    }
  }

  /// Frees the pages a replaced or removed value held.
  func release(_ value: PendingValue, tree: TreeID) throws(VaultError) {
    if case .stored(.overflow(let length, let head)) = value {
      pendingFree += try reader.overflowPages(head: head, length: length, tree: tree, in: base)
    }
  }

  /// Frees every committed page below `reference` (dropping a tree).
  func freeSubtree(_ reference: ChildRef, tree: TreeID) throws(VaultError) {
    switch reference {
    case .dirty(let node):
      for child in node.children { try freeSubtree(child, tree: tree) }
      for value in node.values { try release(value, tree: tree) }
    case .clean(let link):
      let node = try reader.node(link, tree: tree, in: base)
      pendingFree.append(link.page)
      for child in node.children { try freeSubtree(.clean(child), tree: tree) }
      for value in node.values { try release(.stored(value), tree: tree) }
    }
  }

  // MARK: Insert

  /// Stores `value` under `key`. Returns whether a value was replaced.
  @discardableResult
  func insert(_ value: PendingValue, forKey key: ArraySlice<UInt8>, in tree: TreeState)
    throws(VaultError) -> Bool
  {
    changeCount += 1
    guard let rootReference = tree.root else {
      tree.root = .dirty(
        MutableNode(leafKeys: [key], values: [value], pageSize: reader.pageSize))
      tree.count += 1
      return false
    }
    let root = try makeMutable(rootReference, tree: tree.id)
    tree.root = .dirty(root)
    let replaced = try insert(value, forKey: key, into: root, tree: tree.id, rightmost: true)
    try fixRoot(of: tree)
    if !replaced { tree.count += 1 }
    return replaced
  }

  private func insert(
    _ value: PendingValue, forKey key: ArraySlice<UInt8>, into node: MutableNode, tree: TreeID,
    rightmost: Bool
  ) throws(VaultError) -> Bool {
    if node.isLeaf {
      let (index, found) = node.keys.lowerBound(of: key)
      let size = MutableNode.cellSize(key: key, value: value)
      if found {
        try release(node.values[index], tree: tree)
        node.contentSize +=
          size - MutableNode.cellSize(key: node.keys[index], value: node.values[index])
        node.values[index] = value
        return true
      }
      node.keys.insert(key, at: index)
      node.values.insert(value, at: index)
      node.contentSize += size
      return false
    }
    let index = node.keys.upperBound(of: key)
    let child = try makeMutable(node.children[index], tree: tree)
    node.children[index] = .dirty(child)
    let isRightmost = rightmost && index == node.children.count - 1
    let replaced = try insert(value, forKey: key, into: child, tree: tree, rightmost: isRightmost)
    try fixChild(at: index, of: node, tree: tree, appending: isRightmost && !replaced)
    return replaced
  }

  // MARK: Remove

  /// Removes the value under `key`. Returns whether there was one.
  func remove(_ key: [UInt8], from tree: TreeState) throws(VaultError) -> Bool {
    // Look first, so that removing an absent key copies nothing.
    guard try lookup(key, in: tree) != nil, let rootReference = tree.root else { return false }
    changeCount += 1
    let root = try makeMutable(rootReference, tree: tree.id)
    tree.root = .dirty(root)
    try remove(key, from: root, tree: tree.id)
    try fixRoot(of: tree)
    // The free list does not record its key count; every other tree does.
    if tree.count > 0 { tree.count -= 1 }
    return true
  }

  private func remove(_ key: [UInt8], from node: MutableNode, tree: TreeID) throws(VaultError) {
    if node.isLeaf {
      let (index, found) = node.keys.lowerBound(of: key)
      guard found else { throw VaultError(.internal, "key vanished during removal") }
      try release(node.values[index], tree: tree)
      node.contentSize -= MutableNode.cellSize(key: node.keys[index], value: node.values[index])
      node.keys.remove(at: index)
      node.values.remove(at: index)
      return
    }
    let index = node.keys.upperBound(of: key)
    let child = try makeMutable(node.children[index], tree: tree)
    node.children[index] = .dirty(child)
    try remove(key, from: child, tree: tree)
    try fixChild(at: index, of: node, tree: tree, appending: false)
  }

  // MARK: Balance

  private func isUnderfull(_ node: MutableNode) -> Bool {
    node.keys.isEmpty || node.contentSize < capacity / 4
  }

  /// After a change below `parent.children[index]`: split the child if it outgrew its
  /// page, or merge it with a sibling (or even them out) if it fell under a quarter.
  private func fixChild(at index: Int, of parent: MutableNode, tree: TreeID, appending: Bool)
    throws(VaultError)
  {
    guard case .dirty(let child) = parent.children[index] else { return }
    if child.contentSize > capacity {
      let (separator, right) = split(child, appending: appending)
      parent.keys.insert(separator, at: index)
      parent.children.insert(.dirty(right), at: index + 1)
      parent.contentSize += InteriorPage.entrySize(keyLength: separator.count)
      return
    }
    guard isUnderfull(child), parent.children.count > 1 else { return }
    let leftIndex = index + 1 < parent.children.count ? index : index - 1
    let left = try makeMutable(parent.children[leftIndex], tree: tree)
    let right = try makeMutable(parent.children[leftIndex + 1], tree: tree)
    parent.children[leftIndex] = .dirty(left)
    parent.children[leftIndex + 1] = .dirty(right)
    let separator = parent.keys[leftIndex]
    parent.contentSize -= InteriorPage.entrySize(keyLength: separator.count)

    // Put everything into `left`, then split again if that does not fit one page.
    if left.isLeaf {
      left.keys += right.keys
      left.values += right.values
      left.contentSize += right.contentSize - 2
    } else {
      left.keys.append(separator)
      left.keys += right.keys
      left.children += right.children
      left.contentSize +=
        right.contentSize - InteriorPage.contentSize(separatorBytes: 0)
        + InteriorPage.entrySize(keyLength: separator.count)
    }
    parent.keys.remove(at: leftIndex)
    parent.children.remove(at: leftIndex + 1)
    if left.contentSize > capacity {
      let (newSeparator, newRight) = split(left, appending: false)
      parent.keys.insert(newSeparator, at: leftIndex)
      parent.children.insert(.dirty(newRight), at: leftIndex + 1)
      parent.contentSize += InteriorPage.entrySize(keyLength: newSeparator.count)
    }
  }

  /// Splits a node in two by bytes. Appending at the right edge of the tree leaves the
  /// left node full instead of half full, so sequential inserts pack pages densely.
  private func split(_ node: MutableNode, appending: Bool) -> (ArraySlice<UInt8>, MutableNode) {
    if node.isLeaf {
      let sizes = zip(node.keys, node.values).map { MutableNode.cellSize(key: $0, value: $1) }
      var cut = balancedCut(sizes: sizes, total: node.contentSize - 2)
      if appending, node.keys.count >= 2, node.contentSize - sizes[sizes.count - 1] <= capacity {
        cut = node.keys.count - 1
      }
      cut = min(max(cut, 1), node.keys.count - 1)
      let right = MutableNode(
        leafKeys: Array(node.keys[cut...]), values: Array(node.values[cut...]),
        pageSize: reader.pageSize)
      node.keys.removeSubrange(cut...)
      node.values.removeSubrange(cut...)
      node.recomputeSize()
      let separator = shortestSeparator(after: node.keys[node.keys.count - 1], upTo: right.keys[0])
      return (separator, right)
    }
    let sizes = node.keys.map { InteriorPage.entrySize(keyLength: $0.count) }
    var cut = balancedCut(sizes: sizes, total: sizes.reduce(0, +))
    if appending { cut = node.keys.count - 2 }
    cut = min(max(cut, 1), node.keys.count - 2)
    let separator = node.keys[cut]
    let right = MutableNode(
      separators: Array(node.keys[(cut + 1)...]), children: Array(node.children[(cut + 1)...]))
    node.keys.removeSubrange(cut...)
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
    -> ArraySlice<UInt8>
  {
    var common = 0
    var l = left.startIndex
    var r = right.startIndex
    while l < left.endIndex, r < right.endIndex, left[l] == right[r] {
      common += 1
      l += 1
      r += 1
    }
    let length = min(common + 1, right.count)
    return right.prefix(length)
  }

  /// Grows or shrinks the tree by a level when its root outgrew its space or emptied.
  private func fixRoot(of tree: TreeState) throws(VaultError) {
    while case .dirty(let root) = tree.root {
      if root.contentSize > tree.rootCapacity {
        let (separator, right) = split(root, appending: false)
        tree.root = .dirty(
          MutableNode(separators: [separator], children: [.dirty(root), .dirty(right)]))
        return
      }
      guard root.keys.isEmpty else { return }
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
