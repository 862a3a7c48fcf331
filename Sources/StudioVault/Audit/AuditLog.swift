import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// The audit log's trees and state (FORMAT.md 20). Entries and checkpoints live in the
/// two clear trees, which anyone holding the file can verify; what only the engine
/// needs (the Merkle frontier, stored subtree hashes, the subjects' detail keys) is
/// sealed like everything else.
enum AuditLog {
  /// Entries by sequence number (`u64` big-endian); clear tree 2.
  static let entriesTree = "$audit"
  /// Signed checkpoints by tree size (`u64` big-endian); clear tree 3.
  static let checkpointsTree = "$audit:checkpoints"
  /// The appender's state and the stored subtree hashes; sealed.
  static let stateTree = "$audit:state"
  /// The detail keys of subjects (organization, branches, clients) are data keys of
  /// this pseudo-collection: KEK rotation re-wraps them with every other data key.
  static let subjectKeyCollection = "$audit"

  static let stateKey: [UInt8] = [0x00]
  /// Subtrees this high or higher have their hash stored; lower ones are recomputed
  /// from at most 2^(height − 1) entries when a proof needs them.
  static let storedSubtreeHeight = 4

  static func sequenceKey(_ sequence: UInt64) -> [UInt8] {
    var writer = ByteWriter(capacity: 8)
    writer.writeBigEndian(sequence)
    return writer.bytes
  }

  static func sequence(fromKey key: some Collection<UInt8>) -> UInt64? {
    guard key.count == 8 else { return nil }
    return key.reduce(0) { $0 << 8 | UInt64($1) }
  }

  /// `01` ‖ the subtree's last entry (`u64` big-endian) ‖ its height: subtrees sort in
  /// the order appends complete them, so storing them only ever appends.
  static func subtreeKey(height: Int, index: UInt64) -> [UInt8] {
    var writer = ByteWriter(capacity: 10)
    writer.write(UInt8(0x01))
    writer.writeBigEndian((index + 1) << UInt64(height) - 1)
    writer.write(UInt8(height))
    return writer.bytes
  }

  static func subjectKey(_ subject: AuditSubjectKind, _ id: [UInt8]) -> [UInt8] {
    [subject.rawValue] + id
  }

  /// The header generation the log of `snapshot` has accounted for; nil without a log.
  static func accountedHeaderGeneration(in snapshot: Snapshot) throws(VaultError) -> UInt64? {
    guard let stored = try snapshot.anyTree(named: stateTree)?.value(forKey: stateKey) else {
      return nil
    }
    return try AuditState(decoding: stored).headerGeneration
  }
}

/// The appender's state, stored under ``AuditLog/stateKey``: enough to append the next
/// entry and sign the next checkpoint without reading the log.
struct AuditState: Equatable {
  var frontier = MerkleTree.Frontier()
  /// The leaf hash of the newest entry (zeros before the first).
  var lastLeaf = [UInt8](repeating: 0, count: MerkleTree.hashSize)
  /// SHA-256 of the newest checkpoint note (zeros before the first).
  var lastCheckpoint = [UInt8](repeating: 0, count: MerkleTree.hashSize)
  /// The newest entry's time: a clock that goes back is noticed (and logged).
  var lastTime: Int64 = 0
  /// The file header generation the log has accounted for: a header rewritten (a
  /// passphrase change) without its entry is noticed at the next open, and logged.
  var headerGeneration: UInt64 = 0

  var size: UInt64 { frontier.size }

  /// `u64` size ‖ last leaf (32) ‖ last checkpoint hash (32) ‖ `i64` last time ‖ `u64`
  /// header generation ‖ the frontier's hashes, largest subtree first (one per bit set
  /// in the size).
  func encode() -> [UInt8] {
    var writer = ByteWriter(capacity: 88 + frontier.hashes.count * 32)
    writer.write(frontier.size)
    writer.write(lastLeaf)
    writer.write(lastCheckpoint)
    writer.write(lastTime)
    writer.write(headerGeneration)
    for hash in frontier.hashes { writer.write(hash) }
    return writer.bytes
  }

  init() {}

  init(decoding bytes: [UInt8]) throws(VaultError) {
    var reader = ByteReader(bytes)
    let size = try reader.readUInt64("audit size")
    lastLeaf = try reader.readBytes(32, "last leaf hash")
    lastCheckpoint = try reader.readBytes(32, "last checkpoint hash")
    lastTime = try reader.readInt64("last time")
    headerGeneration = try reader.readUInt64("header generation")
    var hashes = [[UInt8]]()
    for _ in 0..<size.nonzeroBitCount { hashes.append(try reader.readBytes(32, "frontier hash")) }
    guard reader.isAtEnd else { throw reader.corrupt("bytes after the audit state") }
    frontier = try MerkleTree.Frontier(size: size, hashes: hashes)
  }
}

