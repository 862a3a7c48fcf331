import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault

/// A checked-in table of explicit cases, at least one per row of the matrix in
/// ../shared/spec/access.md and per role: fields are read from the engine's tables,
/// actions performed on a live studio by each role's handle, with a valid step-up
/// proof where one is needed (so a denial is the role's, not a missing proof's).
///
/// Legal holds are here on projects and on uploads.
@Suite struct AccessTableTests {
  /// `row | probe | owner hq branchManager staff vendor`: RW, R, — for a field
  /// (`collection.field`; a vendor's R is on records it reaches); allow or deny for an
  /// action.
  static let table = """
    branch name, address, settings | branches.name           | RW RW R  R  R
    branch name, address, settings | branches.address        | RW RW R  R  —
    branch name, address, settings | branches.timeZone       | RW RW RW R  —
    users, roles                   | users.role              | RW RW R  —  —
    users, roles                   | users.email             | RW RW R  —  —
    users, roles                   | users.name              | RW RW RW R  R
    users, roles                   | add a staff member      | allow allow allow deny deny
    client name                    | clients.displayName     | RW RW RW RW R
    client email, phone, address   | clients.emails          | RW RW RW RW —
    client email, phone, address   | clients.address         | RW RW RW RW —
    client notes, lead source, ltv | clients.notes           | RW RW RW R  —
    client notes, lead source, ltv | clients.leadSource      | RW RW RW —  —
    client notes, lead source, ltv | clients.lifetimeValue   | RW RW RW —  —
    project title … on-site contact| projects.title          | RW RW RW RW R
    project title … on-site contact| projects.sessions       | RW RW RW RW R
    project title … on-site contact| projects.shotList        | RW RW RW RW R
    project title … on-site contact| projects.onSiteContact  | RW RW RW RW R
    package / deliverables         | projects.package        | RW RW RW R  —
    package / deliverables         | projects.deliverables   | RW RW RW R  R
    contract terms, signature      | contracts.terms         | RW RW RW R  —
    contract terms, signature      | contracts.signatureStatus | RW RW RW R  —
    contract value, invoices, pay. | contracts.value         | RW RW RW R  —
    contract value, invoices, pay. | invoices.lineItems      | RW RW RW R  —
    contract value, invoices, pay. | payments.amount         | RW RW RW R  —
    discounts                      | invoices.discounts      | RW RW RW —  —
    refund request                 | request a refund        | allow allow allow allow deny
    refund approval                | approve at the branch limit | allow allow allow deny deny
    refund approval                | approve above the branch limit | allow allow deny deny deny
    refund approval                | approve above the hq limit | allow deny deny deny deny
    refund execution               | execute a refund        | allow allow allow deny deny
    disputes / chargebacks         | disputes.reason         | RW RW RW R  —
    disputes / chargebacks         | close a dispute         | allow allow allow deny deny
    vendor engagements             | engagements.role        | RW RW RW R  R
    vendor engagements             | engagements.end         | RW RW RW R  R
    vendor rates, costs, margins   | engagements.rate        | RW RW R  —  R
    media metadata                 | media.fileName          | RW RW RW RW —
    media metadata                 | media.contentHash       | RW RW RW RW R
    audit log                      | read the audit log      | allow allow allow allow deny
    client export (bulk)           | export clients          | allow allow allow deny deny
    project deletion               | delete a project        | allow allow allow deny deny
    billing enforcement override   | override billing        | allow deny deny deny deny
    delivery with unpaid invoices  | deliver unpaid, enforced | deny deny deny deny deny
    delivery with unpaid invoices  | deliver unpaid, overridden | allow allow allow allow deny
    security policy                | settings.requireTwoFactor | RW R  R  —  —
    legal hold: place, release     | projects.legalHold      | RW RW —  —  —
    legal hold: place, release     | place a legal hold      | allow allow deny deny deny
    vendor engagement extension    | extend an engagement    | allow allow allow deny deny
    upload blobs: store, read      | store an upload         | allow allow allow allow allow
    upload blobs: store, read      | read an upload          | allow allow allow allow deny
    blob retention: set, extend    | set blob retention      | allow allow allow deny deny
    legal hold: place, release     | hold an upload          | allow allow deny deny deny
    governance-mode early delete   | delete early under governance | allow deny deny deny deny
    """

  static let roles = ["owner", "hq", "branchManager", "staff", "vendor"]

  struct Case {
    let row: String
    let probe: String
    let expected: [String: String]
  }

  static var cases: [Case] {
    table.split(separator: "\n").compactMap { line in
      let parts = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
      guard parts.count == 3 else { return nil }
      let cells = parts[2].split(separator: " ").map(String.init)
      return Case(
        row: parts[0], probe: parts[1],
        expected: Dictionary(uniqueKeysWithValues: zip(roles, cells)))
    }
  }

