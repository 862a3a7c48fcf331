import VaultCore
import VaultFormat
import VaultStorage

/// What deleting a project removed and kept (../shared/spec/access.md, Project
/// deletion); the audit entry carries these counts.
public struct ProjectDeletionReport: Sendable, Equatable {
  /// Sessions, shot-list items and on-site contact fields dropped from the project.
  public var sessionsRemoved = 0
  public var shotListItemsRemoved = 0
  public var mediaRemoved = 0
  /// Financial records and engagements kept, marked as belonging to a deleted project.
  public var retained: [RecordCollection: Int] = [:]
  /// Upload blobs deleted with the project (nothing protected them), and those kept
  /// until their retention ends or their hold is released.
  public var blobsDeleted = 0
  public var blobsRetained = 0
}

/// What completing a project did.
public struct ProjectCompletionReport: Sendable, Equatable {
  /// Vendor engagements ended by the completion (vendor access ends with it).
  public var engagementsEnded = 0
  /// Whether the delivery went through under a branch's billing override (audited).
  public var underBillingOverride = false
}

/// What erasing a client destroyed.
public struct ClientErasureReport: Sendable, Equatable {
  /// Projects whose personal fields (on-site contact) were removed.
  public var projectsScrubbed = 0
  /// Upload blobs of the client's projects deleted (keys destroyed), and those kept
  /// because retention still protects them.
  public var blobsDeleted = 0
  public var blobsRetained = 0
  /// Free pages zeroed after the commit, so no older copy survives in the file.
  public var pagesZeroed = 0
}

extension RecordTransaction {
  // MARK: Billing enforcement

  /// Refuses to make a project (or a media record) delivered while the project has an
  /// unpaid invoice, unless the organization does not enforce billing or the branch has
  /// a current override.
  ///
  /// - Returns: whether the delivery goes through under an override.
  @discardableResult
  func checkDelivery(_ record: Record, previous: Record?) throws(VaultError) -> Bool {
    let delivered = ["delivered", "completed"]
    let project: RecordID
    switch record.collection {
    case .projects:
      guard let status = record.text("status"), delivered.contains(status),
        !delivered.contains(previous?.text("status") ?? "")
      else { return false }
      guard let id = record.id else { return false }
      project = id
    case .media:
      guard record.bool("delivered") == true, previous?.bool("delivered") != true,
        let id = record.reference("project")
      else { return false }
      project = id
    default:
      return false
    }
    guard try source.settings().bool("billingEnforcement") ?? true else { return false }
    let unpaid = try unpaidInvoices(of: project)
    guard !unpaid.isEmpty else { return false }
    if let branch = record.branch, let stored = try source.load(.branches, branch.bytes),
      case .object(let override)? = stored["billingOverride"], case .date(let until)? = override[2],
      until >= now.day.daysSince1970
    {
      return true
    }
    throw VaultError(
      .policyViolation,
      "project \(project) has \(unpaid.count) unpaid invoice\(unpaid.count == 1 ? "" : "s"):"
        + " delivery waits for payment (billing enforcement is on for its branch)")
  }

  /// Invoices of `project` still owed: not void, not replaced by a correction (of the
  /// same project), and not covered by payments less executed refunds. Whether an
  /// invoice is paid comes from its payments only: a `paid` status settles nothing.
  func unpaidInvoices(of project: RecordID) throws(VaultError) -> [RecordID] {
    var unpaid = [RecordID]()
    for invoiceID in try source.referencing(.invoices, field: "project", project) {
      guard let invoice = try source.load(.invoices, invoiceID.bytes) else { continue }
      guard invoice.text("status") != "void",
        try source.referencing(.invoices, field: "corrects", invoiceID).isEmpty
      else { continue }
      let total = try Self.total(of: invoice)
      var paid = Money.zero(total.currency)
      for paymentID in try source.referencing(.payments, field: "invoice", invoiceID) {
        guard try source.referencing(.payments, field: "corrects", paymentID).isEmpty,
          let payment = try source.load(.payments, paymentID.bytes),
          let amount = payment.money("amount"),
          amount.currency == total.currency
        else { continue }
        paid = try paid.adding(amount)
        for refundID in try source.referencing(.refunds, field: "payment", paymentID) {
          if let refund = try source.load(.refunds, refundID.bytes),
            refund.text("state") == "executed",
            let refunded = refund.money("amount"), refunded.currency == total.currency
          {
            paid = try paid.subtracting(refunded)
          }
        }
      }
      if paid.minorUnits < total.minorUnits { unpaid.append(invoiceID) }
    }
    return unpaid
  }

