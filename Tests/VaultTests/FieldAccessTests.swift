import Foundation
import Testing
import VaultCLI
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault

/// The reference model: ../shared/spec/access.md's matrix, typed in again row by row
/// as plain strings, and read the simplest way. The engine's table must agree with it
/// on every field of every collection for every role (vendors, whose reach depends on
/// their engagements, have a model of their own: ``VendorModel``).
enum ReferenceModel {
  /// Matrix row → owner, hq, branch manager, staff (qualifiers like "(own)" are the
  /// scope's business, not the field's).
  static let matrix: [String: [String]] = [
    "branch name, address": ["RW", "RW", "R", "R"],
    "branch settings": ["RW", "RW", "RW", "R"],
    "users, roles": ["RW", "RW", "R", "—"],  // bm invites staff through a workflow
    "user names": ["RW", "RW", "RW", "R"],
    "client name": ["RW", "RW", "RW", "RW"],
    "client email, phone, address": ["RW", "RW", "RW", "RW"],
    "client notes": ["RW", "RW", "RW", "R"],
    "client lead source, lifetime value": ["RW", "RW", "RW", "—"],
    "project title, dates, location, schedule, shot list, on-site contact": [
      "RW", "RW", "RW", "RW",
    ],
    "package / deliverables": ["RW", "RW", "RW", "R"],
    "contract terms, signature status": ["RW", "RW", "RW", "R"],
    "contract value, invoice totals, payments": ["RW", "RW", "RW", "R"],
    "discounts": ["RW", "RW", "RW", "—"],
    "disputes / chargebacks": ["RW", "RW", "RW", "R"],
    "vendor engagements (who, role, dates)": ["RW", "RW", "RW", "R"],
    "vendor rates": ["RW", "RW", "R", "—"],
    "media metadata": ["RW", "RW", "RW", "RW"],
    "legal hold": ["RW", "RW", "—", "—"],
    "security policy": ["RW", "R", "R", "—"],
    // Not rows of the matrix; the engine's reading of "where silent, deny" for the
    // organization's other settings: the currency everyone reads (money shows in it),
    // refund limits and billing enforcement only those who manage money.
    "currency (engine)": ["RW", "RW", "R", "R"],
    "organization policy (engine)": ["RW", "R", "R", "—"],
  ]

  static func row(_ collection: RecordCollection, _ field: String) -> String? {
    switch collection {
    case .settings:
      switch field {
      case "currency": return "currency (engine)"
      case "requireTwoFactor", "stepUpMinutes": return "security policy"
      case "passwordHashing": return nil  // internal: never printed
      default: return "organization policy (engine)"
      }
    case .branches: return field == "timeZone" ? "branch settings" : "branch name, address"
    case .users:
      switch field {
      case "name": return "user names"
      case "passwordHash": return nil
      default: return "users, roles"
      }
    case .clients:
      switch field {
      case "displayName", "tags": return "client name"
      case "emails", "phones", "address": return "client email, phone, address"
      case "notes": return "client notes"
      default: return "client lead source, lifetime value"
      }
    case .projects:
      if field == "legalHold" { return "legal hold" }
      return ["package", "deliverables"].contains(field)
        ? "package / deliverables"
        : "project title, dates, location, schedule, shot list, on-site contact"
    case .contracts:
      return field == "value"
        ? "contract value, invoice totals, payments" : "contract terms, signature status"
    case .invoices:
      return field == "discounts" ? "discounts" : "contract value, invoice totals, payments"
    case .payments, .refunds: return "contract value, invoice totals, payments"
    case .disputes: return "disputes / chargebacks"
    case .engagements:
      return field == "rate" ? "vendor rates" : "vendor engagements (who, role, dates)"
    case .media: return "media metadata"
    }
  }

  static let roles = ["owner", "hq", "branchManager", "staff"]

  static func permission(_ role: String, _ collection: RecordCollection, _ field: String)
    -> FieldAccess.Permission?
  {
    guard let row = row(collection, field), let cells = matrix[row],
      let column = roles.firstIndex(of: role)
    else { return nil }
    switch cells[column] {
    case "RW": return .readWrite
    case "R": return .read
    default: return FieldAccess.Permission.none
    }
  }

  /// Whether a principal of `role` in `branch` reaches `record` at all.
  static func reaches(_ role: String, _ branch: RecordID, _ record: Record) -> Bool {
    if role == "owner" || role == "hq" { return true }
    switch record.collection {
    case .settings: return true
    case .branches: return record.id == branch
    default: return record.branch == branch
    }
  }
}

