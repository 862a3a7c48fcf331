import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// What a login session grants: the way an application reads and writes records
/// (../shared/spec/access.md, Principles). A handle carries its principal, scope,
/// writability and session; it has no public initializer (``RecordStore/login(user:password:rememberMe:label:)``
/// and ``RecordStore/handle(session:)`` make them) and only narrows. Every operation
/// first checks, at the handle's clock, that the session is still live (not expired,
/// not revoked, its user not disabled): revoking a session kills its handles at their
/// next operation.
///
/// Reads come back projected for the principal's role and writes obey its field
/// permissions (``FieldAccess``); a vendor's reach is its active engagements
/// (``VendorView``). High-risk actions are workflows of their own that consume a
/// step-up proof (refunds, billing overrides, project deletion, engagement extension).
public final class VaultHandle: Sendable, CustomStringConvertible {
  let store: RecordStore
  /// The session token: a secret, never printed.
  let session: String
  @_spi(Engine) public let principal: RecordStore.Principal
  public let scope: Scope
  public let isReadOnly: Bool
  /// When this handle stops working, if earlier than its session (milliseconds since
  /// the epoch): set by ``expiring(at:)``.
  public let notAfter: Int64?
  /// Milliseconds since the epoch; tests drive it.
  let clock: @Sendable () -> Int64
  /// The last check of the session: while no commit has happened since (a revocation
  /// is a commit) and the clock has not passed its bound, the session is still live.
  private let lastCheck = Locked<(transaction: TransactionID, from: Int64, until: Int64)?>(nil)
  /// A vendor's reach, as of one commit and day (``VendorView``).
  let vendorCache = Locked<(transaction: TransactionID, view: VendorView)?>(nil)

  init(
    store: RecordStore, session: String, principal: RecordStore.Principal, scope: Scope,
    isReadOnly: Bool, notAfter: Int64? = nil, clock: @escaping @Sendable () -> Int64
  ) {
    self.store = store
    self.session = session
    self.principal = principal
    self.scope = scope
    self.isReadOnly = isReadOnly
    self.notAfter = notAfter
    self.clock = clock
  }

  public var description: String {
    "VaultHandle(\(principal.role), \(scope)\(isReadOnly ? ", read-only" : ""))"
  }

  /// The public id of the session the handle derives from (what `session list` shows;
  /// not the token, which stays secret): its lineage.
  public var sessionID: String { RecordStore.sessionID(ofToken: session) ?? "" }

  // MARK: Narrowing

  /// The same rights, limited to `branch` (which the handle's scope must contain).
  public func narrowed(toBranch branch: RecordID) throws(VaultError) -> VaultHandle {
    // A vendor's reach is its engagements, not a branch: nothing to narrow to.
    guard !isVendor else {
      throw VaultError(.policyViolation, "a vendor's handle does not narrow to a branch")
    }
    switch scope {
    case .organization: break
    case .branch(let own) where own == branch: break
    case .branch:
      throw VaultError(.policyViolation, "a handle only narrows: this branch is outside its scope")
    }
    return VaultHandle(
      store: store, session: session, principal: principal, scope: .branch(branch),
      isReadOnly: isReadOnly, notAfter: notAfter, clock: clock)
  }

  /// The same rights, for reading only.
  public func readOnly() -> VaultHandle {
    VaultHandle(
      store: store, session: session, principal: principal, scope: scope, isReadOnly: true,
      notAfter: notAfter, clock: clock)
  }

  /// The same rights, ending at `time` (milliseconds since the epoch) or with the
  /// session, whichever comes first: a handle to give a task that should not outlive
  /// it. An expiry later than this handle's keeps this handle's.
  public func expiring(at time: Int64) -> VaultHandle {
    VaultHandle(
      store: store, session: session, principal: principal, scope: scope,
      isReadOnly: isReadOnly, notAfter: min(time, notAfter ?? .max), clock: clock)
  }

  // MARK: Operations

  /// Record `id` of `collection`, if it exists in the handle's scope; with `derived`,
  /// the fields derived from other records too (a client's lifetime value), which
  /// cost index scans.
  public func get(
    _ collection: RecordCollection, _ id: RecordID, derived: Bool = false
  ) throws(VaultError) -> Record? {
    try requireLive()
    if isVendor { return try vendorGet(collection, id) }
    return try store.read { snapshot throws(VaultError) in
      try snapshot.get(collection, id, scope: scope).map { (record) throws(VaultError) in
        visible(derived ? try snapshot.withDerivedFields(record, scope: scope) : record)
      }
    }
  }

  /// Record `id` as a typed struct, with what the role may not see left empty.
  public func get<T: StudioRecord>(_ type: T.Type, _ id: RecordID)
    throws(VaultError) -> T?
  {
    try get(T.collection, id).map { (record) throws(VaultError) in try T(record) }
  }

  /// The organization's settings, as the handle's role may see them.
  public func settings() throws(VaultError) -> Record {
    try get(.settings, settingsID) ?? Record(.settings, id: settingsID)
  }

