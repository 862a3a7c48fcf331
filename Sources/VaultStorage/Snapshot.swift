import Synchronization
import VaultCore
import VaultFormat

/// A consistent, read-only view of one committed state of the vault.
///
/// Every read sees exactly the state as of the commit the snapshot was taken at,
/// whatever writers commit meanwhile. Close a snapshot (or let ``VaultStore/read(_:)``
/// do it) so writers can reuse the pages only it still reads.
public final class Snapshot: Sendable {
  let store: VaultStore
  /// The meta page of the state this snapshot reads.
  public let meta: MetaPage
  /// The system tree's root, embedded in the meta page.
  let systemRoot: Node?
  /// Catalog entries already looked up in this state (shared by its snapshots).
  let catalog: CatalogCache
  private let isOpen = Atomic<Bool>(true)

  init(store: VaultStore, state: DurableState) {
    self.store = store
    self.meta = state.meta
    self.systemRoot = state.systemRoot
    self.catalog = state.catalog
  }

  deinit { close() }

  /// Releases the snapshot. Reads after this fail with `.misuse`.
  public func close() {
    if isOpen.exchange(false, ordering: .acquiringAndReleasing) {
      store.unregisterSnapshot(meta.transaction)
    }
  }

  func requireOpen() throws(VaultError) {
    guard isOpen.load(ordering: .relaxed) else {
      throw VaultError(.misuse, "the snapshot was closed")
    }
  }

  /// The transaction whose state this snapshot shows.
  public var transactionID: TransactionID { meta.transaction }

  var reader: PageReader { store.reader }

  /// Fails unless the snapshot is open and its store can read sealed content.
  func requireReadable() throws(VaultError) {
    try requireOpen()
    guard reader.cipher != nil else {
      throw VaultError(.keyRequired, "reading vault content needs its passphrase or key")
    }
  }

  /// The system tree: catalog and free list, rooted in the meta page.
  var systemTree: ReadTree {
    ReadTree(
      snapshot: self, root: TreeRoot(root: .null, id: .system, count: 0), name: "",
      embeddedRoot: systemRoot)
  }

  /// The tree named `name`, or nil.
  public func tree(named name: String) throws(VaultError) -> ReadTree? {
    try WriteTransaction.requireUnreserved(name)
    return try anyTree(named: name)
  }

  /// ``tree(named:)`` for any name, reserved ones included (the engine's own).
  package func anyTree(named name: String) throws(VaultError) -> ReadTree? {
    try requireReadable()
    if let known = catalog.entry(name) {
      return known.map { ReadTree(snapshot: self, root: $0, name: name) }
    }
    guard let (node, index) = try systemTree.cell(forKey: SystemTree.catalogKey(name)) else {
      catalog.record(name, nil)
      return nil
    }
    guard case .tree(let root) = node.cells[index].value else {
      throw VaultError(.corrupt, "catalog entry \"\(name)\" is not a tree")
    }
    catalog.record(name, root)
    return ReadTree(snapshot: self, root: root, name: name)
  }

  /// The clear tree `id` (FORMAT.md 7.3), found without the key: its catalog entry is
  /// sealed, but the system tree's links are not, and a tree's root page names its
  /// tree. Nil when the vault has no such tree yet. The handle's ``ReadTree/count``
  /// is 0: the key count is in the sealed catalog entry.
  ///
  /// - Complexity: O(pages of the system tree + trees), none of them opened.
  /// - Throws: `.corruptPage` for a damaged system-tree page.
  package func clearTree(_ id: TreeID) throws(VaultError) -> ReadTree? {
    try requireOpen()
    guard !FileFormat.isSealed(id) else {
      throw VaultError(.invalidArgument, "tree \(id) is not stored in the clear")
    }
    var pending = meta.root.links
    var visited = 0
    while let link = pending.popLast() {
      visited += 1
      guard UInt64(visited) <= meta.pageCount else {
        throw VaultError(.corruptPage, "the system tree links more pages than the file has")
      }
      // The root itself is only identified here: a damaged one is for the caller's
      // walk to verify and report.
      let page = try reader.readPage(link.page)
      switch page.header.tree {
      case .system where page.header.type == .interior || page.header.type == .leaf:
        try page.verify(against: link)
        pending += page.links
      case id:
        return ReadTree(snapshot: self, root: TreeRoot(root: link, id: id, count: 0), name: "")
      default:
        continue
      }
    }
    return nil
  }

