import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// Which entries of the audit log a reader may see (../shared/spec/access.md, Audit
/// visibility).
@_spi(Engine) public enum AuditScope: Sendable, Equatable {
  /// Owners and hq: every entry.
  case all
  /// Branch managers: the entries tagged with their branch.
  case branch(RecordID)
  /// Staff: their own security events.
  case securityEvents(of: RecordID)
  /// Vendors: nothing.
  case none

  /// Actions that are a user's security events.
  static let securityActions: Set<AuditAction> = [
    .loginSucceeded, .loginFailed, .failedLoginSpike, .logout, .sessionRevoked,
    .passwordChanged, .totpEnrolled, .totpDisabled, .totpReset, .stepUpSucceeded,
    .stepUpFailed, .accessDenied, .userUnlocked, .userDisabled, .userEnabled, .roleChanged,
  ]

  func allows(_ event: AuditEvent) -> Bool {
    switch self {
    case .all: return true
    case .branch(let branch): return event.branch == branch.bytes
    case .securityEvents(let user):
      guard Self.securityActions.contains(event.action) else { return false }
      if case .user(let id, _) = event.actor, id == user.bytes { return true }
      return event.targets.contains(user.bytes)
    case .none: return false
    }
  }
}

extension RecordStore.Principal {
  /// The part of the audit log this principal may read.
  @_spi(Engine) public var auditScope: AuditScope {
    switch role {
    case "owner", "hq": return .all
    case "branchManager": return branch.map(AuditScope.branch) ?? .none
    case "staff": return .securityEvents(of: user)
    default: return .none
    }
  }

  /// This principal as audit entries name them.
  @_spi(Engine) public var auditActor: AuditActor {
    guard let role = AuditRole(name: role) else { return .system }
    return .user(id: user.bytes, role: role)
  }
}

/// One audit entry as a reader gets it: the event, its detail if its key still exists,
/// and the proof that it is in the log the checkpoint signs.
public struct AuditRecord: Sendable {
  public let sequence: UInt64
  public let event: AuditEvent
  /// The detail (a JSON object's text); nil when there is none or it was erased.
  public let detail: String?
  /// Whether the entry had a detail whose key was destroyed (its subject was erased).
  public let detailErased: Bool
  /// The entry as stored: its leaf hash is SHA-256(0x00 ‖ these bytes).
  public let stored: [UInt8]
  /// The RFC 9162 inclusion proof of the entry in the tree of the listing's checkpoint.
  public let proof: [[UInt8]]

  /// Whether `proof` puts this entry in the tree `checkpoint` states.
  public func isIncluded(in checkpoint: AuditCheckpoint) -> Bool {
    MerkleTree.verifyInclusion(
      leaf: MerkleTree.leafHash(stored), index: sequence, size: checkpoint.size, proof: proof,
      root: checkpoint.root)
  }
}

/// What a reader of the audit log gets: entries and the checkpoint they are proven
/// against.
public struct AuditListing: Sendable {
  public let entries: [AuditRecord]
  /// The newest checkpoint, signed (a C2SP signed note).
  public let checkpointNote: String
  public let checkpoint: AuditCheckpoint
}

extension RecordStore {
  /// The audit entries `scope` may see, from sequence `start` on, at most `limit`,
  /// each with its inclusion proof against the newest checkpoint. Reading is itself
  /// audited (`auditRead`, by `actor`), in a commit before the read: the listing's
  /// checkpoint covers that entry too.
  ///
  /// - Throws: `.policyViolation` for a scope that sees nothing (vendors), after
  ///   recording the denial.
  @_spi(Engine) public func readAudit(
    scope: AuditScope, actor: AuditActor, branch: RecordID? = nil, from start: UInt64 = 0,
    limit: Int = 10_000
  ) throws(VaultError) -> AuditListing {
    guard scope != .none else {
      try sealed.write { tx throws(VaultError) in
        try tx.audit(AuditDraft(.accessDenied, actor: actor, branch: branch, outcome: .denied))
      }
      throw VaultError(
        .policyViolation,
        "this role may not read the audit log (vendors, or a manager of no branch)")
    }
    try sealed.write { tx throws(VaultError) in
      try tx.audit(AuditDraft(.auditRead, actor: actor, branch: branch))
    }
    return try sealed.read { snapshot throws(VaultError) in
      try AuditReader(snapshot: snapshot).list(scope: scope, from: start, limit: limit)
    }
  }
}

/// Reads entries, details and proofs from one snapshot.
struct AuditReader {
  let snapshot: SealedSnapshot
  let entries: ReadTree
  let state: ReadTree?
  var store: SealedStore { snapshot.store }

  init(snapshot: SealedSnapshot) throws(VaultError) {
    self.snapshot = snapshot
    guard let entries = try snapshot.snapshot.anyTree(named: AuditLog.entriesTree) else {
      throw VaultError(.noSuchRecord, "this vault has no audit log")
    }
    guard entries.root.id == .auditLog else {
      throw VaultError(.corrupt, "the audit log's tree has id \(entries.root.id)")
    }
    self.entries = entries
    state = try snapshot.snapshot.anyTree(named: AuditLog.stateTree)
  }

