import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// Refunds under dual control (../shared/spec/access.md, Refunds): a request by staff
/// or above, an approval within the approver's limit by someone else, an execution
/// that records the gateway's reference; each with a step-up proof bound to the
/// session, the action and the refund (or, for a request, the payment).
extension VaultHandle {
  /// Requests a refund of `amount` of payment `payment`.
  ///
  /// - Parameter proof: a step-up for `.refundRequest` on `payment`.
  /// - Returns: the refund record (state `requested`, the requester recorded).
  /// - Throws: `.policyViolation` without a valid proof or for a role that may not
  ///   request, `.invalidRecord` for more than the payment's unrefunded amount.
  public func requestRefund(
    of payment: RecordID, amount: Money, reason: String, proof: String
  ) throws(VaultError) -> Record {
    guard ["owner", "hq", "branchManager", "staff"].contains(principal.role) else {
      throw try denied(.refundRequested, payment, "this role may not request refunds")
    }
    return try stepUpWrite(
      .refundRequested, on: payment, proof: proof, for: .refundRequest, resource: payment
    ) { records, scope throws(VaultError) in
      guard let paid = try records.get(.payments, payment, scope: scope),
        let paidAmount = paid.money("amount")
      else { throw VaultError(.noSuchRecord, "no payment \(payment) in this scope") }
      let open = try Refunds.unrefunded(paidAmount, of: payment, in: records)
      guard amount.currency == paidAmount.currency, amount.minorUnits > 0,
        amount.minorUnits <= open.minorUnits
      else {
        throw VaultError(
          .invalidRecord,
          "amount: a refund is more than zero and at most the \(open) not yet refunded")
      }
      var refund = Record(.refunds)
      refund["payment"] = .bytes(payment.bytes)
      refund["amount"] = .money(minorUnits: amount.minorUnits, currency: amount.currency.code)
      refund["reason"] = .string(reason)
      return try records.insert(refund, scope: scope)
    }
  }

  /// Approves (or rejects) refund `refund`, with the approver's `reason` if given.
  ///
  /// - Parameter proof: a step-up for `.refundApproval` on `refund`.
  /// - Throws: `.policyViolation` for the requester themself (unless the organization
  ///   allows a sole owner to approve their own, which the entry flags), an amount
  ///   above the approver's limit (`branchRefundLimit` for branch managers,
  ///   `hqRefundLimit` for hq, none for owners), a staff member, a refund not awaiting
  ///   approval, or a missing proof.
  public func decideRefund(
    _ refund: RecordID, approve: Bool, reason: String? = nil, proof: String
  ) throws(VaultError) {
    if let reason, reason.isEmpty || reason.utf8.count > 2000 {
      throw VaultError(.invalidRecord, "reason: 1 to 2000 bytes")
    }
    let action: AuditAction = approve ? .refundApproved : .refundRejected
    guard Self.managers.contains(principal.role) else {
      throw try denied(action, refund, "only branch managers, hq and owners approve refunds")
    }
    let refusal: String? = try stepUpWrite(
      action, on: refund, proof: proof, for: .refundApproval, resource: refund
    ) {
      records, scope throws(VaultError) -> String? in
      guard var record = try records.get(.refunds, refund, scope: scope) else {
        throw VaultError(.noSuchRecord, "no refund \(refund) in this scope")
      }
      guard record.text("state") == "requested", let amount = record.money("amount") else {
        throw VaultError(.policyViolation, "refund \(refund) is not awaiting approval")
      }
      let settings = try records.settings()
      var selfApproved = false
      if case .bytes(let requester)? = record["requester"], requester == principal.user.bytes {
        guard principal.role == "owner", settings["allowOwnerSelfApproval"] == .bool(true) else {
          return "the requester of a refund may not approve it"
        }
        selfApproved = true
      }
      if approve, let limit = Refunds.limit(for: principal.role, settings: settings),
        amount.currency == limit.currency ? amount.minorUnits > limit.minorUnits : true
      {
        return "this refund is above the \(principal.role)'s approval limit"
      }
      let previous = record
      record["state"] = .string(approve ? "approved" : "rejected")
      record["approver"] = .bytes(principal.user.bytes)
      if let reason { record["decisionReason"] = .string(reason) }
      record.version += 1
      record.updatedAt = records.now
      try records.replaceTrusted(record, previous: previous)
      try records.audit(
        action, about: record,
        detail: selfApproved ? ["ownerSelfApproval": .bool(true)] : [:])
      return nil
    }
    if let refusal { throw try denied(action, refund, refusal) }
  }

