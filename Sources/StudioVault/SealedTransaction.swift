import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// Sealed records inside one write transaction.
@_spi(Engine) public final class SealedTransaction {
  let store: SealedStore
  @_spi(Engine) public let transaction: WriteTransaction
  /// Key references handed out so far in this transaction (see ``nextKeyReference()``).
  private var referencesIssued: UInt64 = 0
  /// The primary KEK, once looked up (a record write needs it every time).
  private var primary: (id: UInt32, key: SymmetricKey)?
  /// KEKs this transaction read from its keyring or created (published to the store's
  /// cache only if it commits).
  private(set) var loadedKEKs: [UInt32: SymmetricKey] = [:]
  /// Trees opened so far, by the UTF-8 bytes of their names.
  private var openTrees: [[UInt8]: WriteTree] = [:]
  /// The audit log, once this transaction appends to it.
  private var auditAppender: AuditAppender?
  /// Search entries (FORMAT.md 19.3, in the form `05 ‖ token ‖ id`) the records layer
  /// added in this transaction, in the order added: written as one sorted run per
  /// collection by ``finish()``, instead of one random index page each (see
  /// SearchRuns.swift).
  var pendingSearchEntries: [RecordCollection: [[UInt8]]] = [:]
  /// Pending search entries removed again before the end (a record written twice in
  /// one transaction): left out of the run.
  var withdrawnSearchEntries: [RecordCollection: Set<[UInt8]>] = [:]

  init(store: SealedStore, transaction: WriteTransaction) {
    self.store = store
    self.transaction = transaction
  }

  /// A key reference no other data key has: the transaction id in the high 40 bits,
  /// a counter in the low 24. References grow from one transaction to the next, so
  /// new data keys append at the right edge of their tree.
  func nextKeyReference() throws(VaultError) -> UInt64 {
    let transactionID = transaction.id.rawValue
    guard transactionID < 1 << 40, referencesIssued < 1 << 24 else {
      throw VaultError(
        .tooLarge, "a transaction may write at most 16,777,216 records; split it")
    }
    defer { referencesIssued += 1 }
    return transactionID << 24 | referencesIssued
  }

  /// The tree named `name`, created on first use.
  func tree(_ name: String) throws(VaultError) -> WriteTree {
    let key = Array(name.utf8)
    if let known = openTrees[key], !known.isDropped { return known }
    let tree = try transaction.openAnyTree(named: name)
    openTrees[key] = tree
    return tree
  }

  /// Appends `draft` to the audit log: it commits with this transaction or not at all.
  ///
  /// - Returns: the entry's sequence number.
  @discardableResult
  @_spi(Engine) public func audit(_ draft: AuditDraft) throws(VaultError) -> UInt64 {
    try audit(draft, at: AuditAppender.now())
  }

  /// ``audit(_:)`` at a given clock reading (tests turn the clock back with it).
  @discardableResult
  func audit(_ draft: AuditDraft, at time: Int64) throws(VaultError) -> UInt64 {
    if auditAppender == nil { auditAppender = try AuditAppender(self) }
    guard let auditAppender else { throw VaultError(.internal, "no audit appender") }
    return try auditAppender.append(draft, time: time)
  }

  /// Destroys the key that seals audit details about `subject`: those details become
  /// unreadable for good, while every entry still verifies (it commits to ciphertext).
  @_spi(Engine) public func destroyAuditKey(of subject: AuditSubject) throws(VaultError) {
    try removeWrappedKey(
      AuditLog.subjectKey(subject.kind, subject.id), collection: AuditLog.subjectKeyCollection)
    try auditAppender?.forget(subject)
  }

  /// ``audit(_:)`` in a vault that keeps an audit log (every studio vault does; a bare
  /// sealed store's starts with its first entry, which this does not write).
  @_spi(Engine) public func auditIfLogged(_ draft: AuditDraft) throws(VaultError) {
    if auditAppender == nil {
      guard try transaction.anyTree(named: AuditLog.stateTree) != nil else { return }
    }
    try audit(draft)
  }