/// Who an audit detail is about, which decides the key that seals it: erasing a client
/// destroys theirs.
@_spi(Engine) public enum AuditSubject: Sendable, Equatable {
  case organization
  case branch(RecordID)
  case client(RecordID)

  var kind: AuditSubjectKind {
    switch self {
    case .organization: .organization
    case .branch: .branch
    case .client: .client
    }
  }

  var id: [UInt8] {
    switch self {
    case .organization: RecordID.allZero.bytes
    case .branch(let id), .client(let id): id.bytes
    }
  }
}

/// An entry to append: the event without its time and place in the log.
@_spi(Engine) public struct AuditDraft: Sendable {
  @_spi(Engine) public var action: AuditAction
  @_spi(Engine) public var actor: AuditActor
  /// The branch whose managers may read the entry; nil: owners and hq only.
  @_spi(Engine) public var branch: RecordID?
  @_spi(Engine) public var outcome: AuditOutcome
  @_spi(Engine) public var targets: [RecordID]
  /// The detail: a JSON object, sealed under `subject`'s key. Ids, counts and codes,
  /// never a name or anything a user typed (FORMAT.md 20.2).
  package var detail: (subject: AuditSubject, fields: [String: JSON])?

  /// A draft whose detail is counts (what tools and benchmarks outside the engine
  /// write; the engine's own drafts carry any JSON).
  @_spi(Engine) public init(
    _ action: AuditAction, actor: AuditActor, branch: RecordID? = nil,
    outcome: AuditOutcome = .success, targets: [RecordID] = [],
    counts: (subject: AuditSubject, values: [String: Int64])
  ) {
    self.init(
      action, actor: actor, branch: branch, outcome: outcome, targets: targets,
      detail: (counts.subject, counts.values.mapValues { JSON.int($0) }))
  }

  package init(
    _ action: AuditAction, actor: AuditActor, branch: RecordID? = nil,
    outcome: AuditOutcome = .success, targets: [RecordID] = [],
    detail: (subject: AuditSubject, fields: [String: JSON])? = nil
  ) {
    self.action = action
    self.actor = actor
    self.branch = branch
    self.outcome = outcome
    self.targets = targets
    self.detail = detail
  }
}

/// Appends to the audit log inside one write transaction; the transaction's commit
/// makes the entries and their checkpoint durable together with the operation they
/// record, or none of them.
final class AuditAppender {
  /// The transaction that owns this appender (and outlives it).
  private unowned let transaction: SealedTransaction
  private var state: AuditState
  private let entries: WriteTree
  private let stateTree: WriteTree
  /// Entries appended by this transaction.
  private(set) var appended = 0
  /// Seals events under the audit entry key, one nonce prefix per transaction.
  private var eventSealer: XChaCha20Poly1305.Sealer
  /// Sealers under the detail keys already unwrapped or created in this transaction.
  private var subjectSealers: [[UInt8]: SubjectSealer] = [:]
  private var lastSubject: (subject: AuditSubject, sealer: SubjectSealer)?

  /// A sealer under one subject's detail key (a class: dictionaries hold copyable
  /// values, and a sealer must not be copied, or two copies would reuse nonces).
  private final class SubjectSealer {
    var sealer: XChaCha20Poly1305.Sealer
    init(key: SymmetricKey) { sealer = XChaCha20Poly1305.Sealer(key: key) }
  }

  init(_ transaction: SealedTransaction) throws(VaultError) {
    self.transaction = transaction
    eventSealer = XChaCha20Poly1305.Sealer(key: transaction.store.auditEntryKey)
    let tx = transaction.transaction
    entries = try Self.clearTree(AuditLog.entriesTree, id: .auditLog, in: tx)
    stateTree = try transaction.tree(AuditLog.stateTree)
    if let stored = try stateTree.value(forKey: AuditLog.stateKey) {
      state = try AuditState(decoding: stored)
    } else {
      state = AuditState()
      state.headerGeneration = transaction.store.store.header.generation
    }
    guard entries.count == state.size else {
      throw VaultError(
        .corrupt,
        "the audit log holds \(entries.count) entries but its state counts \(state.size)")
    }
  }

  /// The clear tree `name`, created with its fixed id on first use.
  static func clearTree(_ name: String, id: TreeID, in tx: WriteTransaction) throws(VaultError)
    -> WriteTree
  {
    if let tree = try tx.anyTree(named: name) {
      guard tree.id == id else {
        throw VaultError(.corrupt, "tree \(name) has id \(tree.id), not \(id)")
      }
      return tree
    }
    return try tx.createClearTree(named: name, id: id)
  }