  /// The newest checkpoint and the tree it states: the one of the size the state
  /// records (a direct lookup).
  func newestCheckpoint() throws(VaultError) -> (note: String, checkpoint: AuditCheckpoint) {
    guard let tree = try snapshot.snapshot.anyTree(named: AuditLog.checkpointsTree),
      let stored = try state?.value(forKey: AuditLog.stateKey)
    else {
      throw VaultError(.corrupt, "the audit log has entries but no checkpoint")
    }
    let size = try AuditState(decoding: stored).size
    guard let newest = try tree.value(forKey: AuditLog.sequenceKey(size)) else {
      throw VaultError(.corrupt, "the audit log has no checkpoint of its \(size) entries")
    }
    let note = String(decoding: newest, as: UTF8.self)
    let checkpoint = try AuditCheckpoint.open(
      note, origin: AuditCheckpoint.origin(vaultID: store.vaultID),
      publicKey: store.store.header.auditPublicKey)
    return (note, checkpoint)
  }

  func list(scope: AuditScope, from start: UInt64, limit: Int) throws(VaultError) -> AuditListing {
    let (note, checkpoint) = try newestCheckpoint()
    var found = [AuditRecord]()
    var subjectKeys: [[UInt8]: SymmetricKey?] = [:]
    try entries.scanTyped(from: AuditLog.sequenceKey(start)) { key, value throws(VaultError) in
      guard let sequence = AuditLog.sequence(fromKey: key), sequence < checkpoint.size else {
        return false
      }
      let entry = try AuditEntry(decoding: value)
      // The seal binds the sequence, so an entry moved to another key fails here.
      guard entry.sequence == sequence else {
        throw VaultError(.corrupt, "audit entry \(sequence) is stored under another number")
      }
      let event = try entry.open(key: store.auditEntryKey, vaultID: store.vaultID)
      guard scope.allows(event) else { return true }
      var detail: String?
      var erased = false
      if let sealed = event.detail {
        let id = AuditLog.subjectKey(sealed.subject, sealed.subjectID)
        if subjectKeys[id] == nil { subjectKeys[id] = try subjectKey(id) }
        if let key = subjectKeys[id] ?? nil {
          detail = String(
            decoding: try sealed.open(key: key, vaultID: store.vaultID, sequence: sequence),
            as: UTF8.self)
        } else {
          erased = true
        }
      }
      found.append(
        AuditRecord(
          sequence: sequence, event: event, detail: detail, detailErased: erased, stored: value,
          proof: try inclusionProof(sequence, size: checkpoint.size)))
      return found.count < limit
    }
    return AuditListing(entries: found, checkpointNote: note, checkpoint: checkpoint)
  }

  /// The detail key stored under `id` (subject kind ‖ subject id), or nil when it was
  /// destroyed.
  private func subjectKey(_ id: [UInt8]) throws(VaultError) -> SymmetricKey? {
    try store.wrappedKey(
      id, collection: AuditLog.subjectKeyCollection,
      keys: try snapshot.snapshot.anyTree(
        named: SealedStore.dataKeyTree(for: AuditLog.subjectKeyCollection)),
      kek: snapshot.kek)
  }

  /// The inclusion proof of entry `sequence` in the tree of the first `size` entries:
  /// stored subtree hashes where they exist, the rest from at most 15 entries.
  func inclusionProof(_ sequence: UInt64, size: UInt64) throws(VaultError) -> [[UInt8]] {
    try MerkleTree.inclusionProof(sequence, size: size, subtree: subtreeHash)
  }

  /// The consistency proof from the tree of `oldSize` entries to that of `size`.
  func consistencyProof(from oldSize: UInt64, to size: UInt64) throws(VaultError) -> [[UInt8]] {
    try MerkleTree.consistencyProof(oldSize, size: size, subtree: subtreeHash)
  }

  private func subtreeHash(_ start: UInt64, _ height: Int) throws(VaultError) -> [UInt8] {
    if height >= AuditLog.storedSubtreeHeight {
      let key = AuditLog.subtreeKey(height: height, index: start >> UInt64(height))
      guard let hash = try state?.value(forKey: key), hash.count == MerkleTree.hashSize else {
        throw VaultError(.corrupt, "the audit log lacks the hash of a complete subtree")
      }
      return hash
    }
    let count = 1 << height
    var leaves = [[UInt8]]()
    leaves.reserveCapacity(count)
    try entries.scanTyped(from: AuditLog.sequenceKey(start)) { _, value in
      leaves.append(MerkleTree.leafHash(value))
      return leaves.count < count
    }
    guard leaves.count == count else {
      throw VaultError(.corrupt, "the audit log lacks entries of a complete subtree")
    }
    return MerkleTree.root(leaves[...])
  }
}
