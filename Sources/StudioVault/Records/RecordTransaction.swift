import VaultCore
import VaultFormat
import VaultStorage

/// Records inside one write transaction: inserts, updates and removals keep every
/// index in step, in the same commit.
public final class RecordTransaction {
  let source: TransactionSource
  /// The acting user, if any (the engine's own setup has none).
  let actor: RecordID?
  /// One clock reading per transaction: every record it writes carries the same time
  /// (a handle's clock when a handle writes).
  let now: Timestamp
  /// Branches this transaction found to exist.
  private var knownBranches = Set<RecordID>()
  /// Whether each write is audited on its own; an import audits once, with counts.
  var auditsEachWrite = true
  /// The role whose field permissions inserts and updates obey (``FieldAccess``); nil
  /// for the engine's own writes.
  let enforcedRole: String?
  /// The widest scope calls may name (a handle's): a wider one is refused. Nil for the
  /// engine's own writes.
  let allowedScope: Scope?
  /// The actor as the audit log names it, once looked up.
  private var resolvedAuditActor: AuditActor?

  init(
    store: RecordStore, sealed: SealedTransaction, actor: RecordID?, role: String? = nil,
    scope: Scope? = nil, now: Timestamp = .now()
  ) {
    self.now = now
    source = TransactionSource(indexes: store.indexes, sealed: sealed)
    self.actor = actor
    enforcedRole = role
    allowedScope = scope
  }

  /// Refuses a scope wider than the transaction's (a handle only narrows).
  func requireWithin(_ scope: Scope) throws(VaultError) {
    switch (allowedScope, scope) {
    case (nil, _), (.organization?, _): return
    case (.branch(let allowed)?, .branch(let asked)) where allowed == asked: return
    default:
      throw VaultError(.policyViolation, "this handle's scope is narrower than \(scope)")
    }
  }

  /// A record as the transaction's role may see it.
  func visible(_ record: Record) -> Record {
    enforcedRole.map { FieldAccess.projected(record, for: $0) } ?? record
  }

  // MARK: Reads (seeing this transaction's own writes)

  /// Record `id` of `collection`, if it exists in `scope`.
  public func get(_ collection: RecordCollection, _ id: RecordID, scope: Scope)
    throws(VaultError) -> Record?
  {
    try requireWithin(scope)
    return try source.get(collection, id, scope: scope).map(visible)
  }

  /// A page of records (see ``RecordFilter``).
  public func list(
    _ collection: RecordCollection, scope: Scope, filter: RecordFilter = .all,
    after cursor: String? = nil, limit: Int = 100
  ) throws(VaultError) -> RecordPage {
    try requireWithin(scope)
    var page = try source.list(
      collection, scope: scope, filter: filter, after: cursor, limit: limit)
    page.records = page.records.map(visible)
    return page
  }

  /// The organization's settings.
  public func settings() throws(VaultError) -> Record {
    visible(try source.settings())
  }

  /// The id of the branch or user named `name`.
  ///
  /// In a handle's transaction, only names in its scope are found.
  public func id(named name: String, in collection: RecordCollection)
    throws(VaultError) -> RecordID?
  {
    guard let id = try source.id(named: name, in: collection) else { return nil }
    guard let allowedScope, allowedScope != .organization else { return id }
    if try source.get(collection, id, scope: allowedScope) != nil { return id }
    // Vendors belong to no branch; managers engage them by name.
    if collection == .users, try source.load(.users, id.bytes)?.text("role") == "vendor" {
      return id
    }
    return nil
  }

  // MARK: Writes

  /// Stores a new record: assigns its id (unless given), version 1 and times, derives
  /// its branch where it has a parent, checks it against its schema, the records it
  /// references and `scope`, and indexes it.
  ///
  /// Fields the engine owns (a refund's state, who applied a discount) are set by the
  /// engine, whatever the record says.
  ///
  /// - Returns: the record as stored.
  /// - Throws: `.invalidRecord` naming the field, `.duplicateRecord` for a taken id or
  ///   name, `.policyViolation` for a delivery that billing enforcement refuses.
  @discardableResult
  public func insert(_ record: Record, scope: Scope) throws(VaultError) -> Record {
    guard record.collection != .settings else {
      throw VaultError(.invalidArgument, "the settings record exists from the start; update it")
    }
    try requireWithin(scope)
    try requireGenericWrite(record.collection)
    var fresh = Record(
      record.collection, id: record.id, branch: record.branch,
      fields: Self.callerFields(record.fields, specs: record.schema.fields))
    if let enforcedRole { try FieldAccess.checkInsert(fresh, role: enforcedRole) }
    try setEngineFields(&fresh)
    return visible(try insertTrusted(fresh, scope: scope))
  }

