import Dispatch
import Glibc
import VaultCore
import VaultCrypto
import VaultFormat

/// One open vault file: the page store under everything StudioVault keeps.
///
/// Many named B+trees map byte keys to byte values. One writer at a time (across all
/// processes) changes them in a ``WriteTransaction``; any number of readers, in this and
/// other processes, read consistent snapshots in parallel and never wait for the writer:
///
/// ```swift
/// let store = try VaultStore.create(at: path)
/// try store.write { tx in
///   try tx.openTree(named: "clients").insert(body, forKey: id)
/// }
/// let body = try store.read { snapshot in
///   try snapshot.tree(named: "clients")?.value(forKey: id)
/// }
/// ```
///
/// A commit is atomic and durable when `write` returns (one `fdatasync`). A crash at
/// any moment leaves the vault at its last commit or the one before it: never in
/// between, never unreadable.
public final class VaultStore: Sendable {
  /// How a store is opened.
  public struct Options: Sendable {
    /// Open for reading only: `write` fails with `.readOnly`.
    public var readOnly = false
    /// Bytes of decoded pages kept in memory (default 64 MiB).
    public var cacheBytes = 64 << 20
    /// Seconds a writer waits for another writer before failing with `.locked`.
    public var lockTimeout: Double = 5
    /// Leave the meta slot of a torn commit for the caller to repair (``tornSlots``):
    /// the audit layer's first commit overwrites it and records the repair in one
    /// step, so no crash can separate the two.
    package var defersTornCommitRepair = false
    /// For salvage (read-only): when no commit is intact, open the newest one whose
    /// meta page verifies anyway; the salvage walk goes around its damaged pages.
    package var salvaging = false

    public init(readOnly: Bool = false, cacheBytes: Int = 64 << 20, lockTimeout: Double = 5) {
      self.readOnly = readOnly
      self.cacheBytes = cacheBytes
      self.lockTimeout = lockTimeout
    }
  }

  /// The vault file's path.
  public let path: String
  /// Whether the store was opened read-only.
  public var isReadOnly: Bool { options.readOnly }
  /// The file header as read at open.
  public let header: FileHeader
  /// The vault's master key, when opened with a credential: the root every other key
  /// is derived from (``SymmetricKey/derive(_:)``).
  package let masterKey: SymmetricKey?
  /// Problems found in the header copies at open (a damaged copy is survivable).
  package let headerProblems: [VaultError]
  /// What recovery skipped and could not repair at open (damaged meta pages, an
  /// incomplete last commit): only a read-only first opener leaves these. Empty when
  /// another store had the vault open, or when this one repaired them.
  package let recoveryProblems: [VaultError]
  /// Whether this store, as the vault's first writable opener, found the meta page of
  /// a commit a crash cut short: a torn tail, repaired by discarding it. The audit
  /// layer records it.
  package let repairedTornCommit: Bool
  /// The torn meta slots still to blank, when ``Options/defersTornCommitRepair`` asked
  /// to: the next commit overwrites them, or ``blankTornSlots()`` does.
  package let tornSlots: Locked<[PageNumber]>
  public var pageSize: Int { header.pageSize }
  let options: Options
  let file: any FileIO
  let reader: PageReader
  let lock: LockFile
  /// This process's writers take turns here before taking the file's writer lock.
  private let writerTurn = DispatchSemaphore(value: 1)
  /// The newest durable state this store knows of, with its system-tree root decoded.
  private let newest: Locked<DurableState>
  /// Set when a read-only first opener found the durable commit damaged and fell back
  /// to an older state: this store then reads that state, and nothing newer.
  private let pinnedState: MetaPage?
  /// Set when, after a failed commit, the last durable commit no longer read back from
  /// the file as published: nothing this store holds is trusted any more.
  private let distrusted = Locked<VaultError?>(nil)
  /// Live snapshots of this store by transaction, for the reader table.
  private let liveSnapshots = Locked<[UInt64: Int]>([:])
  /// The file's size after this store's last commit, and that commit: valid while no
  /// other process has committed since (only writers grow the file).
  private let sizeAfterLastCommit = Locked<(transaction: TransactionID, size: UInt64)?>(nil)
  /// Free pages freed up to this transaction were zeroed by this store's last scrub
  /// (``scrubFreePages()``); the next one zeroes only what was freed since.
  private let scrubbedThrough = Locked<TransactionID?>(nil)

  // MARK: Opening

