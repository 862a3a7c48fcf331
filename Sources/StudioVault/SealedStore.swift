import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// The vault's records, each sealed under its own data key (DEK), on top of the page
/// store. This is the key hierarchy of the issue "encryption at rest":
///
/// ```
/// passphrase ──Argon2id──▶ wraps the master key (header key slot)
/// master key ──KDF──▶ page key, keyring key, index blinding key, …
/// keyring key ──wraps──▶ key-encryption keys (KEKs), tree "$keyring"
/// KEK ──wraps──▶ one data key per record, tree "$keys:COLLECTION" (by key reference)
/// DEK ──seals──▶ the record body (zstd first when it pays), in the collection's tree
/// ```
///
/// Wrapped data keys live apart from the bodies, so rotating the KEK rewrites only the
/// small key entries, never a body, and erasing a record destroys its key: without it
/// the body is noise, wherever older copies of it linger (``eraseRecords(_:)`` also
/// zeroes those).
///
/// Record access in the product goes through capability handles (the access layer);
/// this type is the engine underneath, hence SPI (`@_spi(Engine)`): the CLI, the
/// benchmarks and the tests reach it; applications will not.
@_spi(Engine) public final class SealedStore: Sendable {
  @_spi(Engine) public let store: VaultStore
  let vaultID: [UInt8]
  let keyringKey: SymmetricKey
  /// Seals audit entries' events (FORMAT.md 20.1).
  let auditEntryKey: SymmetricKey
  /// Keys blobs' content addresses (FORMAT.md 24.2).
  let blobAddressKey: SymmetricKey
  /// Signs audit checkpoints; its public half is in the file header.
  let auditSigner: Ed25519.SigningKey
  /// Unwrapped KEKs by id, of committed keyrings only: a committed KEK never changes
  /// and its id is never handed out again, so entries stay valid until the KEK is
  /// retired (then they are dropped). KEKs a write transaction reads or creates join
  /// only once it commits: a rolled-back transaction's KEK 1 is not the next one's.
  let keks = Locked<KEKCache>(KEKCache())
  /// Pages zeroed by opening, when it finished an interrupted erasure.
  private let scrubbedAtOpen = Locked<Int?>(nil)

  /// When opening finished an erasure a crash or an old reader had interrupted: the
  /// number of free pages it zeroed (nil when there was nothing to finish).
  @_spi(Engine) public var pagesScrubbedAtOpen: Int? { scrubbedAtOpen.withLock { $0 } }

  /// Unwrapped KEKs, and the ids retired by this process (an older snapshot or a late
  /// merge must not bring a retired key back into memory).
  struct KEKCache {
    var keys: [UInt32: SymmetricKey] = [:]
    var retired: Set<UInt32> = []

    mutating func add(_ id: UInt32, _ key: SymmetricKey) {
      if !retired.contains(id) { keys[id] = key }
    }

    mutating func retire(_ id: UInt32) {
      retired.insert(id)
      keys[id] = nil
    }
  }

  @_spi(Engine) public static let keyringTree = "$keyring"
  /// Data-key trees are named this prefix and their collection.
  @_spi(Engine) public static let dataKeyTreePrefix = "$keys:"

  /// The tree holding the wrapped data keys of `collection`'s records, by key
  /// reference (``DataKeyEntry``).
  @_spi(Engine) public static func dataKeyTree(for collection: String) -> String {
    dataKeyTreePrefix + collection
  }

