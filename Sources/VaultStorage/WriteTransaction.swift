import VaultCore
import VaultFormat

/// A read-write transaction: everything it changes becomes visible to others at once,
/// when ``VaultStore/write(_:)`` commits it, or never.
///
/// Use it only inside the closure passed to ``VaultStore/write(_:)`` and only from that
/// closure's thread.
public final class WriteTransaction {
  let store: VaultStore
  let reader: PageReader
  let base: MetaPage
  /// The transaction this one will commit as.
  public let id: TransactionID
  /// Pages freed by transactions up to this one are free for reuse now.
  let oldestReader: TransactionID
  let capacity: Int
  let maximumInlineCell: Int

  /// The catalog and the free list (``SystemTree``), rooted in the meta page.
  var system: TreeState
  /// Trees this transaction has looked at, by the UTF-8 bytes of their names (Swift
  /// string equality would merge canonically equivalent names the catalog keeps apart).
  var trees: [[UInt8]: TreeState] = [:]
  var nextTreeID: TreeID
  var treeCount: UInt64
  /// Committed pages this transaction stopped using. Older snapshots may still read
  /// them, and so may state `base` if this commit is lost: never reused here.
  var pendingFree: [PageNumber] = []
  /// Pages taken from the free list that this transaction may overwrite.
  var reusable: [PageNumber] = []
  var reusableTaken: UInt64 = 0
  /// Pages in this transaction's own free-list entry, once settled.
  var freeListEntryPages = 0
  /// New values too large for a leaf, written to overflow chains at commit.
  var largeValues: [[UInt8]] = []
  /// Pages of the blob extents this transaction wrote, from the base state's page
  /// count up: extents are written at once (they are large) and go past the end of the
  /// file, so the pages of this commit's nodes come after them.
  var extentPages: UInt64 = 0
  /// Trees whose catalog entries this commit rewrites (cells refer to them by index).
  var catalogEntries: [TreeState] = []
  var isActive = true
  /// Commit even when nothing changed (a commit that only replaces the older meta page;
  /// see ``VaultStore/scrubFreePages()``).
  var commitsWithoutChanges = false
  /// Set by ``WriteTree/exchange(_:forKey:)``: the next insert keeps the value it
  /// replaces in ``replacedValue``.
  var keepsReplacedValue = false
  var replacedValue: FoundValue?
  /// Bumped by every change, so that iteration notices changes made inside it.
  var changeCount = 0

  init(store: VaultStore, base state: DurableState, oldestReader: TransactionID) {
    let base = state.meta
    self.store = store
    self.reader = store.reader
    self.base = base
    self.id = base.transaction.next
    self.oldestReader = oldestReader
    self.capacity = FileFormat.contentCapacity(pageSize: store.pageSize)
    self.maximumInlineCell = LeafPage.maximumInlineCellSize(pageSize: store.pageSize)
    system = TreeState(systemRoot: state.systemRoot, pageSize: store.pageSize)
    nextTreeID = base.nextTreeID
    treeCount = base.treeCount
  }

  func requireActive() throws(VaultError) {
    guard isActive else {
      throw VaultError(.misuse, "the transaction has ended; use it only inside its closure")
    }
  }

  // MARK: Trees

  /// The tree named `name`, or nil when there is none.
  ///
  /// - Throws: `.invalidArgument` for a reserved name (starting with `$`).
  public func tree(named name: String) throws(VaultError) -> WriteTree? {
    try Self.requireUnreserved(name)
    return try anyTree(named: name)
  }

  /// ``tree(named:)`` for any name, reserved ones included (the engine's own).
  package func anyTree(named name: String) throws(VaultError) -> WriteTree? {
    try requireActive()
    return try treeState(named: name).map { WriteTree(transaction: self, state: $0) }
  }

  /// Creates a tree named `name`.
  ///
  /// - Throws: `.alreadyExists` when the vault has one; `.invalidArgument` for an empty
  ///   name or one longer than 255 bytes.
  @discardableResult
  public func createTree(named name: String) throws(VaultError) -> WriteTree {
    try Self.requireUnreserved(name)
    return try createAnyTree(named: name)
  }

