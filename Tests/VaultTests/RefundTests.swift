import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault

/// Refunds under dual control: request, approval within limits by someone else,
/// execution; each with a step-up proof of its own.
@Suite struct RefundTests {
  static let start = SessionTests.start
  static let password = "a password long enough for anyone"

  struct Studio {
    let store: RecordStore
    let clock: TestClock
    let payment: RecordID
    var handles: [String: (handle: VaultHandle, token: String)] = [:]

    func proof(_ role: String, _ action: HighRiskAction, _ resource: RecordID) throws -> String {
      let (_, token) = try #require(handles[role])
      return try store.stepUp(
        session: token, password: SecretBytes(utf8: RefundTests.password), action: action,
        resource: resource, now: clock.read())
    }

    func handle(_ role: String) throws -> VaultHandle { try #require(handles[role]).handle }
  }

  /// An owner, hq, a branch manager and two staff members; a paid invoice of 100.00 in
  /// their branch; limits of 50.00 (branch) and 80.00 (hq).
  static func studio(_ dir: TemporaryDirectory, selfApproval: Bool = false) throws -> Studio {
    let (store, owner, downtown, _) = try studioStore(dir)
    let clock = TestClock(start)
    let payment = try store.write(actor: owner) { tx throws(VaultError) -> RecordID in
      for (name, role) in [
        ("boss", "owner"), ("central", "hq"), ("manager", "branchManager"), ("clerk", "staff"),
        ("clerk2", "staff"),
      ] {
        var user = Record(.users, branch: role == "owner" || role == "hq" ? nil : downtown)
        user["name"] = .string(name)
        user["role"] = .string(role)
        user["status"] = .string("active")
        user["passwordHash"] = .string(
          try PasswordHash.hash(SecretBytes(utf8: password), parameters: cheapKeyDerivation))
        _ = try tx.insertTrusted(user, scope: .organization)
      }
      var settings = try tx.settings()
      settings["branchRefundLimit"] = .money(minorUnits: 5000, currency: "USD")
      settings["hqRefundLimit"] = .money(minorUnits: 8000, currency: "USD")
      settings["allowOwnerSelfApproval"] = .bool(selfApproval)
      _ = try tx.update(settings, scope: .organization)
      var client = Record(.clients, branch: downtown)
      client["displayName"] = .string("Ana")
      let clientID = try tx.insert(client, scope: .organization).id!
      var project = Record(.projects, branch: downtown)
      project["title"] = .string("Wedding")
      project["client"] = .bytes(clientID.bytes)
      let projectID = try tx.insert(project, scope: .organization).id!
      var invoice = Record(.invoices)
      invoice["project"] = .bytes(projectID.bytes)
      invoice["lineItems"] = .list([
        .object(FieldMap([1: .string("Gold"), 2: .money(minorUnits: 10_000, currency: "USD")]))
      ])
      let invoiceID = try tx.insert(invoice, scope: .organization).id!
      var payment = Record(.payments)
      payment["invoice"] = .bytes(invoiceID.bytes)
      payment["amount"] = .money(minorUnits: 10_000, currency: "USD")
      return try tx.insert(payment, scope: .organization).id!
    }
    var studio = Studio(store: store, clock: clock, payment: payment)
    for (name, role) in [
      ("boss", "owner"), ("central", "hq"), ("manager", "branchManager"), ("clerk", "staff"),
      ("clerk2", "staff2"),
    ] {
      studio.handles[role] = try store.login(
        user: name, password: SecretBytes(utf8: password), clock: clock.read)
    }
    return studio
  }

  func request(_ studio: Studio, _ role: String, _ cents: Int64) throws -> RecordID {
    try studio.handle(role).requestRefund(
      of: studio.payment, amount: Money(minorUnits: cents, currency: try Currency("USD")),
      reason: "client unhappy", proof: try studio.proof(role, .refundRequest, studio.payment)
    ).id!
  }

  func approve(_ studio: Studio, _ role: String, _ refund: RecordID) throws {
    try studio.handle(role).decideRefund(
      refund, approve: true, proof: try studio.proof(role, .refundApproval, refund))
  }

  @Test func approvalLimitsHoldAtTheirBoundaries() throws {
    // The branch manager's limit is 50.00: 49.99 and 50.00 pass, 50.01 does not.
    let dir = TemporaryDirectory()
    let studio = try Self.studio(dir)
    try approve(studio, "branchManager", try request(studio, "staff", 4999))
    try approve(studio, "branchManager", try request(studio, "staff", 5000))
    // 0.01 of the payment is left unclaimed: more cannot be requested.
    #expect(throws: VaultError.self) { _ = try request(studio, "staff", 2) }
    let dir2 = TemporaryDirectory()
    let fresh = try Self.studio(dir2)
    let over = try request(fresh, "staff", 5001)
    #expect(throws: VaultError.self) { try approve(fresh, "branchManager", over) }
    // hq's limit is 80.00.
    try approve(fresh, "hq", over)
    let dir3 = TemporaryDirectory()
    let third = try Self.studio(dir3)
    let big = try request(third, "staff", 8001)
    #expect(throws: VaultError.self) { try approve(third, "hq", big) }
    try approve(third, "owner", big)
    // Executed once, by a manager, with the gateway's reference.
    try third.handle("branchManager").executeRefund(
      big, gatewayReference: "re_123",
      proof: try third.proof("branchManager", .refundExecution, big))
    #expect(throws: VaultError.self) {
      try third.handle("branchManager").executeRefund(
        big, gatewayReference: "re_124",
        proof: try third.proof("branchManager", .refundExecution, big))
    }
    let stored = try third.store.read { snapshot throws(VaultError) in
      try snapshot.get(.refunds, big, scope: .organization)
    }
    #expect(stored?.text("state") == "executed" && stored?.text("gatewayReference") == "re_123")
  }

