import VaultCore
import VaultCrypto
import VaultFormat

/// The high-risk actions of ../shared/spec/access.md that are not record workflows:
/// bulk export, settings, users (add, role, disable, enable, unlock), removing a second
/// factor, ending another user's sessions, key rotation and passphrase change. Each
/// takes a step-up proof bound to the handle's session, the action and (where there is
/// one) its target.
///
/// Most spend the proof in the action's own commit, so that the proof is gone if and
/// only if the action happened. Key rotation and passphrase change commit in steps of
/// their own (batches; the header), so they spend it in a commit just before: if one
/// then fails, the owner steps up again.
extension VaultHandle {
  /// Spends `proof` for `action` on `resource` in a commit of its own.
  ///
  /// - Throws: `.policyViolation` (logged as an `accessDenied` of `attempted`) for a
  ///   missing, spent, expired or mismatched proof.
  func spendStepUp(
    _ proof: String, for action: HighRiskAction, on resource: RecordID?, attempted: AuditAction
  ) throws(VaultError) {
    try inOwnCommit(proof, for: action, on: resource, attempted: attempted) {
      authorize throws(VaultError) in
      try store.sealed.write { tx throws(VaultError) in try authorize(tx) }
    }
  }

  /// Runs `act`, which performs a high-risk action and calls the `authorize` it is
  /// given in the action's commit; `authorize` spends `proof` there. A refused proof is
  /// logged as an `accessDenied` of `attempted` (the action logs its own refusals).
  func inOwnCommit<T>(
    _ proof: String, for action: HighRiskAction, on resource: RecordID?, attempted: AuditAction,
    _ act: (_ authorize: (SealedTransaction) throws(VaultError) -> Void) throws(VaultError) -> T
  ) throws(VaultError) -> T {
    try requireLive()
    let target = resource ?? principal.user
    guard !isReadOnly else { throw try denied(attempted, target, "this handle is read-only") }
    let now = now()
    var proofRefused: VaultError?
    do throws(VaultError) {
      return try act { tx throws(VaultError) in
        do throws(VaultError) {
          try tx.consumeStepUp(
            proof, session: session, action: action, resource: resource, now: now)
        } catch {
          proofRefused = error
          throw error
        }
      }
    } catch {
      guard let refusal = proofRefused else { throw error }
      throw try denied(attempted, target, refusal.message)
    }
  }

  /// Every record of `collection` in the handle's scope, as its role sees them (derived
  /// fields included), for a bulk export. The export is logged (`exportPerformed`, with
  /// the count) before any record is returned.
  ///
  /// - Parameter proof: a step-up for `.clientExport`, on no record.
  public func exportRecords(_ collection: RecordCollection, proof: String)
    throws(VaultError) -> [Record]
  {
    guard Self.managers.contains(principal.role) else {
      throw try denied(.exportPerformed, principal.user, "only branch managers and above export")
    }
    return try inOwnCommit(proof, for: .clientExport, on: nil, attempted: .exportPerformed) {
      authorize throws(VaultError) in
      let records = try store.read { snapshot throws(VaultError) -> [Record] in
        var records = [Record]()
        var cursor: String?
        repeat {
          let page = try snapshot.list(collection, scope: scope, after: cursor, limit: 1000)
          for record in page.records {
            records.append(visible(try snapshot.withDerivedFields(record, scope: scope)))
          }
          cursor = page.nextCursor
        } while cursor != nil
        return records
      }
      // The proof is spent and the export logged in one commit: an export that is not on
      // the record does not happen.
      try store.sealed.write { tx throws(VaultError) in
        try authorize(tx)
        try tx.audit(
          AuditDraft(
            .exportPerformed, actor: principal.auditActor, branch: principal.branch,
            detail: (
              principal.branch.map(AuditSubject.branch) ?? .organization,
              ["collection": .string(collection.rawValue), "records": .int(Int64(records.count))]
            )))
      }
      return records
    }
  }