  /// Names starting with `$` belong to the engine (FORMAT.md 8.4): its key trees must
  /// not be reachable, let alone writable, by the name an application passes.
  static func requireUnreserved(_ name: String) throws(VaultError) {
    guard name.utf8.first != UInt8(ascii: "$") else {
      throw VaultError(
        .invalidArgument, "tree names starting with \"$\" are reserved for the engine")
    }
  }

  /// ``createTree(named:)`` for any name, reserved ones included (the engine's own).
  @discardableResult
  package func createAnyTree(named name: String) throws(VaultError) -> WriteTree {
    try createAnyTree(named: name, id: nil)
  }

  /// Creates the clear tree `id` (FORMAT.md 7.3) under `name`: its id is fixed, so a
  /// keyless reader finds it without reading the sealed catalog.
  @discardableResult
  package func createClearTree(named name: String, id: TreeID) throws(VaultError) -> WriteTree {
    guard !FileFormat.isSealed(id) else {
      throw VaultError(.invalidArgument, "tree \(id) is not stored in the clear")
    }
    return try createAnyTree(named: name, id: id)
  }

  private func createAnyTree(named name: String, id fixedID: TreeID?) throws(VaultError)
    -> WriteTree
  {
    try requireActive()
    let nameBytes = Array(name.utf8)
    guard !nameBytes.isEmpty, nameBytes.count <= FileFormat.maximumTreeNameLength else {
      throw VaultError(.invalidArgument, "a tree name must be 1 to 255 bytes of UTF-8")
    }
    if try treeState(named: name) != nil {
      throw VaultError(.alreadyExists, "a tree named \"\(name)\" already exists")
    }
    guard nextTreeID.rawValue < UInt64.max - 1 else {
      throw VaultError(.corrupt, "the vault has run out of tree ids")
    }
    let id = fixedID ?? nextTreeID
    let state = TreeState(name: name, id: id, root: .null, count: 0, rootCapacity: capacity)
    if fixedID == nil { nextTreeID = TreeID(nextTreeID.rawValue + 1) }
    state.isModified = true
    trees[nameBytes] = state
    treeCount &+= 1  // wraps only for a forged count
    changeCount += 1
    return WriteTree(transaction: self, state: state)
  }

  /// The tree named `name`, created when missing.
  ///
  /// - Throws: `.invalidArgument` for a name ``createTree(named:)`` refuses.
  public func openTree(named name: String) throws(VaultError) -> WriteTree {
    try Self.requireUnreserved(name)
    return try openAnyTree(named: name)
  }

  /// ``openTree(named:)`` for any name, reserved ones included (the engine's own).
  package func openAnyTree(named name: String) throws(VaultError) -> WriteTree {
    if let existing = try anyTree(named: name) { return existing }
    return try createAnyTree(named: name)
  }

  /// Deletes the tree named `name` and frees all its pages.
  ///
  /// - Returns: whether there was such a tree.
  /// - Complexity: O(pages of the tree): every page is visited to free it.
  @discardableResult
  public func dropTree(named name: String) throws(VaultError) -> Bool {
    try Self.requireUnreserved(name)
    return try dropAnyTree(named: name)
  }

  /// ``dropTree(named:)`` for any name, reserved ones included (the engine's own).
  @discardableResult
  package func dropAnyTree(named name: String) throws(VaultError) -> Bool {
    try requireActive()
    guard let state = try treeState(named: name) else { return false }
    if let root = state.root { try freeSubtree(root, tree: state.id) }
    state.root = nil
    state.rightEdge = nil
    state.count = 0
    state.isDropped = true
    state.isModified = true
    // A count a damaged meta page understates must not trap.
    treeCount = treeCount > 0 ? treeCount - 1 : 0
    changeCount += 1
    return true
  }

  /// The names of the application's trees (reserved ones left out), in byte order.
  public func treeNames() throws(VaultError) -> [String] {
    try allTreeNames().filter { $0.utf8.first != UInt8(ascii: "$") }
  }

  /// The names of all trees, the engine's reserved ones included, in byte order.
  package func allTreeNames() throws(VaultError) -> [String] {
    try requireActive()
    // By bytes: canonically equivalent names are different trees.
    var names = Set<[UInt8]>()
    let range = SystemTree.catalogRange
    try forEachEntry(in: system, from: range.start, to: range.end) { key, _ throws(VaultError) in
      if let name = SystemTree.treeName(fromKey: key) { names.insert(Array(name.utf8)) }
      return true
    }
    for (bytes, state) in trees {
      if state.isDropped { names.remove(bytes) } else { names.insert(bytes) }
    }
    return names.sorted(by: KeyOrder.less).map { String(decoding: $0, as: UTF8.self) }
  }