  /// A page of `collection` in the handle's scope.
  public func list(
    _ collection: RecordCollection, filter: RecordFilter = .all, after cursor: String? = nil,
    limit: Int = 100, derived: Bool = false
  ) throws(VaultError) -> RecordPage {
    try requireLive()
    // A filter on a field the role may not see would tell its values by what it finds.
    if case .choice(let field, _) = filter,
      FieldAccess.fieldClass(collection, field).map({
        FieldAccess.permission(principal.role, $0) == .none
      }) ?? true
    {
      throw VaultError(.policyViolation, "this role may not filter on \(field)")
    }
    if isVendor {
      return try vendorList(collection, filter: filter, after: cursor, limit: limit)
    }
    return try store.read { snapshot throws(VaultError) in
      try visible(
        snapshot.list(collection, scope: scope, filter: filter, after: cursor, limit: limit),
        derivedFrom: derived ? snapshot : nil)
    }
  }

  /// A page of search results in the handle's scope.
  public func search(
    _ collection: RecordCollection, _ text: String, after cursor: String? = nil, limit: Int = 100,
    derived: Bool = false
  ) throws(VaultError) -> RecordPage {
    try requireLive()
    if isVendor {
      return try vendorList(
        collection, filter: .all, after: cursor, limit: limit,
        matching: SearchTokens.queryWords(text))
    }
    return try store.read { snapshot throws(VaultError) in
      try visible(
        snapshot.search(collection, text, scope: scope, after: cursor, limit: limit),
        derivedFrom: derived ? snapshot : nil)
    }
  }

  /// Runs `body` in one write transaction, as the handle's user in its scope.
  ///
  /// - Throws: `.policyViolation` for a read-only handle, and (logged as
  ///   `accessDenied`) for anything `body` attempts that the role or scope forbids.
  public func write<T>(
    _ body: (_ records: RecordTransaction, _ scope: Scope) throws(VaultError) -> T
  ) throws(VaultError) -> T {
    try requireLive()
    guard !isReadOnly else {
      throw try store.denied(.recordUpdated, principal, "this handle is read-only")
    }
    // Vendors write nothing but their uploads (``beginUpload(into:fileName:kind:)``).
    guard !isVendor else {
      throw try store.denied(
        .recordUpdated, principal, "a vendor writes only uploads into an engaged project",
        targets: [])
    }
    do throws(VaultError) {
      return try store.write(
        actor: principal.user, role: principal.role, scope: scope,
        now: Timestamp(milliseconds: now())
      ) {
        tx throws(VaultError) in try body(tx, scope)
      }
    } catch  where error.code == .policyViolation {
      // The refusal rolled the transaction back; it is logged in a commit of its own.
      throw try store.denied(.recordUpdated, principal, error.message)
    }
  }

  /// A record as the handle's role may see it (hidden fields absent).
  func visible(_ record: Record) -> Record {
    isVendor ? VendorView.projected(record) : FieldAccess.projected(record, for: principal.role)
  }

  /// A page as the handle's role may see it, with derived fields from `snapshot`.
  func visible(_ page: RecordPage, derivedFrom snapshot: RecordSnapshot? = nil)
    throws(VaultError) -> RecordPage
  {
    var projected = page
    projected.records = []
    for record in page.records {
      projected.records.append(
        visible(
          try snapshot.map { (snapshot) throws(VaultError) in
            try snapshot.withDerivedFields(record, scope: scope)
          } ?? record))
    }
    return projected
  }

  /// The audit entries the handle's principal may see.
  public func readAudit(from start: UInt64 = 0, limit: Int = 10_000)
    throws(VaultError) -> AuditListing
  {
    try requireLive()
    // A handle narrowed to a branch reads that branch's entries at most.
    var auditScope = principal.auditScope
    if auditScope == .all, case .branch(let branch) = scope { auditScope = .branch(branch) }
    return try store.readAudit(
      scope: auditScope, actor: principal.auditActor, branch: principal.branch,
      from: start, limit: limit)
  }

  /// The handle's clock, in milliseconds since the epoch (kept within 1970 … 9999).
  func now() -> Int64 { CivilTime.clamped(clock()) }

  /// Fails unless the session is live at the handle's clock (and refreshes it). Costs
  /// an atomic read when nothing was committed since the last check.
  func requireLive() throws(VaultError) {
    let now = now()
    if let notAfter, now >= notAfter {
      throw VaultError(.wrongPassword, "this handle has expired: derive a new one from its session")
    }
    let vault = store.sealed.store
    if let last = lastCheck.withLock({ $0 }), last.transaction == vault.publishedTransaction,
      now >= last.from, now < last.until
    {
      return
    }
    let (_, session) = try store.resumeSession(token: self.session, now: now)
    let until = min(
      session.expiresAt, session.capAt, session.lastUsedAt + SessionStore.refreshInterval)
    let transaction = vault.publishedTransaction
    lastCheck.withLock { $0 = (transaction, now, until) }
  }
}