  /// Opens an existing vault. With a credential, the key derivation runs once, here;
  /// without one (`nil`), the store can walk, verify and copy the file's structure
  /// (`check`, `pages`, backups) but reading or writing content fails with
  /// `.keyRequired`.
  ///
  /// - Throws: `.wrongPassphrase` (in the time of one key derivation, nothing opened);
  ///   `.notFound`, `.notAVault`, `.unsupportedVersion`, `.corruptPage` when no
  ///   committed state is intact, `.corrupt` for key-derivation parameters beyond the
  ///   `sensitive` level, `.permissionDenied`, `.io`.
  public static func open(
    at path: String, credential: VaultCredential?, options: Options = Options()
  ) throws(VaultError) -> VaultStore {
    let file = try PosixFile(openingExisting: path, readOnly: options.readOnly)
    return try VaultStore(path: path, file: file, options: options, credential: credential)
  }

  /// Opens a vault through `file` (tests pass simulated disks); `path` names the lock
  /// file.
  package convenience init(
    path: String, file: any FileIO, options: Options, credential: VaultCredential?
  ) throws(VaultError) {
    let (header, problems) = try PageReader.readHeader(file)
    let masterKey = try credential.map { (credential) throws(VaultError) -> SymmetricKey in
      try KeySlot(decoding: header.keySlot).unlock(with: credential, vaultID: header.vaultID)
    }
    // The header is only checksummed: with the key, make sure its audit key is the one
    // the master key derives, or keyless verification would trust an impostor's.
    if let masterKey, try Self.auditSigningKey(masterKey).publicKey != header.auditPublicKey {
      throw VaultError(
        .authenticationFailed,
        "the file header's audit public key is not this vault's: the header was altered")
    }
    try self.init(
      path: path, file: file, options: options, header: header, headerProblems: problems,
      masterKey: masterKey)
  }

  /// Blanks the torn meta slots left by ``Options/defersTornCommitRepair`` (when the
  /// caller will not commit over them) and syncs.
  package func blankTornSlots() throws(VaultError) {
    let slots = tornSlots.withLock { $0 }
    guard !slots.isEmpty else { return }
    let blank = [UInt8](repeating: 0, count: pageSize)
    for slot in slots { try file.write([blank], at: slot.rawValue * UInt64(pageSize)) }
    try file.sync()
    tornSlots.withLock { $0 = [] }
  }

  /// The key pair that signs the audit log's checkpoints, derived from the master key.
  package static func auditSigningKey(_ masterKey: SymmetricKey) throws(VaultError)
    -> Ed25519.SigningKey
  {
    try Ed25519.SigningKey(seed: masterKey.derive(.auditSigning).secret)
  }

  /// Opens a vault whose header was read and whose master key (if any) is unlocked.
  private init(
    path: String, file: any FileIO, options: Options, header: FileHeader,
    headerProblems: [VaultError], masterKey: SymmetricKey?
  ) throws(VaultError) {
    guard !options.salvaging || options.readOnly else {
      throw VaultError(.invalidArgument, "a vault is opened for salvage read-only")
    }
    self.path = path
    self.file = file
    self.options = options
    self.header = header
    self.headerProblems = headerProblems
    self.masterKey = masterKey
    reader = PageReader(
      file: file, pageSize: header.pageSize,
      cache: PageCache(budgetBytes: options.cacheBytes, pageSize: header.pageSize),
      cipher: masterKey.map { PageCipher(pageKey: $0.derive(.pageSealing)) })
    lock = try LockFile(vaultPath: path, vaultID: header.vaultID)
    var recoveryProblems = [VaultError]()
    var repairedTornCommit = false
    var tornSlots = [PageNumber]()
    var pinnedState: MetaPage?
    if lock.isFirstOpener {
      // Nobody else has the vault open: find the newest intact commit, make sure it is
      // on disk (a crashed writer may have left it only in the OS cache), publish it.
      let recovered = try Recovery.newestIntactState(
        reader: reader, vaultID: header.vaultID,
        trusted: (lock.durableTransaction, lock.durableChecksum),
        acceptingDamage: options.salvaging)
      recoveryProblems = recovered.skipped
      if recovered.losesDurableCommit(trusted: lock.durableTransaction) || recovered.isDamaged {
        // Reading the older state is fine (that is how `check` and salvage see it);
        // writing on top of it would destroy the newer, durable one for good.
        pinnedState = recovered.meta
        guard options.readOnly else {
          try? lock.finishInitialization()
          throw VaultError(
            .corruptPage,
            "commit \(lock.durableTransaction) was durable but is now damaged ("
              + recovered.skipped.map(\.description).joined(separator: "; ")
              + "); open read-only to inspect, run `vault check` to list the damage")
        }
      } else if !options.readOnly && !recovered.unusableSlots.isEmpty {
        // A torn or incomplete commit's meta page: blank it, so that the vault reads
        // as exactly what it is, the recovered state, and `check` finds it clean (or
        // leave it to the caller, whose next commit overwrites it).
        if options.defersTornCommitRepair {
          tornSlots = recovered.unusableSlots
        } else {
          let blank = [UInt8](repeating: 0, count: header.pageSize)
          for slot in recovered.unusableSlots {
            try file.write([blank], at: slot.rawValue * UInt64(header.pageSize))
          }
        }
        recoveryProblems = []
        repairedTornCommit = true
      }
      if !options.readOnly && pinnedState == nil {
        try Self.repairHeaderCopies(
          file, pageSize: header.pageSize, transaction: recovered.meta.transaction)
      }
      try file.sync()
      // A read-only opener that fell back below a durable commit does not publish: the
      // lock file keeps vouching for the commit that was lost, so writers refuse too.
      if !recovered.losesDurableCommit(trusted: lock.durableTransaction) && !recovered.isDamaged {
        lock.publishDurable(recovered.meta.transaction, metaChecksum: recovered.checksum)
      }
      try lock.finishInitialization()
    }
    self.recoveryProblems = recoveryProblems
    self.repairedTornCommit = repairedTornCommit
    self.tornSlots = Locked(tornSlots)
    self.pinnedState = pinnedState
    if let pinnedState {
      newest = Locked(DurableState(pinnedState))
    } else {
      newest = Locked(
        DurableState(
          try VaultStore.loadDurableMeta(reader: reader, lock: lock, vaultID: header.vaultID)))
    }
  }