  /// Changes the organization's settings: `change` edits them as the role sees them;
  /// only the fields the role may write may change (owners: all; hq: the currency).
  ///
  /// - Parameter proof: a step-up for `.securityPolicyChange`, on no record.
  /// - Returns: the settings as stored, as the role sees them.
  @discardableResult
  public func changeSettings(
    proof: String, _ change: (inout Record) throws(VaultError) -> Void
  ) throws(VaultError) -> Record {
    guard ["owner", "hq"].contains(principal.role), scope == .organization else {
      throw try denied(
        .settingsChanged, settingsID,
        "only owners and hq change settings, through a handle of the whole organization")
    }
    return try stepUpWrite(
      .settingsChanged, on: settingsID, proof: proof, for: .securityPolicyChange, resource: nil
    ) { records, _ throws(VaultError) in
      let stored = try records.source.settings()
      var changed = visible(stored)
      try change(&changed)
      // The closure edits the settings' fields; it cannot swap in another record.
      guard changed.collection == .settings, changed.id == settingsID else {
        throw VaultError(.policyViolation, "changeSettings changes the settings record only")
      }
      let merged = try FieldAccess.merged(changed, over: stored, role: principal.role)
      return visible(try records.update(merged, scope: .organization))
    }
  }

  /// Adds a user (../shared/spec/access.md, users and roles: owners any role, hq below
  /// hq, branch managers staff of their branch), with `password` (at least 15
  /// characters).
  ///
  /// - Parameter proof: a step-up for `.roleChange`, on no record (the user is new).
  /// - Returns: the new user's id.
  @discardableResult
  public func addUser(
    name: String, role: String, branch: RecordID?, email: String? = nil, password: SecretBytes,
    proof: String
  ) throws(VaultError) -> RecordID {
    // A narrowed handle adds users to its own branch only.
    if case .branch(let own) = scope, branch != own {
      throw try denied(.userCreated, own, "this handle adds users to its own branch only")
    }
    return try inOwnCommit(proof, for: .roleChange, on: nil, attempted: .userCreated) {
      authorize throws(VaultError) in
      try store.addUser(
        name: name, role: role, branch: branch, email: email, password: password, by: principal,
        authorize: authorize)
    }
  }

  /// Disables user `name` (ending their sessions), or enables them again.
  ///
  /// - Parameter proof: a step-up for `.roleChange` on that user.
  public func setDisabled(_ disabled: Bool, user name: String, proof: String)
    throws(VaultError)
  {
    let action: AuditAction = disabled ? .userDisabled : .userEnabled
    let target = try managedUser(named: name, attempted: action)
    try inOwnCommit(proof, for: .roleChange, on: target, attempted: action) {
      authorize throws(VaultError) in
      try store.setDisabled(disabled, user: name, by: principal, authorize: authorize)
    }
  }

  /// Lets user `name` log in again after failed attempts or a lock.
  ///
  /// - Parameter proof: a step-up for `.roleChange` on that user.
  public func unlockLogins(of name: String, proof: String) throws(VaultError) {
    let target = try managedUser(named: name, attempted: .userUnlocked)
    try inOwnCommit(proof, for: .roleChange, on: target, attempted: .userUnlocked) {
      authorize throws(VaultError) in
      try store.unlockLogins(of: name, by: principal, authorize: authorize)
    }
  }

  /// Gives user `name` the role `role` (ending their sessions), by the granting rules.
  ///
  /// - Parameter proof: a step-up for `.roleChange` on that user.
  public func changeRole(of name: String, to role: String, proof: String)
    throws(VaultError)
  {
    let target = try managedUser(named: name, attempted: .roleChanged)
    let current = try store.read { snapshot throws(VaultError) in
      try snapshot.get(.users, target, scope: scope)?.text("role")
    }
    guard current != role else {
      throw VaultError(.invalidArgument, "\(name) is already \(role)")
    }
    try inOwnCommit(proof, for: .roleChange, on: target, attempted: .roleChanged) {
      authorize throws(VaultError) in
      try store.changeRole(of: name, to: role, by: principal, authorize: authorize)
    }
  }