  /// Appends a `passphraseChanged` entry for header generation `generation` unless the
  /// log already has one for it (a vault that keeps a log only).
  func auditHeaderGeneration(_ generation: UInt64, actor: AuditActor, recovered: Bool)
    throws(VaultError)
  {
    if auditAppender == nil {
      guard try transaction.anyTree(named: AuditLog.stateTree) != nil else { return }
      auditAppender = try AuditAppender(self)
    }
    guard let auditAppender, generation > auditAppender.headerGeneration else { return }
    var fields: [String: JSON] = ["headerGeneration": .uint(generation)]
    // Found at open: the change happened, its entry did not (a crash in between).
    if recovered { fields["recordedAtOpen"] = .bool(true) }
    try auditAppender.append(
      AuditDraft(.passphraseChanged, actor: actor, detail: (.organization, fields)))
    auditAppender.noteHeaderGeneration(generation)
  }

  /// Signs the checkpoint of what this transaction appended: its last act.
  /// Writes what the transaction deferred to its end: search runs, then the audit
  /// log's tree hashes and checkpoint.
  func finish() throws(VaultError) {
    try flushSearchEntries()
    try auditAppender?.finish()
  }

  /// KEK `id` as this transaction sees the keyring.
  func kek(_ id: UInt32) throws(VaultError) -> SymmetricKey {
    if let loaded = loadedKEKs[id] { return loaded }
    // A committed KEK never changes: the store's cache holds only committed ones.
    if let committed = store.cachedKEK(id) { return committed }
    let keyring: any TreeLookup =
      try transaction.anyTree(named: SealedStore.keyringTree) ?? MissingTree()
    let key = try store.unwrapKEK(id, in: keyring)
    loadedKEKs[id] = key
    return key
  }

  /// Refuses the engine's reserved names as collections.
  static func requireCollection(_ name: String) throws(VaultError) {
    guard let first = name.utf8.first, first != UInt8(ascii: "$") else {
      throw VaultError(
        .invalidArgument, "a collection name must not be empty or start with \"$\"")
    }
  }

  /// The keyring tree, created on first use.
  func keyring() throws(VaultError) -> WriteTree { try tree(SealedStore.keyringTree) }

  /// The tree of `collection`'s wrapped data keys, created on first use.
  func dataKeys(_ collection: String) throws(VaultError) -> WriteTree {
    try tree(SealedStore.dataKeyTree(for: collection))
  }

  /// The id and key of the primary KEK, creating the first one in a new vault.
  func primaryKEK() throws(VaultError) -> (id: UInt32, key: SymmetricKey) {
    if let primary { return primary }
    let keyring = try keyring()
    if let stored = try keyring.value(forKey: Keyring.primaryKey) {
      let id = try Keyring.decodeID(stored)
      let found = (id: id, key: try kek(id))
      primary = found
      return found
    }
    return try addKEK(makePrimary: true)
  }

  /// A new random KEK, sealed into the keyring under the next id.
  func addKEK(makePrimary: Bool) throws(VaultError) -> (id: UInt32, key: SymmetricKey) {
    let keyring = try keyring()
    var highest: UInt32 = 0
    try keyring.scanTyped(from: Keyring.kekRange.start, to: Keyring.kekRange.end) {
      key, _ throws(VaultError) in
      highest = max(highest, try Keyring.kekID(fromKey: key))
      return true
    }
    guard highest < UInt32.max else {
      throw VaultError(.tooLarge, "key-encryption key ids ran out")
    }
    let id = highest + 1
    let kek = SymmetricKey.random()
    let sealed = kek.withUnsafeBytes { bytes in
      store.kekAssociatedData(id).withUnsafeBytes {
        XChaCha20Poly1305.seal(bytes, key: store.keyringKey, associatedData: $0)
      }
    }
    try keyring.insert(sealed, forKey: Keyring.kekKey(id))
    loadedKEKs[id] = kek
    if makePrimary {
      try keyring.insert(
        withUnsafeBytes(of: id.littleEndian) { Array($0) }, forKey: Keyring.primaryKey)
      primary = (id, kek)
    }
    return (id, kek)
  }