  private static func loadDurableMeta(reader: PageReader, lock: LockFile, vaultID: [UInt8])
    throws(VaultError) -> MetaPage
  {
    var lastError: VaultError?
    for _ in 0..<1000 {
      let durable = lock.durableTransaction
      do throws(VaultError) {
        let (meta, _) = try reader.readMeta(FileFormat.metaPage(for: durable), vaultID: vaultID)
        // The slot may already hold a newer commit (two commits raced our read): retry.
        if meta.transaction == durable { return meta }
      } catch {
        // A writer may be rewriting this slot for the commit after next (or blanking it
        // after a failure): if a newer commit was published meanwhile, read that one.
        guard lock.durableTransaction != durable else { throw error }
        lastError = error
      }
    }
    throw lastError ?? VaultError(.io, "the vault changed too fast to read its newest commit")
  }

  /// Whether this (read-only) store reads an older state because the newest durable
  /// commit is damaged (FORMAT.md 10.3 step 3).
  package var readsBelowDurableCommit: Bool { pinnedState != nil }

  /// The newest durable state.
  func currentMeta() throws(VaultError) -> MetaPage { try currentState().meta }

  /// The newest durable state, with its system-tree root decoded.
  func currentState() throws(VaultError) -> DurableState {
    if let pinnedState { return DurableState(pinnedState) }
    if let failure = distrusted.withLock({ $0 }) { throw failure }
    let durable = lock.durableTransaction
    let known = newest.withLock { $0 }
    if known.meta.transaction == durable { return known }
    let state = DurableState(
      try VaultStore.loadDurableMeta(reader: reader, lock: lock, vaultID: header.vaultID))
    newest.withLock { if $0.meta.transaction < state.meta.transaction { $0 = state } }
    return state
  }

  // MARK: Creating

  /// Creates a new, empty vault at `path`, atomically: the file is built under a
  /// temporary name, synced, and linked into place only when complete, so a crash never
  /// leaves a half-made vault.
  ///
  /// The vault's master key is random; the credential wraps it (a passphrase through
  /// Argon2id with `keyDerivation`'s cost, which runs once).
  ///
  /// - Parameters:
  ///   - credential: the passphrase or raw key that will open the vault.
  ///   - keyDerivation: Argon2id cost for a passphrase (ignored for a raw key).
  ///   - pageSize: a power of two from 4096 to 65536.
  /// - Throws: `.alreadyExists`, `.invalidArgument`, `.io`, `.permissionDenied`.
  public static func create(
    at path: String, credential: VaultCredential,
    keyDerivation: PasswordKDF.Parameters = .moderate,
    pageSize: Int = FileFormat.defaultPageSize, options: Options = Options()
  ) throws(VaultError) -> VaultStore {
    guard FileFormat.isValidPageSize(pageSize) else {
      throw VaultError(
        .invalidArgument, "page size \(pageSize) must be a power of two from 4096 to 65536")
    }
    if access(path, F_OK) == 0 {
      throw VaultError(.alreadyExists, "\(path) already exists; choose another path")
    }
    let vaultID = SecureRandom.bytes(FileHeader.vaultIDLength)
    let masterKey = SymmetricKey.random()
    let keySlot = try KeySlot.wrapping(
      masterKey, under: credential, parameters: keyDerivation, vaultID: vaultID)
    let header = FileHeader(
      pageSize: pageSize, vaultID: vaultID, createdAtMilliseconds: wallClockMilliseconds(),
      auditPublicKey: try Self.auditSigningKey(masterKey).publicKey, keySlot: keySlot.encode())
    let cipher = PageCipher(pageKey: masterKey.derive(.pageSealing))
    let temporary = path + ".tmp-" + SecureRandom.bytes(6).map { String($0, radix: 16) }.joined()
    do throws(VaultError) {
      let file = try PosixFile(creatingNew: temporary)
      try file.write(initialPages(header, cipher: cipher), at: 0)
      try file.fullSync()
    } catch {
      unlink(temporary)
      throw error
    }
    // link(2) fails if `path` appeared meanwhile: never replace someone's vault.
    if link(temporary, path) != 0 {
      let code = errno
      unlink(temporary)
      throw PosixFile.openError(path: path, errno: code)
    }
    unlink(temporary)
    try PosixFile.syncDirectory(of: path)
    let file = try PosixFile(openingExisting: path, readOnly: options.readOnly)
    return try VaultStore(
      path: path, file: file, options: options, header: header, headerProblems: [],
      masterKey: masterKey)
  }