  /// Wraps an open store, which must have been opened with its key.
  ///
  /// - Throws: `.keyRequired` for a store opened without a credential.
  @_spi(Engine) public init(_ store: VaultStore) throws(VaultError) {
    guard let master = store.masterKey else {
      throw VaultError(.keyRequired, "sealed records need the vault opened with its key")
    }
    self.store = store
    vaultID = store.header.vaultID
    keyringKey = master.derive(.keyring)
    auditEntryKey = master.derive(.auditEntries)
    blobAddressKey = master.derive(.blobAddressing)
    auditSigner = try VaultStore.auditSigningKey(master)
    // An erasure cut short by a crash (or by an old reader) after its commit: finish
    // zeroing the free pages before anything else (FORMAT.md 17.5), now if possible.
    // A reader still in the way leaves the flag for the next open or erasure; opening
    // does not fail for it.
    if !store.isReadOnly, (try? isScrubPending) == true,
      let zeroed = try? finishPendingErasure()
    {
      scrubbedAtOpen.withLock { $0 = zeroed }
    }
    // A commit a crash cut short was discarded at open: the log says so (if the vault
    // keeps one) in the commit that overwrites the torn meta slot, so that no crash can
    // leave the repair unrecorded (unless an unfinished erasure's scrub had to commit
    // first); a vault without a log just blanks the slot.
    if store.repairedTornCommit, !store.isReadOnly {
      let snapshot = try store.makeSnapshot()
      let logged = try snapshot.anyTree(named: AuditLog.stateTree) != nil
      let intact = snapshot.transactionID.rawValue
      snapshot.close()
      if logged {
        try write { tx throws(VaultError) in
          _ = try tx.audit(
            AuditDraft(
              .tornTailRecovered, actor: .system,
              detail: (.organization, ["lastIntactTransaction": .uint(intact)])))
        }
      }
      try store.blankTornSlots()
    }
    // A passphrase change whose entry a crash prevented: recorded now.
    if !store.isReadOnly {
      let generation = try store.headerGeneration()
      let snapshot = try store.makeSnapshot()
      let accounted = try AuditLog.accountedHeaderGeneration(in: snapshot)
      snapshot.close()
      if let accounted, generation > accounted {
        try write { tx throws(VaultError) in
          try tx.auditHeaderGeneration(generation, actor: .system, recovered: true)
        }
      }
    }
  }

  /// Creates a vault and its first KEK.
  @_spi(Engine) public static func create(
    at path: String, credential: VaultCredential,
    keyDerivation: PasswordKDF.Parameters = .moderate, pageSize: Int = 4096,
    options: VaultStore.Options = .init()
  ) throws(VaultError) -> SealedStore {
    let store = try VaultStore.create(
      at: path, credential: credential, keyDerivation: keyDerivation, pageSize: pageSize,
      options: options)
    let sealed = try SealedStore(store)
    try sealed.write { tx throws(VaultError) in _ = try tx.primaryKEK() }
    return sealed
  }

  /// Opens a vault with its credential.
  @_spi(Engine) public static func open(
    at path: String, credential: VaultCredential, options: VaultStore.Options = .init()
  ) throws(VaultError) -> SealedStore {
    var options = options
    options.defersTornCommitRepair = true
    return try SealedStore(VaultStore.open(at: path, credential: credential, options: options))
  }

  /// Runs `body` in one write transaction (see ``VaultStore/write(_:)``).
  @discardableResult
  @_spi(Engine) public func write<T>(_ body: (SealedTransaction) throws(VaultError) -> T)
    throws(VaultError)
    -> T
  {
    var result: T?
    var loaded = [UInt32: SymmetricKey]()
    try store.writeTyped { tx throws(VaultError) in
      let sealed = SealedTransaction(store: self, transaction: tx)
      result = try body(sealed)
      try sealed.finish()
      loaded = sealed.loadedKEKs
    }
    // Committed: the KEKs it saw are now part of the durable keyring.
    keks.withLock { cache in for (id, key) in loaded { cache.add(id, key) } }
    guard let result else { throw VaultError(.internal, "write transaction produced nothing") }
    return result
  }

  /// Runs `body` with a snapshot of the newest commit.
  @_spi(Engine) public func read<T>(_ body: (SealedSnapshot) throws(VaultError) -> T)
    throws(VaultError) -> T
  {
    let snapshot = try store.makeSnapshot()
    defer { snapshot.close() }
    return try body(SealedSnapshot(store: self, snapshot: snapshot))
  }

  // MARK: Keys

  /// The associated data of a KEK wrap: `"SV-KEK" ‖ vaultID ‖ kekID (u32)`.
  func kekAssociatedData(_ id: UInt32) -> [UInt8] {
    var writer = ByteWriter()
    writer.write(Array("SV-KEK".utf8))
    writer.write(vaultID)
    writer.write(id)
    return writer.bytes
  }

  /// KEK `id` of a committed keyring (a snapshot's), from the cache or unwrapped.
  func committedKEK(_ id: UInt32, in keyring: some TreeLookup) throws(VaultError)
    -> SymmetricKey
  {
    if let cached = cachedKEK(id) { return cached }
    let key = try unwrapKEK(id, in: keyring)
    keks.withLock { $0.add(id, key) }
    return key
  }

  func cachedKEK(_ id: UInt32) -> SymmetricKey? { keks.withLock { $0.keys[id] } }