  func treeState(named name: String) throws(VaultError) -> TreeState? {
    let nameBytes = Array(name.utf8)
    if let state = trees[nameBytes] { return state.isDropped ? nil : state }
    guard let found = try lookup(SystemTree.catalogKey(name), in: system) else { return nil }
    guard case .tree(let root) = found else {
      throw VaultError(.corrupt, "catalog entry \"\(name)\" is not a tree")
    }
    let state = TreeState(
      name: name, id: root.id, root: root.root, count: root.count, rootCapacity: capacity)
    trees[nameBytes] = state
    return state
  }

  /// Whether anything will be written at commit.
  var hasChanges: Bool { trees.values.contains { $0.isModified } }
}

/// A tree inside a write transaction.
public struct WriteTree {
  let transaction: WriteTransaction
  let state: TreeState

  /// The tree's name.
  public var name: String { state.name ?? "" }

  /// The number of keys in the tree.
  public var count: UInt64 { state.count }

  /// The tree's id.
  package var id: TreeID { state.id }

  /// Whether the tree was dropped in this transaction since this handle was made.
  package var isDropped: Bool { state.isDropped }

  /// The value stored under `key`, or nil.
  ///
  /// - Complexity: O(log n) page visits.
  public func value(forKey key: [UInt8]) throws(VaultError) -> [UInt8]? {
    try transaction.requireActive()
    guard let value = try transaction.lookup(key, in: state) else { return nil }
    return try transaction.materialize(value, tree: state.id)
  }

  /// Stores `value` under `key`, replacing any value there.
  ///
  /// - Throws: `.tooLarge` for a key over 512 bytes.
  public func insert(_ value: [UInt8], forKey key: [UInt8]) throws(VaultError) {
    try transaction.requireActive()
    guard key.count <= FileFormat.maximumKeyLength else {
      throw VaultError(
        .tooLarge, "key of \(key.count) bytes exceeds the \(FileFormat.maximumKeyLength)-byte limit"
      )
    }
    let cell = LeafPage.inlineCellSize(keyLength: key.count, valueLength: value.count)
    let new: NewValue
    if cell <= transaction.maximumInlineCell {
      new = .bytes(value)
    } else {
      transaction.largeValues.append(value)
      new = .large(transaction.largeValues.count - 1)
    }
    try transaction.insert(new, forKey: key, in: state)
    state.isModified = true
  }

  /// Stores a blob extent (FORMAT.md 6.5) of `bodyLength` bytes under `key`: `fill`
  /// writes the body into the buffer it is given, the extent is written to new pages
  /// at the end of the file at once, and the cell refers to it. Extents are never
  /// rewritten, and a cell that refers to one is never replaced (the key must be new);
  /// removing the cell frees the extent's pages.
  ///
  /// - Throws: `.tooLarge` for a key over 512 bytes or a body over 4 GiB.
  package func insertExtent(
    bodyLength: Int, forKey key: [UInt8],
    fill: (UnsafeMutableRawBufferPointer) throws(VaultError) -> Void
  ) throws(VaultError) {
    try transaction.requireActive()
    guard key.count <= FileFormat.maximumKeyLength, bodyLength <= BlobExtent.maximumBodyLength
    else {
      throw VaultError(.tooLarge, "an extent's key or body exceeds the format's limits")
    }
    let pageSize = transaction.store.pageSize
    var run = BlobExtent.emptyRun(bodyLength: bodyLength, pageSize: pageSize)
    var failure: VaultError?
    run.withUnsafeMutableBytes { raw in
      do throws(VaultError) {
        try fill(
          UnsafeMutableRawBufferPointer(
            rebasing: raw[FileFormat.pageHeaderSize..<FileFormat.pageHeaderSize + bodyLength]))
      } catch {
        failure = error
      }
    }
    if let failure { throw failure }
    try insertExtent(run: &run, bodyLength: bodyLength, forKey: key)
  }

