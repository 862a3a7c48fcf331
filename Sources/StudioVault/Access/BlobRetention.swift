import VaultCore
import VaultFormat

/// What a blob's deletion would have to get past at one moment: its own and its
/// project's retention, and legal holds on either.
struct BlobProtection: Equatable {
  var legalHold = false
  /// The end of the compliance retention still running, if any.
  var complianceUntil: Int64?
  /// The end of the governance retention still running, if any.
  var governanceUntil: Int64?

  var protects: Bool { legalHold || complianceUntil != nil || governanceUntil != nil }

  /// Adds a retention rule in force at `now`.
  mutating func add(_ rule: Retention, now: Int64) {
    guard rule.protects(at: now) else { return }
    switch rule.mode {
    case .compliance: complianceUntil = max(complianceUntil ?? rule.until, rule.until)
    case .governance: governanceUntil = max(governanceUntil ?? rule.until, rule.until)
    case .none: break
    }
  }
}

/// How a change of retention is judged (FORMAT.md 24.4).
enum RetentionChange: Equatable {
  case allowed
  /// Shortens or removes governance retention: an owner's, with a step-up.
  case needsOwnerStepUp
  /// Shortens or weakens compliance retention: nobody's.
  case refused(String)

  /// Judges replacing rule `current` by `new` at `now`. A rule no longer in force
  /// may be replaced by anything.
  static func judge(_ current: Retention, _ new: Retention, now: Int64) -> RetentionChange {
    guard current.protects(at: now) else { return .allowed }
    let keepsOrExtends = new.mode != .none && new.until >= current.until
    switch current.mode {
    case .compliance:
      return new.mode == .compliance && keepsOrExtends
        ? .allowed
        : .refused(
          "compliance retention runs to \(Timestamp(milliseconds: current.until)): it can only be"
            + " extended")
    case .governance:
      return keepsOrExtends ? .allowed : .needsOwnerStepUp
    case .none:
      return .allowed
    }
  }
}

/// What ``VaultHandle/purgeBlobs()`` removed.
public struct BlobPurgeReport: Sendable, Equatable {
  /// Blobs of deleted projects whose retention ended, deleted and their keys destroyed.
  public var expired = 0
  /// Uploads abandoned unfinished for more than a week.
  public var abandoned = 0
  /// Blobs of deleted projects still retained or held.
  public var retained = 0
}

extension RecordTransaction {
  /// What protects `blob` at this transaction's time.
  func protection(of blob: OpenedBlob) throws(VaultError) -> BlobProtection {
    let now = self.now.milliseconds
    var protection = BlobProtection()
    protection.legalHold = blob.manifest.legalHold
    protection.add(blob.manifest.retention, now: now)
    let project = try RecordID(bytes: blob.manifest.project)
    protection.add(try source.sealed.projectRetention(project), now: now)
    if try source.load(.projects, project.bytes)?["legalHold"] != nil {
      protection.legalHold = true
    }
    return protection
  }

  /// Deletes `blob`: its chunks, manifest, key (so no copy left in the file can be read)
  /// and media record; logs `blobDeleted`.
  func deleteBlob(_ blob: OpenedBlob, reason: String) throws(VaultError) {
    let sealed = source.sealed
    try sealed.removeBlob(blob.id, project: blob.manifest.project)
    if blob.manifest.state == .complete,
      let media = try source.load(.media, blob.manifest.media)
    {
      try removeTrusted(media)
    }
    let branch = try RecordID(bytes: blob.manifest.branch)
    try audit(
      AuditDraft(
        .blobDeleted, actor: try auditActor(), branch: branch, targets: [blob.id],
        detail: (
          .branch(branch),
          [
            "reason": .string(reason), "size": .int(Int64(clamping: blob.manifest.size)),
            "project": .string((try? RecordID(bytes: blob.manifest.project))?.description ?? ""),
          ]
        )))
  }

