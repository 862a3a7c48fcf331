import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

let ownerPassword = "the owner's password, 2026"

/// A new vault with an organization (USD) and its owner, two branches ("Downtown",
/// "Harbor"); cheap password hashing keeps tests fast.
func studioStore(_ dir: TemporaryDirectory, name: String = "r.vault") throws -> (
  RecordStore, owner: RecordID, downtown: RecordID, harbor: RecordID
) {
  let store = try RecordStore.create(
    at: dir.file(name), credential: testCredential, keyDerivation: cheapKeyDerivation,
    organization: .init(
      ownerName: "owner", ownerPassword: SecretBytes(utf8: ownerPassword),
      currency: try Currency("USD"), passwordHashing: cheapKeyDerivation))
  let owner = try store.authenticate(user: "owner", password: SecretBytes(utf8: ownerPassword))
  let (downtown, harbor) = try store.write(actor: owner.user) { tx throws(VaultError) in
    var first = Record(.branches)
    first["name"] = .string("Downtown")
    var second = Record(.branches)
    second["name"] = .string("Harbor")
    return (
      try tx.insert(first, scope: .organization).id!,
      try tx.insert(second, scope: .organization).id!
    )
  }
  return (store, owner.user, downtown, harbor)
}

extension RecordStore {
  /// Imports JSON lines as `actor` in `scope`; returns the new ids.
  func importLines(
    _ lines: [String], into collection: RecordCollection, actor: RecordID,
    scope: Scope = .organization, branch: RecordID? = nil
  ) throws(VaultError) -> [RecordID] {
    try write(actor: actor) { tx throws(VaultError) in
      try tx.importJSONLines(
        lines.joined(separator: "\n"), into: collection, branch: branch, scope: scope)
    }
  }

  /// Record `id`, seen organization-wide.
  func fetch(_ collection: RecordCollection, _ id: RecordID) throws(VaultError) -> Record? {
    try read { snapshot throws(VaultError) in
      try snapshot.get(collection, id, scope: .organization)
    }
  }

  /// Every record of `collection` in `scope` that `filter` selects, page by page
  /// (pages of `pageSize`, so cursors get exercised).
  func all(
    _ collection: RecordCollection, scope: Scope = .organization, filter: RecordFilter = .all,
    search: String? = nil, pageSize: Int = 7
  ) throws(VaultError) -> [Record] {
    try read { snapshot throws(VaultError) in
      var records = [Record]()
      var cursor: String?
      repeat {
        let page =
          if let search {
            try snapshot.search(collection, search, scope: scope, after: cursor, limit: pageSize)
          } else {
            try snapshot.list(
              collection, scope: scope, filter: filter, after: cursor, limit: pageSize)
          }
        records += page.records
        cursor = page.nextCursor
      } while cursor != nil
      return records
    }
  }
}

/// A string of exactly `bytes` UTF-8 bytes, in several scripts.
func unicodeText(bytes: Int) -> String {
  let pieces = ["Zoë", " Ångström", " 山田", " Łódź", " 🎞️", " Ωμέγα"]
  var text = ""
  var index = 0
  while true {
    let next = pieces[index % pieces.count]
    if text.utf8.count + next.utf8.count > bytes { break }
    text += next
    index += 1
  }
  return text + String(repeating: "x", count: bytes - text.utf8.count)
}