  /// ``insert(_:scope:)`` of a record whose engine-owned fields are the engine's.
  @discardableResult
  func insertTrusted(_ input: Record, scope: Scope) throws(VaultError) -> Record {
    var record = input
    let id = record.id ?? RecordID.random()
    record.id = id
    if try source.body(record.collection, id.bytes) != nil {
      throw VaultError(.duplicateRecord, "a record of \(record.collection) with id \(id) exists")
    }
    guard id != settingsID || record.collection == .settings else {
      throw RecordValidation.failure("id", "this id is reserved")
    }
    record.branch = try resolveBranch(of: record, scope: scope)
    try requireScope(scope, for: record)
    try checkReferences(of: record, scope: scope)
    try RecordValidation.validate(record)
    try checkUsersRoleAndBranch(record)
    // An invoice must have a total: one currency, discounts within its line items.
    if record.collection == .invoices { _ = try Self.total(of: record) }
    try checkDelivery(record, previous: nil)
    record.version = 1
    record.createdAt = now
    record.updatedAt = now
    record.createdBy = actor
    try replaceTrusted(record, previous: nil)
    try auditCreation(of: record)
    return record
  }

  /// Replaces the fields a caller may write of an existing record (the engine's own
  /// fields, its branch and its creation stay); the version grows by one.
  ///
  /// - Throws: `.noSuchRecord` outside `scope`, `.policyViolation` for a financial
  ///   record (append-only: record a correction that points to it instead).
  @discardableResult
  public func update(_ record: Record, scope: Scope) throws(VaultError) -> Record {
    let schema = record.schema
    guard let id = record.id else {
      throw VaultError(.invalidArgument, "an update needs the record's id")
    }
    try requireWithin(scope)
    try requireGenericWrite(record.collection)
    guard let old = try source.load(record.collection, id.bytes), scope.contains(old) else {
      throw VaultError(.noSuchRecord, "no \(record.collection) record \(id) in this scope")
    }
    guard !schema.isAppendOnly else {
      throw VaultError(
        .policyViolation,
        "\(record.collection) are append-only financial records: record a correction (\"corrects\": \"\(id)\") instead"
      )
    }
    guard old.deletedAt == nil else {
      throw VaultError(.policyViolation, "project \(id) was deleted; it can no longer change")
    }
    try requireScope(scope, for: old)
    if let branch = record.branch, branch != old.branch {
      throw RecordValidation.failure("branch", "a record cannot move to another branch")
    }
    var updated = old
    updated.fields = Self.callerFields(record.fields, specs: schema.fields)
    for spec in schema.fields where spec.presence == .outputOnly || spec.presence == .internal {
      updated.fields[spec.tag] = old.fields[spec.tag]
    }
    try Self.checkStatusChange(updated, from: old)
    if let enforcedRole { updated = try FieldAccess.merged(updated, over: old, role: enforcedRole) }
    try checkReferences(of: updated, scope: scope)
    try RecordValidation.validate(updated)
    try checkUsersRoleAndBranch(updated)
    let underOverride = try checkDelivery(updated, previous: old)
    updated.version = old.version + 1
    updated.updatedAt = now
    try replaceTrusted(updated, previous: old)
    try auditUpdate(of: updated, previous: old)
    if underOverride { try audit(.deliveredUnderOverride, about: updated) }
    // What the role may not see was kept from the old record; it is not handed back.
    return visible(updated)
  }

