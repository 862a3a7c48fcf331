import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// A client, a project with a session, on-site contact and shot list, an invoice of
/// 2,500.00 USD less a 100.00 discount, and a media record.
func bookedProject(_ store: RecordStore, owner: RecordID, contact: String = "Mia") throws -> (
  client: RecordID, project: RecordID, invoice: RecordID, media: RecordID
) {
  let client = try store.importLines(
    [#"{"displayName": "Zoë Ångström", "branch": "Downtown", "emails": ["zoe@example.com"]}"#],
    into: .clients, actor: owner)[0]
  let project = try store.importLines(
    [
      #"{"title": "Wedding", "client": "\#(client)", "branch": "Downtown", "status": "booked", "sessions": [{"start": "2027-06-13T15:30:00-04:00"}], "onSiteContact": {"name": "\#(contact)", "phone": "555 0101"}, "shotList": ["rings"]}"#
    ], into: .projects, actor: owner)[0]
  let invoice = try store.importLines(
    [
      #"{"project": "\#(project)", "lineItems": [{"description": "Gold", "amount": {"amount": 250000}}], "discounts": [{"amount": {"amount": 10000}, "reason": "loyal"}], "status": "sent"}"#
    ], into: .invoices, actor: owner)[0]
  let media = try store.importLines(
    [#"{"project": "\#(project)", "fileName": "DSC_1.jpg"}"#], into: .media, actor: owner)[0]
  return (client, project, invoice, media)
}

@Suite struct RecordWorkflowTests {
  /// Billing enforcement: no delivery (project status or media) while an invoice is
  /// unpaid; payment, a void or paid status, a correction, the setting turned off or a
  /// branch override each let it through.
  @Test func deliveryWaitsForPayment() throws {
    let dir = TemporaryDirectory()
    let (store, owner, downtown, _) = try studioStore(dir)
    let booked = try bookedProject(store, owner: owner)
    func deliver() throws(VaultError) {
      try store.write(actor: owner) { tx throws(VaultError) in
        var project = try tx.get(.projects, booked.project, scope: .organization)!
        project["status"] = .string("delivered")
        try tx.update(project, scope: .organization)
      }
    }
    func complete() throws(VaultError) -> ProjectCompletionReport {
      try store.write(actor: owner) { tx throws(VaultError) in
        try tx.completeProject(booked.project, scope: .organization)
      }
    }
    let refused = #expect(throws: VaultError.self) { try deliver() }
    #expect(
      refused?.code == .policyViolation && refused?.message.contains("1 unpaid invoice") == true)
    #expect(throws: VaultError.self) { _ = try complete() }
    #expect(throws: VaultError.self) {
      try store.write(actor: owner) { tx throws(VaultError) in
        var media = try tx.get(.media, booked.media, scope: .organization)!
        media["delivered"] = .bool(true)
        try tx.update(media, scope: .organization)
      }
    }
    // Paid in part: still owed. Paid in full (2,400.00 after the discount): delivered.
    _ = try store.importLines(
      [#"{"invoice": "\#(booked.invoice)", "amount": {"amount": 200000}}"#], into: .payments,
      actor: owner)
    #expect(throws: VaultError.self) { try deliver() }
    _ = try store.importLines(
      [#"{"invoice": "\#(booked.invoice)", "amount": {"amount": 40000}}"#], into: .payments,
      actor: owner)
    try deliver()
    let report = try complete()
    #expect(report.engagementsEnded == 0 && !report.underBillingOverride)

    // A second project: its unpaid invoice corrected by a void one lets it through;
    // turning enforcement off lets everything through.
    let second = try bookedProject(store, owner: owner)
    _ = try store.importLines(
      [
        #"{"project": "\#(second.project)", "lineItems": [{"description": "Gold", "amount": {"amount": 250000}}], "status": "void", "corrects": "\#(second.invoice)"}"#
      ], into: .invoices, actor: owner)
    try store.write(actor: owner) { tx throws(VaultError) in
      _ = try tx.completeProject(second.project, scope: .branch(downtown))
    }
    let third = try bookedProject(store, owner: owner)
    try store.write(actor: owner) { tx throws(VaultError) in
      var settings = try tx.settings()
      settings["billingEnforcement"] = .bool(false)
      try tx.update(settings, scope: .organization)
    }
    try store.write(actor: owner) { tx throws(VaultError) in
      _ = try tx.completeProject(third.project, scope: .organization)
    }
  }

  /// Financial records are append-only: never updated, never removed.
  @Test func financialRecordsAreAppendOnly() throws {
    let dir = TemporaryDirectory()
    let (store, owner, _, _) = try studioStore(dir)
    let booked = try bookedProject(store, owner: owner)
    for (collection, id) in [(RecordCollection.invoices, booked.invoice)] {
      let update = #expect(throws: VaultError.self) {
        try store.write(actor: owner) { tx throws(VaultError) in
          var record = try tx.get(collection, id, scope: .organization)!
          record["status"] = .string("paid")
          try tx.update(record, scope: .organization)
        }
      }
      #expect(update?.code == .policyViolation && update?.message.contains("corrects") == true)
      #expect(throws: VaultError.self) {
        try store.write(actor: owner) { tx throws(VaultError) in
          try tx.remove(collection, id, scope: .organization)
        }
      }
    }
    // The engine records who applied a discount, whatever the caller claims.
    let invoice = try #require(
      try store.fetch(.invoices, booked.invoice))
    guard case .list(let discounts)? = invoice["discounts"],
      case .object(let first)? = discounts.first
    else { throw VaultError(.internal, "no discount") }
    #expect(first[3] == .bytes(owner.bytes))
    #expect(try store.fetch(.clients, booked.client)?.version == 1)
  }

  /// Deleting a project drops its schedule, contacts, shot list and media; its
  /// financial records stay, marked; lists and date ranges no longer show it.
  @Test func projectDeletionKeepsTheMoneyTrail() throws {
    let dir = TemporaryDirectory()
    let (store, owner, downtown, harbor) = try studioStore(dir)
    let booked = try bookedProject(store, owner: owner)
    let payment = try store.importLines(
      [#"{"invoice": "\#(booked.invoice)", "amount": {"amount": 1000}}"#], into: .payments,
      actor: owner)[0]
    #expect(throws: VaultError.self) {
      try store.write(actor: owner) { tx throws(VaultError) in
        _ = try tx.deleteProject(booked.project, scope: .branch(harbor))
      }
    }
    let report = try store.write(actor: owner) { tx throws(VaultError) in
      try tx.deleteProject(booked.project, scope: .branch(downtown))
    }
    #expect(
      report.sessionsRemoved == 1 && report.shotListItemsRemoved == 1 && report.mediaRemoved == 1)
    #expect(report.retained[.invoices] == 1 && report.retained[.payments] == 1)
    try store.read { snapshot throws(VaultError) in
      let tombstone = try snapshot.get(.projects, booked.project, scope: .organization)
      #expect(tombstone?.deletedAt != nil && tombstone?["sessions"] == nil)
      #expect(tombstone?["onSiteContact"] == nil && tombstone?.text("title") == "Wedding")
      #expect(try snapshot.get(.media, booked.media, scope: .organization) == nil)
      let invoice = try snapshot.get(.invoices, booked.invoice, scope: .organization)
      #expect(invoice?.deletedAt != nil)
      #expect(invoice?.json.encoded.contains(#""projectDeleted":true"#) == true)
      #expect(try snapshot.get(.payments, payment, scope: .organization)?.deletedAt != nil)
    }
    #expect(try store.all(.projects).isEmpty)
    let june = Day(iso: "2027-06-01")!...Day(iso: "2027-06-30")!
    #expect(try store.all(.projects, filter: .days(june)).isEmpty)
    #expect(throws: VaultError.self) {
      _ = try store.importLines(
        [#"{"project": "\#(booked.project)", "fileName": "late.jpg"}"#], into: .media, actor: owner)
    }
    #expect(try store.indexProblems() == [])
  }

  /// Erasing a client: the record's key destroyed, its projects' personal fields gone,
  /// its search tokens gone, its financial records kept; the old versions' wrapped keys
  /// are nowhere in the file, even for the key holder.
  @Test func clientErasureShredsPersonalDataAndKeepsFinancialRecords() throws {
    let dir = TemporaryDirectory()
    let (store, owner, downtown, harbor) = try studioStore(dir)
    let booked = try bookedProject(store, owner: owner, contact: "Mia Secretname")
    let oldKeys = try store.sealed.read { snapshot throws(VaultError) in
      [
        try snapshot.storedBytes(of: booked.client.bytes, in: "clients")?.dataKey,
        try snapshot.storedBytes(of: booked.project.bytes, in: "projects")?.dataKey,
      ]
    }.compactMap { $0 }
    #expect(oldKeys.count == 2)
    let report = try store.eraseClient(booked.client, scope: .branch(downtown), actor: owner)
    #expect(report.projectsScrubbed == 1 && report.pagesZeroed > 0)
    try store.read { snapshot throws(VaultError) in
      let erased = #expect(throws: VaultError.self) {
        _ = try snapshot.get(.clients, booked.client, scope: .organization)
      }
      #expect(erased?.code == .erased)
      #expect(throws: VaultError.self) {
        _ = try snapshot.get(.clients, booked.client, scope: .branch(downtown))
      }
      // Another branch is not even told the client existed.
      #expect(try snapshot.get(.clients, booked.client, scope: .branch(harbor)) == nil)
      let project = try snapshot.get(.projects, booked.project, scope: .organization)
      #expect(project?["onSiteContact"] == nil && project?.text("title") == "Wedding")
      #expect(project?.reference("client") == booked.client)
      #expect(try snapshot.get(.invoices, booked.invoice, scope: .organization) != nil)
    }
    #expect(try store.all(.clients, search: "zoe").isEmpty)
    #expect(
      try store.all(.clients).isEmpty && store.all(.clients, filter: .branch(downtown)).isEmpty)
    let cipher = try #require(store.sealed.store.reader.cipher)
    let pages = try openedPages(
      of: dir.file("r.vault"), cipher: cipher, pageSize: store.sealed.store.pageSize)
    for key in oldKeys {
      #expect(!pages.contains { ByteSearch($0).contains(key) })
    }
    #expect(try store.indexProblems() == [])
    // A second erasure finds nothing left to erase.
    #expect(throws: VaultError.self) {
      _ = try store.eraseClient(booked.client, scope: .organization, actor: owner)
    }
    // New records cannot point at the erased client.
    let refused = #expect(throws: VaultError.self) {
      _ = try store.importLines(
        [#"{"title": "Again", "client": "\#(booked.client)", "branch": "Downtown"}"#],
        into: .projects, actor: owner)
    }
    #expect(refused?.message.contains("client: the client was erased") == true)
  }

  /// Passwords: the owner logs in; a wrong password and an unknown user get the same
  /// error; a short password is refused at creation.
  @Test func ownersPasswordIsCheckedAndNeverStoredInTheClear() throws {
    let dir = TemporaryDirectory()
    let (store, owner, _, _) = try studioStore(dir)
    let principal = try store.authenticate(
      user: "OWNER", password: SecretBytes(utf8: ownerPassword))
    #expect(
      principal.user == owner && principal.role == "owner" && principal.scope == .organization)
    let wrong = #expect(throws: VaultError.self) {
      _ = try store.authenticate(user: "owner", password: SecretBytes(utf8: "not the password!"))
    }
    let unknown = #expect(throws: VaultError.self) {
      _ = try store.authenticate(user: "nobody", password: SecretBytes(utf8: ownerPassword))
    }
    #expect(wrong == unknown && wrong?.code == .wrongPassword)
    let user = try #require(try store.fetch(.users, owner))
    #expect(user.text("passwordHash")?.hasPrefix("$argon2id$") == true)
    #expect(!user.json.encoded.contains("argon2id"))
    #expect(throws: VaultError.self) {
      _ = try RecordStore.create(
        at: dir.file("short.vault"), credential: testCredential,
        organization: .init(
          ownerName: "o", ownerPassword: SecretBytes(utf8: "short"), currency: try Currency("EUR")))
    }
    #expect(!FileManager.default.fileExists(atPath: dir.file("short.vault")))
  }

  /// Schema evolution: a record written before a field existed still decodes; a
  /// migration renames or splits a field of an older schema version; a record from a
  /// newer schema version is refused, not misread.
  @Test func olderRecordsDecodeAndMigrate() throws {
    let id = RecordID.random()
    // Version 1 of a collection kept the whole name in tag 16; version 2 splits it.
    let version2 = CollectionSchema(
      .clients, version: 2, branch: .required,
      fields: [
        FieldSpec("givenName", 30, .text(maxBytes: 100)),
        FieldSpec("familyName", 31, .text(maxBytes: 100)),
        FieldSpec("notes", 20, .text(maxBytes: 100)),
      ]
    ) { (from: UInt16, fields: inout FieldMap) throws(VaultError) in
      guard from == 1, case .string(let whole)? = fields[16] else { return }
      let parts = whole.split(separator: " ", maxSplits: 1).map(String.init)
      fields[16] = nil
      fields[30] = .string(parts[0])
      if parts.count == 2 { fields[31] = .string(parts[1]) }
    }
    var old = FieldMap()
    old[16] = .string("Zoë Ångström")
    old[MetaTag.version] = .integer(3)
    let migrated = try Record.decode(
      RecordEncoding.encode(old, schema: 1), collection: .clients, id: id, schema: version2)
    #expect(migrated.fields[30] == .string("Zoë") && migrated.fields[31] == .string("Ångström"))
    #expect(migrated.fields[16] == nil && migrated.version == 3)
    // Written before `notes` existed: it is simply absent.
    var current = FieldMap()
    current[30] = .string("Ana")
    let decoded = try Record.decode(
      RecordEncoding.encode(current, schema: 2), collection: .clients, id: id, schema: version2)
    #expect(decoded.fields[20] == nil && decoded.fields[30] == .string("Ana"))
    let newer = #expect(throws: VaultError.self) {
      _ = try Record.decode(
        RecordEncoding.encode(current, schema: 3), collection: .clients, id: id, schema: version2)
    }
    #expect(newer?.code == .unsupportedVersion)
  }

  /// What a reviewer found: a `paid` status or a correction elsewhere settles nothing,
  /// amounts are never negative, organization records need an organization-wide
  /// scope, and imports take CRLF lines and renumber taken ids consistently.
  @Test func debtsCannotBeClearedWithoutPayment() throws {
    let dir = TemporaryDirectory()
    let (store, owner, downtown, _) = try studioStore(dir)
    let booked = try bookedProject(store, owner: owner)
    let other = try bookedProject(store, owner: owner)
    func complete(_ project: RecordID) throws(VaultError) {
      try store.write(actor: owner) { tx throws(VaultError) in
        _ = try tx.completeProject(project, scope: .organization)
      }
    }
    // A second invoice claiming "paid" does not pay the first.
    _ = try store.importLines(
      [
        #"{"project": "\#(booked.project)", "lineItems": [{"description": "x", "amount": {"amount": 1}}], "status": "paid"}"#
      ],
      into: .invoices, actor: owner)
    #expect(throws: VaultError.self) { try complete(booked.project) }
    // A correction must stay on its own project.
    let elsewhere = #expect(throws: VaultError.self) {
      _ = try store.importLines(
        [
          #"{"project": "\#(other.project)", "lineItems": [{"description": "x", "amount": {"amount": 0}}], "status": "void", "corrects": "\#(booked.invoice)"}"#
        ],
        into: .invoices, actor: owner)
    }
    #expect(elsewhere?.message.contains("corrects a record of another project") == true)
    for line in [
      #"{"project": "\#(booked.project)", "lineItems": [{"description": "x", "amount": {"amount": -500}}]}"#,
      #"{"project": "\#(booked.project)", "lineItems": []}"#,
      #"{"project": "\#(booked.project)", "lineItems": [{"description": "x", "amount": {"amount": 5}}], "discounts": [{"amount": {"amount": 6}, "reason": "r"}]}"#,
      #"{"project": "\#(booked.project)", "lineItems": [{"description": "x", "amount": {"amount": 5}}, {"description": "y", "amount": {"amount": 5, "currency": "EUR"}}]}"#,
    ] {
      #expect(throws: VaultError.self, "\(line)") {
        _ = try store.importLines([line], into: .invoices, actor: owner)
      }
    }
    #expect(throws: VaultError.self) {
      _ = try store.importLines(
        [#"{"invoice": "\#(booked.invoice)", "amount": {"amount": -240000}}"#], into: .payments,
        actor: owner)
    }
    // A branch-scoped writer cannot create branches or organization users, or change
    // the settings.
    for (collection, line) in [
      (RecordCollection.branches, #"{"name": "Rogue"}"#),
      (.users, #"{"name": "boss", "role": "owner"}"#),
    ] {
      let denied = #expect(throws: VaultError.self) {
        _ = try store.importLines([line], into: collection, actor: owner, scope: .branch(downtown))
      }
      #expect(denied?.code == .policyViolation)
    }
    #expect(throws: VaultError.self) {
      try store.write(actor: owner) { tx throws(VaultError) in
        var settings = try tx.settings()
        settings["billingEnforcement"] = .bool(false)
        try tx.update(settings, scope: .branch(downtown))
      }
    }
    // CRLF lines, and a batch whose ids are taken: renumbered, references followed.
    let invoices = try store.all(.invoices)
    let first = try #require(invoices.first { $0.id == booked.invoice })
    var correction = first
    correction["corrects"] = .bytes(booked.invoice.bytes)
    correction["status"] = .string("void")
    let lines = [correction.json.encoded, first.json.encoded].joined(separator: "\r\n")
    let copies = try store.write(actor: owner) { tx throws(VaultError) in
      try tx.importJSONLines(lines, into: .invoices, branch: nil, scope: .organization)
    }
    #expect(copies.count == 2 && !copies.contains(booked.invoice))
    let copiedCorrection = try #require(try store.fetch(.invoices, copies[0]))
    #expect(copiedCorrection.reference("corrects") == copies[1])
    #expect(try store.indexProblems() == [])
  }

  /// A project too large for its day entries to carry a copy is still listed by date
  /// (read from its tree), and updates move it between the two forms.
  @Test func largeProjectsAreListedByDateWithoutACopy() throws {
    let dir = TemporaryDirectory()
    let (store, owner, downtown, _) = try studioStore(dir)
    let booked = try bookedProject(store, owner: owner)
    let june = Day(iso: "2027-06-01")!...Day(iso: "2027-06-30")!
    func dayValues() throws -> [Int] {
      try store.sealed.read { snapshot throws(VaultError) in
        var sizes = [Int]()
        try snapshot.snapshot.anyTree(named: RecordIndexes.treeName(.projects))?.scanTyped {
          key, value in
          if key.first == 3 { sizes.append(value.count) }
          return true
        }
        return sizes
      }
    }
    #expect(try dayValues().allSatisfy { $0 > 0 })
    try store.write(actor: owner) { tx throws(VaultError) in
      var project = try need(try tx.get(.projects, booked.project, scope: .organization))
      project["shotList"] = .list(
        (0..<400).map { .string(String(repeating: "golden hour \($0) ", count: 8)) })
      try tx.update(project, scope: .branch(downtown))
    }
    #expect(try dayValues() == [0])
    #expect(try store.all(.projects, filter: .days(june)).map(\.id) == [booked.project])
    #expect(try store.indexProblems() == [])
    try store.write(actor: owner) { tx throws(VaultError) in
      var project = try need(try tx.get(.projects, booked.project, scope: .organization))
      project["shotList"] = nil
      try tx.update(project, scope: .branch(downtown))
    }
    #expect(try dayValues().allSatisfy { $0 > 0 })
    #expect(try store.all(.projects, filter: .days(june)).map(\.id) == [booked.project])
    #expect(try store.indexProblems() == [])
  }

  /// Scans inside a write transaction walk long ranges in batches: all 600 media of a
  /// project are listed and removed with it.
  @Test func longRangesInsideAWriteTransaction() throws {
    let dir = TemporaryDirectory()
    let (store, owner, _, _) = try studioStore(dir)
    let booked = try bookedProject(store, owner: owner)
    let report = try store.write(actor: owner) { tx throws(VaultError) in
      for index in 0..<599 {
        var media = Record(.media)
        media["project"] = .bytes(booked.project.bytes)
        media["fileName"] = .string("IMG_\(index).jpg")
        try tx.insert(media, scope: .organization)
      }
      var listed = 0
      var cursor: String?
      repeat {
        let page = try tx.list(
          .media, scope: .organization, filter: .reference(field: "project", booked.project),
          after: cursor, limit: 250)
        listed += page.records.count
        cursor = page.nextCursor
      } while cursor != nil
      #expect(listed == 600)
      return try tx.deleteProject(booked.project, scope: .organization)
    }
    #expect(report.mediaRemoved == 600)
    #expect(try store.all(.media).isEmpty && store.indexProblems() == [])
  }
}