  /// Appends `draft` at the current time; returns its sequence number.
  @discardableResult
  func append(_ draft: AuditDraft, time: Int64 = AuditAppender.now()) throws(VaultError) -> UInt64 {
    if appended == 0, time < state.lastTime {
      // Entries keep the clock's time, even when it went back; the rollback is itself
      // on the record, before the first entry that shows it.
      try appendEntry(
        AuditDraft(
          .clockRollback, actor: .system,
          detail: (.organization, ["previousTime": .int(state.lastTime), "time": .int(time)])),
        time: time)
    }
    return try appendEntry(draft, time: time)
  }

  @discardableResult
  private func appendEntry(_ draft: AuditDraft, time: Int64) throws(VaultError) -> UInt64 {
    let sequence = state.size
    let store = transaction.store
    var detail: AuditEvent.SealedDetail?
    if let (subject, fields) = draft.detail {
      let subjectSealer = try sealer(for: subject)
      detail = try AuditEvent.SealedDetail.seal(
        JSON.object(fields).encodedBytes, subject: subject.kind, subjectID: subject.id,
        sealer: &subjectSealer.sealer, vaultID: store.vaultID, sequence: sequence)
    }
    let event = AuditEvent(
      time: time, actor: draft.actor, branch: draft.branch?.bytes, action: draft.action,
      outcome: draft.outcome, targets: draft.targets.map(\.bytes), detail: detail)
    let bytes = try AuditEntry.sealedBytes(
      event, sequence: sequence, previous: state.lastLeaf, sealer: &eventSealer,
      vaultID: store.vaultID)
    try entries.insert(bytes, forKey: AuditLog.sequenceKey(sequence))
    let leaf = MerkleTree.leafHash(bytes)
    let stateTree = self.stateTree
    try state.frontier.append(leaf) { completed throws(VaultError) in
      guard completed.height >= AuditLog.storedSubtreeHeight else { return }
      try stateTree.insert(
        completed.hash,
        forKey: AuditLog.subtreeKey(height: completed.height, index: completed.index))
    }
    state.lastLeaf = leaf
    state.lastTime = max(state.lastTime, time)
    appended += 1
    return sequence
  }

  /// Records that the log has accounted for header generation `generation`.
  func noteHeaderGeneration(_ generation: UInt64) {
    state.headerGeneration = max(state.headerGeneration, generation)
  }

  /// The header generation the log has accounted for.
  var headerGeneration: UInt64 { state.headerGeneration }

  /// Stores the state and signs a checkpoint of the log as this commit leaves it.
  /// Called once, as the transaction's last act, when it appended anything.
  func finish(time: Int64 = AuditAppender.now()) throws(VaultError) {
    guard appended > 0 else { return }
    let store = transaction.store
    let checkpoint = AuditCheckpoint(
      origin: AuditCheckpoint.origin(vaultID: store.vaultID), size: state.size,
      root: state.frontier.root, time: time, previous: state.lastCheckpoint)
    let note = try checkpoint.signed(with: store.auditSigner)
    let checkpoints = try Self.clearTree(
      AuditLog.checkpointsTree, id: .auditCheckpoints, in: transaction.transaction)
    try checkpoints.insert(Array(note.utf8), forKey: AuditLog.sequenceKey(state.size))
    state.lastCheckpoint = AuditCheckpoint.hash(ofNote: note)
    try stateTree.insert(state.encode(), forKey: AuditLog.stateKey)
    appended = 0
  }

  /// Drops `subject`'s key from memory (it was destroyed).
  func forget(_ subject: AuditSubject) throws(VaultError) {
    subjectSealers[AuditLog.subjectKey(subject.kind, subject.id)] = nil
    lastSubject = nil
  }

  /// A sealer under the detail key of `subject`, whose key is created (under the
  /// primary KEK) when it has none.
  private func sealer(for subject: AuditSubject) throws(VaultError) -> SubjectSealer {
    // Runs of entries about one subject are the rule: skip building and hashing a key.
    if let last = lastSubject, last.subject == subject { return last.sealer }
    let key = AuditLog.subjectKey(subject.kind, subject.id)
    if let known = subjectSealers[key] {
      lastSubject = (subject, known)
      return known
    }
    let detailKey: SymmetricKey
    if let stored = try transaction.loadWrappedKey(key, collection: AuditLog.subjectKeyCollection) {
      detailKey = stored
    } else {
      detailKey = SymmetricKey.random()
      try transaction.storeWrappedKey(
        detailKey, forKey: key, collection: AuditLog.subjectKeyCollection)
    }
    let made = SubjectSealer(key: detailKey)
    subjectSealers[key] = made
    lastSubject = (subject, made)
    return made
  }

  /// Milliseconds since the Unix epoch.
  static func now() -> Int64 { Timestamp.now().milliseconds }
}