  /// Removes a record whose collection allows it (engagements, media): its
  /// key is destroyed with it. Clients are erased (``RecordStore/eraseClient(_:scope:actor:)``),
  /// projects deleted (``deleteProject(_:scope:)``), financial records never go.
  ///
  /// - Returns: whether the record existed in `scope`.
  @discardableResult
  public func remove(_ collection: RecordCollection, _ id: RecordID, scope: Scope)
    throws(VaultError) -> Bool
  {
    switch collection {
    case .engagements, .media: break
    case .clients:
      throw VaultError(.policyViolation, "clients are not removed but erased (vault erase-client)")
    case .projects:
      throw VaultError(.policyViolation, "projects are removed by deletion (vault project delete)")
    default:
      throw VaultError(.policyViolation, "\(collection) records are never removed")
    }
    try requireWithin(scope)
    guard let record = try source.load(collection, id.bytes), scope.contains(record) else {
      return false
    }
    if let enforcedRole, let spec = record.schema.fields.first,
      let fieldClass = FieldAccess.fieldClass(collection, spec.name),
      FieldAccess.permission(enforcedRole, fieldClass) < .readWrite
    {
      throw VaultError(.policyViolation, "a \(enforcedRole) may not remove \(collection)")
    }
    if collection == .media, let project = record.reference("project"),
      try source.load(.projects, project.bytes)?["legalHold"] != nil
    {
      throw VaultError(
        .policyViolation, "project \(project) is under a legal hold: its media stay until released")
    }
    try removeTrusted(record)
    try audit(.recordRemoved, about: record)
    return true
  }

  /// Users are changed only through their own workflows (the granting rules,
  /// step-up), never by a role's generic write; refunds only through theirs.
  /// Status changes that decide vendor access go through their workflows: a project
  /// is completed by ``completeProject(_:scope:)`` (which ends its engagements) and stays
  /// completed; an ended or cancelled engagement is reopened only by an extension (a
  /// step-up, ``VaultHandle/extendEngagement(_:until:proof:)``).
  ///
  /// An engagement keeps its vendor and project (an extension must not move), and a
  /// media record its project (a legal hold must not be escaped by moving it).
  static func checkStatusChange(_ record: Record, from old: Record) throws(VaultError) {
    let status = record.text("status")
    let previous = old.text("status")
    if record.collection == .engagements,
      record["vendor"] != old["vendor"] || record["project"] != old["project"]
    {
      throw VaultError(
        .policyViolation, "an engagement keeps its vendor and project: record a new one instead")
    }
    if record.collection == .media, record["project"] != old["project"] {
      throw VaultError(.policyViolation, "media keep their project: record a new one instead")
    }
    switch record.collection {
    case .projects where status != previous:
      if previous == "completed" {
        throw VaultError(.policyViolation, "a completed project stays completed")
      }
      if status == "completed" {
        throw VaultError(
          .policyViolation,
          "a project is completed through completeProject (ending its vendors' access)")
      }
    case .engagements where status != previous:
      if (previous ?? "active") != "active" {
        throw VaultError(
          .policyViolation,
          "an engagement that ended is reopened only by extending it (with a step-up)")
      }
    default: break
    }
  }

  private func requireGenericWrite(_ collection: RecordCollection) throws(VaultError) {
    guard enforcedRole != nil else { return }
    switch collection {
    case .users:
      throw VaultError(.policyViolation, "users change through user add, role, disable, enable")
    case .refunds:
      throw VaultError(.policyViolation, "refunds are requested through requestRefund (step-up)")
    case .settings:
      throw VaultError(
        .policyViolation, "settings change through changeSettings(proof:_:), with a step-up")
    default: return
    }
  }

  // MARK: Audit

  /// Appends an entry about `record` (visible to its branch), with its collection and
  /// version as detail, sealed under the key of the client the record is about (so
  /// erasing them erases it), else of its branch.
  func audit(
    _ action: AuditAction, about record: Record, outcome: AuditOutcome = .success,
    detail extra: [String: JSON] = [:]
  ) throws(VaultError) {
    guard auditsEachWrite, let id = record.id else { return }
    var fields = extra
    fields["collection"] = .string(record.collection.rawValue)
    fields["version"] = .int(record.version)
    try audit(
      AuditDraft(
        action, actor: try auditActor(), branch: record.branch, outcome: outcome, targets: [id],
        detail: (Self.auditSubject(of: record), fields)))
  }

  static func auditSubject(of record: Record) -> AuditSubject {
    if record.collection == .clients, let id = record.id { return .client(id) }
    if case .bytes(let bytes)? = record["client"], let client = try? RecordID(bytes: bytes) {
      return .client(client)
    }
    return record.branch.map(AuditSubject.branch) ?? .organization
  }

