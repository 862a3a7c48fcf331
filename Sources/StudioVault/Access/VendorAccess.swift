import VaultCore
import VaultFormat

/// What a vendor reaches (../shared/spec/access.md, Vendors and the matrix's vendor
/// column): the projects it has an engagement on that is active today, and around
/// them only the names the work needs. Computed afresh from the snapshot at every
/// operation, so an engagement ended by a project's completion (a commit) ends access
/// at the next call.
///
/// An engagement is active when its status is `active`, today lies within its start
/// and end (when set), its project exists and is not deleted, and the project is not
/// completed, unless the engagement was extended through today.
struct VendorView: Sendable {
  let vendor: RecordID
  let today: Day
  private(set) var projects: Set<RecordID> = []
  /// The vendor's own active engagements.
  private(set) var engagements: Set<RecordID> = []
  private(set) var clients: Set<RecordID> = []
  private(set) var branches: Set<RecordID> = []
  /// The vendor and the other vendors actively engaged on the same projects.
  private(set) var crew: Set<RecordID> = []
  /// Media the vendor itself uploaded into those projects (its receipts).
  private(set) var uploads: Set<RecordID> = []

  init(vendor: RecordID, today: Day, source: some RecordSource) throws(VaultError) {
    self.vendor = vendor
    self.today = today
    crew.insert(vendor)
    for id in try source.referencing(.engagements, field: "vendor", vendor) {
      guard let engagement = try source.load(.engagements, id.bytes),
        let projectID = engagement.reference("project"),
        let project = try source.load(.projects, projectID.bytes),
        Self.isActive(engagement, project: project, today: today)
      else { continue }
      engagements.insert(id)
      projects.insert(projectID)
      if let client = project.reference("client") { clients.insert(client) }
      if let branch = project.branch { branches.insert(branch) }
    }
    for project in projects {
      let record = try source.load(.projects, project.bytes)
      for id in try source.referencing(.engagements, field: "project", project) {
        guard let engagement = try source.load(.engagements, id.bytes),
          let other = engagement.reference("vendor"),
          Self.isActive(engagement, project: record, today: today)
        else { continue }
        crew.insert(other)
      }
      for id in try source.referencing(.media, field: "project", project) {
        guard let media = try source.load(.media, id.bytes),
          media["uploader"] == .bytes(vendor.bytes)
        else { continue }
        uploads.insert(id)
      }
    }
  }

  /// Whether `engagement`, on `project`, grants access today.
  static func isActive(_ engagement: Record, project: Record?, today: Day) -> Bool {
    guard (engagement.text("status") ?? "active") == "active" else { return false }
    if case .date(let start)? = engagement["start"], today.daysSince1970 < start { return false }
    if case .date(let end)? = engagement["end"], today.daysSince1970 > end { return false }
    guard let project, project.deletedAt == nil else { return false }
    if project.text("status") == "completed" {
      guard case .date(let until)? = engagement["extendedUntil"], today.daysSince1970 <= until
      else { return false }
    }
    return true
  }

  /// The ids of `collection` the vendor reaches.
  func ids(_ collection: RecordCollection) -> Set<RecordID> {
    switch collection {
    case .projects: projects
    case .engagements: engagements
    case .clients: clients
    case .branches: branches
    case .users: crew
    case .media: uploads
    case .settings, .contracts, .invoices, .payments, .refunds, .disputes: []
    }
  }

  /// The fields a vendor reads, by collection, as the matrix's vendor column names
  /// them; everything else is absent (where the policy is silent, deny: a project's
  /// kind, status and package, an engagement's status).
  static let readable: [RecordCollection: Set<String>] = [
    .branches: ["name"],
    // Crew names.
    .users: ["name"],
    .clients: ["displayName"],
    // Title, dates, locations, schedule, shot list, on-site contact, deliverables, and
    // which client (whose name the vendor reads) it is for.
    .projects: ["title", "client", "sessions", "onSiteContact", "shotList", "deliverables"],
    // Its own engagements only: who, role, dates, its own rate.
    .engagements: ["vendor", "project", "role", "rate", "start", "end", "extendedUntil"],
    // An upload's receipt (the record's id is the upload id): size and content hash.
    .media: ["size", "contentHash"],
  ]