  @Test func theRequesterNeverApproves() throws {
    let dir = TemporaryDirectory()
    let studio = try Self.studio(dir)
    let own = try request(studio, "branchManager", 1000)
    #expect(throws: VaultError.self) { try approve(studio, "branchManager", own) }
    // Staff request but never approve.
    let staffs = try request(studio, "staff", 1000)
    #expect(throws: VaultError.self) { try approve(studio, "staff", staffs) }
    try approve(studio, "hq", own)
    // A sole owner may approve their own only when the organization allows it, and the
    // entry says so.
    let ownerOwn = try request(studio, "owner", 1000)
    #expect(throws: VaultError.self) { try approve(studio, "owner", ownerOwn) }
    let dir2 = TemporaryDirectory()
    let lenient = try Self.studio(dir2, selfApproval: true)
    let selfRequested = try request(lenient, "owner", 1000)
    try approve(lenient, "owner", selfRequested)
    let entries = try lenient.store.readAudit(scope: .all, actor: .system).entries
    let approval = try #require(entries.first { $0.event.action == .refundApproved })
    #expect(approval.detail?.contains("\"ownerSelfApproval\":true") == true)
    let denials = try studio.store.readAudit(scope: .all, actor: .system).entries.filter {
      $0.event.action == .accessDenied
    }
    #expect(denials.count == 3)
  }

  @Test func everyStepNeedsItsOwnFreshProof() throws {
    let dir = TemporaryDirectory()
    let studio = try Self.studio(dir)
    let usd = try Currency("USD")
    let handle = try studio.handle("staff")
    // Missing, for another action, for another resource, from another session.
    for proof in [
      "svp_" + String(repeating: "0", count: 64),
      try studio.proof("staff", .clientExport, studio.payment),
      try studio.proof("staff", .refundRequest, RecordID.random()),
      try studio.proof("staff2", .refundRequest, studio.payment),
    ] {
      #expect(throws: VaultError.self) {
        _ = try handle.requestRefund(
          of: studio.payment, amount: Money(minorUnits: 100, currency: usd), reason: "r",
          proof: proof)
      }
    }
    // Used once; expired after five minutes.
    let proof = try studio.proof("staff", .refundRequest, studio.payment)
    _ = try handle.requestRefund(
      of: studio.payment, amount: Money(minorUnits: 100, currency: usd), reason: "r",
      proof: proof)
    #expect(throws: VaultError.self) {
      _ = try handle.requestRefund(
        of: studio.payment, amount: Money(minorUnits: 100, currency: usd), reason: "r",
        proof: proof)
    }
    let late = try studio.proof("staff", .refundRequest, studio.payment)
    studio.clock.advance(by: 5 * 60_000)
    #expect(throws: VaultError.self) {
      _ = try handle.requestRefund(
        of: studio.payment, amount: Money(minorUnits: 100, currency: usd), reason: "r",
        proof: late)
    }
    // Each refusal is on the record, though its transaction rolled back.
    let denials = try studio.store.readAudit(scope: .all, actor: .system).entries.filter {
      $0.event.action == .accessDenied && $0.event.targets == [studio.payment.bytes]
    }
    #expect(denials.count == 6, "\(denials.count)")
    // And no generic write creates a refund around the workflow.
    #expect(throws: VaultError.self) {
      try studio.handle("owner").write { records, scope throws(VaultError) in
        var refund = Record(.refunds)
        refund["payment"] = .bytes(studio.payment.bytes)
        refund["amount"] = .money(minorUnits: 100, currency: "USD")
        refund["reason"] = .string("r")
        _ = try records.insert(refund, scope: scope)
      }
    }
  }

  /// A chargeback is a dispute: staff may read it, managers close it once, as won or
  /// lost; it is never edited otherwise.
  @Test func disputesCloseOnceByManagers() throws {
    let dir = TemporaryDirectory()
    let studio = try Self.studio(dir)
    let manager = try studio.handle("branchManager")
    let dispute = try manager.write { records, scope throws(VaultError) -> RecordID in
      var dispute = Record(.disputes)
      dispute["payment"] = .bytes(studio.payment.bytes)
      dispute["amount"] = .money(minorUnits: 10_000, currency: "USD")
      dispute["reason"] = .string("card holder says not delivered")
      dispute["status"] = .string("opened")
      return try records.insert(dispute, scope: scope).id!
    }
    let clerk = try studio.handle("staff")
    #expect(try clerk.get(.disputes, dispute)?.text("status") == "opened")
    #expect(throws: VaultError.self) {
      try clerk.closeDispute(dispute, won: true, gatewayReference: nil)
    }
    // A generic update cannot close it: financial records are append-only.
    #expect(throws: VaultError.self) {
      try manager.write { records, scope throws(VaultError) in
        guard var record = try records.get(.disputes, dispute, scope: scope) else { return }
        record["status"] = .string("won")
        _ = try records.update(record, scope: scope)
      }
    }
    try manager.closeDispute(dispute, won: false, gatewayReference: "dp_77")
    let closed = try #require(try clerk.get(.disputes, dispute))
    #expect(closed.text("status") == "lost" && closed.text("gatewayReference") == "dp_77")
    #expect(closed["closedAt"] != nil && closed.version == 2)
    #expect(throws: VaultError.self) {
      try manager.closeDispute(dispute, won: true, gatewayReference: nil)
    }
    let actions = try studio.handle("owner").readAudit().entries.map(\.event.action)
    #expect(actions.filter { $0 == .disputeClosed }.count == 1)
    #expect(actions.filter { $0 == .accessDenied }.count >= 3)
  }
}