  /// Appends `draft` to the audit log, in this transaction.
  func audit(_ draft: AuditDraft) throws(VaultError) {
    try source.sealed.audit(draft)
  }

  /// The acting user and their role, as the audit log records them; the engine itself
  /// when there is no user.
  func auditActor() throws(VaultError) -> AuditActor {
    if let resolvedAuditActor { return resolvedAuditActor }
    var resolved = AuditActor.system
    if let actor {
      let role = try source.load(.users, actor.bytes)?.text("role").flatMap(AuditRole.init(name:))
      guard let role else {
        throw VaultError(.noSuchRecord, "the acting user \(actor) does not exist")
      }
      resolved = .user(id: actor.bytes, role: role)
    }
    resolvedAuditActor = resolved
    return resolved
  }

  /// The entry a new record calls for: every financial record, and the records that
  /// shape who may do what (branches, users, engagements).
  private func auditCreation(of record: Record) throws(VaultError) {
    let action: AuditAction
    switch record.collection {
    case .branches: action = .branchCreated
    case .users: action = .userCreated
    case .payments: action = .paymentRecorded
    case .refunds: action = .refundRequested
    case .disputes: action = .disputeOpened
    case .engagements: action = .engagementCreated
    case .invoices, .contracts: action = .recordCreated
    case .settings, .clients, .projects, .media: return
    }
    try audit(action, about: record)
    if record.collection == .invoices, case .list(let discounts)? = record["discounts"],
      !discounts.isEmpty
    {
      try audit(
        .discountApplied, about: record, detail: ["discounts": .uint(UInt64(discounts.count))])
    }
  }

  /// The entry an update calls for, if any.
  private func auditUpdate(of record: Record, previous: Record) throws(VaultError) {
    switch record.collection {
    case .settings:
      try audit(.settingsChanged, about: record)
      // Roles newly required to have a second factor: the sessions of their members
      // who have none end now (their next login must enroll one).
      let required = Set(record.texts("requireTwoFactor")).subtracting(
        previous.texts("requireTwoFactor"))
      if !required.isEmpty { try revokeSessionsWithoutSecondFactor(roles: required) }
    case .users:
      let roleChanged = record.text("role") != previous.text("role")
      let disabled = record.text("status") == "disabled"
      let passwordChanged = record.text("passwordHash") != previous.text("passwordHash")
      if roleChanged { try audit(.roleChanged, about: record) }
      if record.text("status") != previous.text("status") {
        try audit(disabled ? .userDisabled : .userEnabled, about: record)
      }
      if passwordChanged { try audit(.passwordChanged, about: record) }
      // A role change, a disabled account and a new password end every session of
      // the user (../shared/spec/access.md, Sessions), in the same commit.
      if let id = record.id, roleChanged || disabled || passwordChanged,
        try SessionStore.revoke(of: id, in: source.sealed) > 0
      {
        try audit(.sessionRevoked, about: record)
      }
    case .engagements:
      let extended = record["extendedUntil"] != previous["extendedUntil"]
      try audit(extended ? .engagementExtended : .recordUpdated, about: record)
    case .contracts, .invoices, .payments, .refunds, .disputes:
      try audit(.recordUpdated, about: record)
    case .branches, .clients, .projects, .media:
      return
    }
  }

  /// Ends the sessions of users of `roles` who have no second factor.
  private func revokeSessionsWithoutSecondFactor(roles: Set<String>) throws(VaultError) {
    var users = [RecordID]()
    try source.scanIDs(.users, from: nil) { id throws(VaultError) in
      if let user = try source.load(.users, id), let role = user.text("role"),
        roles.contains(role), let userID = user.id
      {
        users.append(userID)
      }
      return true
    }
    let seeds = try source.sealed.transaction.anyTree(
      named: SealedStore.dataKeyTree(for: SecondFactor.keyCollection))
    for user in users
    where try seeds?.value(forKey: SecondFactor.seedKey(user, pending: false)) == nil {
      if try SessionStore.revoke(of: user, in: source.sealed) > 0 {
        try audit(
          AuditDraft(
            .sessionRevoked, actor: try auditActor(), targets: [user],
            detail: (.organization, ["reason": .string("requireTwoFactor")])))
      }
    }
  }

  // MARK: Engine internals