  /// The names of the application's trees (reserved ones left out), in byte order.
  public func treeNames() throws(VaultError) -> [String] {
    try allTreeNames().filter { $0.utf8.first != UInt8(ascii: "$") }
  }

  /// The names of all trees, the engine's reserved ones included, in byte order.
  package func allTreeNames() throws(VaultError) -> [String] {
    try requireReadable()
    var names = [String]()
    let range = SystemTree.catalogRange
    try systemTree.forEachCell(from: range.start, to: range.end) { node, index throws(VaultError) in
      if let name = SystemTree.treeName(fromKey: node.bytes[node.cells[index].key]) {
        names.append(name)
      }
      return true
    }
    return names
  }
}

/// A tree as a snapshot sees it.
public struct ReadTree: Sendable {
  let snapshot: Snapshot
  /// The tree's root, id and key count.
  public let root: TreeRoot
  /// The tree's name.
  public let name: String
  /// The root node when it is embedded in the meta page (the system tree).
  var embeddedRoot: Node?

  init(snapshot: Snapshot, root: TreeRoot, name: String, embeddedRoot: Node? = nil) {
    self.snapshot = snapshot
    self.root = root
    self.name = name
    self.embeddedRoot = embeddedRoot
  }

  /// The root node, or nil for an empty tree.
  private func rootNode() throws(VaultError) -> Node? {
    if let embeddedRoot { return embeddedRoot }
    guard !root.root.isNull else { return nil }
    return try snapshot.reader.node(root.root, tree: root.id, in: snapshot.meta)
  }

  /// The number of keys in the tree.
  public var count: UInt64 { root.count }

  /// The value stored under `key`, or nil.
  ///
  /// - Complexity: O(log n) page visits, most of them served by the page cache.
  public func value(forKey key: [UInt8]) throws(VaultError) -> [UInt8]? {
    guard let (node, index) = try cell(forKey: key) else { return nil }
    return try materialize(node.cells[index].value, in: node)
  }

  /// The leaf holding `key` and the cell's index in it, or nil.
  func cell(forKey key: [UInt8]) throws(VaultError) -> (Node, Int)? {
    try snapshot.requireOpen()
    guard var node = try rootNode() else { return nil }
    let reader = snapshot.reader
    while !node.isLeaf {
      node = try reader.node(
        node.children[node.childIndex(for: key)], tree: root.id, in: snapshot.meta)
    }
    let (index, found) = node.search(key)
    return found ? (node, index) : nil
  }

  func materialize(_ value: StoredValue, in node: Node) throws(VaultError) -> [UInt8] {
    switch value {
    case .inline(let range): return Array(node.bytes[range])
    case .overflow(let length, let head):
      return try snapshot.reader.overflowValue(
        head: head, length: length, tree: root.id, in: snapshot.meta)
    case .extent(let pages, let head):
      return try snapshot.reader.extentBody(head, pages: pages, tree: root.id, in: snapshot.meta)
    case .tree:
      throw VaultError(.corrupt, "a tree entry is not a value")
    }
  }

  /// The keys in `start ..< end` (nil: unbounded), in order, without reading values.
  package func keys(from start: [UInt8]? = nil, to end: [UInt8]? = nil) throws(VaultError)
    -> [[UInt8]]
  {
    var keys = [[UInt8]]()
    try forEachCell(from: start, to: end) { node, index throws(VaultError) in
      keys.append(Array(node.bytes[node.cells[index].key]))
      return true
    }
    return keys
  }

  /// Where the blob extent stored under `key` lies, or nil when there is no value
  /// under it. Reading the extent is a separate step (``readExtent(_:checksum:)``), so
  /// that finding a chunk does not read it.
  ///
  /// - Throws: `.corruptPage` when the value there is not an extent.
  package func extent(forKey key: [UInt8]) throws(VaultError) -> ExtentLocation? {
    guard let (node, index) = try cell(forKey: key) else { return nil }
    guard case .extent(let pages, let head) = node.cells[index].value else {
      throw VaultError(
        .corruptPage, "the value under this key is not an extent", page: node.link.page.rawValue)
    }
    return ExtentLocation(head: head, pages: pages)
  }