  @Test func everyCaseHoldsForEveryRole() throws {
    let cases = Self.cases
    #expect(cases.count == 52 && cases.allSatisfy { $0.expected.count == 5 })
    for entry in cases where entry.probe.contains(".") && !entry.probe.contains(" ") {
      let parts = entry.probe.split(separator: ".").map(String.init)
      let collection = try #require(RecordCollection(rawValue: parts[0]))
      #expect(collection.schema.field(parts[1]) != nil, "\(entry.probe) is a field")
      for role in Self.roles {
        let engine: String
        if role == "vendor" {
          engine = VendorView.readable[collection]?.contains(parts[1]) == true ? "R" : "—"
        } else {
          switch FieldAccess.fieldClass(collection, parts[1]).map({
            FieldAccess.permission(role, $0)
          }) {
          case .readWrite?: engine = "RW"
          case .read?: engine = "R"
          default: engine = "—"
          }
        }
        #expect(engine == entry.expected[role], "\(entry.row): \(role) on \(entry.probe)")
      }
    }
    let dir = TemporaryDirectory()
    let studio = try ActionStudio(dir)
    for entry in cases where entry.probe.contains(" ") {
      for role in Self.roles {
        let outcome = try studio.perform(entry.probe, as: role)
        #expect(outcome == entry.expected[role], "\(entry.row): \(role) may \(entry.probe)?")
      }
    }
  }
}

/// A studio where every role has a handle (the vendor engaged on the project), and a
/// fresh fixture for each action tried.
struct ActionStudio {
  let base: RefundTests.Studio
  let owner: VaultHandle
  let branch: RecordID

  init(_ dir: TemporaryDirectory) throws {
    var base = try RefundTests.studio(dir)
    owner = try base.handle("owner")
    let ownerPrincipal = owner.principal
    _ = try VendorTests.addVendor("lens", to: base.store, by: ownerPrincipal)
    base.handles["vendor"] = try base.store.login(
      user: "lens", password: SecretBytes(utf8: VendorTests.vendorPassword),
      clock: base.clock.read)
    branch = try #require(try base.handle("branchManager").principal.branch)
    self.base = base
  }

  /// A project in the managers' branch, with a vendor engagement and a paid invoice.
  func newProject(unpaid: Bool = false) throws -> RecordID {
    try newPaidProject(unpaid: unpaid).project
  }

  /// ``newProject(unpaid:)``, and the payment of its invoice (of 100.00).
  func newPaidProject(unpaid: Bool = false) throws -> (project: RecordID, payment: RecordID?) {
    let vendor = try base.handle("vendor").principal.user
    return try owner.write { records, scope throws(VaultError) -> (RecordID, RecordID?) in
      var client = Record(.clients, branch: branch)
      client["displayName"] = .string("Client")
      let clientID = try records.insert(client, scope: scope).id!
      var project = Record(.projects, branch: branch)
      project["title"] = .string("Project")
      project["client"] = .bytes(clientID.bytes)
      let projectID = try records.insert(project, scope: scope).id!
      var engagement = Record(.engagements)
      engagement["vendor"] = .bytes(vendor.bytes)
      engagement["project"] = .bytes(projectID.bytes)
      engagement["role"] = .string("assistant")
      _ = try records.insert(engagement, scope: scope)
      var invoice = Record(.invoices)
      invoice["project"] = .bytes(projectID.bytes)
      invoice["lineItems"] = .list([
        .object(FieldMap([1: .string("Gold"), 2: .money(minorUnits: 10_000, currency: "USD")]))
      ])
      let invoiceID = try records.insert(invoice, scope: scope).id!
      guard !unpaid else { return (projectID, nil) }
      var payment = Record(.payments)
      payment["invoice"] = .bytes(invoiceID.bytes)
      payment["amount"] = .money(minorUnits: 10_000, currency: "USD")
      return (projectID, try records.insert(payment, scope: scope).id!)
    }
  }

  /// A refund of `amount` requested by the staff member `clerk2`.
  func requestedRefund(_ amount: Int64) throws -> RecordID {
    let payment = try #require(try newPaidProject().payment)
    let proof = try base.proof("staff2", .refundRequest, payment)
    let refund = try base.handle("staff2").requestRefund(
      of: payment, amount: Money(minorUnits: amount, currency: try Currency("USD")),
      reason: "a case", proof: proof)
    return try #require(refund.id)
  }