@Suite struct RecordTests {
  /// Every collection and every field a caller writes, at full size and in several
  /// scripts, and with only the required fields: imported, read back, exported and
  /// imported into another vault, unchanged.
  @Test func everyCollectionRoundTripsThroughJSONLines() throws {
    let dir = TemporaryDirectory()
    let (store, owner, _, _) = try studioStore(dir)
    let long = unicodeText(bytes: 200)
    func quoted(_ text: String) -> String { JSON.string(text).encoded }
    let vendor = try store.importLines(
      [
        #"{"name": "Ana Vendor", "role": "vendor", "email": "ana@example.com"}"#,
        #"{"name": "Sam Staff", "role": "staff", "branch": "Downtown"}"#,
      ], into: .users, actor: owner)[0]
    let clients = try store.importLines(
      [
        """
        {"displayName": \(quoted(long)), "branch": "Downtown", "emails": ["zoe@example.com", "z@ex.org"],
         "phones": ["+1 (555) 010-0199"], "address": {"line1": "1 Rue", "line2": "Apt 2", "city": "Lyon",
         "region": "ARA", "postalCode": "69001", "country": "FR"}, "notes": \(quoted(unicodeText(bytes: 16_384))),
         "leadSource": "instagram", "tags": ["vip", "2027"]}
        """.replacingOccurrences(of: "\n", with: " "),
        #"{"displayName": "M", "branch": "Harbor"}"#,
      ], into: .clients, actor: owner)
    let projects = try store.importLines(
      [
        """
        {"title": \(quoted(long)), "client": "\(clients[0])", "branch": "Downtown", "kind": "wedding",
         "status": "booked", "sessions": [{"start": "2027-06-13T15:30:00-04:00", "end": "2027-06-13T23:00:00.250-04:00",
         "location": "Chapel"}, {"start": "2027-06-14T10:00:00Z"}], "onSiteContact": {"name": "Mia", "phone": "555"},
         "package": "Gold", "deliverables": ["album", "film"], "shotList": ["rings", "first dance"]}
        """.replacingOccurrences(of: "\n", with: " "),
        #"{"title": "T", "client": "\#(clients[1])", "branch": "Harbor"}"#,
      ], into: .projects, actor: owner)
    _ = try store.importLines(
      [
        #"{"project": "\#(projects[0])", "value": {"amount": 250000, "currency": "USD"}, "terms": "Net 30", "signatureStatus": "signed", "signedAt": "2027-01-02T03:04:05+05:30"}"#,
        #"{"project": "\#(projects[1])", "value": {"amount": 0}}"#,
      ], into: .contracts, actor: owner)
    let invoices = try store.importLines(
      [
        #"{"project": "\#(projects[0])", "lineItems": [{"description": "Gold", "amount": {"amount": 250000}}], "discounts": [{"amount": {"amount": 5000, "currency": "USD"}, "reason": "loyal"}], "dueDate": "2027-05-01", "status": "sent"}"#,
        #"{"project": "\#(projects[1])", "lineItems": [{"description": "Mini", "amount": {"amount": 100, "currency": "JPY"}}]}"#,
      ], into: .invoices, actor: owner)
    _ = try store.importLines(
      [
        #"{"project": "\#(projects[0])", "lineItems": [{"description": "Gold", "amount": {"amount": 240000}}], "corrects": "\#(invoices[0])"}"#
      ],
      into: .invoices, actor: owner)
    let payments = try store.importLines(
      [
        #"{"invoice": "\#(invoices[0])", "amount": {"amount": 100000}, "method": "bankTransfer", "gatewayReference": "tr_991", "receivedAt": "2027-04-01T09:00:00Z"}"#,
        #"{"invoice": "\#(invoices[1])", "amount": {"amount": 100, "currency": "JPY"}}"#,
      ], into: .payments, actor: owner)
    _ = try store.importLines(
      [
        #"{"invoice": "\#(invoices[0])", "amount": {"amount": 99000}, "corrects": "\#(payments[0])"}"#
      ],
      into: .payments, actor: owner)
    _ = try store.importLines(
      [#"{"payment": "\#(payments[0])", "amount": {"amount": 1000}, "reason": "late delivery"}"#],
      into: .refunds, actor: owner)
    _ = try store.importLines(
      [
        #"{"payment": "\#(payments[0])", "amount": {"amount": 1000}, "reason": "chargeback", "status": "opened", "gatewayReference": "dp_1", "openedAt": "2027-04-03T00:00:00Z", "closedAt": "2027-05-03T00:00:00Z"}"#
      ], into: .disputes, actor: owner)
    _ = try store.importLines(
      [
        #"{"vendor": "Ana Vendor", "project": "\#(projects[0])", "role": "secondShooter", "rate": {"amount": 40000}, "start": "2027-06-13", "end": "2027-06-14", "status": "active"}"#,
        #"{"vendor": "\#(vendor)", "project": "\#(projects[1])", "role": "editor"}"#,
      ], into: .engagements, actor: owner)
    _ = try store.importLines(
      [
        #"{"project": "\#(projects[0])", "fileName": "DSC_0001.NEF", "kind": "raw", "size": 52428800, "capturedAt": "2027-06-13T16:00:00-04:00", "camera": "Z9", "width": 8256, "height": 5504, "contentHash": "ab12", "tags": ["ceremony"], "selected": true, "delivered": false}"#,
        #"{"project": "\#(projects[1])", "fileName": "x.jpg"}"#,
      ], into: .media, actor: owner)

    let exported = Dictionary(
      uniqueKeysWithValues: try RecordCollection.allCases.filter { $0 != .settings }.map {
        ($0, try store.all($0))
      })
    #expect(exported[.clients]?.first { $0.id == clients[0] }?.text("displayName") == long)
    #expect(exported[.invoices]?.count == 3 && exported[.payments]?.count == 3)

    // Into a second vault: the export imports back to equal records (same ids).
    let (copy, copyOwner, _, _) = try studioStore(dir, name: "copy.vault")
    try copy.write(actor: copyOwner) { tx throws(VaultError) in
      // The copy has its own owner and branches: carry over the others.
      for branch in exported[.branches] ?? []
      where try tx.id(named: branch.text("name")!, in: .branches) == nil {
        _ = try tx.insert(branch, scope: .organization)
      }
    }
    let order: [RecordCollection] = [
      .users, .clients, .projects, .contracts, .invoices, .payments, .refunds, .disputes,
      .engagements, .media,
    ]
    for collection in order {
      var lines = (exported[collection] ?? []).map { $0.json.encoded }
      if collection == .users { lines = lines.filter { !$0.contains("\"owner\"") } }
      // Branches differ in id between the vaults: name them.
      for branch in exported[.branches] ?? [] {
        lines = lines.map {
          $0.replacingOccurrences(of: branch.id!.description, with: branch.text("name")!)
        }
      }
      _ = try copy.importLines(lines, into: collection, actor: copyOwner)
    }
    for collection in order {
      let original = (exported[collection] ?? []).filter { $0.text("role") != "owner" }
      let copied = try copy.all(collection).filter { $0.text("role") != "owner" }
      #expect(original.count == copied.count, "\(collection)")
      for record in original {
        let twin = try #require(copied.first { $0.id == record.id }, "\(collection) \(record.id!)")
        #expect(
          RecordTransaction.callerFields(twin.fields, specs: twin.schema.fields)
            == RecordTransaction.callerFields(record.fields, specs: record.schema.fields),
          "\(collection)")
      }
    }
    #expect(try store.indexProblems() == [] && copy.indexProblems() == [])
  }
}