  /// The pages of an empty vault: two header copies and two meta pages (states 0 and
  /// 1, both empty, so that either meta page can be lost), each followed by its free
  /// hot area. Pages are listed from page 0 on.
  package static func initialPages(_ header: FileHeader, cipher: PageCipher) -> [[UInt8]] {
    var nonces = PageNonce.Sequence()
    let hotAreas = [TransactionID(0), TransactionID(1)].map { FileFormat.hotArea(for: $0) }
    let free = hotAreas.flatMap { $0.map { PageNumber($0) } }
    let entry = FreeListEntry(freedBy: TransactionID(0), chunk: 0, pages: free)
    let metas = [TransactionID(0), TransactionID(1)].map { id in
      let meta = MetaPage(
        transaction: id, vaultID: header.vaultID, pageCount: FileFormat.initialPageCount,
        committedAtMilliseconds: header.createdAtMilliseconds, nextTreeID: .firstUser,
        freePageCount: UInt64(free.count), treeCount: 0,
        root: .leaf(LeafNode([(entry.key, .inline(entry.value))]))
      )
      return cipher.seal(meta.encode(pageSize: header.pageSize, sealed: true), nonce: nonces.next())
    }
    let blank = [UInt8](repeating: 0, count: header.pageSize)
    return [
      header.encodePage(FileFormat.headerPages[0], transaction: TransactionID(0)),
      header.encodePage(FileFormat.headerPages[1], transaction: TransactionID(0)),
      metas[0],
    ] + hotAreas[0].map { _ in blank } + [metas[1]] + hotAreas[1].map { _ in blank }
  }

  // MARK: Reading

  /// Runs `body` with a snapshot of the newest committed state. The snapshot does not
  /// change while `body` runs, whatever writers do meanwhile.
  public func read<T>(_ body: (Snapshot) throws -> T) throws -> T {
    let snapshot = try makeSnapshot()
    defer { snapshot.close() }
    return try body(snapshot)
  }

  /// A snapshot of the newest committed state, kept until ``Snapshot/close()`` (or until
  /// it is released). While it lives, writers keep every page it can reach.
  public func makeSnapshot() throws(VaultError) -> Snapshot {
    for _ in 0..<1000 {
      let durable = durableTransaction
      registerSnapshot(durable)
      // The other half of the handshake with writers: if no newer commit appeared
      // after we announced `durable`, every later writer sees the announcement.
      guard durableTransaction == durable else {
        unregisterSnapshot(durable)
        continue
      }
      do throws(VaultError) {
        let state = try currentState()
        guard state.meta.transaction == durable else {
          unregisterSnapshot(durable)
          continue
        }
        return Snapshot(store: self, state: state)
      } catch {
        unregisterSnapshot(durable)
        throw error
      }
    }
    throw VaultError(.io, "the vault changed too fast to take a snapshot")
  }

  /// The commit new snapshots read.
  private var durableTransaction: TransactionID {
    pinnedState?.transaction ?? lock.durableTransaction
  }

  private func registerSnapshot(_ transaction: TransactionID) {
    liveSnapshots.withLock { live in
      live[transaction.rawValue, default: 0] += 1
      lock.setReaderSlot(TransactionID(live.keys.min()!))
    }
  }

  func unregisterSnapshot(_ transaction: TransactionID) {
    liveSnapshots.withLock { live in
      let remaining = (live[transaction.rawValue] ?? 1) - 1
      live[transaction.rawValue] = remaining > 0 ? remaining : nil
      lock.setReaderSlot(live.keys.min().map { TransactionID($0) })
    }
  }

  // MARK: Writing

