import VaultCore
import VaultFormat

// The typed collections. Each converts to and from ``Record`` by field name through
// its schema (Schemas.swift); ../shared/spec/records-json.md is the field reference.

/// A user's role (../shared/spec/access.md, Roles and scopes).
public enum Role: String, Sendable, CaseIterable { case owner, hq, branchManager, staff, vendor }
public enum ProjectKind: String, Sendable, CaseIterable {
  case wedding, portrait, commercial, event, other
}
public enum ProjectStatus: String, Sendable, CaseIterable {
  case inquiry, booked, inProgress, delivered, completed, cancelled
}
public enum SignatureStatus: String, Sendable, CaseIterable { case unsigned, sent, signed }
public enum InvoiceStatus: String, Sendable, CaseIterable { case draft, sent, paid, void }
public enum PaymentMethod: String, Sendable, CaseIterable { case card, bankTransfer, cash, other }
public enum RefundState: String, Sendable, CaseIterable {
  case requested, approved, rejected, executed
}
public enum DisputeStatus: String, Sendable, CaseIterable { case opened, won, lost }
public enum EngagementRole: String, Sendable, CaseIterable {
  case secondShooter, editor, assistant, other
}
public enum EngagementStatus: String, Sendable, CaseIterable { case active, ended, cancelled }
public enum MediaKind: String, Sendable, CaseIterable { case photo, video, raw, document }

/// A postal address (clients, branches).
public struct PostalAddress: Sendable, Equatable {
  public var line1, line2, city, region, postalCode, country: String?

  public init(
    line1: String? = nil, line2: String? = nil, city: String? = nil, region: String? = nil,
    postalCode: String? = nil, country: String? = nil
  ) {
    (self.line1, self.line2, self.city, self.region) = (line1, line2, city, region)
    (self.postalCode, self.country) = (postalCode, country)
  }

  init?(_ reader: FieldReader?) throws(VaultError) {
    guard let reader else { return nil }
    self.init(
      line1: try reader.string("line1"), line2: try reader.string("line2"),
      city: try reader.string("city"), region: try reader.string("region"),
      postalCode: try reader.string("postalCode"), country: try reader.string("country"))
  }

  func fields(_ writer: FieldWriter) -> FieldMap {
    var writer = writer
    writer.set("line1", line1)
    writer.set("line2", line2)
    writer.set("city", city)
    writer.set("region", region)
    writer.set("postalCode", postalCode)
    writer.set("country", country)
    return writer.fields
  }
}

/// The organization's settings.
public struct OrganizationSettings: StudioRecord {
  public static let collection = RecordCollection.settings
  public var meta = RecordMeta()
  public var currency: String
  public var branchRefundLimit, hqRefundLimit: Money?
  public var billingEnforcement, allowOwnerSelfApproval: Bool?
  public var requireTwoFactor: [Role] = []
  public var stepUpMinutes: Int64?
  /// Caps on sessions, in days, tighter than the policy's 90 (and 365 remembered).
  public var sessionCapDays, rememberedSessionCapDays: Int64?

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    currency = try read.required("currency")
    branchRefundLimit = try read.money("branchRefundLimit")
    hqRefundLimit = try read.money("hqRefundLimit")
    billingEnforcement = try read.bool("billingEnforcement")
    allowOwnerSelfApproval = try read.bool("allowOwnerSelfApproval")
    requireTwoFactor = try read.strings("requireTwoFactor").compactMap(Role.init(rawValue:))
    stepUpMinutes = try read.integer("stepUpMinutes")
    sessionCapDays = try read.integer("sessionCapDays")
    rememberedSessionCapDays = try read.integer("rememberedSessionCapDays")
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("currency", currency)
    write.set("branchRefundLimit", branchRefundLimit)
    write.set("hqRefundLimit", hqRefundLimit)
    write.set("billingEnforcement", billingEnforcement)
    write.set("allowOwnerSelfApproval", allowOwnerSelfApproval)
    write.set("requireTwoFactor", requireTwoFactor.map(\.rawValue))
    write.set("stepUpMinutes", stepUpMinutes)
    write.set("sessionCapDays", sessionCapDays)
    write.set("rememberedSessionCapDays", rememberedSessionCapDays)
    return makeRecord(write.fields)
  }
}

public struct Branch: StudioRecord {
  public static let collection = RecordCollection.branches
  public var meta = RecordMeta()
  public var name: String
  public var address: PostalAddress?
  public var timeZone: String?