  /// ``insertExtent(bodyLength:forKey:fill:)`` for a run built beforehand (outside the
  /// transaction, so that a writer can prepare the next extent while the previous
  /// commit syncs): `run` is ``BlobExtent/emptyRun(bodyLength:pageSize:)`` with the body
  /// in place; its header is filled in here.
  package func insertExtent(run: inout [UInt8], bodyLength: Int, forKey key: [UInt8])
    throws(VaultError)
  {
    try transaction.requireActive()
    let pageSize = transaction.store.pageSize
    guard key.count <= FileFormat.maximumKeyLength, bodyLength <= BlobExtent.maximumBodyLength,
      run.count == BlobExtent.pageCount(bodyLength: bodyLength, pageSize: pageSize) * pageSize
    else {
      throw VaultError(.tooLarge, "an extent's key, body or run does not fit the format")
    }
    let pages = UInt64(run.count / pageSize)
    let first = PageNumber(transaction.base.pageCount + transaction.extentPages)
    guard first.rawValue + pages <= FileFormat.maximumPageCount(pageSize: pageSize) else {
      throw VaultError(.tooLarge, "the vault file would exceed its maximum size")
    }
    // Write-once here too: an extent is added under a new key, never in place of one.
    guard try transaction.lookup(key, in: state) == nil else {
      throw VaultError(.alreadyExists, "an extent is never replaced: its key is taken")
    }
    let link = BlobExtent.finish(
      &run, bodyLength: bodyLength, page: first, transaction: transaction.id, tree: state.id)
    try transaction.insert(.extent(pages: UInt32(pages), head: link), forKey: key, in: state)
    state.isModified = true
    // Counted before the write: a failed write fails the transaction, and pages
    // handed out are never handed out twice in it.
    transaction.extentPages += pages
    do {
      try transaction.store.writeExtent(run, at: first)
    } catch {
      // The cell points at pages that may not hold the extent: this transaction must
      // not commit, even if its caller goes on.
      transaction.isActive = false
      throw error
    }
  }

  /// Whether the tree holds a value under `key`, without reading it (an extent's value
  /// is megabytes).
  package func contains(_ key: [UInt8]) throws(VaultError) -> Bool {
    try transaction.requireActive()
    return try transaction.lookup(key, in: state) != nil
  }

  /// Stores `value` under `key` and returns the value it replaced, if any: one descent
  /// where a lookup followed by an insert takes two.
  ///
  /// - Throws: `.tooLarge` for a key over 512 bytes.
  public func exchange(_ value: [UInt8], forKey key: [UInt8]) throws(VaultError) -> [UInt8]? {
    transaction.keepsReplacedValue = true
    transaction.replacedValue = nil
    defer {
      transaction.keepsReplacedValue = false
      transaction.replacedValue = nil
    }
    try insert(value, forKey: key)
    return try transaction.replacedValue.map { (found) throws(VaultError) in
      try transaction.materialize(found, tree: state.id)
    }
  }

  /// Removes the value under `key`.
  ///
  /// - Returns: whether there was one.
  @discardableResult
  public func removeValue(forKey key: [UInt8]) throws(VaultError) -> Bool {
    try transaction.requireActive()
    let removed = try transaction.remove(key, from: state)
    if removed { state.isModified = true }
    return removed
  }

  /// The keys in `start ..< end` (nil: unbounded), in order, without reading their
  /// values (an extent's value is megabytes).
  package func keys(from start: [UInt8]? = nil, to end: [UInt8]? = nil) throws(VaultError)
    -> [[UInt8]]
  {
    try transaction.requireActive()
    var keys = [[UInt8]]()
    try transaction.forEachEntry(in: state, from: start, to: end) { key, _ throws(VaultError) in
      keys.append(key)
      return true
    }
    return keys
  }

  /// Calls `body` with each key and value whose key is in `start ..< end` (either bound
  /// may be nil: unbounded), in key order, until `body` returns false.
  ///
  /// - Throws: `.misuse` if `body` changes the transaction.
  public func scan(
    from start: [UInt8]? = nil, to end: [UInt8]? = nil,
    _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool
  ) throws {
    try transaction.requireActive()
    let tree = state.id
    var failure: (any Error)?
    try transaction.forEachEntry(in: state, from: start, to: end) { key, value throws(VaultError) in
      let bytes = try transaction.materialize(value, tree: tree)
      do {
        return try body(key, bytes)
      } catch {
        failure = error
        return false
      }
    }
    if let failure { throw failure }
  }
}
