import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// The actions that need step-up (../shared/spec/access.md, High-risk actions).
public enum HighRiskAction: UInt8, Sendable, CaseIterable {
  case projectDeletion = 1
  case refundRequest, refundApproval, refundExecution, clientExport, roleChange
  case billingOverride, secondFactorReset, sessionTermination, passphraseChange
  case keyRotation, clientErasure, legalHold, governanceDeletion, engagementExtension
  case securityPolicyChange
}

/// Step-up proofs: re-entering the password (and a TOTP code when enrolled)
/// yields a proof bound to one session, one action and (where there is one) one
/// resource, valid five minutes, consumed by the action it authorizes. A session
/// alone, remembered or not, never counts as step-up.
///
/// Stored in `$sessions` under `04` ‖ SHA-256(proof) (FORMAT.md 21).
enum StepUp {
  static let tokenPrefix = "svp_"
  /// How long a proof lasts unless the organization's `stepUpMinutes` says otherwise
  /// (the policy allows up to 15 minutes).
  static let lifetime: Int64 = 5 * 60_000

  static func proofKey(_ hash: [UInt8]) -> [UInt8] { [0x04] + hash }

  /// A stored proof: `[u8]` session hash (32) ‖ `u8` action ‖ resource (16, zeros for
  /// none) ‖ `i64` expiry.
  struct Proof: Equatable {
    static let byteCount = 57
    var session: [UInt8]
    var action: UInt8
    var resource: [UInt8]
    var expires: Int64

    init(session: [UInt8], action: HighRiskAction, resource: RecordID?, expires: Int64) {
      self.session = session
      self.action = action.rawValue
      self.resource = resource?.bytes ?? [UInt8](repeating: 0, count: 16)
      self.expires = expires
    }

    init(decoding bytes: [UInt8]) throws(VaultError) {
      guard bytes.count == Self.byteCount else {
        throw VaultError(.corrupt, "a stored step-up proof has the wrong length")
      }
      var reader = ByteReader(bytes)
      session = try reader.readBytes(32, "session")
      action = try reader.readUInt8("action")
      resource = try reader.readBytes(16, "resource")
      expires = try reader.readInt64("expiry")
    }

    func encode() -> [UInt8] {
      var writer = ByteWriter(capacity: Self.byteCount)
      writer.write(session)
      writer.write(action)
      writer.write(resource)
      writer.write(expires)
      return writer.bytes
    }
  }

  /// Removes proofs that can no longer be used: expired, or of a session that ended.
  /// Unused proofs are few (each lives minutes), so issuing a new one sweeps them all.
  static func purge(_ sessions: WriteTree, now: Int64) throws(VaultError) {
    var stale = [[UInt8]]()
    try sessions.scanTyped(from: [0x04], to: [0x05]) { key, value throws(VaultError) in
      let proof = try Proof(decoding: value)
      let sessionEnded = try sessions.value(forKey: SessionStore.sessionKey(proof.session)) == nil
      if now >= proof.expires || sessionEnded { stale.append(key) }
      return true
    }
    for key in stale { try sessions.removeValue(forKey: key) }
  }

  static let refused = VaultError(
    .policyViolation,
    "this action needs a fresh step-up (re-enter the password) for this session, action and record")
}

extension RecordStore {
  /// Steps up the session `token` for `action` on `resource` by checking the user's
  /// password again at `now`. Audited (`stepUpSucceeded` / `stepUpFailed`); failures
  /// count toward the name's throttling.
  ///
  /// - Returns: the proof (`svp_` and 64 hex digits), for the action to consume.
  /// - Throws: what ``resumeSession(token:now:)`` throws; `.wrongPassword` for a wrong
  ///   password; `.throttled` while the name cools down.
  @_spi(Engine) public func stepUp(
    session token: String, password: SecretBytes, totp: String? = nil, action: HighRiskAction,
    resource: RecordID? = nil, now: Int64
  ) throws(VaultError) -> String {
    let now = CivilTime.clamped(now)
    let (principal, _) = try resumeSession(token: token, now: now)
    guard let sessionHash = SessionStore.hash(ofToken: token) else { throw SessionStore.refused }
    do throws(VaultError) {
      _ = try authenticate(
        user: principal.name, password: password, totp: totp, now: now, auditing: false)
    } catch {
      try sealed.write { tx throws(VaultError) in
        try tx.audit(
          AuditDraft(
            .stepUpFailed, actor: principal.auditActor, branch: principal.branch,
            outcome: .failed, targets: resource.map { [$0] } ?? []))
      }
      throw error
    }
    return try sealed.write { tx throws(VaultError) in
      try issueStepUp(
        in: tx, for: principal, session: sessionHash, action: action, resource: resource, now: now)
    }
  }

  /// Stores a new proof for `action` on `resource`, bound to the session whose token
  /// hashes to `session`, and logs `stepUpSucceeded`: for a password just checked.
  ///
  /// - Returns: the proof (`svp_` and 64 hex digits).
  func issueStepUp(
    in tx: SealedTransaction, for principal: Principal, session: [UInt8], action: HighRiskAction,
    resource: RecordID?, now: Int64
  ) throws(VaultError) -> String {
    let secret = SecureRandom.bytes(32)
    // The organization may set the lifetime (1 to 15 minutes); 5 by default.
    var lifetime = StepUp.lifetime
    if case .integer(let minutes)? = try RecordTransaction(store: self, sealed: tx, actor: nil)
      .settings()["stepUpMinutes"]
    {
      lifetime = min(max(minutes, 1), 15) * 60_000
    }
    let sessions = try tx.tree(SessionStore.tree)
    try StepUp.purge(sessions, now: now)
    try sessions.insert(
      StepUp.Proof(session: session, action: action, resource: resource, expires: now + lifetime)
        .encode(),
      forKey: StepUp.proofKey(SHA256.hash(secret)))
    try tx.audit(
      AuditDraft(
        .stepUpSucceeded, actor: principal.auditActor, branch: principal.branch,
        targets: resource.map { [$0] } ?? [],
        detail: (.organization, ["action": .int(Int64(action.rawValue))])))
    return StepUp.tokenPrefix + Hex.encode(secret)
  }
}

extension SealedTransaction {
  /// Consumes `proof` for `action` on `resource` by the session `session` at `now`, in
  /// the transaction of the action itself: the proof is gone if and only if the action
  /// commits.
  ///
  /// - Throws: `.policyViolation` for a missing, expired, used, or other session's,
  ///   action's or resource's proof (one message for all: it tells nothing more).
  @_spi(Engine) public func consumeStepUp(
    _ proof: String, session: String, action: HighRiskAction, resource: RecordID?, now: Int64
  ) throws(VaultError) {
    let now = CivilTime.clamped(now)
    guard proof.hasPrefix(StepUp.tokenPrefix),
      let secret = Hex.decode(String(proof.dropFirst(StepUp.tokenPrefix.count))),
      secret.count == 32, let sessionHash = SessionStore.hash(ofToken: session)
    else { throw StepUp.refused }
    let tree = try tree(SessionStore.tree)
    let key = StepUp.proofKey(SHA256.hash(secret))
    guard let stored = try tree.value(forKey: key),
      let bound = try? StepUp.Proof(decoding: stored)
    else { throw StepUp.refused }
    let wanted = resource?.bytes ?? [UInt8](repeating: 0, count: 16)
    guard ConstantTime.equal(bound.session, sessionHash), bound.action == action.rawValue,
      bound.resource == wanted, now < bound.expires,
      try SessionStore.isLive(sessionHash, in: tree, now: now)
    else { throw StepUp.refused }
    try tree.removeValue(forKey: key)
  }
}
