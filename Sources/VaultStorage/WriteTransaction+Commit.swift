import Glibc
import VaultCore
import VaultCrypto
import VaultFormat

/// Committing: catalog update, free-list bookkeeping, page allocation, writing, and the
/// one `fdatasync` that makes the transaction durable.
///
/// The protocol (Format/FORMAT.md, "Commit"): every page the transaction writes is a page
/// the previous state does not use; the meta page, written last to the slot the previous
/// state does not occupy, links the new roots with their checksums. One `fdatasync`
/// covers all of it. After a crash, open verifies every page reachable from the newest
/// meta page that carries its transaction id; if any fails, the previous state, which
/// this commit never touched, is intact and is used instead.
extension WriteTransaction {
  /// Commits the transaction. Does nothing when nothing changed.
  func commit() throws(VaultError) -> MetaPage? {
    try requireActive()
    defer { isActive = false }
    guard hasChanges else { return nil }

    try updateCatalog()
    let allocation = try settleFreeList()

    var output = PageOutput(
      transaction: id, pageSize: reader.pageSize, allocation: allocation)
    for name in trees.keys.sorted() {
      guard let state = trees[name], state.isModified, !state.isDropped else { continue }
      state.writtenRoot = try output.write(state.root, tree: state.id)
    }
    let catalogRoot = try output.write(catalog.root, tree: .catalog)
    let freeListRoot = try output.write(freeList.root, tree: .freeList)
    guard output.isAllocationExhausted else {
      throw VaultError(.internal, "page allocation does not match the pages written")
    }

    let meta = MetaPage(
      transaction: id, catalogRoot: catalogRoot, freeListRoot: freeListRoot,
      vaultID: base.vaultID, pageCount: allocation.pageCount,
      committedAtMilliseconds: wallClockMilliseconds(), nextTreeID: nextTreeID,
      freePageCount: freePageCount, treeCount: catalog.count)
    try store.persist(pages: output.pages, meta: meta, cacheable: output.nodes)
    return meta
  }

  // MARK: Catalog

  /// Rewrites the catalog entry of every tree this transaction changed.
  private func updateCatalog() throws(VaultError) {
    for name in trees.keys.sorted() {
      guard let state = trees[name], state.isModified else { continue }
      let key = Array(name.utf8)
      if state.isDropped {
        _ = try remove(key, from: catalog)
      } else {
        try insert(.tree(state), forKey: key[...], in: catalog)
      }
    }
  }

  // MARK: Free list

  /// The number of pages freed by earlier transactions that are now in the free list.
  var freePageCount: UInt64 {
    base.freePageCount - reusableTaken + UInt64(freeListEntryPages)
  }

  /// Records this transaction's freed pages in the free list and decides which pages
  /// its new nodes go to.
  ///
  /// Writing the free list changes the free list (its own pages are copied and freed,
  /// and new pages may be needed), so this iterates to a fixed point: the entry for
  /// this transaction lists exactly the pages freed, including the free list's own, and
  /// every page taken from the free list and not used.
  private func settleFreeList() throws(VaultError) -> PageAllocation {
    let perChunk = FreeListEntry.maximumPagesPerChunk(pageSize: reader.pageSize)
    try takeReusablePages(atLeast: try countPagesToWrite() + 4)

    var frozen: [PageNumber]?
    var lastFreed: [PageNumber]?
    var lastNeeded = -1
    var chunksWritten = 0
    for round in 0..<64 {
      let needed = try countPagesToWrite()
      let assigned = frozen ?? choosePages(needed, from: reusable)
      guard assigned.count <= needed else {
        throw VaultError(.internal, "free-list settlement shrank below its frozen allocation")
      }
      let assignedSet = Set(assigned)
      let freed = (pendingFree + reusable.filter { !assignedSet.contains($0) }).sorted()
      if freed == lastFreed, needed == lastNeeded {
        freeListEntryPages = freed.count
        let fresh = needed - assigned.count
        let first = base.pageCount
        let extra = (0..<UInt64(fresh)).map { PageNumber(first + $0) }
        return PageAllocation(
          pages: (assigned + extra).sorted(), pageCount: base.pageCount + UInt64(fresh))
      }
      if Set(freed).count != freed.count {
        throw VaultError(.internal, "a page was freed twice in one transaction")
      }
      let chunks = stride(from: 0, to: freed.count, by: perChunk).map {
        Array(freed[$0..<min($0 + perChunk, freed.count)])
      }
      for (index, pages) in chunks.enumerated() {
        let entry = FreeListEntry(freedBy: id, chunk: UInt32(index), pages: pages)
        try insert(.stored(.inline(entry.value[...])), forKey: entry.key[...], in: freeList)
      }
      if chunks.count < chunksWritten {
        for index in chunks.count..<chunksWritten {
          _ = try remove(FreeListEntry.key(freedBy: id, chunk: UInt32(index)), from: freeList)
        }
      }
      chunksWritten = chunks.count
      lastFreed = freed
      lastNeeded = needed
      // Stop choosing pages after a few rounds: with the choice fixed, later rounds can
      // only add chunks at the right edge, so the loop must settle.
      if round >= 3, frozen == nil { frozen = assigned }
    }
    throw VaultError(.internal, "free-list settlement did not converge")
  }

