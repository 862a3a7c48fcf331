import VaultCore
import VaultFormat

/// Billing enforcement overrides (../shared/spec/access.md, Billing enforcement): an
/// owner, with step-up, lets a branch deliver projects with unpaid invoices until a
/// day, for a reason; setting and clearing are audited, and so is every delivery made
/// under it (``RecordTransaction`` logs `deliveredUnderOverride`).
extension VaultHandle {
  /// Overrides billing enforcement for `branch` through `until` (today at the
  /// earliest, a year ahead at most).
  ///
  /// - Parameter proof: a step-up for `.billingOverride` on `branch`.
  public func setBillingOverride(
    for branch: RecordID, until: Day, reason: String, proof: String
  ) throws(VaultError) {
    try changeBillingOverride(branch, until: until, reason: reason, proof: proof)
  }

  /// Ends `branch`'s override now.
  public func clearBillingOverride(for branch: RecordID, proof: String)
    throws(VaultError)
  {
    try changeBillingOverride(branch, until: nil, reason: nil, proof: proof)
  }

  private func changeBillingOverride(
    _ branch: RecordID, until: Day?, reason: String?, proof: String
  ) throws(VaultError) {
    let action: AuditAction = until == nil ? .billingOverrideCleared : .billingOverrideSet
    guard principal.role == "owner" else {
      throw try denied(action, branch, "only owners override billing enforcement")
    }
    try stepUpWrite(
      action, on: branch, proof: proof, for: .billingOverride, resource: branch
    ) { records, scope throws(VaultError) in
      guard var record = try records.get(.branches, branch, scope: scope) else {
        throw VaultError(.noSuchRecord, "no branch \(branch) in this scope")
      }
      let previous = record
      if let until, let reason {
        let today = records.now.day
        guard until >= today, until.daysSince1970 <= today.daysSince1970 + 366 else {
          throw VaultError(.invalidRecord, "until: from today to a year ahead")
        }
        guard !reason.isEmpty, reason.utf8.count <= 1000 else {
          throw VaultError(.invalidRecord, "reason: 1 to 1000 bytes")
        }
        var override = FieldMap()
        override[1] = .string(reason)
        override[2] = .date(days: until.daysSince1970)
        override[3] = .bytes(principal.user.bytes)
        record["billingOverride"] = .object(override)
      } else {
        guard record["billingOverride"] != nil else { return }
        record["billingOverride"] = nil
      }
      record.version += 1
      record.updatedAt = records.now
      try records.replaceTrusted(record, previous: previous)
      // The reason is free text: it stays in the branch record, not in the log.
      var detail: [String: JSON] = [:]
      if let until { detail["until"] = .string(until.description) }
      try records.audit(
        AuditDraft(
          action, actor: principal.auditActor, branch: branch, targets: [branch],
          detail: (.branch(branch), detail)))
    }
  }
}