  /// An invoice's line items less its discounts.
  static func total(of invoice: Record) throws(VaultError) -> Money {
    func amounts(_ field: String, _ tag: UInt16) -> [Money] {
      guard case .list(let items)? = invoice[field] else { return [] }
      return items.compactMap { item in
        guard case .object(let fields) = item, case .money(let units, let code)? = fields[tag],
          let currency = try? Currency(code)
        else { return nil }
        return Money(minorUnits: units, currency: currency)
      }
    }
    let lines = amounts("lineItems", 2)
    guard let currency = lines.first?.currency else {
      throw RecordValidation.failure("lineItems", "an invoice needs at least one line item")
    }
    do throws(VaultError) {
      let discounts = try Money.sum(amounts("discounts", 1), in: currency)
      let total = try Money.sum(lines, in: currency).subtracting(discounts)
      guard total.minorUnits >= 0 else {
        throw VaultError(.invalidRecord, "the discounts exceed the line items")
      }
      return total
    } catch {
      throw RecordValidation.failure("lineItems", error.message)
    }
  }

  // MARK: Project completion and deletion

  /// Completes a project (billing enforcement applies, as for delivery) and ends its
  /// active vendor engagements, except those extended past today.
  @_spi(Engine) public func completeProject(_ id: RecordID, scope: Scope) throws(VaultError)
    -> ProjectCompletionReport
  {
    try requireWithin(scope)
    if let enforcedRole, FieldAccess.permission(enforcedRole, .projectSchedule) < .readWrite {
      throw VaultError(.policyViolation, "a \(enforcedRole) may not complete projects")
    }
    guard var project = try source.get(.projects, id, scope: scope), project.deletedAt == nil else {
      throw VaultError(.noSuchRecord, "no project \(id) in this scope")
    }
    guard project.text("status") != "completed" else {
      throw VaultError(.invalidArgument, "project \(id) is already completed")
    }
    var report = ProjectCompletionReport()
    let previous = project
    project["status"] = .string("completed")
    report.underBillingOverride = try checkDelivery(project, previous: previous)
    project.version += 1
    project.updatedAt = now
    try replaceTrusted(project, previous: previous)
    for engagementID in try source.referencing(.engagements, field: "project", id) {
      guard var engagement = try source.load(.engagements, engagementID.bytes) else { continue }
      let status = engagement.text("status") ?? "active"
      if case .date(let until)? = engagement["extendedUntil"], until >= now.day.daysSince1970 {
        continue
      }
      guard status == "active" else { continue }
      let before = engagement
      engagement["status"] = .string("ended")
      engagement.version += 1
      engagement.updatedAt = now
      try replaceTrusted(engagement, previous: before)
      report.engagementsEnded += 1
    }
    try audit(
      .projectCompleted, about: project,
      detail: [
        "engagementsEnded": .int(Int64(report.engagementsEnded)),
        "underBillingOverride": .bool(report.underBillingOverride),
      ])
    if report.underBillingOverride { try audit(.deliveredUnderOverride, about: project) }
    return report
  }

  /// Deletes a project: its schedule, shot list, contacts and media metadata leave
  /// reads; its contracts, invoices, payments, refunds, disputes and engagements stay,
  /// marked as belonging to a deleted project (financial records are append-only).
  @_spi(Engine) public func deleteProject(_ id: RecordID, scope: Scope) throws(VaultError)
    -> ProjectDeletionReport
  {
    try requireWithin(scope)
    // A high-risk action: a handle deletes through deleteProject(_:proof:), which checks
    // the role and spends a step-up proof; never through its generic transaction.
    if enforcedRole != nil {
      throw VaultError(
        .policyViolation,
        "deleting a project needs a step-up: use the handle's deleteProject(_:proof:)")
    }
    guard let project = try source.get(.projects, id, scope: scope), project.deletedAt == nil else {
      throw VaultError(.noSuchRecord, "no project \(id) in this scope")
    }
    guard project["legalHold"] == nil else {
      throw VaultError(
        .policyViolation, "project \(id) is under a legal hold: it cannot be deleted until released"
      )
    }
    var report = ProjectDeletionReport()
    if case .list(let sessions)? = project["sessions"] { report.sessionsRemoved = sessions.count }
    if case .list(let shots)? = project["shotList"] { report.shotListItemsRemoved = shots.count }
    for mediaID in try source.referencing(.media, field: "project", id) {
      if let media = try source.load(.media, mediaID.bytes) {
        try removeTrusted(media)
        report.mediaRemoved += 1
      }
    }
    let mark = RecordIndexes.encodeTime(now)
    func retain(_ collection: RecordCollection, _ ids: [RecordID]) throws(VaultError) {
      let tree = try source.indexTree(collection)
      for retained in ids {
        try tree.insert(mark, forKey: RecordIndexes.deletedProjectKey(retained.bytes))
      }
      report.retained[collection, default: 0] += ids.count
    }
    try retain(.contracts, try source.referencing(.contracts, field: "project", id))
    try retain(.engagements, try source.referencing(.engagements, field: "project", id))
    let invoices = try source.referencing(.invoices, field: "project", id)
    try retain(.invoices, invoices)
    for invoice in invoices {
      let payments = try source.referencing(.payments, field: "invoice", invoice)
      try retain(.payments, payments)
      for payment in payments {
        try retain(.refunds, try source.referencing(.refunds, field: "payment", payment))
        try retain(.disputes, try source.referencing(.disputes, field: "payment", payment))
      }
    }
    // What stays of the project: enough to tell its financial records what they were.
    var tombstone = project
    let kept = ["title", "client", "kind", "status"].compactMap { project.schema.field($0)?.tag }
    tombstone.fields = project.fields.filter(tags: { kept.contains($0) })
    tombstone.deletedAt = now
    tombstone.version += 1
    tombstone.updatedAt = now
    try replaceTrusted(tombstone, previous: project)
    // Blobs follow their retention: those nothing protects go now, the rest outlive the
    // project until their retention ends.
    (report.blobsDeleted, report.blobsRetained) = try releaseBlobs(
      ofProject: id, reason: "project deleted")
    var counts: [String: JSON] = [
      "sessionsRemoved": .int(Int64(report.sessionsRemoved)),
      "shotListItemsRemoved": .int(Int64(report.shotListItemsRemoved)),
      "mediaRemoved": .int(Int64(report.mediaRemoved)),
      "blobsDeleted": .int(Int64(report.blobsDeleted)),
      "blobsRetained": .int(Int64(report.blobsRetained)),
    ]
    for (collection, count) in report.retained {
      counts[collection.rawValue + "Retained"] = .int(Int64(count))
    }
    try audit(.projectDeleted, about: tombstone, detail: counts)
    return report
  }
}