  /// The body of an extent this tree refers to, verified against its link. With
  /// `checksum` false the body's checksum is skipped: for callers that authenticate
  /// the body under its own key, which is stronger and makes the checksum redundant.
  package func readExtent(_ location: ExtentLocation, checksum: Bool = true) throws(VaultError)
    -> [UInt8]
  {
    try snapshot.requireOpen()
    return try snapshot.reader.extentBody(
      location.head, pages: location.pages, tree: root.id, in: snapshot.meta, checksum: checksum)
  }

  /// Calls `body` with each key and value whose key is in `start ..< end` (nil: no
  /// bound), in key order, until `body` returns false.
  public func scan(
    from start: [UInt8]? = nil, to end: [UInt8]? = nil,
    _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool
  ) throws {
    var failure: (any Error)?
    try forEachCell(from: start, to: end) { node, index throws(VaultError) in
      let cell = node.cells[index]
      let bytes = try materialize(cell.value, in: node)
      do {
        return try body(Array(node.bytes[cell.key]), bytes)
      } catch {
        failure = error
        return false
      }
    }
    if let failure { throw failure }
  }

  /// Calls `body` with the leaf and index of each cell whose key is in `start ..< end`.
  func forEachCell(
    from start: [UInt8]? = nil, to end: [UInt8]? = nil,
    _ body: (Node, Int) throws(VaultError) -> Bool
  ) throws(VaultError) {
    try snapshot.requireOpen()
    guard let node = try rootNode() else { return }
    var previousLeaf: (node: Node, index: Int)?
    _ = try visit(node, from: start, to: end, previousLeaf: &previousLeaf, body)
  }

  private func visit(
    _ node: Node, from start: [UInt8]?, to end: [UInt8]?,
    previousLeaf: inout (node: Node, index: Int)?,
    _ body: (Node, Int) throws(VaultError) -> Bool
  ) throws(VaultError) -> Bool {
    if node.isLeaf {
      var index = start.map { node.search($0).index } ?? 0
      // Keys must keep ascending from one leaf to the next; a forged tree whose interior
      // pages link the same child twice fails here instead of repeating it.
      if index < node.cells.count, let previous = previousLeaf,
        KeyOrder.compare(
          previous.node.bytes[previous.node.cells[previous.index].key],
          node.bytes[node.cells[index].key]) >= 0
      {
        throw VaultError(
          .corruptPage, "keys do not ascend across leaves", page: node.link.page.rawValue)
      }
      while index < node.cells.count {
        if let end, KeyOrder.compare(node.bytes[node.cells[index].key], end) >= 0 { return false }
        if try !body(node, index) { return false }
        previousLeaf = (node, index)
        index += 1
      }
      return true
    }
    let first = start.map { node.childIndex(for: $0) } ?? 0
    for index in first..<node.children.count {
      if let end, index > 0, KeyOrder.compare(node.bytes[node.separators[index - 1]], end) >= 0 {
        return false
      }
      let child = try snapshot.reader.node(node.children[index], tree: root.id, in: snapshot.meta)
      if try !visit(
        child, from: index == first ? start : nil, to: end, previousLeaf: &previousLeaf, body)
      {
        return false
      }
    }
    return true
  }
}

/// The catalog entries of one committed state, remembered as they are looked up: a
/// state never changes, so neither do they, and reads that name their tree every time
/// skip the system-tree search.
final class CatalogCache: Sendable {
  /// A tree's name compared and hashed by its UTF-8 bytes: canonically equivalent
  /// names are distinct trees (String's own equality would merge them). Looking one up
  /// allocates nothing, which matters: every read looks up two trees.
  private struct Name: Hashable, Sendable {
    let text: String

    static func == (left: Name, right: Name) -> Bool {
      left.text.utf8.elementsEqual(right.text.utf8)
    }

    func hash(into hasher: inout Hasher) {
      var text = text
      text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
  }

  /// Name to root; a stored nil means "no such tree".
  private let entries = Locked<[Name: TreeRoot?]>([:])
  /// Enough for every tree an application uses; past it, lookups just are not cached.
  private static let limit = 1024

  /// The cached entry: nil when unknown, `.some(nil)` when known to be absent.
  func entry(_ name: String) -> TreeRoot?? {
    entries.withLock { $0[Name(text: name)] }
  }

  func record(_ name: String, _ root: TreeRoot?) {
    entries.withLock { entries in
      if entries.count < Self.limit { entries[Name(text: name)] = .some(root) }
    }
  }
}

/// Where a blob extent lies: the link to its first page and its length in pages.
package struct ExtentLocation: Equatable, Sendable {
  package var head: PageLink
  package var pages: UInt32
}