  /// Writes `record` and moves its index entries from `previous`'s to its own.
  func replaceTrusted(_ record: Record, previous: Record?) throws(VaultError) {
    guard let id = record.id else { throw VaultError(.internal, "storing a record without id") }
    let body = RecordEncoding.encode(record.storedFields(), schema: record.schema.version)
    let sealed = try source.sealed.put(body, id: id.bytes, in: record.collection.rawValue)
    let new = try source.indexes.entries(of: record)
    let old =
      try previous.map { (previous) throws(VaultError) in try source.indexes.entries(of: previous) }
      ?? (keys: [], names: [])
    let tree = try source.indexTree(record.collection)
    for key in old.keys where !new.keys.contains(key) {
      try source.removeIndexEntry(record.collection, key, from: tree)
    }
    for key in new.keys {
      // Day entries keep a copy of the sealed record (FORMAT.md 19.3): rewritten with
      // every version, so a date range reads the index alone.
      if RecordIndexes.isCovering(key) {
        try tree.insert(source.indexes.coveringValue(sealed), forKey: key)
      } else if !old.keys.contains(key) {
        try source.addIndexEntry(record.collection, key, to: tree)
      }
    }
    for name in old.names where !new.names.contains(name) { try tree.removeValue(forKey: name) }
    for name in new.names where !old.names.contains(name) {
      if let holder = try tree.value(forKey: name), holder != id.bytes {
        throw VaultError(
          .duplicateRecord,
          "another \(record.collection) record has the name \"\(record.text("name") ?? "")\"")
      }
      try tree.insert(id.bytes, forKey: name)
    }
  }

  /// Removes a record, its key and its index entries.
  func removeTrusted(_ record: Record) throws(VaultError) {
    guard let id = record.id else { return }
    let entries = try source.indexes.entries(of: record)
    let tree = try source.indexTree(record.collection)
    for key in entries.keys { try source.removeIndexEntry(record.collection, key, from: tree) }
    for name in entries.names { try tree.removeValue(forKey: name) }
    _ = try tree.removeValue(forKey: RecordIndexes.deletedProjectKey(id.bytes))
    try source.sealed.remove(id.bytes, in: record.collection.rawValue)
  }

  /// `fields` without what only the engine writes (output-only and internal fields,
  /// at any depth).
  static func callerFields(_ fields: FieldMap, specs: [FieldSpec]) -> FieldMap {
    var kept = FieldMap()
    for entry in fields.entries {
      let (tag, value) = (entry.tag, entry.value)
      guard let spec = specs.first(where: { $0.tag == tag }) else {
        kept[tag] = value  // unknown: validation names it
        continue
      }
      guard spec.presence != .outputOnly, spec.presence != .internal else { continue }
      kept[tag] = callerValue(value, type: spec.type)
    }
    return kept
  }

  private static func callerValue(_ value: FieldValue, type: FieldType) -> FieldValue {
    switch (value, type) {
    case (.object(let fields), .object(let specs)):
      return .object(callerFields(fields, specs: specs))
    case (.list(let items), .list(let itemType, _)):
      return .list(items.map { callerValue($0, type: itemType) })
    default: return value
    }
  }

  /// Sets what the engine records about a new record's origin.
  private func setEngineFields(_ record: inout Record) throws(VaultError) {
    switch record.collection {
    case .users:
      record["status"] = .string("active")
    case .refunds:
      record["state"] = .string("requested")
      if let actor { record["requester"] = .bytes(actor.bytes) }
    case .media:
      if let actor { record["uploader"] = .bytes(actor.bytes) }
    case .invoices:
      // Who applied each discount is the engine's record, not the caller's claim.
      guard let actor, let tag = record.schema.field("discounts")?.tag,
        case .list(let items)? = record.fields[tag]
      else { break }
      record.fields[tag] = .list(
        items.map { item in
          guard case .object(var fields) = item else { return item }
          fields[3] = .bytes(actor.bytes)
          return .object(fields)
        })
    default: break
    }
  }

  // MARK: Consistency checks