extension RecordStore {
  /// Erases a client (../shared/spec/access.md, Client erasure): destroys the key of
  /// the client record and rewrites the client's projects without their personal
  /// fields (their old versions' keys go with them), removes the client from every
  /// index, commits, then zeroes the free pages older copies may linger in. Financial
  /// records stay and keep only the client's id.
  ///
  /// - Parameter authorize: run first in the erasure's transaction (a handle consumes
  ///   its step-up proof there).
  @_spi(Engine) public func eraseClient(
    _ id: RecordID, scope: Scope, actor: RecordID?, now: Timestamp = .now(),
    authorize: (SealedTransaction) throws(VaultError) -> Void = { _ in }
  ) throws(VaultError) -> ClientErasureReport {
    var report = ClientErasureReport()
    report.pagesZeroed = try sealed.erase { tx throws(VaultError) in
      try authorize(tx)
      // The caller's clock: retention still running protects a blob (FORMAT.md 24.4).
      let records = RecordTransaction(store: self, sealed: tx, actor: actor, now: now)
      let source = records.source
      guard let client = try source.load(.clients, id.bytes), scope.contains(client) else {
        throw VaultError(.noSuchRecord, "no client \(id) in this scope")
      }
      let projects = try source.referencing(.projects, field: "client", id)
      for projectID in projects {
        // A legal hold on any of the client's projects or uploads blocks it.
        if try source.load(.projects, projectID.bytes)?["legalHold"] != nil {
          throw VaultError(
            .policyViolation,
            "a project of client \(id) is under a legal hold: the client cannot be erased until it is released"
          )
        }
        try records.requireNoHeldBlobs(ofProject: projectID)
      }
      for projectID in projects {
        let (deleted, retained) = try records.releaseBlobs(
          ofProject: projectID, reason: "client erased")
        report.blobsDeleted += deleted
        report.blobsRetained += retained
      }
      for projectID in projects {
        guard let project = try source.load(.projects, projectID.bytes) else { continue }
        var scrubbed = project
        for spec in project.schema.fields where spec.isPersonal { scrubbed.fields[spec.tag] = nil }
        scrubbed.version += 1
        scrubbed.updatedAt = records.now
        try records.replaceTrusted(scrubbed, previous: project)
        report.projectsScrubbed += 1
      }
      let entries = try source.indexes.entries(of: client)
      let tree = try source.indexTree(.clients)
      for key in entries.keys { try source.removeIndexEntry(.clients, key, from: tree) }
      // The branch stays known (a clear id, no personal data), so that only that
      // branch's readers are told the client was erased.
      try tree.insert(
        client.branch?.bytes ?? RecordIndexes.noBranch, forKey: RecordIndexes.erasedKey(id.bytes))
      try tx.destroyKey(of: id.bytes, in: RecordCollection.clients.rawValue)
      // Audit details about the client go with their key; the entries stay, and verify.
      try tx.destroyAuditKey(of: .client(id))
      // Sealed under the branch's key, not the erased client's.
      try records.audit(
        AuditDraft(
          .clientErased, actor: try records.auditActor(), branch: client.branch, targets: [id],
          detail: (
            client.branch.map(AuditSubject.branch) ?? .organization,
            ["projectsScrubbed": .int(Int64(report.projectsScrubbed))]
          )))
    }
    return report
  }
}