  /// KEK `id` unwrapped from its entry in `keyring`.
  func unwrapKEK(_ id: UInt32, in keyring: some TreeLookup) throws(VaultError) -> SymmetricKey {
    guard let wrapped = try keyring.value(forKey: Keyring.kekKey(id)) else {
      throw VaultError(
        .corrupt, "key-encryption key \(id) is missing from the keyring (retired too early?)")
    }
    var bytes = try XChaCha20Poly1305.open(
      wrapped, key: keyringKey, associatedData: kekAssociatedData(id))
    defer { SecretBytes.wipe(&bytes) }
    return try SymmetricKey(copying: bytes)
  }

  func binding(_ collection: String, _ id: [UInt8]) -> RecordBinding {
    RecordBinding(vaultID: vaultID, collection: collection, recordID: id)
  }

  /// Opens a stored record: finds its data key by the record's key reference, checks
  /// that the key is this record's, unwraps it and opens the body.
  ///
  /// - Throws: `.erased` when the key was destroyed; `.authenticationFailed` when the
  ///   key or body belongs elsewhere or was altered.
  func open(
    record: [UInt8], collection: String, id: [UInt8], keys: some TreeLookup,
    kek: (UInt32) throws(VaultError) -> SymmetricKey
  ) throws(VaultError) -> [UInt8] {
    let sealed = try SealedRecord(decoding: record)
    guard let stored = try keys.value(forKey: DataKeyEntry.key(sealed.keyReference)) else {
      throw VaultError(.erased, "the record's key was destroyed: its content is gone for good")
    }
    let entry = try DataKeyEntry(decoding: stored)
    guard entry.recordID == id else {
      throw VaultError(
        .authenticationFailed, "the record's data key belongs to another record")
    }
    let binding = binding(collection, id)
    let dataKey = try entry.wrapped.unwrap(kek: try kek(entry.wrapped.kekID), binding: binding)
    return try sealed.open(dataKey: dataKey, binding: binding)
  }
  /// The key stored wrapped under `treeKey` in `keys` (the data-key tree of
  /// `collection`), checked to be that owner's and unwrapped; nil when there is none.
  func wrappedKey(
    _ treeKey: [UInt8], collection: String, keys: (some TreeLookup)?,
    kek: (UInt32) throws(VaultError) -> SymmetricKey
  ) throws(VaultError) -> SymmetricKey? {
    guard let stored = try keys?.value(forKey: treeKey) else { return nil }
    let entry = try DataKeyEntry(decoding: stored)
    guard entry.recordID == treeKey else {
      throw VaultError(.authenticationFailed, "a wrapped key belongs to another owner")
    }
    return try entry.wrapped.unwrap(
      kek: try kek(entry.wrapped.kekID), binding: binding(collection, treeKey))
  }
}

/// Point lookups, which write transactions and snapshots both offer.
protocol TreeLookup {
  func value(forKey key: [UInt8]) throws(VaultError) -> [UInt8]?
}

extension WriteTree: TreeLookup {}
extension ReadTree: TreeLookup {}

/// A tree that does not exist yet: every lookup misses.
struct MissingTree: TreeLookup {
  func value(forKey key: [UInt8]) throws(VaultError) -> [UInt8]? { nil }
}

/// The keyring's layout: tree `$keyring`.
///
/// | key | value |
/// |---|---|
/// | `00` | the primary KEK's id (u32) |
/// | `01` ‖ id (u32 big-endian) | the KEK sealed under the keyring key (nonce ‖ ciphertext ‖ tag) |
/// | `02` | a rotation in progress: target KEK id (u32), the data-key tree it is in (u8 length, name), the last key re-wrapped there |
/// | `03` | an erasure whose scrub of free pages has not finished (empty value) |
enum Keyring {
  static let primaryKey: [UInt8] = [0x00]
  static let rotationKey: [UInt8] = [0x02]
  /// Present from an erasure's commit until its scrub of free pages has finished.
  static let scrubPendingKey: [UInt8] = [0x03]
  static func kekKey(_ id: UInt32) -> [UInt8] {
    [0x01] + withUnsafeBytes(of: id.bigEndian) { Array($0) }
  }
  static let kekRange: (start: [UInt8], end: [UInt8]) = ([0x01], [0x02])

  /// The id in a `01 ‖ id` key.
  static func kekID(fromKey key: [UInt8]) throws(VaultError) -> UInt32 {
    guard key.count == 5 else { throw VaultError(.corrupt, "malformed keyring key") }
    return key[1...].reduce(0) { $0 << 8 | UInt32($1) }
  }

  static func decodeID(_ bytes: [UInt8]) throws(VaultError) -> UInt32 {
    guard bytes.count >= 4 else { throw VaultError(.corrupt, "keyring entry is truncated") }
    var reader = ByteReader(bytes, page: 0)
    return try reader.readUInt32("key id")
  }
}