@Suite struct FieldAccessTests {
  /// Every field of every collection, for every role: the engine's table is the
  /// matrix.
  @Test func theTableIsTheMatrix() {
    for collection in RecordCollection.allCases {
      for spec in collection.schema.fields where spec.presence != .internal {
        for role in ReferenceModel.roles {
          let model = ReferenceModel.permission(role, collection, spec.name)
          let engine = FieldAccess.fieldClass(collection, spec.name).map {
            FieldAccess.permission(role, $0)
          }
          #expect(engine == model, "\(role) on \(collection).\(spec.name)")
        }
        #expect(
          FieldAccess.fieldClass(collection, spec.name).map { FieldAccess.permission("vendor", $0) }
            == FieldAccess.Permission.none)
      }
    }
  }

  /// The projection a read applies (from a table built once per role) hides exactly
  /// the internal fields and those the matrix denies, for every collection and role,
  /// a role the matrix does not name included (it sees no classified field).
  @Test func theProjectionHidesWhatTheMatrixDenies() {
    #expect(RecordCollection.allCases.map(\.ordinal) == Array(RecordCollection.allCases.indices))
    for collection in RecordCollection.allCases {
      var record = Record(collection, id: RecordID.random())
      for spec in collection.schema.fields { record.fields[spec.tag] = .string("x") }
      for role in ReferenceModel.roles + ["vendor", "intern"] {
        let visible = FieldAccess.projected(record, for: role)
        for spec in collection.schema.fields {
          let modelSees =
            spec.presence != .internal
            && (ReferenceModel.roles.contains(role)
              ? (ReferenceModel.permission(role, collection, spec.name) ?? .readWrite) >= .read
              : FieldAccess.fieldClass(collection, spec.name) == nil)
          #expect(
            (visible.fields[spec.tag] != nil) == modelSees,
            "\(role) on \(collection).\(spec.name)")
        }
      }
    }
  }

  /// Random principals and records (branches, roles, fields): whether a field of a
  /// record is visible to a principal agrees with the model, 10,000 times.
  @Test func randomDecisionsAgreeWithTheModel() {
    let seed = testSeed(0xACCE55)
    var random = SeededGenerator(seed: seed)
    let branches = (0..<4).map { _ in RecordID.random() }
    let collections = RecordCollection.allCases
    for round in 0..<10_000 {
      let role = ReferenceModel.roles[Int.random(in: 0..<4, using: &random)]
      let own = branches[Int.random(in: 0..<4, using: &random)]
      let collection = collections[Int.random(in: 0..<collections.count, using: &random)]
      let other = branches[Int.random(in: 0..<4, using: &random)]
      var record = Record(collection, id: collection == .branches ? other : RecordID.random())
      if collection != .settings && collection != .branches { record.branch = other }
      let fields = collection.schema.fields.filter { $0.presence != .internal }
      let spec = fields[Int.random(in: 0..<fields.count, using: &random)]
      let principal = RecordStore.Principal(
        user: RecordID.random(), name: "u", role: role, branch: own)
      let engineReaches = principal.scope.contains(record)
      let engineSees =
        engineReaches
        && FieldAccess.permission(role, FieldAccess.fieldClass(collection, spec.name)!) >= .read
      let modelSees =
        ReferenceModel.reaches(role, own, record)
        && (ReferenceModel.permission(role, collection, spec.name) ?? .none) >= .read
      #expect(
        engineSees == modelSees,
        "seed \(seed), round \(round): \(role) of \(own) on \(collection).\(spec.name) in \(other)")
    }
  }
}

/// Leak canaries: unique values planted in every field staff may not see; every read
/// path a staff member has (the CLI's get, list, search, settings; a handle's get,
/// list, search; the audit log) must never show one.
@Suite struct LeakCanaryTests {
  /// (Amounts as JSON writes them, so a hex dump cannot match them by chance.)
  static let canaries = [
    "CANARY-LEAD-4417", "CANARY-DISCOUNT-4417", ":4417001", ":4417002", ":4417003",
  ]