extension RecordStore {
  /// Logs `name` in and opens a session: the handle, and the session's token (shown
  /// once; ``handle(session:clock:)`` turns it back into a handle later).
  @_spi(Engine) public func login(
    user name: String, password: SecretBytes, totp: String? = nil, rememberMe: Bool = false,
    label: String = "", clock: @escaping @Sendable () -> Int64 = { Timestamp.now().milliseconds }
  ) throws(VaultError) -> (handle: VaultHandle, token: String) {
    let now = CivilTime.clamped(clock())
    try SessionStore.checkLabel(label)
    var token: String?
    let principal = try authenticate(
      user: name, password: password, totp: totp, now: now, auditing: true
    ) {
      tx, principal throws(VaultError) in
      token = try insertSession(
        for: principal, limits: SessionLimits.limits(role: principal.role, rememberMe: rememberMe),
        rememberMe: rememberMe, label: label, now: now, in: tx
      ).token
    }
    guard let token else { throw Self.sessionNeedsWriting }
    return (
      VaultHandle(
        store: self, session: token, principal: principal, scope: principal.scope,
        isReadOnly: false, clock: clock),
      token
    )
  }

  /// The handle a live session's token stands for.
  ///
  /// - Throws: `.wrongPassword` for an unknown, expired or revoked token.
  @_spi(Engine) public func handle(
    session token: String, clock: @escaping @Sendable () -> Int64 = { Timestamp.now().milliseconds }
  ) throws(VaultError) -> VaultHandle {
    let (principal, _) = try resumeSession(token: token, now: CivilTime.clamped(clock()))
    return VaultHandle(
      store: self, session: token, principal: principal, scope: principal.scope,
      isReadOnly: false, clock: clock)
  }
}

extension RecordStore {
  /// How long a command's own session lives: one run of a command-line tool, ended
  /// by ``VaultHandle/endSession()`` when the run ends (a crashed run's lapses).
  static let commandSessionLimits = SessionLimits(idle: 15 * 60_000, cap: 15 * 60_000)

  /// What logging in on a read-only store meets: a session is a commit.
  static let sessionNeedsWriting = VaultError(
    .readOnly, "logging in opens a session, which a vault opened read-only cannot record")

  /// Logs `name` in for one command: a short session and its handle, plus, when
  /// `stepUp` names a high-risk action, a proof for it bound to that session. The
  /// password just checked is the step-up (../shared/spec/access.md: re-entering the
  /// password, and the TOTP code when enrolled), so it is hashed once, not twice.
  ///
  /// The action's record is found by `stepUp.resource` once the password is checked,
  /// in the user's scope: nobody learns what exists before logging in.
  @_spi(Engine) public func loginForCommand(
    user name: String, password: SecretBytes, totp: String? = nil,
    stepUp: (
      action: HighRiskAction,
      resource: (RecordSnapshot, Principal) throws(VaultError) -> RecordID?
    )? = nil,
    label: String = "command",
    clock: @escaping @Sendable () -> Int64 = { Timestamp.now().milliseconds }
  ) throws(VaultError) -> (handle: VaultHandle, proof: String?) {
    let now = CivilTime.clamped(clock())
    try SessionStore.checkLabel(label)
    var opened: (token: String, proof: String?)?
    // The action's record is looked up in the login's commit; not finding it ends the
    // command, not the login (which is recorded, and leaves no session).
    var lookupFailure: VaultError?
    let principal = try authenticate(
      user: name, password: password, totp: totp, now: now, auditing: true
    ) {
      tx, principal throws(VaultError) in
      var resource: RecordID?
      if let stepUp {
        do throws(VaultError) {
          resource = try read { snapshot throws(VaultError) in
            try stepUp.resource(snapshot, principal)
          }
        } catch {
          lookupFailure = error
          return
        }
      }
      let (_, hash, token) = try insertSession(
        for: principal, limits: Self.commandSessionLimits, rememberMe: false, label: label,
        now: now, in: tx)
      let proof = try stepUp.map { (stepUp) throws(VaultError) in
        try issueStepUp(
          in: tx.source.sealed, for: principal, session: hash, action: stepUp.action,
          resource: resource, now: now)
      }
      opened = (token, proof)
    }
    if let lookupFailure { throw lookupFailure }
    guard let (token, proof) = opened else { throw Self.sessionNeedsWriting }
    let handle = VaultHandle(
      store: self, session: token, principal: principal, scope: principal.scope,
      isReadOnly: false, clock: clock)
    return (handle, proof)
  }
}

extension VaultHandle {
  /// Ends the handle's session (and so every handle made from it), audited as
  /// `sessionRevoked`: what a user does at logout and a command at the end of its run.
  /// Any live, writable handle of the session may end it (a logout ends every handle
  /// made from the session, narrowed ones included); read-only and expired ones may not.
  ///
  /// - Throws: what a dead handle throws; `.policyViolation` for a read-only one.
  public func endSession() throws(VaultError) {
    try requireLive()
    guard !isReadOnly else {
      throw VaultError(.policyViolation, "a read-only handle does not end its session")
    }
    guard let id = RecordStore.sessionID(ofToken: session) else { return }
    try store.revokeSessions(of: principal.user, id: id, actor: principal.auditActor)
  }
}