  /// The blobs of `project` once it is deleted or its client erased: unfinished uploads
  /// and blobs nothing protects are deleted; the rest stay until their retention ends
  /// (``VaultHandle/purgeBlobs()`` then removes them).
  ///
  /// - Returns: how many were deleted and how many retained.
  func releaseBlobs(ofProject project: RecordID, reason: String) throws(VaultError)
    -> (deleted: Int, retained: Int)
  {
    var deleted = 0
    var retained = 0
    for id in try source.sealed.blobs(ofProject: project) {
      guard let blob = try source.sealed.blob(id) else {
        // Its key is gone: only the index entry and chunks are left to remove.
        try source.sealed.removeBlob(id, project: project.bytes)
        try audit(
          AuditDraft(
            .blobDeleted, actor: try auditActor(), targets: [id],
            detail: (.organization, ["reason": .string(reason + "; its key was already gone")])))
        deleted += 1
        continue
      }
      if blob.manifest.state == .complete, try protection(of: blob).protects {
        retained += 1
      } else {
        try deleteBlob(blob, reason: reason)
        deleted += 1
      }
    }
    return (deleted, retained)
  }

  /// Refuses when a blob of `project` is under a legal hold of its own.
  func requireNoHeldBlobs(ofProject project: RecordID) throws(VaultError) {
    for id in try source.sealed.blobs(ofProject: project) {
      if try source.sealed.blob(id)?.manifest.legalHold == true {
        throw VaultError(
          .policyViolation,
          "blob \(id) of project \(project) is under a legal hold: release it first")
      }
    }
  }
}

extension VaultHandle {
  /// The roles that set retention and delete unprotected blobs (their scope).
  static let retentionRoles = ["owner", "hq", "branchManager"]

  // MARK: Retention

  /// Sets the retention of blob `id`. Extending is always allowed; shortening or
  /// removing governance retention still running needs an owner and `proof` (a step-up
  /// for `.governanceDeletion` on `id`); compliance retention is never shortened.
  ///
  /// - Throws: `.worm` (logged) for a refused change; `.policyViolation` (logged) for
  ///   roles that do not set retention.
  public func setRetention(_ retention: Retention, ofBlob id: RecordID, proof: String? = nil)
    throws(VaultError)
  {
    try requireRetentionRole(id)
    try validate(retention)
    try workflowWrite(.retentionChanged, on: id) { records, scope throws(VaultError) in
      guard var blob = try stored(id, records: records, scope: scope) else {
        throw VaultError(.noSuchRecord, "no blob \(id) in this scope")
      }
      try authorizeChange(from: blob.manifest.retention, to: retention, on: id, proof, records)
      blob.manifest.retention = retention
      try records.source.sealed.storeManifest(blob)
      try logRetention(retention, of: id, branch: blob.manifest.branch, records)
    }
  }

  /// Sets the retention of every blob of project `id` (those stored and those to come),
  /// under the same rules as a blob's. A blob is protected by the stronger of its own
  /// rule and its project's.
  public func setRetention(_ retention: Retention, ofProject id: RecordID, proof: String? = nil)
    throws(VaultError)
  {
    try requireRetentionRole(id)
    try validate(retention)
    try workflowWrite(.retentionChanged, on: id) { records, scope throws(VaultError) in
      guard let project = try records.source.get(.projects, id, scope: scope),
        let branch = project.branch
      else { throw VaultError(.noSuchRecord, "no project \(id) in this scope") }
      let current = try records.source.sealed.projectRetention(id)
      try authorizeChange(from: current, to: retention, on: id, proof, records)
      try records.source.sealed.setProjectRetention(retention, of: id)
      try logRetention(retention, of: id, branch: branch.bytes, records)
    }
  }

  /// The retention set on project `id` as a whole.
  public func retention(ofProject id: RecordID) throws(VaultError) -> Retention {
    try requireLive()
    return try store.read { snapshot throws(VaultError) in
      guard try snapshot.source.get(.projects, id, scope: scope) != nil else {
        throw VaultError(.noSuchRecord, "no project \(id) in this scope")
      }
      guard
        let stored = try snapshot.source.sealed.snapshot.anyTree(named: BlobKeys.tree)?.value(
          forKey: BlobKeys.projectRetention(id.bytes))
      else { return .none }
      return try Retention(decoding: stored)
    }
  }