extension RecordTests {
  /// Bad lines stop the import with an error naming the line and field; nothing of
  /// that import is written, not even its good lines.
  @Test(arguments: [
    (
      #"{"displayName": 5, "branch": "Downtown"}"#,
      "line 2: displayName: expected a string, got a number"
    ),
    (#"{"branch": "Downtown"}"#, "line 2: displayName: required, but missing"),
    (#"{"displayName": "A"}"#, "line 2: branch: required, but missing"),
    (#"{"displayName": "A", "branch": "Nowhere"}"#, "line 2: branch: no branch named"),
    (#"{"displayName": "A", "branch": "Downtown", "emial": []}"#, "line 2: emial: unknown field"),
    (
      #"{"displayName": "A", "branch": "Downtown", "emails": "a@b"}"#,
      "line 2: emails: expected a list"
    ),
    (
      #"{"displayName": "A", "branch": "Downtown", "address": {"zip": "1"}}"#,
      "line 2: address.zip: unknown field"
    ),
    (
      #"{"displayName": "A", "branch": "Downtown", "id": "nope"}"#,
      "line 2: id: not a record id"
    ),
    (
      #"{"displayName": "\#(String(repeating: "é", count: 101))", "branch": "Downtown"}"#,
      "line 2: displayName: 202 bytes is longer than the 200 allowed"
    ),
    (
      #"{"displayName": "A", "branch": "Downtown", "tags": [1]}"#,
      "line 2: tags[0]: expected a string"
    ),
    (#"{"displayName": "A", "branch": "Downtown",}"#, "line 2: invalid JSON"),
    (#"{"displayName": "A", "displayName": "B", "branch": "Downtown"}"#, "appears twice"),
    (#"["displayName"]"#, "line 2: expected an object, got a list"),
  ])
  func badClientLinesWriteNothing(line: String, message: String) throws {
    let dir = TemporaryDirectory()
    let (store, owner, _, _) = try studioStore(dir)
    let good = #"{"displayName": "Good", "branch": "Downtown"}"#
    let error = #expect(throws: VaultError.self) {
      _ = try store.importLines([good, line, good], into: .clients, actor: owner)
    }
    #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    #expect(error?.code == .invalidRecord)
    #expect(try store.all(.clients).isEmpty)
  }

  /// Money, references and financial rules, each refused with its field named.
  @Test func badFinancialLinesNameTheirField() throws {
    let dir = TemporaryDirectory()
    let (store, owner, _, _) = try studioStore(dir)
    let client = try store.importLines(
      [#"{"displayName": "C", "branch": "Downtown"}"#], into: .clients, actor: owner)[0]
    let project = try store.importLines(
      [#"{"title": "P", "client": "\#(client)", "branch": "Downtown"}"#], into: .projects,
      actor: owner)[0]
    let cases: [(RecordCollection, String, String)] = [
      (
        .invoices,
        #"{"project": "\#(project)", "lineItems": [{"description": "x", "amount": {"amount": 10.5}}]}"#,
        "lineItems[0].amount.amount: expected integer minor units"
      ),
      (
        .invoices,
        #"{"project": "\#(project)", "lineItems": [{"description": "x", "amount": {"amount": 1, "currency": "XYZ"}}]}"#,
        "lineItems[0].amount.currency: \"XYZ\" is not an ISO 4217"
      ),
      (
        .invoices,
        #"{"project": "\#(project)", "lineItems": [{"description": "x", "amount": 100}]}"#,
        "lineItems[0].amount: expected money"
      ),
      (.invoices, #"{"project": "\#(project)"}"#, "lineItems: required, but missing"),
      (
        .invoices, #"{"project": "\#(RecordID.random())", "lineItems": []}"#,
        "project: no such project"
      ),
      (
        .invoices, #"{"project": "\#(project)", "lineItems": [], "status": "overdue"}"#,
        "status: not one of"
      ),
      (
        .invoices,
        #"{"project": "\#(project)", "lineItems": [{"description": "card 4111-1111-1111-1111", "amount": {"amount": 1}}]}"#,
        "lineItems[0].description: looks like a payment card number"
      ),
      (
        .projects, #"{"title": "P", "client": "\#(client)", "branch": "Harbor"}"#,
        "client: no such client in this branch"
      ),
      (
        .projects,
        #"{"title": "P", "client": "\#(client)", "branch": "Downtown", "sessions": [{"start": "2027-06-13 15:30"}]}"#,
        "sessions[0].start: \"2027-06-13 15:30\" is not an RFC 3339 time"
      ),
      (
        .projects,
        #"{"title": "P", "client": "\#(client)", "branch": "Downtown", "sessions": [{"start": "2027-02-30T10:00:00Z"}]}"#,
        "sessions[0].start: \"2027-02-30T10:00:00Z\" is not"
      ),
      (
        .contracts, #"{"project": "\#(project)", "value": {"amount": 1}, "branch": "Harbor"}"#,
        "branch: differs from the project's branch"
      ),
      (
        .media, #"{"project": "\#(project)", "fileName": "a.jpg", "size": -1}"#,
        "size: -1 is outside"
      ),
      (
        .engagements, #"{"vendor": "owner", "project": "\#(project)", "role": "editor"}"#,
        "vendor: the user is not a vendor"
      ),
      (.users, #"{"name": "S", "role": "staff"}"#, "branch: required for the role staff"),
      (.users, #"{"name": "owner", "role": "hq"}"#, "another users record has the name"),
      (
        .users, #"{"name": "X", "role": "hq", "passwordHash": "$argon2id$..."}"#,
        "passwordHash: unknown field"
      ),
    ]
    for (collection, line, message) in cases {
      let error = #expect(throws: VaultError.self, "\(line)") {
        _ = try store.importLines([line], into: collection, actor: owner)
      }
      #expect(error?.message.contains("line 1: " + message) == true, "\(error?.message ?? "")")
    }
    #expect(try store.all(.invoices).isEmpty && store.all(.contracts).isEmpty)
    #expect(throws: VaultError.self) { _ = try RecordCollection(named: "clientz") }
  }

  /// Search: prefixes, case and accents, words of name, email and phone, every word
  /// required; and a branch-scoped search never returns the other branch's look-alike.
  @Test func searchFindsPrefixesAcrossAccentsAndStaysInItsBranch() throws {
    let dir = TemporaryDirectory()
    let (store, owner, downtown, harbor) = try studioStore(dir)
    let ids = try store.importLines(
      [
        #"{"displayName": "Zoë Ångström", "branch": "Downtown", "emails": ["zoe.angstrom@example.com"], "phones": ["+1 (555) 010-0199"]}"#,
        #"{"displayName": "ZOE ANGSTROM", "branch": "Harbor", "emails": ["zoe.angstrom@example.com"], "phones": ["+1 (555) 010-0199"]}"#,
        #"{"displayName": "Marcus Lee", "branch": "Downtown", "emails": ["m_lee-family@studio.example"]}"#,
      ], into: .clients, actor: owner)
    func found(_ text: String, _ scope: Scope = .organization) throws -> Set<RecordID> {
      Set(try store.all(.clients, scope: scope, search: text, pageSize: 1).compactMap(\.id))
    }
    #expect(try found("zoe") == [ids[0], ids[1]])
    #expect(try found("ZOË ÅNG") == [ids[0], ids[1]])
    #expect(try found("angström") == [ids[0], ids[1]])
    #expect(try found("zoe", .branch(downtown)) == [ids[0]])
    #expect(try found("zoe", .branch(harbor)) == [ids[1]])
    #expect(try found("exam") == Set(ids))
    #expect(try found("555") == [ids[0], ids[1]])
    #expect(try found("15550100199", .branch(harbor)) == [ids[1]])
    #expect(try found("family lee") == [ids[2]])
    #expect(try found("studio") == [ids[2]])
    #expect(try found("zoe lee").isEmpty)  // every word must match
    #expect(try found("ngstrom").isEmpty)  // a word's start, not its middle
    #expect(try found("marcusz").isEmpty)
    #expect(throws: VaultError.self) { _ = try found("zo") }
    #expect(throws: VaultError.self) { _ = try found("  ") }
    // Other branches' records are out of reach by id too.
    try store.read { snapshot throws(VaultError) in
      #expect(try snapshot.get(.clients, ids[1], scope: .branch(downtown)) == nil)
      #expect(try snapshot.get(.clients, ids[1], scope: .branch(harbor)) != nil)
      #expect(try snapshot.get(.branches, harbor, scope: .branch(downtown)) == nil)
    }
    #expect(try store.all(.clients, scope: .branch(downtown)).count == 2)
    #expect(throws: VaultError.self) {
      _ = try store.all(.clients, scope: .branch(downtown), filter: .branch(harbor))
    }
  }
}

extension RecordTests {
  /// Mutated and random JSON lines (flipped, dropped, duplicated bytes; deep nesting;
  /// huge numbers) only ever fail with a `VaultError` naming a line: no trap, nothing
  /// written.
  @Test func hostileJSONLinesFailCleanly() throws {
    let seed = testSeed(0x150A)
    var random = SeededGenerator(seed: seed)
    let dir = TemporaryDirectory()
    let (store, owner, _, _) = try studioStore(dir)
    let valid = Array(
      #"{"displayName": "Zoë", "branch": "Downtown", "emails": ["a@b.c"], "address": {"city": "Lyon"}, "tags": ["x"], "notes": "\u00e9\n"}"#
        .utf8)
    var cases: [String] = [
      String(repeating: "[", count: 10_000), String(repeating: "{\"a\":", count: 5_000),
      #"{"displayName": 1e999999, "branch": "Downtown"}"#,
      #"{"displayName": "\ud800", "branch": "Downtown"}"#,
      #"{"displayName": -99999999999999999999999, "branch": "Downtown"}"#,
      "\u{FEFF}{}", "", "   ", "null", "[]", "\"x\"",
    ]
    for _ in 0..<1500 {
      var bytes = valid
      for _ in 0..<Int.random(in: 1...4, using: &random) {
        let position = Int.random(in: 0..<bytes.count, using: &random)
        switch Int.random(in: 0..<3, using: &random) {
        case 0: bytes[position] ^= UInt8.random(in: 1...255, using: &random)
        case 1: bytes.remove(at: position)
        default: bytes.insert(bytes[position], at: position)
        }
        if bytes.isEmpty { bytes = [0x7B] }
      }
      cases.append(String(decoding: bytes, as: UTF8.self))
    }
    /// The import's error, or nil when the line was accepted (then rolled back).
    func failure(_ line: String) -> VaultError? {
      let outcome = Result { () throws(VaultError) in
        try store.write(actor: owner) { tx throws(VaultError) in
          _ = try tx.importJSONLines(line, into: .clients, branch: nil, scope: .organization)
          throw VaultError(.invalidArgument, "rolled back")  // keep the vault empty
        }
      }
      guard case .failure(let error) = outcome, error.message != "rolled back" else { return nil }
      return error
    }
    var refused = 0
    for line in cases {
      guard let error = failure(line) else { continue }
      refused += 1
      #expect(error.message.hasPrefix("line 1: "), "seed \(seed): \(error.message)")
    }
    #expect(refused > 1000, "seed \(seed)")
    #expect(try store.all(.clients).isEmpty)
  }
}