  /// "allow" when `role` performs `action` (with a valid step-up where needed); "deny"
  /// when the engine refuses it by policy.
  func perform(_ action: String, as role: String) throws -> String {
    let handle = try base.handle(role)
    func proof(_ highRisk: HighRiskAction, _ resource: RecordID?) throws -> String {
      let (_, token) = try #require(base.handles[role])
      let password = role == "vendor" ? VendorTests.vendorPassword : RefundTests.password
      return try base.store.stepUp(
        session: token, password: SecretBytes(utf8: password), action: highRisk,
        resource: resource, now: base.clock.read())
    }
    do {
      switch action {
      case "add a staff member":
        _ = try base.store.addUser(
          name: "new \(role) \(RecordID.random())", role: "staff", branch: branch, email: nil,
          password: SecretBytes(utf8: "a long enough password, 2026"), by: handle.principal)
      case "request a refund":
        let payment = try #require(try newPaidProject().payment)
        _ = try handle.requestRefund(
          of: payment, amount: Money(minorUnits: 1, currency: try Currency("USD")),
          reason: "a case", proof: try proof(.refundRequest, payment))
      case "approve at the branch limit", "approve above the branch limit",
        "approve above the hq limit":
        let amount: Int64 =
          action.hasSuffix("branch limit") && !action.contains("above")
          ? 5000
          : action.contains("branch") ? 5001 : 8001
        let refund = try requestedRefund(amount)
        try handle.decideRefund(refund, approve: true, proof: try proof(.refundApproval, refund))
      case "execute a refund":
        let refund = try requestedRefund(1)
        try owner.decideRefund(
          refund, approve: true, proof: try base.proof("owner", .refundApproval, refund))
        try handle.executeRefund(
          refund, gatewayReference: "re_1", proof: try proof(.refundExecution, refund))
      case "close a dispute":
        let dispute = try owner.write { records, scope throws(VaultError) -> RecordID in
          var dispute = Record(.disputes)
          dispute["payment"] = .bytes(base.payment.bytes)
          dispute["amount"] = .money(minorUnits: 100, currency: "USD")
          dispute["reason"] = .string("chargeback")
          return try records.insert(dispute, scope: scope).id!
        }
        try handle.closeDispute(dispute, won: true, gatewayReference: nil)
      case "read the audit log":
        _ = try handle.readAudit(limit: 10)
      case "export clients":
        _ = try handle.exportRecords(.clients, proof: try proof(.clientExport, nil))
      case "delete a project":
        let project = try newProject()
        _ = try handle.deleteProject(project, proof: try proof(.projectDeletion, project))
      case "override billing":
        try handle.setBillingOverride(
          for: branch, until: Timestamp(milliseconds: base.clock.read()).day, reason: "VIP",
          proof: try proof(.billingOverride, branch))
        try owner.clearBillingOverride(
          for: branch, proof: try base.proof("owner", .billingOverride, branch))
      case "deliver unpaid, enforced":
        _ = try handle.completeProject(try newProject(unpaid: true))
      case "deliver unpaid, overridden":
        let project = try newProject(unpaid: true)
        try owner.setBillingOverride(
          for: branch, until: Timestamp(milliseconds: base.clock.read()).day, reason: "VIP",
          proof: try base.proof("owner", .billingOverride, branch))
        defer {
          _ = try? owner.clearBillingOverride(
            for: branch, proof: try base.proof("owner", .billingOverride, branch))
        }
        _ = try handle.completeProject(project)
      case "place a legal hold":
        let project = try newProject()
        try handle.placeLegalHold(
          on: project, reason: "litigation", proof: try proof(.legalHold, project))
      case "extend an engagement":
        let project = try newProject()
        let engagement = try #require(
          try owner.list(.engagements, filter: .reference(field: "project", project)).records
            .first?.id)
        try handle.extendEngagement(
          engagement, until: Timestamp(milliseconds: base.clock.read()).day,
          proof: try proof(.engagementExtension, engagement))
      case "store an upload":
        _ = try handle.storeBlob([1, 2, 3], into: try newProject(), fileName: "a.jpg")
      case "read an upload":
        let blob = try storedBlob()
        _ = try handle.openBlob(blob).read(at: 0, count: 3)
      case "set blob retention":
        let blob = try storedBlob()
        try handle.setRetention(
          Retention(mode: .governance, until: base.clock.read() + 86_400_000), ofBlob: blob)
      case "hold an upload":
        let blob = try storedBlob()
        try handle.placeLegalHold(onBlob: blob, proof: try proof(.legalHold, blob))
      case "delete early under governance":
        let blob = try storedBlob()
        try owner.setRetention(
          Retention(mode: .governance, until: base.clock.read() + 86_400_000), ofBlob: blob)
        try handle.deleteBlob(blob, proof: try proof(.governanceDeletion, blob))
      default:
        Issue.record("no such action in the table: \(action)")
        return "?"
      }
      return "allow"
    } catch let error as VaultError where error.code == .policyViolation || error.code == .worm {
      return "deny"
    }
  }

  /// An upload the owner stored in a new project of the managers' branch.
  func storedBlob() throws -> RecordID {
    try owner.storeBlob([1, 2, 3], into: try newProject(), fileName: "a.jpg").blob
  }
}