  /// Executes approved refund `refund`, recording the gateway's reference.
  ///
  /// - Parameter proof: a step-up for `.refundExecution` on `refund`.
  public func executeRefund(
    _ refund: RecordID, gatewayReference: String, proof: String
  ) throws(VaultError) {
    guard Self.managers.contains(principal.role) else {
      throw try denied(
        .refundExecuted, refund, "only branch managers, hq and owners execute refunds")
    }
    try stepUpWrite(
      .refundExecuted, on: refund, proof: proof, for: .refundExecution, resource: refund
    ) { records, scope throws(VaultError) in
      guard var record = try records.get(.refunds, refund, scope: scope) else {
        throw VaultError(.noSuchRecord, "no refund \(refund) in this scope")
      }
      guard record.text("state") == "approved" else {
        throw VaultError(.policyViolation, "refund \(refund) is not approved")
      }
      guard !gatewayReference.isEmpty, gatewayReference.utf8.count <= 200 else {
        throw VaultError(.invalidRecord, "gatewayReference: 1 to 200 bytes")
      }
      let previous = record
      record["state"] = .string("executed")
      record["gatewayReference"] = .string(gatewayReference)
      record["executedAt"] = .time(
        milliseconds: records.now.milliseconds, offsetMinutes: records.now.offsetMinutes)
      record.version += 1
      record.updatedAt = records.now
      try records.replaceTrusted(record, previous: previous)
      try records.audit(.refundExecuted, about: record)
    }
  }

  /// A write for a workflow that has checked its role itself: the engine's field rules
  /// (engine-owned fields, validation) apply, the role's generic field permissions do
  /// not (staff create refund requests they may otherwise only read).
  ///
  /// A policy refusal thrown by `body` (a missing or spent step-up, a wrong state)
  /// rolls its transaction back; it is then logged (`accessDenied`, the action
  /// attempted and its target) in a commit of its own.
  func workflowWrite<T>(
    _ action: AuditAction, on target: RecordID,
    _ body: (_ records: RecordTransaction, _ scope: Scope) throws(VaultError) -> T
  ) throws(VaultError) -> T {
    try requireLive()
    guard !isReadOnly else { throw try denied(action, target, "this handle is read-only") }
    do throws(VaultError) {
      return try store.write(actor: principal.user, now: Timestamp(milliseconds: now())) {
        tx throws(VaultError) in
        try body(tx, scope)
      }
    } catch {
      if error.code == .worm { throw try refusedByWORM(action, target, error.message) }
      guard error.code == .policyViolation else { throw error }
      throw try denied(action, target, error.message)
    }
  }

  /// Records a write-once refusal (`wormRefused`, the action attempted and its target)
  /// in a commit of its own; returns the `.worm` error.
  func refusedByWORM(_ action: AuditAction, _ target: RecordID, _ message: String)
    throws(VaultError) -> VaultError
  {
    try requireLive()
    try store.sealed.write { tx throws(VaultError) in
      try tx.audit(
        AuditDraft(
          .wormRefused, actor: principal.auditActor, branch: principal.branch, outcome: .denied,
          targets: [target],
          detail: (.organization, ["attempted": .string(action.description)])))
    }
    return VaultError(.worm, message)
  }

  /// ``workflowWrite(_:on:_:)`` for a high-risk workflow: `proof` (a step-up for `step`
  /// on `resource`) is spent first, in the same commit, so it is gone if and only if
  /// the workflow commits.
  func stepUpWrite<T>(
    _ action: AuditAction, on target: RecordID, proof: String, for step: HighRiskAction,
    resource: RecordID?,
    _ body: (_ records: RecordTransaction, _ scope: Scope) throws(VaultError) -> T
  ) throws(VaultError) -> T {
    let now = now()
    return try workflowWrite(action, on: target) { records, scope throws(VaultError) in
      try records.source.sealed.consumeStepUp(
        proof, session: session, action: step, resource: resource, now: now)
      return try body(records, scope)
    }
  }

  /// Records a refusal about `target` in a commit of its own; returns the error.
  ///
  /// A handle whose session is gone gets the session's error instead: its refusals are
  /// not the principal's any more.
  func denied(_ action: AuditAction, _ target: RecordID, _ message: String) throws(VaultError)
    -> VaultError
  {
    try requireLive()
    return try store.denied(action, principal, message, targets: [target])
  }
}

enum Refunds {
  /// What of `amount` (payment `payment`) no refund has claimed yet: requested,
  /// approved and executed refunds all count (rejected ones do not).
  static func unrefunded(_ amount: Money, of payment: RecordID, in records: RecordTransaction)
    throws(VaultError) -> Money
  {
    var open = amount
    for id in try records.source.referencing(.refunds, field: "payment", payment) {
      guard let refund = try records.source.load(.refunds, id.bytes),
        refund.text("state") != "rejected", let claimed = refund.money("amount"),
        claimed.currency == open.currency
      else { continue }
      open = Money(
        minorUnits: max(0, open.minorUnits - claimed.minorUnits), currency: open.currency)
    }
    return open
  }

  /// The most `role` may approve: nil for no limit (owners). A limit the organization
  /// has not set is zero: nobody but an owner approves until it is set.
  static func limit(for role: String, settings: Record) -> Money? {
    let currency = (try? Currency(settings.text("currency") ?? "")) ?? (try? Currency("USD"))
    let zero = currency.map { Money(minorUnits: 0, currency: $0) }
    switch role {
    case "owner": return nil
    case "hq": return settings.money("hqRefundLimit") ?? zero
    default: return settings.money("branchRefundLimit") ?? zero
    }
  }
}
