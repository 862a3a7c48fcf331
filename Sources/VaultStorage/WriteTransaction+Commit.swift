import Glibc
import VaultCore
import VaultCrypto
import VaultFormat

/// Committing: catalog update, free-list bookkeeping, page allocation, writing, and the
/// one `fdatasync` that makes the transaction durable.
///
/// The protocol (Format/FORMAT.md, section 10): every page the transaction writes is a page
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
    guard hasChanges || commitsWithoutChanges else { return nil }

    try updateCatalog()
    let allocation = try settleFreeList()

    guard let cipher = reader.cipher else {
      throw VaultError(.keyRequired, "writing to a vault needs its passphrase or key")
    }
    var output = PageOutput(
      transaction: id, pageSize: reader.pageSize, cipher: cipher, allocation: allocation,
      largeValues: largeValues, catalogEntries: catalogEntries)
    // Every node but the hot ones first (PageOutput.isHot), then the hot nodes and the
    // system tree's pages: they come last in the allocation, on the pages next to the
    // meta page, since nearly every commit rewrites them.
    let modified = trees.keys.sorted(by: KeyOrder.less).compactMap { name in
      trees[name].flatMap { $0.isModified && !$0.isDropped ? $0 : nil }
    }
    var prepared = [PageOutput.Prepared]()
    for state in modified {
      prepared.append(try output.prepare(state.root, tree: state.id))
    }
    for (state, top) in zip(modified, prepared) {
      state.writtenRoot = try output.finish(top, tree: state.id)
    }
    let systemRoot = try output.writeSystemRoot(system.root)
    guard output.isAllocationExhausted else {
      throw VaultError(.internal, "page allocation does not match the pages written")
    }

    let meta = MetaPage(
      transaction: id, vaultID: base.vaultID, pageCount: allocation.pageCount,
      committedAtMilliseconds: wallClockMilliseconds(), nextTreeID: nextTreeID,
      freePageCount: try freePageCount, treeCount: treeCount, root: systemRoot)
    try store.persist(
      pages: output.pages, meta: meta, metaBytes: output.seal(meta), base: base.transaction,
      cacheable: output.nodes, wroteExtents: extentPages > 0)
    return meta
  }

  // MARK: Catalog

  /// Rewrites the catalog entry of every tree this transaction changed.
  private func updateCatalog() throws(VaultError) {
    for name in trees.keys.sorted(by: KeyOrder.less) {
      guard let state = trees[name], state.isModified, let treeName = state.name else { continue }
      let key = SystemTree.catalogKey(treeName)
      if state.isDropped {
        _ = try remove(key, from: system)
      } else {
        catalogEntries.append(state)
        let entry = NewValue.tree(catalogEntries.count - 1, rooted: state.root != nil)
        try insert(entry, forKey: key, in: system)
      }
    }
  }

  // MARK: Free list

  /// The number of pages in the free list after this commit.
  var freePageCount: UInt64 {
    get throws(VaultError) {
      guard reusableTaken <= base.freePageCount else {
        throw VaultError(.corrupt, "the free list holds more pages than its meta page counts")
      }
      return base.freePageCount - reusableTaken + UInt64(freeListEntryPages)
    }
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
    try takeReusablePages(atLeast: countPagesToWrite().total)
    let named = countNamedTreePages()

    var frozen: (general: [PageNumber], hot: [PageNumber])?
    var lastFreed: [PageNumber]?
    var lastNeeded = -1
    var chunksWritten = 0
    for round in 0..<64 {
      let systemPages = countSystemTreePages()
      let (needed, hotNeeded) = (named.total + systemPages, named.hot + systemPages)
      var assigned = frozen ?? choosePages(needed, hot: hotNeeded, from: reusable)
      // A merge in the system tree can lower the count after the choice froze: give the
      // surplus back (it joins the freed pages; the choice only ever shrinks, so the loop
      // still settles).
      while assigned.general.count + assigned.hot.count > needed {
        if assigned.general.isEmpty {
          assigned.hot.removeLast()
        } else {
          assigned.general.removeLast()
        }
      }
      if frozen != nil { frozen = assigned }
      let assignedCount = assigned.general.count + assigned.hot.count
      let assignedSet = Set(assigned.general + assigned.hot)
      let freed = (pendingFree + reusable.filter { !assignedSet.contains($0) }).sorted()
      if freed == lastFreed, needed == lastNeeded {
        freeListEntryPages = freed.count
        let fresh = needed - assignedCount
        let first = base.pageCount + extentPages
        let extra = (0..<UInt64(fresh)).map { PageNumber(first + $0) }
        // Pages are handed out in this order; the hot ones go to the nodes written last.
        return PageAllocation(
          pages: (assigned.general + extra).sorted() + assigned.hot.sorted(),
          pageCount: first + UInt64(fresh))
      }
      if zip(freed, freed.dropFirst()).contains(where: { $0 == $1 }) {
        throw VaultError(.internal, "a page was freed twice in one transaction")
      }
      let chunks = stride(from: 0, to: freed.count, by: perChunk).map {
        Array(freed[$0..<min($0 + perChunk, freed.count)])
      }
      for (index, pages) in chunks.enumerated() {
        let entry = FreeListEntry(freedBy: id, chunk: UInt32(index), pages: pages)
        try insert(.bytes(entry.value), forKey: entry.key, in: system)
      }
      if chunks.count < chunksWritten {
        for index in chunks.count..<chunksWritten {
          _ = try remove(FreeListEntry.key(freedBy: id, chunk: UInt32(index)), from: system)
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

  /// Moves free-list entries that no reader can still need into `reusable`: first those
  /// of the newest transaction whose pages may be reused (usually the previous commit,
  /// whose freed pages include the hot pages next to this commit's meta page), then
  /// the oldest, until there are at least `target` pages or no such entry is left.
  private func takeReusablePages(atLeast target: Int) throws(VaultError) {
    let newest = FreeListEntry.key(freedBy: oldestReader, chunk: 0)
    let pastNewest = FreeListEntry.key(freedBy: oldestReader.next, chunk: 0)
    for entry in try freeListEntries(from: newest, to: pastNewest, limit: Int.max) {
      try take(entry)
    }
    while reusable.count < target {
      guard let first = try freeListEntries(from: nil, to: nil, limit: 1).first,
        first.freedBy <= oldestReader
      else { return }
      try take(first)
    }
  }

  /// Free-list entries with keys in `start ..< end` (the whole free list by default).
  func freeListEntries(from start: [UInt8]?, to end: [UInt8]?, limit: Int)
    throws(VaultError) -> [FreeListEntry]
  {
    var entries = [FreeListEntry]()
    let range = SystemTree.freeListRange
    try forEachEntry(in: system, from: start ?? range.start, to: end ?? range.end) {
      key, value throws(VaultError) in
      guard case .bytes(let bytes) = value else {
        throw VaultError(.corrupt, "free-list entry is not an inline page list")
      }
      entries.append(try FreeListEntry(key: key[...], value: bytes[...]))
      return entries.count < limit
    }
    return entries
  }

  /// Removes `entry` from the free list and makes its pages reusable.
  private func take(_ entry: FreeListEntry) throws(VaultError) {
    for page in entry.pages
    where !FileFormat.isDataPage(page) || page.rawValue >= base.pageCount {
      throw VaultError(.corrupt, "free list names impossible page \(page)")
    }
    _ = try remove(entry.key, from: system)
    reusable += entry.pages
    reusableTaken += UInt64(entry.pages.count)
  }

  /// `count` pages from `pool`. The `hot` nodes get the free pages right after this
  /// transaction's meta page, so they and the meta page go out as few writes. The other
  /// nodes get pages in as few runs of consecutive pages as possible (longest runs first,
  /// lowest first among equals), never from a hot area: a cold page parked there would
  /// stay a long time and split the run next to the meta page. (The hot areas hold 16
  /// pages: at most that many stay free for lack of hot nodes.) Whatever the pool lacks
  /// comes from the end of the file.
  private func choosePages(_ count: Int, hot: Int, from pool: [PageNumber]) -> (
    general: [PageNumber], hot: [PageNumber]
  ) {
    guard count > 0, !pool.isEmpty else { return ([], []) }
    let ourArea = FileFormat.hotArea(for: id)
    let otherArea = FileFormat.hotArea(for: id.next)
    let sorted = pool.sorted()
    let ours = sorted.filter { ourArea.contains($0.rawValue) }
    let rest = sorted.filter { !ourArea.contains($0.rawValue) && !otherArea.contains($0.rawValue) }
    let hotPages = Array(ours.prefix(min(hot, count)))
    let wanted = count - hotPages.count
    return (fewestRuns(wanted, from: rest), hotPages)
  }

  /// Up to `count` pages of `sorted` in as few runs of consecutive pages as possible.
  private func fewestRuns(_ count: Int, from sorted: [PageNumber]) -> [PageNumber] {
    guard count > 0, !sorted.isEmpty else { return [] }
    guard count < sorted.count else { return sorted }
    var runs = [Range<Int>]()
    var runStart = 0
    for index in 1...sorted.count
    where index == sorted.count || sorted[index].rawValue != sorted[index - 1].rawValue + 1 {
      runs.append(runStart..<index)
      runStart = index
    }
    // The shortest single run that fits leaves the larger ones for bigger commits.
    if let fit = runs.filter({ $0.count >= count }).min(by: { $0.count < $1.count }) {
      return Array(sorted[fit.lowerBound..<fit.lowerBound + count])
    }
    var chosen = [PageNumber]()
    let longestFirst = runs.sorted {
      $0.count > $1.count || ($0.count == $1.count && $0.lowerBound < $1.lowerBound)
    }
    for run in longestFirst {
      chosen += sorted[run.lowerBound..<min(run.upperBound, run.lowerBound + count - chosen.count)]
      if chosen.count == count { break }
    }
    return chosen
  }

  /// Pages this transaction will write: every dirty node and every overflow page of a
  /// new large value; and how many of them are hot (``PageOutput/isHot(_:depth:onRightEdge:transaction:pageSize:)``,
  /// and the system tree's pages, written last).
  func countPagesToWrite() -> (total: Int, hot: Int) {
    let named = countNamedTreePages()
    let system = countSystemTreePages()
    return (named.total + system, named.hot + system)
  }

  /// The pages of the named trees this transaction changed, and how many are hot.
  /// Settling the free list changes only the system tree, so it counts these once.
  func countNamedTreePages() -> (total: Int, hot: Int) {
    var count = 0
    var hot = 0
    // Exactly the nodes PageOutput.prepare defers.
    func countHot(_ reference: ChildRef?, depth: Int, onRightEdge: Bool) {
      guard case .dirty(let node)? = reference,
        PageOutput.isHot(
          node, depth: depth, onRightEdge: onRightEdge, transaction: id,
          pageSize: reader.pageSize)
      else { return }
      hot += 1
      let last = node.children.count - 1
      for (index, child) in node.children.enumerated() {
        countHot(child, depth: depth + 1, onRightEdge: onRightEdge && index == last)
      }
    }
    for state in trees.values where state.isModified && !state.isDropped {
      count += countDirtyPages(state.root)
      countHot(state.root, depth: 0, onRightEdge: true)
    }
    return (count, hot)
  }

  /// The pages of the system tree below its root (the root goes into the meta page, not
  /// a page of its own); all of them are hot.
  func countSystemTreePages() -> Int {
    system.root == nil ? 0 : countDirtyPages(system.root) - 1
  }

  /// Dirty nodes under `reference`, and the overflow pages of their new large values.
  private func countDirtyPages(_ reference: ChildRef?) -> Int {
    guard case .dirty(let root)? = reference else { return 0 }
    var count = 0
    // Without large values in the transaction, a leaf's cells need no look.
    let hasLargeValues = !largeValues.isEmpty
    var pending = [root]
    while let node = pending.popLast() {
      count += 1
      if node.isLeaf {
        guard hasLargeValues else { continue }
        for cell in node.cells {
          if case .large(let index) = cell.value {
            count += OverflowPage.pagesNeeded(
              length: largeValues[index].count, pageSize: reader.pageSize)
          }
        }
      } else {
        for index in node.children.indices {
          if case .dirty(let child) = node.children[index] { pending.append(child) }
        }
      }
    }
    return count
  }
}

/// The pages a commit writes to, in the order they are handed out, and the page count
/// afterwards.
struct PageAllocation {
  var pages: [PageNumber]
  var pageCount: UInt64
}

/// Encodes dirty nodes bottom-up (a parent records its children's checksums) onto the
/// allocated pages, in ascending order so that consecutive pages form single writes,
/// and seals each page as it goes.
struct PageOutput {
  let transaction: TransactionID
  let pageSize: Int
  let cipher: PageCipher
  private var nonces = PageNonce.Sequence()
  let allocation: PageAllocation
  let largeValues: [[UInt8]]
  let catalogEntries: [TreeState]
  private var next = 0
  private(set) var pages: [(PageNumber, [UInt8])] = []
  /// Decoded copies of the tree pages written, for the page cache.
  private(set) var nodes: [Node] = []

  init(
    transaction: TransactionID, pageSize: Int, cipher: PageCipher, allocation: PageAllocation,
    largeValues: [[UInt8]], catalogEntries: [TreeState]
  ) {
    self.transaction = transaction
    self.pageSize = pageSize
    self.cipher = cipher
    self.allocation = allocation
    self.largeValues = largeValues
    self.catalogEntries = catalogEntries
  }

  var isAllocationExhausted: Bool { next == allocation.pages.count }

  private mutating func takePage() throws(VaultError) -> PageNumber {
    guard next < allocation.pages.count else {
      throw VaultError(.internal, "commit ran out of allocated pages")
    }
    defer { next += 1 }
    return allocation.pages[next]
  }

  /// Seals a page built in the clear (unless its tree is stored in the clear) and
  /// queues it for writing; returns its link.
  private mutating func emit(_ page: PageNumber, _ plaintext: [UInt8], tree: TreeID) -> PageLink {
    let stored =
      FileFormat.isSealed(tree) ? cipher.seal(plaintext, nonce: nonces.next()) : plaintext
    let link = PageLink(
      page: page, transaction: transaction, checksum: Page.storedChecksum(of: stored))
    pages.append((page, stored))
    return link
  }

  /// The meta page, sealed, as it will be written.
  mutating func seal(_ meta: MetaPage) -> [UInt8] {
    cipher.seal(meta.encode(pageSize: pageSize, sealed: true), nonce: nonces.next())
  }

  /// Writes the subtree `reference` points to; returns the link to its root.
  mutating func write(_ reference: ChildRef?, tree: TreeID) throws(VaultError) -> PageLink {
    switch reference {
    case nil: return .null
    case .clean(let link)?: return link
    case .dirty(let node)?: return try write(node, tree: tree)
    }
  }

  /// Whether a dirty node is hot: written last, on the pages next to the meta page
  /// (``FileFormat/hotArea(for:)``), so that a small commit writes them and its meta
  /// page as one run, which the disk takes as one request.
  ///
  /// Hot are the nodes rewritten commit after commit: a tree's root, or a node on its
  /// right edge (where sequential keys append: data keys, the audit log), whose page
  /// one of the last two commits wrote. A node changed once in a while is not: it would
  /// stay in the hot area, live, and split the run. Nor is a nearly full node on the
  /// right edge below the root, or a nearly full root leaf: appends soon leave it behind
  /// for a new one, and a leaf left behind is never rewritten (the new leaf goes beside
  /// it), so in the hot area it would split the run of every later commit of its
  /// parity. (A hot node's ancestors are hot too: ``prepare(_:tree:depth:onRightEdge:)``
  /// writes the others at once.)
  static func isHot(
    _ node: MutableNode, depth: Int, onRightEdge: Bool, transaction: TransactionID,
    pageSize: Int
  ) -> Bool {
    guard let origin = node.origin, origin.transaction.rawValue &+ 2 >= transaction.rawValue
    else { return false }
    if depth == 0, !node.isLeaf { return true }
    return onRightEdge && node.contentSize <= FileFormat.contentCapacity(pageSize: pageSize) / 8 * 7
  }

  /// A hot node whose other descendants are written and whose own page is not yet.
  indirect enum Prepared {
    case written(PageLink)
    case leaf(MutableNode, [LeafCell])
    case interior(MutableNode, [Prepared])
  }

  /// The first phase of a commit: writes every page of the subtree but the hot nodes.
  mutating func prepare(
    _ reference: ChildRef?, tree: TreeID, depth: Int = 0, onRightEdge: Bool = true
  ) throws(VaultError) -> Prepared {
    switch reference {
    case nil: return .written(.null)
    case .clean(let link)?: return .written(link)
    case .dirty(let node)?:
      guard
        Self.isHot(
          node, depth: depth, onRightEdge: onRightEdge, transaction: transaction,
          pageSize: pageSize)
      else { return .written(try write(node, tree: tree)) }
      if node.isLeaf { return .leaf(node, try resolveCells(node, tree: tree)) }
      var children = [Prepared]()
      let last = node.children.count - 1
      for (index, child) in node.children.enumerated() {
        children.append(
          try prepare(
            child, tree: tree, depth: depth + 1, onRightEdge: onRightEdge && index == last))
      }
      return .interior(node, children)
    }
  }

  /// The second phase: writes the hot nodes; returns the link to the top node.
  mutating func finish(_ prepared: Prepared, tree: TreeID) throws(VaultError) -> PageLink {
    switch prepared {
    case .written(let link): return link
    case .leaf(let node, let cells): return try writeLeaf(node, cells: cells, tree: tree)
    case .interior(let node, let children):
      var links = [PageLink]()
      for child in children { links.append(try finish(child, tree: tree)) }
      return try writeInterior(node, links: links, tree: tree)
    }
  }

  private mutating func write(_ node: MutableNode, tree: TreeID) throws(VaultError) -> PageLink {
    if node.isLeaf {
      return try writeLeaf(node, cells: try resolveCells(node, tree: tree), tree: tree)
    }
    var links = [PageLink]()
    links.reserveCapacity(node.children.count)
    for child in node.children { links.append(try write(child, tree: tree)) }
    return try writeInterior(node, links: links, tree: tree)
  }

  private mutating func writeLeaf(_ node: MutableNode, cells: [LeafCell], tree: TreeID)
    throws(VaultError) -> PageLink
  {
    // The size tracked through every change (recounting the cells costs a walk per
    // page; debug builds check the two agree).
    let size = node.contentSize
    assert(size == LeafPage.contentSize(of: cells), "leaf size drifted from its cells")
    guard size <= FileFormat.contentCapacity(pageSize: pageSize) else {
      throw VaultError(.internal, "a leaf outgrew its page (\(size) bytes)")
    }
    let page = try takePage()
    let leaf = LeafPage.encodeNode(
      cells, in: node.arena, page: page, transaction: transaction, tree: tree, pageSize: pageSize,
      sealed: FileFormat.isSealed(tree))
    let link = emit(page, leaf.bytes, tree: tree)
    nodes.append(Node(leaf: leaf, link: link, tree: tree))
    return link
  }

  private mutating func writeInterior(_ node: MutableNode, links: [PageLink], tree: TreeID)
    throws(VaultError) -> PageLink
  {
    let size = node.contentSize
    assert(
      size == InteriorPage.contentSize(of: node.separators), "interior size drifted from its keys")
    guard size <= FileFormat.contentCapacity(pageSize: pageSize), !node.separators.isEmpty else {
      throw VaultError(.internal, "an interior node outgrew its page or lost its keys")
    }
    let page = try takePage()
    let interior = InteriorPage.encodeNode(
      separators: node.separators, in: node.arena, children: links, page: page,
      transaction: transaction, tree: tree, pageSize: pageSize, sealed: FileFormat.isSealed(tree))
    let link = emit(page, interior.bytes, tree: tree)
    nodes.append(Node(interior: interior, link: link, tree: tree))
    return link
  }

  /// Writes the system tree's pages below its root, and returns the root itself, for
  /// the meta page.
  mutating func writeSystemRoot(_ reference: ChildRef?) throws(VaultError) -> SystemRoot {
    let root: MutableNode
    switch reference {
    case nil: return .empty
    case .clean?: throw VaultError(.internal, "the system tree's root is not in memory")
    case .dirty(let node)?: root = node
    }
    if root.isLeaf {
      return .leaf(LeafNode(bytes: root.arena, cells: try resolveCells(root, tree: .system)))
    }
    var links = [PageLink]()
    for child in root.children { links.append(try write(child, tree: .system)) }
    return .interior(InteriorNode(bytes: root.arena, separators: root.separators, children: links))
  }

  /// The cells of a dirty leaf as stored (ranges of its arena): large values written to
  /// overflow chains, catalog entries pointing at their trees' written roots.
  private mutating func resolveCells(_ node: MutableNode, tree: TreeID) throws(VaultError)
    -> [LeafCell]
  {
    var cells = [LeafCell]()
    cells.reserveCapacity(node.cells.count)
    for cell in node.cells {
      switch cell.value {
      case .stored(let stored):
        cells.append(LeafCell(key: cell.key, value: stored))
      case .large(let index):
        let bytes = largeValues[index]
        let head = try writeOverflow(bytes, tree: tree)
        cells.append(
          LeafCell(key: cell.key, value: .overflow(length: UInt64(bytes.count), head: head)))
      case .tree(let index, _):
        let state = catalogEntries[index]
        guard let root = state.writtenRoot else {
          throw VaultError(.internal, "catalog entry written before its tree")
        }
        cells.append(
          LeafCell(
            key: cell.key, value: .tree(TreeRoot(root: root, id: state.id, count: state.count))))
      }
    }
    return cells
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
        pageSize: pageSize, sealed: FileFormat.isSealed(tree))
      next = emit(numbers[index], bytes, tree: tree)
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