  private func requireRetentionRole(_ id: RecordID) throws(VaultError) {
    guard Self.retentionRoles.contains(principal.role) else {
      throw try denied(.retentionChanged, id, "only branch managers, hq and owners set retention")
    }
  }

  private func validate(_ retention: Retention) throws(VaultError) {
    let now = now()
    guard
      retention.mode == .none
        || (retention.until > now && retention.until <= CivilTime.latestMilliseconds)
    else {
      throw VaultError(.invalidArgument, "retention must run to a time in the future")
    }
  }

  /// Passes a change the rules allow, spends `proof` for one an owner's step-up allows,
  /// and refuses the rest with `.worm`.
  private func authorizeChange(
    from current: Retention, to new: Retention, on id: RecordID, _ proof: String?,
    _ records: RecordTransaction
  ) throws(VaultError) {
    switch RetentionChange.judge(current, new, now: records.now.milliseconds) {
    case .allowed:
      return
    case .refused(let message):
      throw VaultError(.worm, message)
    case .needsOwnerStepUp:
      try overrideGovernance(
        on: id, proof, records,
        refusal: "governance retention runs to \(Timestamp(milliseconds: current.until)): only"
          + " an owner with a step-up shortens it")
    }
  }

  /// Spends an owner's step-up (`.governanceDeletion` on `id`) to override governance
  /// retention, or refuses with `.worm` and `refusal`.
  private func overrideGovernance(
    on id: RecordID, _ proof: String?, _ records: RecordTransaction, refusal: String
  ) throws(VaultError) {
    guard principal.role == "owner", let proof else { throw VaultError(.worm, refusal) }
    try records.source.sealed.consumeStepUp(
      proof, session: session, action: .governanceDeletion, resource: id,
      now: records.now.milliseconds)
  }

  private func logRetention(
    _ retention: Retention, of id: RecordID, branch: [UInt8], _ records: RecordTransaction
  ) throws(VaultError) {
    let branchID = try RecordID(bytes: branch)
    try records.audit(
      AuditDraft(
        .retentionChanged, actor: try records.auditActor(), branch: branchID, targets: [id],
        detail: (
          .branch(branchID),
          [
            "mode": .string(retention.mode.description),
            "until": .string(Timestamp(milliseconds: retention.until).description),
          ]
        )))
  }

  /// Blob `id` opened in a write, if complete and in `scope`.
  private func stored(_ id: RecordID, records: RecordTransaction, scope: Scope)
    throws(VaultError) -> OpenedBlob?
  {
    guard let blob = try records.source.sealed.blob(id), blob.manifest.state == .complete,
      scope.contains(branch: blob.manifest.branch)
    else { return nil }
    return blob
  }

  // MARK: Legal holds

  /// Places a legal hold on blob `id`: until released, nobody deletes it, and its
  /// client cannot be erased.
  ///
  /// - Parameter proof: a step-up for `.legalHold` on `id`.
  public func placeLegalHold(onBlob id: RecordID, proof: String) throws(VaultError) {
    try changeHold(onBlob: id, to: true, proof: proof)
  }

  /// Releases the legal hold on blob `id`.
  ///
  /// - Parameter proof: a step-up for `.legalHold` on `id`.
  public func releaseLegalHold(onBlob id: RecordID, proof: String) throws(VaultError) {
    try changeHold(onBlob: id, to: false, proof: proof)
  }