  /// Seals `body` as record `id` of `collection` under a fresh data key, replacing any
  /// earlier version (whose key is destroyed with it).
  ///
  /// - Returns: the record's stored (sealed) bytes, for copies an index keeps.
  @discardableResult
  @_spi(Engine) public func put(_ body: [UInt8], id: [UInt8], in collection: String)
    throws(VaultError) -> [UInt8]
  {
    try Self.requireCollection(collection)
    let (kekID, kek) = try primaryKEK()
    let records = try tree(collection)
    let keys = try dataKeys(collection)
    let binding = store.binding(collection, id)
    let dataKey = SymmetricKey.random()
    let reference = try nextKeyReference()
    // The version is the writing transaction: it grows with every write of the record.
    let record = SealedRecord.seal(
      body, version: transaction.id.rawValue, keyReference: reference, dataKey: dataKey,
      binding: binding)
    let entry = DataKeyEntry(
      wrapped: WrappedDataKey.wrap(dataKey, kek: kek, kekID: kekID, binding: binding),
      recordID: id)
    try keys.insert(entry.encode(), forKey: DataKeyEntry.key(reference))
    let sealed = record.encode()
    if let earlier = try records.exchange(sealed, forKey: id) {
      // The previous version's key goes with it.
      try removeDataKey(of: earlier, id: id, from: keys)
    }
    return sealed
  }

  /// Record `id` of `collection`, opened, or nil.
  @_spi(Engine) public func get(_ id: [UInt8], in collection: String) throws(VaultError)
    -> [UInt8]?
  {
    try Self.requireCollection(collection)
    guard let record = try transaction.tree(named: collection)?.value(forKey: id) else {
      return nil
    }
    return try open(record, id: id, in: collection)
  }

  /// Opens `record`, the stored bytes of record `id` of `collection` (as found in its
  /// tree, or in an index that keeps a copy of them).
  @_spi(Engine) public func open(_ record: [UInt8], id: [UInt8], in collection: String)
    throws(VaultError) -> [UInt8]
  {
    let keys: any TreeLookup =
      try transaction.anyTree(named: SealedStore.dataKeyTree(for: collection)) ?? MissingTree()
    return try store.open(record: record, collection: collection, id: id, keys: keys) {
      id throws(VaultError) in try kek(id)
    }
  }

  /// Removes record `id` and destroys its data key.
  ///
  /// - Returns: whether the record existed.
  @discardableResult
  @_spi(Engine) public func remove(_ id: [UInt8], in collection: String) throws(VaultError)
    -> Bool
  {
    guard try destroyKey(of: id, in: collection) else { return false }
    return try transaction.tree(named: collection)?.removeValue(forKey: id) ?? false
  }

  /// Destroys record `id`'s data key and keeps its sealed body: the body stays in
  /// place (a retained record keeps its id) but can never be opened again.
  ///
  /// - Returns: whether the record existed.
  @discardableResult
  @_spi(Engine) public func destroyKey(of id: [UInt8], in collection: String)
    throws(VaultError) -> Bool
  {
    try Self.requireCollection(collection)
    guard let record = try transaction.tree(named: collection)?.value(forKey: id) else {
      return false
    }
    if let keys = try transaction.anyTree(named: SealedStore.dataKeyTree(for: collection)) {
      try removeDataKey(of: record, id: id, from: keys)
    }
    return true
  }

  /// Removes the data key a stored record refers to, if that key is this record's: a
  /// record altered to point at another record's key must not erase that key.
  private func removeDataKey(of record: [UInt8], id: [UInt8], from keys: WriteTree)
    throws(VaultError)
  {
    let key = DataKeyEntry.key(try SealedRecord(decoding: record).keyReference)
    guard let stored = try keys.value(forKey: key),
      try DataKeyEntry(decoding: stored).recordID == id
    else { return }
    try keys.removeValue(forKey: key)
  }
}

/// The ordered scan both kinds of tree offer (``WriteTree`` in a transaction,
/// ``ReadTree`` in a snapshot).
protocol ScannableTree {
  func scan(
    from start: [UInt8]?, to end: [UInt8]?,
    _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool
  ) throws
}

extension WriteTree: ScannableTree {}
extension ReadTree: ScannableTree {}

extension ScannableTree {
  /// ``scan(from:to:_:)`` for bodies that throw only `VaultError`.
  func scanTyped(
    from start: [UInt8]? = nil, to end: [UInt8]? = nil,
    _ body: ([UInt8], [UInt8]) throws(VaultError) -> Bool
  ) throws(VaultError) {
    do {
      try scan(from: start, to: end) { key, value in try body(key, value) }
    } catch let error as VaultError {
      throw error
    } catch {
      throw VaultError(.internal, "unexpected error while scanning: \(error)")
    }
  }