  /// `record` as a vendor may see it: the readable fields, and not who created it.
  static func projected(_ record: Record) -> Record {
    let readable = readable[record.collection] ?? []
    var visible = record
    for spec in record.schema.fields where !readable.contains(spec.name) {
      visible.fields[spec.tag] = nil
    }
    visible.createdBy = nil
    return visible
  }
}

extension VaultHandle {
  /// Whether the handle is a vendor's (its reach is ``VendorView``, not a scope).
  @_spi(Engine) public var isVendor: Bool { principal.role == "vendor" }

  /// The vendor's view of `source` at the handle's clock.
  func vendorView(_ source: some RecordSource) throws(VaultError) -> VendorView {
    try VendorView(
      vendor: principal.user, today: Timestamp(milliseconds: now()).day, source: source)
  }

  /// The vendor's view of `snapshot`, computed once per commit and day.
  func vendorView(_ snapshot: RecordSnapshot) throws(VaultError) -> VendorView {
    let transaction = snapshot.source.sealed.snapshot.transactionID
    let today = Timestamp(milliseconds: now()).day
    if let cached = vendorCache.withLock({ $0 }), cached.transaction == transaction,
      cached.view.today == today
    {
      return cached.view
    }
    let view = try VendorView(vendor: principal.user, today: today, source: snapshot.source)
    vendorCache.withLock { $0 = (transaction, view) }
    return view
  }

  func vendorGet(_ collection: RecordCollection, _ id: RecordID) throws(VaultError) -> Record? {
    try store.read { snapshot throws(VaultError) -> Record? in
      let view = try vendorView(snapshot)
      guard view.ids(collection).contains(id),
        let record = try snapshot.source.load(collection, id.bytes)
      else { return nil }
      return VendorView.projected(record)
    }
  }

  /// A page of what the vendor reaches, in id order. Filters apply to the projected
  /// record, so none can tell a hidden value.
  func vendorList(
    _ collection: RecordCollection, filter: RecordFilter, after cursor: String?, limit: Int,
    matching words: [String]? = nil
  ) throws(VaultError) -> RecordPage {
    guard limit > 0 else { throw VaultError(.invalidArgument, "a page holds at least one record") }
    if words != nil,
      !collection.schema.indexes.contains(where: { if case .search = $0 { true } else { false } })
    {
      throw VaultError(.invalidArgument, "\(collection) cannot be searched")
    }
    let start = try cursor.map { (text) throws(VaultError) in try SnapshotSource.decodeCursor(text)
    }
    return try store.read { snapshot throws(VaultError) -> RecordPage in
      let view = try vendorView(snapshot)
      let ids = view.ids(collection).map(\.bytes).filter { id in
        start.map { SnapshotSource.less($0, id) } ?? true
      }.sorted(by: SnapshotSource.less)
      var page = RecordPage(records: [], nextCursor: nil)
      for id in ids {
        guard let record = try snapshot.source.load(collection, id) else { continue }
        let visible = VendorView.projected(record)
        guard try Self.matches(visible, filter), try Self.matches(visible, words) else { continue }
        page.records.append(visible)
        if page.records.count == limit {
          page.nextCursor = SnapshotSource.encodeCursor(id)
          break
        }
      }
      return page
    }
  }

  /// Whether a (projected) record passes `filter`.
  private static func matches(_ record: Record, _ filter: RecordFilter) throws(VaultError) -> Bool {
    switch filter {
    case .all: return true
    case .branch(let branch): return record.branch == branch
    case .reference(let field, let target): return record.reference(field) == target
    case .choice(let field, let value): return record.text(field) == value
    case .days(let days):
      guard record.collection == .projects else {
        throw VaultError(.invalidArgument, "\(record.collection) are not listed by date")
      }
      return try RecordIndexes.days(of: record, list: "sessions", field: "start").contains {
        days.contains(Day(daysSince1970: $0))
      }
    }
  }

  /// Whether every search word begins a word of the (projected) record's names.
  private static func matches(_ record: Record, _ words: [String]?) throws(VaultError) -> Bool {
    guard let words else { return true }
    for case .search(let names, let emails, let phones) in record.schema.indexes {
      let recordWords = try RecordIndexes.searchWords(
        of: record, names: names, emails: emails, phones: phones)
      return words.allSatisfy { word in recordWords.contains { $0.hasPrefix(word) } }
    }
    return false
  }
}