  /// Removes the second factor of `user`: one's own, or of a user the principal
  /// manages (a reset).
  ///
  /// - Parameter proof: a step-up for `.secondFactorReset` on that user.
  public func removeSecondFactor(of user: RecordID, proof: String)
    throws(VaultError)
  {
    try requireManaged(user, attempted: .totpDisabled)
    try inOwnCommit(proof, for: .secondFactorReset, on: user, attempted: .totpDisabled) {
      authorize throws(VaultError) in
      try store.disableTOTP(for: user, actor: principal.auditActor, authorize: authorize)
    }
  }

  /// Ends every session of `user`, another user the principal manages.
  ///
  /// - Parameter proof: a step-up for `.sessionTermination` on that user.
  /// - Returns: how many sessions ended.
  @discardableResult
  public func endSessions(of user: RecordID, proof: String) throws(VaultError)
    -> Int
  {
    try requireManaged(user, attempted: .sessionRevoked)
    return try inOwnCommit(proof, for: .sessionTermination, on: user, attempted: .sessionRevoked) {
      authorize throws(VaultError) in
      try store.revokeSessions(of: user, actor: principal.auditActor, authorize: authorize)
    }
  }

  /// Re-wraps every data key under a new key-encryption key (owners only).
  ///
  /// - Parameter proof: a step-up for `.keyRotation`, on no record.
  @discardableResult
  public func rotateKeyEncryptionKey(
    proof: String, batchSize: Int = 10_000,
    progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
  ) throws(VaultError) -> KeyRotationReport {
    guard principal.role == "owner" else {
      throw try denied(.keyRotated, principal.user, "only owners rotate the key-encryption key")
    }
    guard batchSize > 0 else {
      throw VaultError(.invalidArgument, "a rotation batch holds at least one key")
    }
    try spendStepUp(proof, for: .keyRotation, on: nil, attempted: .keyRotated)
    return try store.sealed.rotateKeyEncryptionKey(
      batchSize: batchSize, actor: principal.auditActor, progress: progress)
  }

  /// Changes the vault's passphrase or raw key (owners only): O(1), the header only.
  ///
  /// - Parameter proof: a step-up for `.passphraseChange`, on no record.
  public func changeCredential(
    to credential: VaultCredential, keyDerivation: PasswordKDF.Parameters = .moderate,
    proof: String
  ) throws(VaultError) {
    guard principal.role == "owner" else {
      throw try denied(.passphraseChanged, principal.user, "only owners change the passphrase")
    }
    try spendStepUp(proof, for: .passphraseChange, on: nil, attempted: .passphraseChanged)
    try store.sealed.changeCredential(
      to: credential, keyDerivation: keyDerivation, actor: principal.auditActor)
  }

  /// The id of user `name` in the handle's scope, whom only owners and hq manage
  /// (branch managers invite staff, nothing more); other roles' attempts are logged.
  private func managedUser(named name: String, attempted: AuditAction) throws(VaultError)
    -> RecordID
  {
    try requireLive()
    let id = try userID(named: name)
    guard ["owner", "hq"].contains(principal.role) else {
      throw try denied(attempted, id, "only owners and hq manage users")
    }
    return id
  }

  /// The id of user `name` in the handle's scope.
  private func userID(named name: String) throws(VaultError) -> RecordID {
    let id = try store.read { snapshot throws(VaultError) -> RecordID? in
      guard let id = try snapshot.id(named: name, in: .users),
        try snapshot.get(.users, id, scope: scope) != nil
      else { return nil }
      return id
    }
    guard let id else { throw VaultError(.noSuchRecord, "no user named \(name) in this scope") }
    return id
  }

  /// Refuses (logged) unless `user` is the principal, or one owners and hq manage by
  /// the granting rules (the matrix gives branch managers only invitations).
  private func requireManaged(_ user: RecordID, attempted: AuditAction) throws(VaultError) {
    try requireLive()
    guard user != principal.user else { return }
    let record = try store.read { snapshot throws(VaultError) in
      try snapshot.get(.users, user, scope: scope)
    }
    guard ["owner", "hq"].contains(principal.role), let record,
      RecordStore.mayManage(record, by: principal)
    else {
      throw try denied(attempted, user, "a \(principal.role) may not do that to this user")
    }
  }
}