  /// The branch a new record belongs to.
  private func resolveBranch(of record: Record, scope: Scope) throws(VaultError) -> RecordID? {
    let collection = record.collection
    var branch = record.branch
    switch collection.schema.branchSource {
    case .none:
      return nil
    case .optional:
      break
    case .required:
      guard branch != nil else {
        throw RecordValidation.failure("branch", "required, but missing")
      }
    case .parent(let field):
      guard let spec = collection.schema.field(field),
        case .reference(let parentCollection) = spec.type,
        case .bytes(let parentID)? = record.fields[spec.tag]
      else { throw RecordValidation.failure(field, "required, but missing") }
      guard let parent = try loadReferenced(parentCollection, parentID, field: field),
        scope.contains(parent)
      else {
        throw RecordValidation.failure(field, "no such \(parentCollection.singular) in this scope")
      }
      if let given = branch, given != parent.branch {
        throw RecordValidation.failure(
          "branch", "differs from the \(parentCollection.singular)'s branch")
      }
      branch = parent.branch
    }
    guard let branch else { return nil }
    // Known branches are remembered for the transaction (a branch is never removed).
    if !knownBranches.contains(branch) {
      guard try source.load(.branches, branch.bytes) != nil else {
        throw RecordValidation.failure("branch", "no such branch in this scope")
      }
      knownBranches.insert(branch)
    }
    guard scope == .organization || scope == .branch(branch) else {
      throw RecordValidation.failure("branch", "no such branch in this scope")
    }
    return branch
  }

  /// Every record a top-level reference names must exist in `scope`, in the record's
  /// own branch (no record points across branches), and be alive.
  private func checkReferences(of record: Record, scope: Scope) throws(VaultError) {
    for spec in record.schema.fields where spec.presence != .outputOnly {
      guard case .reference(let target) = spec.type, case .bytes(let id)? = record.fields[spec.tag]
      else { continue }
      guard let referenced = try loadReferenced(target, id, field: spec.name) else {
        throw RecordValidation.failure(spec.name, "no such \(target.singular)")
      }
      if target == .users {
        if record.collection == .engagements, referenced.text("role") != "vendor" {
          throw RecordValidation.failure(spec.name, "the user is not a vendor")
        }
        continue
      }
      guard scope.contains(referenced), referenced.branch == record.branch else {
        throw RecordValidation.failure(spec.name, "no such \(target.singular) in this branch")
      }
      if referenced.deletedAt != nil, target == .projects {
        throw RecordValidation.failure(spec.name, "the project was deleted")
      }
      if try source.indexValue(target, RecordIndexes.deletedProjectKey(id)) != nil {
        throw RecordValidation.failure(spec.name, "belongs to a deleted project")
      }
      // A correction replaces a record of the same invoice or project, nothing else.
      if spec.name == "corrects" {
        for parent in ["project", "invoice"] where record.schema.field(parent) != nil {
          guard referenced.reference(parent) == record.reference(parent) else {
            throw RecordValidation.failure(spec.name, "corrects a record of another \(parent)")
          }
        }
      }
    }
    try checkBlob(of: record)
  }

  /// A media record's `blob` names a stored blob of the same project (FORMAT.md 24).
  private func checkBlob(of record: Record) throws(VaultError) {
    guard record.collection == .media, let text = record.text("blob") else { return }
    let id: RecordID
    do throws(VaultError) { id = try RecordID(text) } catch {
      throw RecordValidation.failure("blob", "not a blob id")
    }
    guard let blob = try source.sealed.blob(id), blob.manifest.state == .complete,
      blob.manifest.project == record.reference("project")?.bytes
    else { throw RecordValidation.failure("blob", "no such blob in this project") }
  }

  private func loadReferenced(_ collection: RecordCollection, _ id: [UInt8], field: String)
    throws(VaultError) -> Record?
  {
    do throws(VaultError) {
      return try source.load(collection, id)
    } catch  where error.code == .erased {
      throw RecordValidation.failure(field, "the \(collection.singular) was erased")
    }
  }

  /// Records of no branch (branches, the settings, owners, hq and vendors) are the
  /// organization's: only an organization-wide scope creates or changes them.
  private func requireScope(_ scope: Scope, for record: Record) throws(VaultError) {
    guard record.branch == nil, scope != .organization else { return }
    throw VaultError(
      .policyViolation,
      "only an organization-wide user may change \(record.collection) records of no branch")
  }

