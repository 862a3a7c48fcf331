import VaultCore
import VaultFormat

/// The project and client workflows of ../shared/spec/access.md through a handle:
/// completion (ends vendor access) and closing a dispute; and the high-risk ones, each
/// consuming a step-up proof bound to the handle's session, the action and the record:
/// project deletion, extending a vendor's engagement past completion, client erasure,
/// placing and releasing a legal hold.
extension VaultHandle {
  /// The roles that delete projects, extend engagements, erase clients, approve and
  /// execute refunds and close disputes (in their scope: a branch manager their own
  /// branch).
  static let managers = ["owner", "hq", "branchManager"]

  /// Completes project `id` (billing enforcement applies) and ends its vendors'
  /// engagements, unless extended past today.
  public func completeProject(_ id: RecordID) throws(VaultError)
    -> ProjectCompletionReport
  {
    try write { records, scope throws(VaultError) in try records.completeProject(id, scope: scope) }
  }

  /// Deletes project `id` (../shared/spec/access.md, Project deletion).
  ///
  /// - Parameter proof: a step-up for `.projectDeletion` on `id`.
  public func deleteProject(_ id: RecordID, proof: String) throws(VaultError)
    -> ProjectDeletionReport
  {
    guard Self.managers.contains(principal.role) else {
      throw try denied(.projectDeleted, id, "only branch managers, hq and owners delete projects")
    }
    let report = try stepUpWrite(
      .projectDeleted, on: id, proof: proof, for: .projectDeletion, resource: id
    ) { records, scope throws(VaultError) in
      return try records.deleteProject(id, scope: scope)
    }
    // Deleted blobs' keys leave copies in free pages: zero them.
    try store.sealed.finishScrubIfPending()
    return report
  }

  /// Keeps vendor engagement `id` granting access through `until`, past its project's
  /// completion (and reopens it if the completion ended it); never past the
  /// engagement's own end.
  ///
  /// - Parameter proof: a step-up for `.engagementExtension` on `id`.
  public func extendEngagement(_ id: RecordID, until: Day, proof: String)
    throws(VaultError)
  {
    guard Self.managers.contains(principal.role) else {
      throw try denied(
        .engagementExtended, id, "only branch managers, hq and owners extend engagements")
    }
    try stepUpWrite(
      .engagementExtended, on: id, proof: proof, for: .engagementExtension, resource: id
    ) { records, scope throws(VaultError) in
      guard var engagement = try records.source.get(.engagements, id, scope: scope) else {
        throw VaultError(.noSuchRecord, "no engagement \(id) in this scope")
      }
      let today = records.now.day
      guard until >= today, until.daysSince1970 <= today.daysSince1970 + 366 else {
        throw VaultError(.invalidRecord, "until: from today to a year ahead")
      }
      if case .date(let end)? = engagement["end"], until.daysSince1970 > end {
        throw VaultError(
          .invalidRecord, "until: an extension ends by the engagement's own end at the latest")
      }
      let status = engagement.text("status") ?? "active"
      guard status == "active" || status == "ended" else {
        throw VaultError(.invalidRecord, "engagement \(id) was cancelled")
      }
      let previous = engagement
      engagement["extendedUntil"] = .date(days: until.daysSince1970)
      engagement["status"] = .string("active")
      engagement.version += 1
      engagement.updatedAt = records.now
      try records.replaceTrusted(engagement, previous: previous)
      try records.audit(
        .engagementExtended, about: engagement, detail: ["until": .string(until.description)])
    }
  }

  /// Erases client `id` (../shared/spec/access.md, Client erasure).
  ///
  /// - Parameter proof: a step-up for `.clientErasure` on `id`.
  public func eraseClient(_ id: RecordID, proof: String) throws(VaultError)
    -> ClientErasureReport
  {
    try requireLive()
    guard Self.managers.contains(principal.role), !isReadOnly else {
      throw try denied(.clientErased, id, "only branch managers, hq and owners erase clients")
    }
    let now = now()
    do throws(VaultError) {
      return try store.eraseClient(
        id, scope: scope, actor: principal.user, now: Timestamp(milliseconds: now)
      ) { tx throws(VaultError) in
        try tx.consumeStepUp(
          proof, session: session, action: .clientErasure, resource: id, now: now)
      }
    } catch  where error.code == .policyViolation {
      throw try denied(.clientErased, id, error.message)
    }
  }
}