  /// Runs `body` in a write transaction and commits it when `body` returns; discards
  /// every change when `body` throws. Waits up to ``Options/lockTimeout`` for other
  /// writers in this or another process.
  ///
  /// - Throws: what `body` throws; `.locked` when the wait runs out; `.readOnly`;
  ///   `.io` or `.noSpace` when the commit cannot be written (nothing of it is then
  ///   visible, and the store stays usable).
  public func write<T>(_ body: (WriteTransaction) throws -> T) throws -> T {
    guard !options.readOnly else {
      throw VaultError(.readOnly, "the vault was opened read-only")
    }
    guard reader.cipher != nil else {
      throw VaultError(.keyRequired, "writing to a vault needs its passphrase or key")
    }
    try acquireWriter()
    defer { releaseWriter() }

    let base = try currentState()
    let transaction = WriteTransaction(
      store: self, base: base, oldestReader: lock.oldestReader(newest: base.meta.transaction))
    defer { transaction.isActive = false }
    let result = try body(transaction)
    if let meta = try transaction.commit() {
      newest.withLock { $0 = DurableState(meta) }
    }
    return result
  }

  // MARK: Scrubbing

  /// Overwrites with zeros every free page that no state a reader may still read can
  /// reach, after making sure no valid meta page reaches them either: the file then
  /// holds no copy of anything deleted before this call, sealed or not. Erasure
  /// (crypto-shredding) calls this after deleting the keys and records it destroys,
  /// since copy-on-write leaves their older versions in freed pages.
  ///
  /// It first commits once without changes (M), so that the two meta pages hold states
  /// M and M − 1, both newer than the deletions. Then, holding the writer lock, it
  /// zeroes every free page except those M itself freed (they still belong to M − 1),
  /// and any page past the page count that a failed or lost commit wrote, and syncs. A snapshot of a state older than M − 1 could still read the pages: the
  /// call waits for such snapshots to close (up to ``Options/lockTimeout``).
  ///
  /// - Returns: the number of pages zeroed.
  /// - Throws: `.locked` when a reader keeps an older state open past the wait or a
  ///   writer holds the lock; `.keyRequired`, `.readOnly`, `.io`.
  /// - Complexity: O(free pages): every free page is written once.
  @discardableResult
  package func scrubFreePages() throws(VaultError) -> Int {
    let deadline = DispatchTime.now() + options.lockTimeout
    while true {
      var emptyCommit: WriteTransaction?
      try writeTyped { tx in
        tx.commitsWithoutChanges = true
        emptyCommit = tx
      }
      guard let committed = emptyCommit?.id else {
        throw VaultError(.internal, "the empty commit of a scrub did not run")
      }
      // Pages of state M − 1 that M stopped using: free in M, but M − 1 still reads them.
      let keep = Set(emptyCommit?.pendingFree ?? [])
      let alreadyZeroed = scrubbedThrough.withLock { $0 }
      while true {
        var outcome: (zeroed: Int?, blockedBy: TransactionID?) = (nil, nil)
        try writeTyped { tx throws(VaultError) in
          // Another writer committed in between: its frees are unknown here, start over.
          guard tx.base.transaction == committed else { return }
          guard tx.oldestReader >= committed.previous else {
            outcome.blockedBy = tx.oldestReader
            return
          }
          outcome.zeroed = try zeroFreePages(of: tx, keeping: keep, after: alreadyZeroed)
        }
        if let zeroed = outcome.zeroed {
          // Everything freed before M is zero now; M's own frees (`keep`) are not.
          scrubbedThrough.withLock { $0 = committed.previous }
          return zeroed
        }
        guard let blocked = outcome.blockedBy else { break }  // a newer commit: again
        guard DispatchTime.now() < deadline else {
          throw VaultError(
            .locked,
            "a reader still reads state \(blocked), which holds deleted data; scrubbing waits"
              + " for it (retry when it closes its snapshot)")
        }
        usleep(10_000)
      }
      guard DispatchTime.now() < deadline else {
        throw VaultError(
          .locked, "other writers kept committing; scrubbing could not finish (retry)")
      }
    }
  }