  public init(name: String, address: PostalAddress? = nil, timeZone: String? = nil) {
    (self.name, self.address, self.timeZone) = (name, address, timeZone)
  }

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    name = try read.required("name")
    address = try PostalAddress(try read.object("address"))
    timeZone = try read.string("timeZone")
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("name", name)
    write.set("address", object: address?.fields(write.nested("address")))
    write.set("timeZone", timeZone)
    return makeRecord(write.fields)
  }
}

public struct User: StudioRecord {
  public static let collection = RecordCollection.users
  public var meta = RecordMeta()
  public var name: String
  public var role: Role
  public var email: String?
  /// `active` or `disabled` (written by the engine).
  public private(set) var status: String?

  public init(name: String, role: Role, email: String? = nil, branch: RecordID? = nil) {
    (self.name, self.role, self.email) = (name, role, email)
    meta.branch = branch
  }

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    name = try read.required("name")
    guard let role = try read.choice("role", as: Role.self) else {
      throw VaultError(.corrupt, "a stored user has no role")
    }
    self.role = role
    email = try read.string("email")
    status = try read.string("status")
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("name", name)
    write.set("role", role)
    write.set("email", email)
    write.set("status", status)
    return makeRecord(write.fields)
  }
}

public struct Client: StudioRecord {
  public static let collection = RecordCollection.clients
  public var meta = RecordMeta()
  public var displayName: String
  public var emails: [String] = []
  public var phones: [String] = []
  public var address: PostalAddress?
  public var notes, leadSource: String?
  public var tags: [String] = []
  /// Payments less executed refunds, derived when asked for
  /// (``RecordSnapshot/withDerivedFields(_:scope:)``), never stored.
  public private(set) var lifetimeValue: Money?

  public init(displayName: String, branch: RecordID) {
    self.displayName = displayName
    meta.branch = branch
  }

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    displayName = try read.required("displayName")
    emails = try read.strings("emails")
    phones = try read.strings("phones")
    address = try PostalAddress(try read.object("address"))
    notes = try read.string("notes")
    leadSource = try read.string("leadSource")
    tags = try read.strings("tags")
    lifetimeValue = try read.money("lifetimeValue")
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("displayName", displayName)
    write.set("emails", emails)
    write.set("phones", phones)
    write.set("address", object: address?.fields(write.nested("address")))
    write.set("notes", notes)
    write.set("leadSource", leadSource)
    write.set("tags", tags)
    write.set("lifetimeValue", lifetimeValue)
    return makeRecord(write.fields)
  }
}

public struct Project: StudioRecord {
  public struct Session: Sendable, Equatable {
    public var start: Timestamp
    public var end: Timestamp?
    public var location: String?
    public init(start: Timestamp, end: Timestamp? = nil, location: String? = nil) {
      (self.start, self.end, self.location) = (start, end, location)
    }
  }
  /// The person to call on the event day (personal data: erased with the client).
  public struct Contact: Sendable, Equatable {
    public var name, phone: String?
    public init(name: String? = nil, phone: String? = nil) {
      (self.name, self.phone) = (name, phone)
    }
  }

  /// A legal hold (set by ``VaultHandle/placeLegalHold(on:reason:proof:)``, seen by
  /// owners and hq).
  public struct LegalHold: Sendable, Equatable {
    public var reason: String?
    public var placedBy: RecordID?
    public var placedAt: Timestamp?
  }

  public static let collection = RecordCollection.projects
  public var meta = RecordMeta()
  public var title: String
  public var client: RecordID
  public var kind: ProjectKind?
  public var status: ProjectStatus?
  public var sessions: [Session] = []
  public var onSiteContact: Contact?
  public var package: String?
  public var deliverables: [String] = []
  public var shotList: [String] = []
  public private(set) var legalHold: LegalHold?

