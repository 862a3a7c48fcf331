import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// Managing users (../shared/spec/access.md, Roles and scopes): nobody grants a role
/// equal to or above their own, except an owner granting owner; branch managers add
/// staff to their own branch; a role change, a disabled account and a new password end
/// the user's sessions. Each change is audited.
extension RecordStore {
  static let roleRank = ["vendor": 0, "staff": 1, "branchManager": 2, "hq": 3, "owner": 4]

  /// Whether `actor` may give `role` (in `branch`) to someone.
  static func mayGrant(_ role: String, in branch: RecordID?, by actor: Principal) -> Bool {
    guard let wanted = roleRank[role], let own = roleRank[actor.role] else { return false }
    if actor.role == "owner" { return true }
    if actor.role == "branchManager" { return role == "staff" && branch == actor.branch }
    return actor.role == "hq" && wanted < own
  }

  /// Whether `actor` may manage (disable, re-role, unlock) the user `target`.
  @_spi(Engine) public static func mayManage(_ target: Record, by actor: Principal) -> Bool {
    guard let role = target.text("role") else { return false }
    return mayGrant(role, in: target.branch, by: actor)
  }

  /// Adds a user with `password` (at least 15 characters).
  ///
  /// - Parameter authorize: run in the insert's own commit once the granting rules
  ///   allow it (a handle spends its step-up proof there).
  @discardableResult
  @_spi(Engine) public func addUser(
    name: String, role: String, branch: RecordID?, email: String?, password: SecretBytes,
    by actor: Principal, authorize: (SealedTransaction) throws(VaultError) -> Void = { _ in }
  ) throws(VaultError) -> RecordID {
    try Self.requirePassword(password)
    guard Self.mayGrant(role, in: branch, by: actor) else {
      throw try denied(.userCreated, actor, "a \(actor.role) may not add a \(role) here")
    }
    let level = try read { snapshot throws(VaultError) in
      try snapshot.settings().text("passwordHashing").flatMap(
        PasswordKDF.Parameters.init(levelName:))
    }
    let hash = try PasswordHash.hash(password, parameters: level ?? .moderate)
    return try write(actor: actor.user) { tx throws(VaultError) -> RecordID in
      try authorize(tx.source.sealed)
      var user = Record(.users, branch: branch)
      user["name"] = .string(name)
      user["role"] = .string(role)
      user["status"] = .string("active")
      user["passwordHash"] = .string(hash)
      if let email { user["email"] = .string(email) }
      guard let id = try tx.insertTrusted(user, scope: actor.scope).id else {
        throw VaultError(.internal, "a stored user without id")
      }
      return id
    }
  }

  /// Gives user `name` the role `role` (ending their sessions).
  ///
  /// - Parameter authorize: run in the change's own commit once the granting rules
  ///   allow it (a handle spends its step-up proof there).
  @_spi(Engine) public func changeRole(
    of name: String, to role: String, by actor: Principal,
    authorize: (SealedTransaction) throws(VaultError) -> Void = { _ in }
  ) throws(VaultError) {
    try changeUser(name, by: actor, action: .roleChanged, authorize: authorize) {
      user throws(VaultError) in
      guard Self.mayGrant(role, in: user.branch, by: actor) else { return false }
      user["role"] = .string(role)
      return true
    }
  }

  /// Disables (or enables again) user `name`; disabling ends their sessions.
  @_spi(Engine) public func setDisabled(
    _ disabled: Bool, user name: String, by actor: Principal,
    authorize: (SealedTransaction) throws(VaultError) -> Void = { _ in }
  ) throws(VaultError) {
    try changeUser(
      name, by: actor, action: disabled ? .userDisabled : .userEnabled, authorize: authorize
    ) { user throws(VaultError) in
      user["status"] = .string(disabled ? "disabled" : "active")
      return true
    }
  }

  /// Sets the actor's own password (ending their sessions): at least 15 characters, or
  /// 8 with a second factor.
  @_spi(Engine) public func changePassword(of actor: Principal, to password: SecretBytes)
    throws(VaultError)
  {
    try Self.requirePassword(password, secondFactor: try hasSecondFactor(actor.user))
    let level = try read { snapshot throws(VaultError) in
      try snapshot.settings().text("passwordHashing").flatMap(
        PasswordKDF.Parameters.init(levelName:))
    }
    let hash = try PasswordHash.hash(password, parameters: level ?? .moderate)
    try write(actor: actor.user) { tx throws(VaultError) in
      guard let user = try tx.source.load(.users, actor.user.bytes) else {
        throw VaultError(.noSuchRecord, "no user \(actor.user)")
      }
      var changed = user
      changed["passwordHash"] = .string(hash)
      try tx.changeUser(changed, previous: user, action: .passwordChanged)
    }
  }

  /// Applies `change` to user `name` if `actor` may manage them (and `change` agrees).
  private func changeUser(
    _ name: String, by actor: Principal, action: AuditAction,
    authorize: (SealedTransaction) throws(VaultError) -> Void = { _ in },
    _ change: (inout Record) throws(VaultError) -> Bool
  ) throws(VaultError) {
    let refused: Bool = try write(actor: actor.user) { tx throws(VaultError) -> Bool in
      guard let id = try tx.source.id(named: name, in: .users),
        let user = try tx.source.load(.users, id.bytes), actor.scope.contains(user)
      else { throw VaultError(.noSuchRecord, "no user named \(name) in this scope") }
      var changed = user
      guard Self.mayManage(user, by: actor), id != actor.user, try change(&changed) else {
        return true
      }
      try authorize(tx.source.sealed)
      try tx.changeUser(changed, previous: user, action: action)
      return false
    }
    if refused { throw try denied(action, actor, "a \(actor.role) may not do that to \(name)") }
  }

  /// Records a refusal (`accessDenied` with the action attempted, nothing more) in a
  /// commit of its own, and returns the error to throw.
  @_spi(Engine) public func denied(
    _ action: AuditAction, _ actor: Principal, _ message: String, targets: [RecordID] = []
  ) throws(VaultError) -> VaultError {
    try sealed.write { tx throws(VaultError) in
      try tx.audit(
        AuditDraft(
          .accessDenied, actor: actor.auditActor, branch: actor.branch, outcome: .denied,
          targets: targets,
          detail: (.organization, ["attempted": .string(action.description)])))
    }
    return VaultError(.policyViolation, message)
  }
}

extension RecordTransaction {
  /// Stores a changed user (a new version), logs `action` and ends their sessions.
  func changeUser(_ user: Record, previous: Record, action: AuditAction) throws(VaultError) {
    var changed = user
    try checkUsersRoleAndBranch(changed)
    changed.version = previous.version + 1
    changed.updatedAt = now
    try replaceTrusted(changed, previous: previous)
    try audit(action, about: changed)
    if let id = changed.id, try SessionStore.revoke(of: id, in: source.sealed) > 0 {
      try audit(.sessionRevoked, about: changed)
    }
  }
}
