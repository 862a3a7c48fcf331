import VaultCore
import VaultFormat

/// Rewriting values in place, leaf by leaf: for bulk changes that keep every value's
/// size (re-wrapping keys), one pass over the leaves instead of one descent per key.
extension WriteTransaction {
  /// How far a rewrite got.
  struct RewriteProgress {
    /// Values replaced.
    var rewritten = 0
    /// Entries offered to the transform.
    var visited = 0
    /// The last key offered, if any.
    var lastKey: [UInt8]?
  }

  /// Offers the entries of `tree` with keys at or after `start` to `transform`, in key
  /// order, at most `limit` of them; each value it returns replaces the entry's value
  /// (same length required), nil leaves it alone. Leaves without a replacement stay
  /// as committed.
  func rewriteValues(
    in tree: TreeState, from start: [UInt8]?, limit: Int,
    _ transform: ([UInt8], ArraySlice<UInt8>) throws(VaultError) -> [UInt8]?
  ) throws(VaultError) -> RewriteProgress {
    var progress = RewriteProgress()
    guard let root = tree.root, limit > 0 else { return progress }
    changeCount += 1
    let (newRoot, _) = try rewrite(
      root, tree: tree.id, from: start, limit: limit, progress: &progress, transform)
    tree.root = newRoot
    return progress
  }

  /// Returns the (possibly new) reference to the node and whether to go on.
  private func rewrite(
    _ reference: ChildRef, tree: TreeID, from start: [UInt8]?, limit: Int,
    progress: inout RewriteProgress,
    _ transform: ([UInt8], ArraySlice<UInt8>) throws(VaultError) -> [UInt8]?
  ) throws(VaultError) -> (ChildRef, Bool) {
    let isLeaf: Bool
    switch reference {
    case .dirty(let node): isLeaf = node.isLeaf
    case .clean(let link): isLeaf = try reader.node(link, tree: tree, in: base).isLeaf
    }
    if isLeaf {
      return try rewriteLeaf(
        reference, tree: tree, from: start, limit: limit, progress: &progress, transform)
    }
    // An interior node: copy it only if a child below changes.
    var node: MutableNode?
    let children: [ChildRef]
    let first: Int
    switch reference {
    case .dirty(let mutable):
      node = mutable
      children = mutable.children
      first = start.map { mutable.childIndex(for: $0) } ?? 0
    case .clean(let link):
      let committed = try reader.node(link, tree: tree, in: base)
      children = committed.children.map { .clean($0) }
      first = start.map { committed.childIndex(for: $0) } ?? 0
    }
    var goOn = true
    for index in first..<children.count where goOn {
      let (child, more) = try rewrite(
        children[index], tree: tree, from: index == first ? start : nil, limit: limit,
        progress: &progress, transform)
      goOn = more
      if case .dirty(let changed) = child, case .clean = children[index] {
        if node == nil { node = try makeMutable(reference, tree: tree) }
        node?.children[index] = .dirty(changed)
      }
    }
    return (node.map { .dirty($0) } ?? reference, goOn)
  }

  private func rewriteLeaf(
    _ reference: ChildRef, tree: TreeID, from start: [UInt8]?, limit: Int,
    progress: inout RewriteProgress,
    _ transform: ([UInt8], ArraySlice<UInt8>) throws(VaultError) -> [UInt8]?
  ) throws(VaultError) -> (ChildRef, Bool) {
    // Work out the replacements first, on whichever form the leaf has.
    let bytes: [UInt8]
    let cells: [(key: Range<Int>, value: PendingValue)]
    switch reference {
    case .dirty(let node):
      bytes = node.arena
      cells = node.cells.map { ($0.key, $0.value) }
    case .clean(let link):
      let node = try reader.node(link, tree: tree, in: base)
      bytes = node.bytes
      cells = node.cells.map { ($0.key, .stored($0.value)) }
    }
    var index =
      start.map { key in
        cells.firstIndex { KeyOrder.compare(bytes[$0.key], key) >= 0 } ?? cells.count
      } ?? 0
    var replacements = [(Int, [UInt8])]()
    while index < cells.count, progress.visited < limit {
      let key = Array(bytes[cells[index].key])
      progress.visited += 1
      progress.lastKey = key
      guard case .stored(.inline(let range)) = cells[index].value else {
        throw VaultError(.misuse, "only inline values can be rewritten in place")
      }
      if let replacement = try transform(key, bytes[range]) {
        guard replacement.count == range.count else {
          throw VaultError(.misuse, "a value rewritten in place must keep its length")
        }
        replacements.append((index, replacement))
      }
      index += 1
    }
    let goOn = progress.visited < limit
    guard !replacements.isEmpty else { return (reference, goOn) }
    let node = try makeMutable(reference, tree: tree)
    for (cell, replacement) in replacements {
      guard case .stored(.inline(let range)) = node.cells[cell].value else { continue }
      node.arena.replaceSubrange(range, with: replacement)
    }
    progress.rewritten += replacements.count
    return (.dirty(node), goOn)
  }
}

extension WriteTree {
  /// Replaces values in place, in key order from `start` (inclusive), offering at most
  /// `limit` entries to `transform`; a value it returns must have the old value's
  /// length, nil keeps the entry. One pass over the leaves: for bulk changes such as
  /// re-wrapping every key of a tree.
  ///
  /// - Returns: how many values were replaced, how many entries were offered, and the
  ///   last key offered.
  /// - Throws: `.misuse` for a value of another length or a value stored in overflow
  ///   pages; what `transform` throws.
  public func rewriteValues(
    from start: [UInt8]?, limit: Int,
    _ transform: (_ key: [UInt8], _ value: ArraySlice<UInt8>) throws(VaultError) -> [UInt8]?
  ) throws(VaultError) -> (rewritten: Int, visited: Int, lastKey: [UInt8]?) {
    try transaction.requireActive()
    let progress = try transaction.rewriteValues(in: state, from: start, limit: limit, transform)
    if progress.rewritten > 0 { state.isModified = true }
    return (progress.rewritten, progress.visited, progress.lastKey)
  }
}