  public init(title: String, client: RecordID, branch: RecordID) {
    (self.title, self.client) = (title, client)
    meta.branch = branch
  }

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    title = try read.required("title")
    guard let client = try read.id("client") else {
      throw VaultError(.corrupt, "a stored project has no client")
    }
    self.client = client
    kind = try read.choice("kind", as: ProjectKind.self)
    status = try read.choice("status", as: ProjectStatus.self)
    for session in try read.objects("sessions") {
      guard let start = try session.time("start") else {
        throw VaultError(.corrupt, "a stored session has no start")
      }
      sessions.append(
        Session(
          start: start, end: try session.time("end"), location: try session.string("location")))
    }
    if let contact = try read.object("onSiteContact") {
      onSiteContact = Contact(name: try contact.string("name"), phone: try contact.string("phone"))
    }
    package = try read.string("package")
    deliverables = try read.strings("deliverables")
    shotList = try read.strings("shotList")
    if let hold = try read.object("legalHold") {
      legalHold = LegalHold(
        reason: try hold.string("reason"), placedBy: try hold.id("placedBy"),
        placedAt: try hold.time("placedAt"))
    }
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("title", title)
    write.set("client", client)
    write.set("kind", kind)
    write.set("status", status)
    write.set(
      "sessions",
      objects: sessions.map { session in
        var item = write.nested("sessions")
        item.set("start", session.start)
        item.set("end", session.end)
        item.set("location", session.location)
        return item.fields
      })
    var contact = write.nested("onSiteContact")
    contact.set("name", onSiteContact?.name)
    contact.set("phone", onSiteContact?.phone)
    write.set("onSiteContact", object: onSiteContact.map { _ in contact.fields })
    write.set("package", package)
    write.set("deliverables", deliverables)
    write.set("shotList", shotList)
    var hold = write.nested("legalHold")
    hold.set("reason", legalHold?.reason)
    hold.set("placedBy", legalHold?.placedBy)
    hold.set("placedAt", legalHold?.placedAt)
    write.set("legalHold", object: legalHold.map { _ in hold.fields })
    return makeRecord(write.fields)
  }
}

public struct Contract: StudioRecord {
  public static let collection = RecordCollection.contracts
  public var meta = RecordMeta()
  public var project: RecordID
  public var value: Money
  public var terms: String?
  public var signatureStatus: SignatureStatus?
  public var signedAt: Timestamp?

  public init(project: RecordID, value: Money) { (self.project, self.value) = (project, value) }

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    guard let project = try read.id("project"), let value = try read.money("value") else {
      throw VaultError(.corrupt, "a stored contract lacks its project or value")
    }
    (self.project, self.value) = (project, value)
    terms = try read.string("terms")
    signatureStatus = try read.choice("signatureStatus", as: SignatureStatus.self)
    signedAt = try read.time("signedAt")
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("project", project)
    write.set("value", value)
    write.set("terms", terms)
    write.set("signatureStatus", signatureStatus)
    write.set("signedAt", signedAt)
    return makeRecord(write.fields)
  }
}

public struct Invoice: StudioRecord {
  public struct LineItem: Sendable, Equatable {
    public var description: String
    public var amount: Money
    public init(description: String, amount: Money) {
      (self.description, self.amount) = (description, amount)
    }
  }
  public struct Discount: Sendable, Equatable {
    public var amount: Money
    public var reason: String
    /// Who applied it: the engine records the acting user.
    public internal(set) var appliedBy: RecordID?
    public init(amount: Money, reason: String) { (self.amount, self.reason) = (amount, reason) }
  }

  public static let collection = RecordCollection.invoices
  public var meta = RecordMeta()
  public var project: RecordID
  public var lineItems: [LineItem]
  public var discounts: [Discount] = []
  public var dueDate: Day?
  public var status: InvoiceStatus?
  /// The invoice this one corrects (financial records are append-only).
  public var corrects: RecordID?

  public init(project: RecordID, lineItems: [LineItem]) {
    (self.project, self.lineItems) = (project, lineItems)
  }

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    guard let project = try read.id("project") else {
      throw VaultError(.corrupt, "a stored invoice has no project")
    }
    self.project = project
    lineItems = []
    for item in try read.objects("lineItems") {
      guard let description = try item.string("description"), let amount = try item.money("amount")
      else { throw VaultError(.corrupt, "a stored line item is incomplete") }
      lineItems.append(LineItem(description: description, amount: amount))
    }
    for item in try read.objects("discounts") {
      guard let amount = try item.money("amount"), let reason = try item.string("reason") else {
        throw VaultError(.corrupt, "a stored discount is incomplete")
      }
      var discount = Discount(amount: amount, reason: reason)
      discount.appliedBy = try item.id("appliedBy")
      discounts.append(discount)
    }
    dueDate = try read.date("dueDate")
    status = try read.choice("status", as: InvoiceStatus.self)
    corrects = try read.id("corrects")
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("project", project)
    write.set(
      "lineItems",
      objects: lineItems.map { line in
        var item = write.nested("lineItems")
        item.set("description", line.description)
        item.set("amount", line.amount)
        return item.fields
      })
    write.set(
      "discounts",
      objects: discounts.map { discount in
        var item = write.nested("discounts")
        item.set("amount", discount.amount)
        item.set("reason", discount.reason)
        item.set("appliedBy", discount.appliedBy)
        return item.fields
      })
    write.set("dueDate", dueDate)
    write.set("status", status)
    write.set("corrects", corrects)
    return makeRecord(write.fields)
  }
}