  @Test func staffNeverSeeHiddenFields() throws {
    let dir = TemporaryDirectory()
    let (path, _) = try initWithClients(dir, count: 2)
    let staffPassword = "the clerk's password, 2026"
    var clientID = RecordID.random()
    do {
      let store = try RecordStore.open(at: path, credential: .passphrase(cliPassphrase))
      let owner = try store.authenticate(user: "owner", password: SecretBytes(utf8: cliPassword))
      try store.write(actor: owner.user) { tx throws(VaultError) in
        let main = try tx.id(named: "Main", in: .branches)!
        var clerk = Record(.users, branch: main)
        clerk["name"] = .string("clerk")
        clerk["role"] = .string("staff")
        clerk["status"] = .string("active")
        clerk["passwordHash"] = .string(
          try PasswordHash.hash(SecretBytes(utf8: staffPassword), parameters: cheapKeyDerivation))
        let staffID = try tx.insertTrusted(clerk, scope: .organization).id!
        var vendor = Record(.users)
        vendor["name"] = .string("lens")
        vendor["role"] = .string("vendor")
        vendor["status"] = .string("active")
        let vendorID = try tx.insertTrusted(vendor, scope: .organization).id!
        var settings = try tx.settings()
        settings["branchRefundLimit"] = .money(minorUnits: 4_417_002, currency: "USD")
        _ = try tx.update(settings, scope: .organization)
        var client = Record(.clients, branch: main)
        client["displayName"] = .string("Ana Lima")
        client["leadSource"] = .string("CANARY-LEAD-4417")
        clientID = try tx.insert(client, scope: .organization).id!
        var project = Record(.projects, branch: main)
        project["title"] = .string("Wedding")
        project["client"] = .bytes(clientID.bytes)
        let projectID = try tx.insert(project, scope: .organization).id!
        let invoice = try RecordJSON.decode(
          JSON.parse(
            #"{"project": "\#(projectID)", "lineItems": [{"description": "Gold", "amount": {"amount": 9000000}}], "discounts": [{"amount": {"amount": 4417003}, "reason": "CANARY-DISCOUNT-4417"}]}"#
          ), as: .invoices,
          context: .init(defaultCurrency: try Currency("USD")) { _, _ throws(VaultError) in staffID
          })
        _ = try tx.insert(invoice, scope: .organization)
        var engagement = Record(.engagements)
        engagement["vendor"] = .bytes(vendorID.bytes)
        engagement["project"] = .bytes(projectID.bytes)
        engagement["role"] = .string("editor")
        engagement["rate"] = .money(minorUnits: 4_417_001, currency: "USD")
        _ = try tx.insert(engagement, scope: .organization)
      }
      // The owner does see them: the canaries are really there.
      let ownerView =
        vault("list", path, "--user", "owner", "--collection", "invoices", "--json").output
        + vault("list", path, "--user", "owner", "--collection", "engagements", "--json").output
      #expect(ownerView.contains("CANARY-DISCOUNT-4417") && ownerView.contains(":4417001"))
    }
    let staff = ["VAULT_PASSPHRASE": cliPassphrase, "VAULT_PASSWORD": staffPassword]
    var seen = ""
    for collection in [
      "clients", "projects", "invoices", "engagements", "payments", "users", "branches",
    ] {
      let listed = vault(
        environment: staff, "list", path, "--user", "clerk", "--collection", collection, "--json")
      #expect(listed.status == 0, "\(collection): \(listed.errors)")
      seen += listed.output + listed.errors
    }
    seen +=
      vault(
        environment: staff, "get", path, "--user", "clerk", "--collection", "clients",
        clientID.description, "--json"
      ).output
    seen +=
      vault(
        environment: staff, "list", path, "--user", "clerk", "--collection", "clients", "--search",
        "ana", "--json"
      ).output
    seen += vault(environment: staff, "settings", "show", path, "--user", "clerk", "--json").output
    seen += vault(environment: staff, "audit", "list", path, "--user", "clerk", "--json").output
    // A handle reads the same way.
    let store = try RecordStore.open(at: path, credential: .passphrase(cliPassphrase))
    let (handle, _) = try store.login(user: "clerk", password: SecretBytes(utf8: staffPassword))
    for collection in RecordCollection.allCases where collection != .settings {
      seen += try handle.list(collection).records.map(\.json.encoded).joined()
    }
    seen += try handle.search(.clients, "ana").records.map(\.json.encoded).joined()
    seen += try handle.get(.clients, clientID).map(\.json.encoded) ?? ""
    #expect(seen.contains("Ana Lima"), "the staff member reads the client at all")
    for canary in Self.canaries {
      #expect(!seen.contains(canary), "\(canary) leaked to staff")
    }
    #expect(
      !seen.contains("lifetimeValue") && !seen.contains("leadSource") && !seen.contains("\"rate\""))
  }

  /// Writes obey the same table: staff cannot set or change what they may not write,
  /// and sending back a projected record keeps what they could not see.
  @Test func staffWritesOnlyWhatTheyMay() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try SessionTests.studio(dir)
    let (handle, _) = try store.login(
      user: "clerk", password: SecretBytes(utf8: ThrottlingTests.password))
    let branch = try #require(staff.branch)
    let id = try store.write(actor: owner.user) { tx throws(VaultError) in
      var client = Record(.clients, branch: branch)
      client["displayName"] = .string("Ana Lima")
      client["leadSource"] = .string("referral")
      client["notes"] = .string("prefers mornings")
      return try tx.insert(client, scope: .organization).id!
    }
    // Setting a field staff may not write, on a new record or an old one: refused.
    #expect(throws: VaultError.self) {
      try handle.write { records, scope throws(VaultError) in
        var client = Record(.clients, branch: branch)
        client["displayName"] = .string("Bo")
        client["leadSource"] = .string("ads")
        _ = try records.insert(client, scope: scope)
      }
    }
    // Changing a field staff may only read: refused.
    #expect(throws: VaultError.self) {
      try handle.write { records, scope throws(VaultError) in
        var client = try records.get(.clients, id, scope: scope)!
        client["notes"] = .string("changed")
        _ = try records.update(client, scope: scope)
      }
    }
    // A projected record sent back with a new phone keeps the hidden lead source.
    var visible = try #require(try handle.get(.clients, id))
    #expect(visible["leadSource"] == nil)
    visible["phones"] = .list([.string("+1 555 0100")])
    try handle.write { records, scope throws(VaultError) in
      _ = try records.update(visible, scope: scope)
    }
    let stored = try store.read { snapshot throws(VaultError) in
      try snapshot.get(.clients, id, scope: .organization)
    }
    #expect(stored?.text("leadSource") == "referral" && stored?.text("notes") == "prefers mornings")
    #expect(stored?["phones"] == .list([.string("+1 555 0100")]))
  }
}