  /// Moves free-list entries that no reader can still need into `reusable`, oldest
  /// first, until there are at least `target` pages or no such entry is left.
  private func takeReusablePages(atLeast target: Int) throws(VaultError) {
    while reusable.count < target {
      var first: (key: [UInt8], entry: FreeListEntry)?
      try forEachEntry(in: freeList, from: nil, to: nil) { key, value throws(VaultError) in
        guard case .stored(.inline(let bytes)) = value else {
          throw VaultError(.corrupt, "free-list entry is not an inline page list")
        }
        first = (Array(key), try FreeListEntry(key: key, value: bytes))
        return false
      }
      guard let first, first.entry.freedBy <= oldestReader else { return }
      for page in first.entry.pages
      where page < FileFormat.firstDataPage || page.rawValue >= base.pageCount {
        throw VaultError(.corrupt, "free list names impossible page \(page)")
      }
      _ = try remove(first.key, from: freeList)
      reusable += first.entry.pages
      reusableTaken += UInt64(first.entry.pages.count)
    }
  }

  /// `count` pages from `pool`: the lowest run of consecutive pages long enough, so the
  /// transaction is written with few large writes; else simply the lowest pages.
  private func choosePages(_ count: Int, from pool: [PageNumber]) -> [PageNumber] {
    guard count > 0, !pool.isEmpty else { return [] }
    let sorted = pool.sorted()
    guard count < sorted.count else { return sorted }
    var runStart = 0
    for index in 1...sorted.count {
      let continues =
        index < sorted.count && sorted[index].rawValue == sorted[index - 1].rawValue + 1
      if continues { continue }
      if index - runStart >= count { return Array(sorted[runStart..<runStart + count]) }
      runStart = index
    }
    return Array(sorted.prefix(count))
  }

  /// Pages this transaction will write: every dirty node and every overflow page of a
  /// new large value.
  func countPagesToWrite() throws(VaultError) -> Int {
    var count = 0
    func visit(_ reference: ChildRef?) {
      guard case .dirty(let node)? = reference else { return }
      count += 1
      for child in node.children { visit(child) }
      for value in node.values {
        if case .large(let bytes) = value {
          count += OverflowPage.pagesNeeded(length: bytes.count, pageSize: reader.pageSize)
        }
      }
    }
    for state in trees.values where state.isModified && !state.isDropped { visit(state.root) }
    visit(catalog.root)
    visit(freeList.root)
    return count
  }
}

/// The pages a commit writes to, ascending, and the page count afterwards.
struct PageAllocation {
  var pages: [PageNumber]
  var pageCount: UInt64
}

/// Encodes dirty nodes bottom-up (a parent records its children's checksums) onto the
/// allocated pages, in ascending order so that consecutive pages form single writes.
struct PageOutput {
  let transaction: TransactionID
  let pageSize: Int
  let allocation: PageAllocation
  private var next = 0
  private(set) var pages: [(PageNumber, [UInt8])] = []
  /// Decoded copies of the tree pages written, for the page cache.
  private(set) var nodes: [Node] = []

  init(transaction: TransactionID, pageSize: Int, allocation: PageAllocation) {
    self.transaction = transaction
    self.pageSize = pageSize
    self.allocation = allocation
  }

  var isAllocationExhausted: Bool { next == allocation.pages.count }