  /// Zeroes, within `tx` (which holds the writer lock and changes nothing), every free
  /// page but `keep` freed after transaction `scrubbed` (all of them when nil: pages
  /// freed before an earlier scrub of this store are zero already), and the file past
  /// the page count (pages a failed or lost commit may have written there), then syncs.
  private func zeroFreePages(
    of tx: WriteTransaction, keeping keep: Set<PageNumber>, after scrubbed: TransactionID?
  ) throws(VaultError) -> Int {
    var pages = [PageNumber]()
    let pageCount = tx.base.pageCount
    for entry in try tx.freeListEntries(from: nil, to: nil, limit: Int.max) {
      // Never trust a free-list entry with the header, a meta page or a page past the
      // file: zeroing those would destroy the vault.
      for page in entry.pages where !FileFormat.isDataPage(page) || page.rawValue >= pageCount {
        throw VaultError(.corrupt, "free list names impossible page \(page)")
      }
      if let scrubbed, entry.freedBy <= scrubbed { continue }
      pages += entry.pages.filter { !keep.contains($0) }
    }
    // Runs of consecutive pages (a freed blob's extents) go out in writes of up to 1 MiB.
    let sorted = pages.sorted()
    let perWrite = Self.zeros.count / pageSize
    var start = 0
    while start < sorted.count {
      var end = start + 1
      while end < sorted.count, end - start < perWrite,
        sorted[end].rawValue == sorted[end - 1].rawValue + 1
      {
        end += 1
      }
      let bytes = (end - start) * pageSize
      try file.write(
        [bytes == Self.zeros.count ? Self.zeros : Array(Self.zeros[..<bytes])],
        at: sorted[start].rawValue * UInt64(pageSize))
      start = end
    }
    let blank = [UInt8](repeating: 0, count: pageSize)
    // The zeros written ahead of need stay as they are; anything else goes (a partial
    // last page included).
    let size = try file.size()
    let end = (size + UInt64(pageSize) - 1) / UInt64(pageSize)
    guard end >= pageCount else {
      throw VaultError(
        .truncated, "the vault file is shorter than its \(pageCount) pages (truncated?)")
    }
    for page in pageCount..<end {
      let offset = page * UInt64(pageSize)
      if try file.read(at: offset, count: pageSize).contains(where: { $0 != 0 }) {
        try file.write([blank], at: offset)
      }
    }
    try file.sync()
    // Decoded copies of freed pages may linger in memory: drop them too.
    reader.cache.removeAll()
    return pages.count
  }

  /// Takes this process's writer turn, then the file's writer lock, waiting up to
  /// ``Options/lockTimeout`` for each. Pair with ``releaseWriter()``.
  private func acquireWriter() throws(VaultError) {
    guard writerTurn.wait(timeout: .now() + options.lockTimeout) == .success else {
      throw VaultError(
        .locked, "another writer in this process held the vault for \(options.lockTimeout) s")
    }
    do {
      try lock.lockWriter(timeout: options.lockTimeout)
    } catch {
      writerTurn.signal()
      throw error
    }
  }

  private func releaseWriter() {
    lock.unlockWriter()
    writerTurn.signal()
  }

  /// ``write(_:)`` for bodies that throw only `VaultError`.
  package func writeTyped(_ body: (WriteTransaction) throws(VaultError) -> Void)
    throws(VaultError)
  {
    do {
      try write { tx in try body(tx) }
    } catch let error as VaultError {
      throw error
    } catch {
      throw VaultError(.internal, "unexpected error in a write transaction: \(error)")
    }
  }

  // MARK: Changing the credential

  /// Replaces the credential that unlocks the vault: the master key is re-wrapped under
  /// `newCredential` and both header copies are rewritten. No other page changes, so
  /// this costs one key derivation, whatever the vault's size.
  ///
  /// Crash-safe: copy 0 is written and synced before copy 1, and the copy with the
  /// higher generation wins at open, so a crash leaves the vault opening with the old
  /// or the new credential, every record readable. (The master key is unchanged: a
  /// copy of the file taken earlier still opens with the old passphrase.)
  ///
  /// - Throws: `.keyRequired` when the store was opened without a credential;
  ///   `.readOnly`; `.locked` when another writer holds the vault; `.io`.
  public func changeCredential(
    to newCredential: VaultCredential, keyDerivation: PasswordKDF.Parameters = .moderate
  ) throws(VaultError) {
    guard let masterKey else {
      throw VaultError(.keyRequired, "changing the passphrase needs the current one")
    }
    guard !options.readOnly else {
      throw VaultError(.readOnly, "the vault was opened read-only")
    }
    // Derive before taking the lock: it is the slow part.
    let slot = try KeySlot.wrapping(
      masterKey, under: newCredential, parameters: keyDerivation, vaultID: header.vaultID)
    try acquireWriter()
    defer { releaseWriter() }
    // The newest header on disk (another process may have changed it since we opened).
    var updated = try PageReader.readHeader(file).header
    updated.keySlot = slot.encode()
    updated.generation += 1
    let transaction = try currentMeta().transaction
    for page in FileFormat.headerPages {
      try file.write(
        [updated.encodePage(page, transaction: transaction)],
        at: page.rawValue * UInt64(pageSize))
      try file.sync()
    }
  }

  /// The generation of the newest file header on disk (another process may have
  /// rewritten it since this store opened).
  package func headerGeneration() throws(VaultError) -> UInt64 {
    try PageReader.readHeader(file).header.generation
  }