extension VaultHandle {
  /// Closes dispute `id` (a chargeback) as won or lost, with the gateway's reference
  /// when it gave one. Disputes are financial records: the only change they take is
  /// this one, once, from `opened`; the gateway reversing itself later is a new dispute.
  ///
  /// - Throws: `.policyViolation` (logged) for staff and vendors, or a dispute already
  ///   closed; `.noSuchRecord` outside the handle's scope.
  public func closeDispute(_ id: RecordID, won: Bool, gatewayReference: String?)
    throws(VaultError)
  {
    guard Self.managers.contains(principal.role) else {
      throw try denied(.disputeClosed, id, "only branch managers, hq and owners close disputes")
    }
    if let gatewayReference, gatewayReference.isEmpty || gatewayReference.utf8.count > 200 {
      throw VaultError(.invalidRecord, "gatewayReference: 1 to 200 bytes")
    }
    try workflowWrite(.disputeClosed, on: id) { records, scope throws(VaultError) in
      guard var dispute = try records.source.get(.disputes, id, scope: scope) else {
        throw VaultError(.noSuchRecord, "no dispute \(id) in this scope")
      }
      guard (dispute.text("status") ?? "opened") == "opened" else {
        throw VaultError(.policyViolation, "dispute \(id) is already closed")
      }
      let previous = dispute
      dispute["status"] = .string(won ? "won" : "lost")
      dispute["closedAt"] = .time(
        milliseconds: records.now.milliseconds, offsetMinutes: records.now.offsetMinutes)
      if let gatewayReference { dispute["gatewayReference"] = .string(gatewayReference) }
      dispute.version += 1
      dispute.updatedAt = records.now
      try records.replaceTrusted(dispute, previous: previous)
      try records.audit(.disputeClosed, about: dispute, detail: ["won": .bool(won)])
    }
  }
}

extension VaultHandle {
  /// Places a legal hold on project `id`: until it is released, the project cannot be
  /// deleted nor its client erased (and its uploads, with the blob store, not deleted).
  /// The reason stays in the project, readable by owners and hq only; the log says who
  /// and when.
  ///
  /// - Parameter proof: a step-up for `.legalHold` on `id`.
  public func placeLegalHold(on id: RecordID, reason: String, proof: String) throws(VaultError) {
    guard !reason.isEmpty, reason.utf8.count <= 1000 else {
      throw VaultError(.invalidRecord, "reason: 1 to 1000 bytes")
    }
    try changeLegalHold(id, reason: reason, proof: proof)
  }

  /// Releases the legal hold on project `id`.
  ///
  /// - Parameter proof: a step-up for `.legalHold` on `id`.
  public func releaseLegalHold(on id: RecordID, proof: String) throws(VaultError) {
    try changeLegalHold(id, reason: nil, proof: proof)
  }

  private func changeLegalHold(_ id: RecordID, reason: String?, proof: String)
    throws(VaultError)
  {
    let action: AuditAction = reason == nil ? .legalHoldReleased : .legalHoldPlaced
    guard ["owner", "hq"].contains(principal.role) else {
      throw try denied(action, id, "only owners and hq place and release legal holds")
    }
    try stepUpWrite(
      action, on: id, proof: proof, for: .legalHold, resource: id
    ) { records, scope throws(VaultError) in
      guard var project = try records.source.get(.projects, id, scope: scope),
        project.deletedAt == nil
      else { throw VaultError(.noSuchRecord, "no project \(id) in this scope") }
      let previous = project
      let held = project["legalHold"] != nil
      if let reason {
        guard !held else { throw VaultError(.invalidArgument, "project \(id) is already held") }
        var hold = FieldMap()
        hold[1] = .string(reason)
        hold[2] = .bytes(principal.user.bytes)
        hold[3] = .time(milliseconds: records.now.milliseconds, offsetMinutes: 0)
        project["legalHold"] = .object(hold)
      } else {
        guard held else { throw VaultError(.invalidArgument, "project \(id) is not held") }
        project["legalHold"] = nil
      }
      project.version += 1
      project.updatedAt = records.now
      try records.replaceTrusted(project, previous: previous)
      try records.audit(action, about: project)
    }
  }
}