  private func changeHold(onBlob id: RecordID, to held: Bool, proof: String) throws(VaultError) {
    let action: AuditAction = held ? .legalHoldPlaced : .legalHoldReleased
    guard ["owner", "hq"].contains(principal.role) else {
      throw try denied(action, id, "only owners and hq place and release legal holds")
    }
    try stepUpWrite(action, on: id, proof: proof, for: .legalHold, resource: id) {
      records, scope throws(VaultError) in
      guard var blob = try stored(id, records: records, scope: scope) else {
        throw VaultError(.noSuchRecord, "no blob \(id) in this scope")
      }
      guard blob.manifest.legalHold != held else {
        throw VaultError(.invalidArgument, "blob \(id) is \(held ? "already" : "not") held")
      }
      blob.manifest.legalHold = held
      try records.source.sealed.storeManifest(blob)
      let branch = try RecordID(bytes: blob.manifest.branch)
      try records.audit(
        AuditDraft(
          action, actor: try records.auditActor(), branch: branch, targets: [id],
          detail: (.branch(branch), ["blob": .string(id.description)])))
    }
  }

  // MARK: Deleting

  /// Deletes blob `id`, its media record and its key. Refused with `.worm` (logged)
  /// while a legal hold or compliance retention protects it, and under governance
  /// retention unless the handle is an owner's and `proof` is a step-up for
  /// `.governanceDeletion` on `id`.
  public func deleteBlob(_ id: RecordID, proof: String? = nil) throws(VaultError) {
    guard Self.retentionRoles.contains(principal.role) else {
      throw try denied(.blobDeleted, id, "only branch managers, hq and owners delete uploads")
    }
    try workflowWrite(.blobDeleted, on: id) { records, scope throws(VaultError) in
      guard let blob = try stored(id, records: records, scope: scope) else {
        throw VaultError(.noSuchRecord, "no blob \(id) in this scope")
      }
      let protection = try records.protection(of: blob)
      if protection.legalHold {
        throw VaultError(.worm, "blob \(id) is under a legal hold: it cannot be deleted")
      }
      if let until = protection.complianceUntil {
        throw VaultError(
          .worm,
          "blob \(id) is under compliance retention until \(Timestamp(milliseconds: until)):"
            + " nobody deletes it before then")
      }
      var reason = "deleted"
      if let until = protection.governanceUntil {
        try overrideGovernance(
          on: id, proof, records,
          refusal: "blob \(id) is under governance retention until"
            + " \(Timestamp(milliseconds: until)): only an owner with a step-up deletes it early")
        reason = "governance early deletion"
      }
      try records.deleteBlob(blob, reason: reason)
    }
    try store.sealed.finishScrubIfPending()
  }

  /// Removes what retention no longer keeps: blobs of deleted projects whose retention
  /// ended and that no hold protects, and uploads left unfinished for more than a week.
  /// Owners and hq run it (a maintenance task; the CLI's `vault blob purge`).
  public func purgeBlobs() throws(VaultError) -> BlobPurgeReport {
    guard ["owner", "hq"].contains(principal.role) else {
      throw try denied(.blobDeleted, principal.user, "only owners and hq purge uploads")
    }
    let purged = try workflowWrite(.blobDeleted, on: principal.user) {
      records, _ throws(VaultError) in
      var report = BlobPurgeReport()
      let manifests = try records.source.sealed.tree(BlobKeys.tree).keys(
        from: [BlobKeys.manifestPrefix], to: [BlobKeys.manifestPrefix + 1])
      for key in manifests where key.count == 17 {
        let id = try RecordID(bytes: Array(key[1...]))
        guard let blob = try records.source.sealed.blob(id) else { continue }
        if blob.manifest.state == .uploading {
          // Compared without subtracting: an authenticated but absurd time must not trap.
          let cutoff = records.now.milliseconds - BlobStorage.abandonedAfter
          if blob.manifest.updatedAt < cutoff {
            try records.deleteBlob(blob, reason: "upload abandoned")
            report.abandoned += 1
          }
          continue
        }
        let project = try records.source.load(.projects, blob.manifest.project)
        guard project == nil || project?.deletedAt != nil else { continue }
        if try records.protection(of: blob).protects {
          report.retained += 1
        } else {
          try records.deleteBlob(blob, reason: "retention ended after the project's deletion")
          report.expired += 1
        }
      }
      return report
    }
    try store.sealed.finishScrubIfPending()
    return purged
  }
}