  /// Branch managers and staff belong to a branch; owners, hq and vendors to none.
  func checkUsersRoleAndBranch(_ record: Record) throws(VaultError) {
    guard record.collection == .users, let role = record.text("role") else { return }
    let needsBranch = role == "branchManager" || role == "staff"
    if needsBranch, record.branch == nil {
      throw RecordValidation.failure("branch", "required for the role \(role)")
    }
    if !needsBranch, record.branch != nil {
      throw RecordValidation.failure("branch", "the role \(role) belongs to no branch")
    }
  }
}

/// ``RecordSource`` over a write transaction.
struct TransactionSource: RecordSource {
  let indexes: RecordIndexes
  let sealed: SealedTransaction

  func body(_ collection: RecordCollection, _ id: [UInt8]) throws(VaultError) -> [UInt8]? {
    try sealed.get(id, in: collection.rawValue)
  }

  func indexTree(_ collection: RecordCollection) throws(VaultError) -> WriteTree {
    try sealed.tree(RecordIndexes.treeName(collection))
  }

  func scanIndex(
    _ collection: RecordCollection, from start: [UInt8], to end: [UInt8]?,
    _ body: ([UInt8], [UInt8]) throws(VaultError) -> Bool
  ) throws(VaultError) {
    guard let tree = try sealed.transaction.anyTree(named: RecordIndexes.treeName(collection))
    else { return }
    try Self.scanInBatches(tree, from: start, to: end, body)
  }

  /// Flushes the transaction's pending search entries first, so a search inside the
  /// transaction sees its own writes.
  func searchRuns(_ collection: RecordCollection) throws(VaultError) -> [UInt64] {
    try sealed.flushSearchEntries()
    return try sealed.searchRuns(collection)
  }

  func searchRunKeys(
    _ collection: RecordCollection, run: UInt64, from start: [UInt8], to end: [UInt8]?,
    limit: Int
  ) throws(VaultError) -> [[UInt8]] {
    try sealed.transaction.anyTree(named: SearchRuns.treeName(collection, run: run))?.keys(
      from: start, to: end, limit: limit) ?? []
  }

  func scanIDs(
    _ collection: RecordCollection, from start: [UInt8]?,
    _ body: ([UInt8]) throws(VaultError) -> Bool
  ) throws(VaultError) {
    guard let tree = try sealed.transaction.tree(named: collection.rawValue) else { return }
    try Self.scanInBatches(tree, from: start, to: nil) { key, _ throws(VaultError) in
      try body(key)
    }
  }

  /// Walks `tree` a batch at a time: the caller may write while walking (a scan
  /// forbids that), and a long range (day entries carry whole records) stays out of
  /// memory.
  private static func scanInBatches(
    _ tree: WriteTree, from start: [UInt8]?, to end: [UInt8]?,
    _ body: ([UInt8], [UInt8]) throws(VaultError) -> Bool
  ) throws(VaultError) {
    var from = start
    while true {
      var batch = [([UInt8], [UInt8])]()
      try tree.scanTyped(from: from, to: end) { key, value in
        batch.append((key, value))
        return batch.count < 256
      }
      for (key, value) in batch where try !body(key, value) { return }
      guard batch.count == 256, let last = batch.last?.0 else { return }
      from = last + [0]  // the next key after `last`
    }
  }

  func indexValue(_ collection: RecordCollection, _ key: [UInt8]) throws(VaultError) -> [UInt8]? {
    try sealed.transaction.anyTree(named: RecordIndexes.treeName(collection))?.value(forKey: key)
  }

  func open(_ collection: RecordCollection, _ id: [UInt8], sealed bytes: [UInt8])
    throws(VaultError) -> [UInt8]
  {
    try sealed.open(bytes, id: id, in: collection.rawValue)
  }

  /// Read each time: the transaction may change the settings.
  func defaultCurrency() throws(VaultError) -> Currency? { try currencyFromSettings() }
}

extension RecordCollection {
  /// One record's noun, for messages (`no such project`).
  var singular: String {
    switch self {
    case .settings: "settings"
    case .branches: "branch"
    case .users: "user"
    case .clients: "client"
    case .projects: "project"
    case .contracts: "contract"
    case .invoices: "invoice"
    case .payments: "payment"
    case .refunds: "refund"
    case .disputes: "dispute"
    case .engagements: "engagement"
    case .media: "media record"
    }
  }
}