public struct Payment: StudioRecord {
  public static let collection = RecordCollection.payments
  public var meta = RecordMeta()
  public var invoice: RecordID
  public var amount: Money
  public var method: PaymentMethod?
  public var gatewayReference: String?
  public var receivedAt: Timestamp?
  public var corrects: RecordID?

  public init(invoice: RecordID, amount: Money) { (self.invoice, self.amount) = (invoice, amount) }

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    guard let invoice = try read.id("invoice"), let amount = try read.money("amount") else {
      throw VaultError(.corrupt, "a stored payment lacks its invoice or amount")
    }
    (self.invoice, self.amount) = (invoice, amount)
    method = try read.choice("method", as: PaymentMethod.self)
    gatewayReference = try read.string("gatewayReference")
    receivedAt = try read.time("receivedAt")
    corrects = try read.id("corrects")
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("invoice", invoice)
    write.set("amount", amount)
    write.set("method", method)
    write.set("gatewayReference", gatewayReference)
    write.set("receivedAt", receivedAt)
    write.set("corrects", corrects)
    return makeRecord(write.fields)
  }
}

/// A refund; its state, requester, approver, gateway reference and execution time come
/// from the refund workflow (the access layer), never from the caller.
public struct Refund: StudioRecord {
  public static let collection = RecordCollection.refunds
  public var meta = RecordMeta()
  public var payment: RecordID
  public var amount: Money
  public var reason: String
  public private(set) var state: RefundState?
  public private(set) var requester, approver: RecordID?
  public private(set) var gatewayReference: String?
  public private(set) var executedAt: Timestamp?
  /// Why the approver approved or rejected it, when they said.
  public private(set) var decisionReason: String?

  public init(payment: RecordID, amount: Money, reason: String) {
    (self.payment, self.amount, self.reason) = (payment, amount, reason)
  }

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    guard let payment = try read.id("payment"), let amount = try read.money("amount"),
      let reason = try read.string("reason")
    else { throw VaultError(.corrupt, "a stored refund is incomplete") }
    (self.payment, self.amount, self.reason) = (payment, amount, reason)
    state = try read.choice("state", as: RefundState.self)
    requester = try read.id("requester")
    approver = try read.id("approver")
    gatewayReference = try read.string("gatewayReference")
    executedAt = try read.time("executedAt")
    decisionReason = try read.string("decisionReason")
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("payment", payment)
    write.set("amount", amount)
    write.set("reason", reason)
    write.set("state", state)
    write.set("requester", requester)
    write.set("approver", approver)
    write.set("gatewayReference", gatewayReference)
    write.set("executedAt", executedAt)
    write.set("decisionReason", decisionReason)
    return makeRecord(write.fields)
  }
}

/// A chargeback.
public struct Dispute: StudioRecord {
  public static let collection = RecordCollection.disputes
  public var meta = RecordMeta()
  public var payment: RecordID
  public var amount: Money
  public var reason: String
  public var status: DisputeStatus?
  public var gatewayReference: String?
  public var openedAt, closedAt: Timestamp?

  public init(payment: RecordID, amount: Money, reason: String) {
    (self.payment, self.amount, self.reason) = (payment, amount, reason)
  }

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    guard let payment = try read.id("payment"), let amount = try read.money("amount"),
      let reason = try read.string("reason")
    else { throw VaultError(.corrupt, "a stored dispute is incomplete") }
    (self.payment, self.amount, self.reason) = (payment, amount, reason)
    status = try read.choice("status", as: DisputeStatus.self)
    gatewayReference = try read.string("gatewayReference")
    openedAt = try read.time("openedAt")
    closedAt = try read.time("closedAt")
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("payment", payment)
    write.set("amount", amount)
    write.set("reason", reason)
    write.set("status", status)
    write.set("gatewayReference", gatewayReference)
    write.set("openedAt", openedAt)
    write.set("closedAt", closedAt)
    return makeRecord(write.fields)
  }
}