  /// Rewrites a header copy that is damaged or older than the other, so that no stale
  /// key slot (one a former passphrase still opens) outlives a crash during a change.
  private static func repairHeaderCopies(
    _ file: any FileIO, pageSize: Int, transaction: TransactionID
  ) throws(VaultError) {
    let (newest, problems) = try PageReader.readHeader(file)
    var stale = problems.compactMap(\.page).filter { $0 <= 1 }
    for page in FileFormat.headerPages where !stale.contains(page.rawValue) {
      let bytes = try file.read(at: page.rawValue * UInt64(pageSize), count: pageSize)
      let copy = try? FileHeader(page: Page(bytes, location: page))
      if copy != newest { stale.append(page.rawValue) }
    }
    guard !stale.isEmpty else { return }
    for page in Set(stale).sorted() {
      try file.write(
        [newest.encodePage(PageNumber(page), transaction: transaction)],
        at: page * UInt64(pageSize))
    }
    try file.sync()
  }

  /// Writes a transaction's pages and meta page, syncs once, and publishes the commit.
  func persist(
    pages: [(PageNumber, [UInt8])], meta: MetaPage, metaBytes: [UInt8], base: TransactionID,
    cacheable: [Node], wroteExtents: Bool = false
  ) throws(VaultError) {
    let pageSize = UInt64(self.pageSize)
    // After extents, which grew the file themselves, grow it only as far as needed: the
    // next upload's extents append, and zeros written ahead would be written twice.
    let fileSize = try extendFile(toHold: meta.pageCount, base: base, exactly: wroteExtents)
    // Until this commit is durable, the cached size may not describe the file.
    sizeAfterLastCommit.withLock { $0 = nil }
    // Consecutive pages go out in one pwritev; the meta page usually joins the run of
    // hot pages right after it. Order does not matter: one sync covers them all, and
    // until it returns a crash may keep any subset, which open handles.
    let metaPage = FileFormat.metaPage(for: meta.transaction)
    let sorted = (pages + [(metaPage, metaBytes)]).sorted { $0.0 < $1.0 }
    do throws(VaultError) {
      var runStart = 0
      for index in 1...sorted.count {
        let continues =
          index < sorted.count && sorted[index].0.rawValue == sorted[index - 1].0.rawValue + 1
        if continues { continue }
        let run = sorted[runStart..<index]
        try file.write(run.map(\.1), at: run[run.startIndex].0.rawValue * pageSize)
        runStart = index
      }
      try file.sync()
    } catch {
      // The commit failed part way. Its meta page may sit in the OS cache, and after a
      // failed sync the kernel may have dropped writes while still showing them (the
      // "fsyncgate" lesson): trust nothing cached, and blank the meta slot so that the
      // previous state stays the only one a future open can pick (best effort: open
      // would reject an incomplete commit anyway).
      reader.cache.removeAll()
      // It may have written to free pages a scrub had zeroed: the next scrub does all.
      scrubbedThrough.withLock { $0 = nil }
      try? file.write(
        [[UInt8](repeating: 0, count: self.pageSize)], at: metaPage.rawValue * pageSize)
      try? file.sync()
      reloadAfterFailedCommit()
      throw error
    }
    let checksum = Page.storedChecksum(of: metaBytes)
    // A torn commit's slot left for later (``tornSlots``) now holds this commit.
    tornSlots.withLock { $0.removeAll { $0 == metaPage } }
    lock.publishDurable(meta.transaction, metaChecksum: checksum)
    sizeAfterLastCommit.withLock { $0 = (meta.transaction, fileSize) }
    for node in cacheable { reader.cache.insert(node) }
  }

  /// After a failed commit, the last durable commit's meta page is read again from the
  /// file and checked against what was published, rather than trusted from memory, and
  /// the store goes on from that fresh read; if it no longer matches, the store refuses
  /// further use, and reopening verifies the file and recovers the newest intact commit.
  ///
  /// This is a defensive check. What makes a failed fsync harmless (PostgreSQL's
  /// "fsyncgate": the kernel may drop writes it still shows as done, and report success
  /// at the next fsync) is the commit protocol: nothing durable refers to a failed
  /// commit's pages, its meta slot is blanked, the page cache is emptied, and the next
  /// commit writes every page it refers to again (FaultInjectionTests' lost-sync disk).
  private func reloadAfterFailedCommit() {
    let published = (lock.durableTransaction, lock.durableChecksum)
    do throws(VaultError) {
      let (meta, checksum) = try reader.readMeta(
        FileFormat.metaPage(for: published.0), vaultID: header.vaultID)
      guard meta.transaction == published.0, checksum == published.1 else {
        throw VaultError(.corruptPage, "the meta page of the last commit changed on disk")
      }
      // A fresh state: nothing decoded from the cache or the failed commit survives.
      newest.withLock { $0 = DurableState(meta) }
    } catch {
      distrusted.withLock {
        $0 = VaultError(
          .io,
          "after a failed write, the vault's last commit no longer reads back as it was "
            + "committed (\(error.message)); close the vault and open it again to recover")
      }
    }
  }