  private mutating func takePage() throws(VaultError) -> PageNumber {
    guard next < allocation.pages.count else {
      throw VaultError(.internal, "commit ran out of allocated pages")
    }
    defer { next += 1 }
    return allocation.pages[next]
  }

  private mutating func emit(_ page: PageNumber, _ bytes: [UInt8], decode: Bool) throws(VaultError)
    -> PageLink
  {
    let link = PageLink(
      page: page, transaction: transaction,
      checksum: bytes.withUnsafeBytes {
        Checksum(
          low: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
          high: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
      })
    pages.append((page, bytes))
    if decode { nodes.append(try Node(page: try Page(bytes, location: page))) }
    return link
  }

  /// Writes the subtree `reference` points to; returns the link to its root.
  mutating func write(_ reference: ChildRef?, tree: TreeID) throws(VaultError) -> PageLink {
    switch reference {
    case nil: return .null
    case .clean(let link)?: return link
    case .dirty(let node)?: return try write(node, tree: tree)
    }
  }

  private mutating func write(_ node: MutableNode, tree: TreeID) throws(VaultError) -> PageLink {
    if node.isLeaf {
      var cells = [(key: ArraySlice<UInt8>, value: CellValue)]()
      cells.reserveCapacity(node.keys.count)
      for (key, value) in zip(node.keys, node.values) {
        switch value {
        case .stored(let stored):
          cells.append((key, stored))
        case .large(let bytes):
          let head = try writeOverflow(bytes, tree: tree)
          cells.append((key, .overflow(length: UInt64(bytes.count), head: head)))
        case .tree(let state):
          guard let root = state.writtenRoot else {
            throw VaultError(.internal, "catalog entry written before its tree")
          }
          cells.append((key, .tree(TreeRoot(root: root, id: state.id, count: state.count))))
        }
      }
      let size = 2 + cells.reduce(0) { $0 + LeafPage.cellSize(keyLength: $1.key.count, value: $1.value) }
      assert(size == node.contentSize, "leaf size \(size) != tracked \(node.contentSize)")
      guard size <= FileFormat.contentCapacity(pageSize: pageSize) else {
        throw VaultError(.internal, "a leaf outgrew its page (\(size) bytes)")
      }
      let page = try takePage()
      let bytes = LeafPage.encode(
        cells: cells, page: page, transaction: transaction, tree: tree, pageSize: pageSize)
      return try emit(page, bytes, decode: true)
    }
    var links = [PageLink]()
    links.reserveCapacity(node.children.count)
    for child in node.children { links.append(try write(child, tree: tree)) }
    let size = InteriorPage.contentSize(
      separatorBytes: node.keys.reduce(0) { $0 + InteriorPage.entrySize(keyLength: $1.count) })
    assert(size == node.contentSize, "interior size \(size) != tracked \(node.contentSize)")
    guard size <= FileFormat.contentCapacity(pageSize: pageSize), !node.keys.isEmpty else {
      throw VaultError(.internal, "an interior node outgrew its page or lost its keys")
    }
    let page = try takePage()
    let bytes = InteriorPage.encode(
      separators: node.keys, children: links, page: page, transaction: transaction, tree: tree,
      pageSize: pageSize)
    return try emit(page, bytes, decode: true)
  }

  /// Writes a value across a chain of overflow pages; returns the link to its first.
  private mutating func writeOverflow(_ value: [UInt8], tree: TreeID) throws(VaultError)
    -> PageLink
  {
    let per = OverflowPage.capacity(pageSize: pageSize)
    let count = OverflowPage.pagesNeeded(length: value.count, pageSize: pageSize)
    var numbers = [PageNumber]()
    for _ in 0..<count { numbers.append(try takePage()) }
    // Last page first: each page's link to the next carries that page's checksum.
    var next: PageLink?
    for index in stride(from: count - 1, through: 0, by: -1) {
      let start = index * per
      let piece = value[start..<min(start + per, value.count)]
      let bytes = OverflowPage.encode(
        piece: piece, next: next, page: numbers[index], transaction: transaction, tree: tree,
        pageSize: pageSize)
      next = try emit(numbers[index], bytes, decode: false)
    }
    return next ?? .null
  }
}

/// Milliseconds since the Unix epoch, from the system's real-time clock.
func wallClockMilliseconds() -> Int64 {
  var now = timespec()
  clock_gettime(CLOCK_REALTIME, &now)
  return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}