/// A vendor on a project.
public struct Engagement: StudioRecord {
  public static let collection = RecordCollection.engagements
  public var meta = RecordMeta()
  public var vendor: RecordID
  public var project: RecordID
  public var role: EngagementRole
  public var rate: Money?
  public var start, end: Day?
  public var status: EngagementStatus?
  public private(set) var extendedUntil: Day?

  public init(vendor: RecordID, project: RecordID, role: EngagementRole) {
    (self.vendor, self.project, self.role) = (vendor, project, role)
  }

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    guard let vendor = try read.id("vendor"), let project = try read.id("project"),
      let role = try read.choice("role", as: EngagementRole.self)
    else { throw VaultError(.corrupt, "a stored engagement is incomplete") }
    (self.vendor, self.project, self.role) = (vendor, project, role)
    rate = try read.money("rate")
    start = try read.date("start")
    end = try read.date("end")
    status = try read.choice("status", as: EngagementStatus.self)
    extendedUntil = try read.date("extendedUntil")
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("vendor", vendor)
    write.set("project", project)
    write.set("role", role)
    write.set("rate", rate)
    write.set("start", start)
    write.set("end", end)
    write.set("status", status)
    write.set("extendedUntil", extendedUntil)
    return makeRecord(write.fields)
  }
}

/// The metadata of an upload.
public struct Media: StudioRecord {
  public static let collection = RecordCollection.media
  public var meta = RecordMeta()
  public var project: RecordID
  public var fileName: String
  public var kind: MediaKind?
  public var size: Int64?
  public var capturedAt: Timestamp?
  public var camera: String?
  public var width, height: Int64?
  public var blob, contentHash: String?
  public var tags: [String] = []
  public var selected, delivered: Bool?
  public private(set) var uploader: RecordID?

  public init(project: RecordID, fileName: String) {
    (self.project, self.fileName) = (project, fileName)
  }

  public init(_ record: Record) throws(VaultError) {
    try Self.require(record)
    let read = FieldReader(record)
    meta = RecordMeta(record)
    guard let project = try read.id("project") else {
      throw VaultError(.corrupt, "a stored media record has no project")
    }
    self.project = project
    fileName = try read.required("fileName")
    kind = try read.choice("kind", as: MediaKind.self)
    size = try read.integer("size")
    capturedAt = try read.time("capturedAt")
    camera = try read.string("camera")
    width = try read.integer("width")
    height = try read.integer("height")
    blob = try read.string("blob")
    contentHash = try read.string("contentHash")
    tags = try read.strings("tags")
    selected = try read.bool("selected")
    delivered = try read.bool("delivered")
    uploader = try read.id("uploader")
  }

  public var record: Record {
    var write = FieldWriter(Self.collection)
    write.set("project", project)
    write.set("fileName", fileName)
    write.set("kind", kind)
    write.set("size", size)
    write.set("capturedAt", capturedAt)
    write.set("camera", camera)
    write.set("width", width)
    write.set("height", height)
    write.set("blob", blob)
    write.set("contentHash", contentHash)
    write.set("tags", tags)
    write.set("selected", selected)
    write.set("delivered", delivered)
    write.set("uploader", uploader)
    return makeRecord(write.fields)
  }
}

// MARK: Typed reads and writes

extension RecordTransaction {
  /// Stores a new typed record (see ``insert(_:scope:)``); returns it as stored.
  @discardableResult
  public func insert<Value: StudioRecord>(_ value: Value, scope: Scope)
    throws(VaultError) -> Value
  {
    try Value(insert(value.record, scope: scope))
  }

  /// Updates a typed record (see ``update(_:scope:)``); returns it as stored.
  @discardableResult
  public func update<Value: StudioRecord>(_ value: Value, scope: Scope)
    throws(VaultError) -> Value
  {
    try Value(update(value.record, scope: scope))
  }

  /// The typed record `id`, if it exists in `scope`.
  public func get<Value: StudioRecord>(
    _ type: Value.Type, _ id: RecordID, scope: Scope
  )
    throws(VaultError) -> Value?
  {
    try get(Value.collection, id, scope: scope).map { (record) throws(VaultError) in
      try Value(record)
    }
  }
}

extension RecordSnapshot {
  /// The typed record `id`, if it exists in `scope`.
  @_spi(Engine) public func get<Value: StudioRecord>(
    _ type: Value.Type, _ id: RecordID, scope: Scope
  )
    throws(VaultError) -> Value?
  {
    try get(Value.collection, id, scope: scope).map { (record) throws(VaultError) in
      try Value(record)
    }
  }
}