  /// Up to `limit` keys in `start ..< end`, in order.
  func keys(from start: [UInt8]?, to end: [UInt8]? = nil, limit: Int) throws(VaultError)
    -> [[UInt8]]
  {
    var keys = [[UInt8]]()
    try scanTyped(from: start, to: end) { key, _ in
      keys.append(key)
      return keys.count < limit
    }
    return keys
  }
}

/// Sealed records as one snapshot sees them.
@_spi(Engine) public struct SealedSnapshot {
  let store: SealedStore
  @_spi(Engine) public let snapshot: Snapshot

  /// Record `id` of `collection`, opened, or nil.
  @_spi(Engine) public func get(_ id: [UInt8], in collection: String) throws(VaultError)
    -> [UInt8]?
  {
    try SealedTransaction.requireCollection(collection)
    guard let record = try snapshot.tree(named: collection)?.value(forKey: id) else {
      return nil
    }
    return try open(record, id: id, in: collection)
  }

  /// Opens `record`, the stored bytes of record `id` of `collection` (as found in its
  /// tree, or in an index that keeps a copy of them).
  @_spi(Engine) public func open(_ record: [UInt8], id: [UInt8], in collection: String)
    throws(VaultError) -> [UInt8]
  {
    let keys: any TreeLookup =
      try snapshot.anyTree(named: SealedStore.dataKeyTree(for: collection)) ?? MissingTree()
    return try store.open(record: record, collection: collection, id: id, keys: keys) {
      id throws(VaultError) in try kek(id)
    }
  }

  /// KEK `id` of this snapshot's keyring.
  func kek(_ id: UInt32) throws(VaultError) -> SymmetricKey {
    // Nearly always cached: the keyring is looked up only when it is not.
    if let cached = store.cachedKEK(id) { return cached }
    let keyring: any TreeLookup =
      try snapshot.anyTree(named: SealedStore.keyringTree) ?? MissingTree()
    return try store.committedKEK(id, in: keyring)
  }

  /// Record `id`'s stored bytes, still sealed: the body and its data-key entry (for
  /// tools and tests that inspect what the file holds).
  @_spi(Engine) public func storedBytes(of id: [UInt8], in collection: String)
    throws(VaultError) -> (record: [UInt8], dataKey: [UInt8]?)?
  {
    guard let record = try snapshot.tree(named: collection)?.value(forKey: id) else {
      return nil
    }
    let reference = try SealedRecord.keyReference(of: record)
    let entry = try snapshot.anyTree(named: SealedStore.dataKeyTree(for: collection))?.value(
      forKey: DataKeyEntry.key(reference))
    return (record, entry)
  }
}

extension SealedTransaction {
  /// Stores `key` wrapped under the primary KEK as a data key of `collection` under
  /// `treeKey` (so rotation re-wraps it).
  func storeWrappedKey(_ key: SymmetricKey, forKey treeKey: [UInt8], collection: String)
    throws(VaultError)
  {
    let (kekID, kek) = try primaryKEK()
    let entry = DataKeyEntry(
      wrapped: WrappedDataKey.wrap(
        key, kek: kek, kekID: kekID, binding: store.binding(collection, treeKey)),
      recordID: treeKey)
    try dataKeys(collection).insert(entry.encode(), forKey: treeKey)
  }

  /// The key stored by ``storeWrappedKey(_:forKey:collection:)``, or nil.
  func loadWrappedKey(_ treeKey: [UInt8], collection: String) throws(VaultError) -> SymmetricKey? {
    try store.wrappedKey(
      treeKey, collection: collection,
      keys: try transaction.anyTree(named: SealedStore.dataKeyTree(for: collection)),
      kek: kek)
  }

  /// Destroys the key stored by ``storeWrappedKey(_:forKey:collection:)``, if any.
  func removeWrappedKey(_ treeKey: [UInt8], collection: String) throws(VaultError) {
    guard try transaction.anyTree(named: SealedStore.dataKeyTree(for: collection)) != nil else {
      return
    }
    try dataKeys(collection).removeValue(forKey: treeKey)
  }
}