  /// Grows the file so that `pageCount` pages fit, and a little beyond. The pages up
  /// to `pageCount` past the end are the commit's own, which it writes at once. Past
  /// them, growth comes in steps of an eighth of the file (1–64 MiB) written with real
  /// zeros: later small commits then overwrite allocated blocks, and their `fdatasync`
  /// need not update file-system metadata. A commit that itself grows the file by
  /// ``bulkGrowth`` or more (a bulk load, an upload) gets no step: the zeros would only
  /// be written before the next such commit overwrites them.
  private func extendFile(toHold pageCount: UInt64, base: TransactionID, exactly: Bool)
    throws(VaultError) -> UInt64
  {
    let needed = pageCount * UInt64(pageSize)
    let current: UInt64
    if let cached = sizeAfterLastCommit.withLock({ $0 }), cached.transaction == base {
      current = cached.size
    } else {
      current = try file.size()
    }
    guard needed > current else { return current }
    let bulk = exactly || needed - current >= Self.bulkGrowth
    let step = bulk ? 0 : min(max(current / 8, 1 << 20), 64 << 20)
    var target = max(needed, current + step)
    target = (target + UInt64(pageSize) - 1) / UInt64(pageSize) * UInt64(pageSize)
    let chunk = Self.zeros
    var offset = needed
    while offset < target {
      let length = Int(min(UInt64(chunk.count), target - offset))
      try file.write([length == chunk.count ? chunk : Array(chunk[..<length])], at: offset)
      offset += UInt64(length)
    }
    return target
  }

  /// Writes a blob extent of an open write transaction to pages past the committed
  /// state's end (FORMAT.md 10.1): nothing a reader may read, so at once, before the
  /// commit's sync, which covers it.
  func writeExtent(_ run: [UInt8], at page: PageNumber) throws(VaultError) {
    // The file grows past the size cached for the last commit.
    sizeAfterLastCommit.withLock { $0 = nil }
    try file.write([run], at: page.rawValue * UInt64(pageSize))
  }

  /// Growth within one commit from which the file grows by exactly what it writes.
  static let bulkGrowth: UInt64 = 256 << 10

  /// One MiB of zeros, allocated once (growth writes it again and again).
  private static let zeros = [UInt8](repeating: 0, count: 1 << 20)

  // MARK: Information

  /// The transaction id of the newest commit.
  public var lastCommittedTransaction: TransactionID {
    get throws(VaultError) { try currentMeta().transaction }
  }

  /// The newest commit's meta page.
  public func newestMeta() throws(VaultError) -> MetaPage { try currentMeta() }

  /// The newest commit any process published, read without touching the file: when
  /// it has not moved, nothing in the vault has changed.
  package var publishedTransaction: TransactionID { durableTransaction }

  /// Page cache hits and misses since open.
  package var cacheStatistics: (hits: Int, misses: Int) { reader.cache.statistics }
}

/// A committed state and its system tree's root node, decoded once and shared by every
/// snapshot of that state.
struct DurableState: Sendable {
  let meta: MetaPage
  let systemRoot: Node?
  let catalog = CatalogCache()

  init(_ meta: MetaPage) {
    self.meta = meta
    systemRoot = Node(systemRootOf: meta)
  }
}

extension VaultStore {
  /// The vault file's length in bytes.
  package func fileSize() throws(VaultError) -> UInt64 { try file.size() }

  /// Page `number` as stored, framing parsed, content not verified (inspection tools).
  package func rawPage(_ number: PageNumber) throws(VaultError) -> Page {
    try reader.readPage(number)
  }

  /// Page `number`'s bytes as stored, whatever they hold.
  package func rawBytes(ofPage number: PageNumber) throws(VaultError) -> [UInt8] {
    try file.read(at: number.rawValue * UInt64(pageSize), count: pageSize)
  }

  /// Page `number` as stored, its body opened with the page key when it is sealed:
  /// plaintext pages for the fuzzers' seeds and for tools that show a page decoded.
  ///
  /// - Throws: `.keyRequired` without the key; the page's framing or seal error.
  package func openedPage(_ number: PageNumber) throws(VaultError) -> [UInt8] {
    let page = try Page(try rawBytes(ofPage: number), location: number)
    guard page.isSealed else { return page.bytes }
    guard let cipher = reader.cipher else {
      throw VaultError(.keyRequired, "opening a sealed page needs the key")
    }
    return try cipher.open(page).bytes
  }

  /// The raw bytes of `count` pages from `first` on (fewer at the end of the file).
  package func rawBytes(ofPages first: PageNumber, count: Int) throws(VaultError) -> [UInt8] {
    try file.read(at: first.rawValue * UInt64(pageSize), count: count * pageSize)
  }
}
