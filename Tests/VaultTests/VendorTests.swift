import Foundation
import Testing
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault

/// Vendors (../shared/spec/access.md, Vendors and the matrix's vendor column): they
/// reach the projects of their active engagements and, around them, names only;
/// access ends at completion unless extended; uploads are write-only with receipts.
@Suite struct VendorTests {
  static let vendorPassword = "a vendor's password, long enough"

  /// Sentinels in everything a vendor must never see.
  static let canaries = [
    "CANARY-EMAIL@example.com", "CANARY NOTE", "CANARY PACKAGE", "CANARY HARBOR CLIENT",
    "CANARY TERMS", "owner", "clerk",
  ]

  struct Studio {
    let store: RecordStore
    let owner: VaultHandle
    let clock: TestClock
    let vendor: RecordID
    let project, otherProject, client, engagement, otherEngagement: RecordID
    let downtown, harbor: RecordID
    var today: Day { Timestamp(milliseconds: clock.read()).day }

    func vendorHandle() throws -> VaultHandle {
      try store.login(
        user: "lens", password: SecretBytes(utf8: VendorTests.vendorPassword), clock: clock.read
      ).handle
    }
  }

  /// A downtown project with two vendors engaged (lens, grip), and a harbor project
  /// lens is not engaged on; sentinels in every field vendors may not read.
  static func studio(_ dir: TemporaryDirectory) throws -> Studio {
    let (store, ownerPrincipal, staff) = try SessionTests.studio(dir)
    let clock = TestClock(SessionTests.start)
    let (owner, _) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: clock.read)
    let downtown = try #require(staff.branch)
    let harbor = try #require(
      try store.read { snapshot throws(VaultError) in
        try snapshot.id(named: "Harbor", in: .branches)
      })
    let vendors = try ["lens", "grip"].map { name in
      try addVendor(name, to: store, by: ownerPrincipal)
    }
    let today = Timestamp(milliseconds: clock.read()).day.daysSince1970
    let ids = try owner.write { records, scope throws(VaultError) -> [RecordID] in
      var client = Record(.clients, branch: downtown)
      client["displayName"] = .string("Ana Lima")
      client["emails"] = .list([.string("CANARY-EMAIL@example.com")])
      client["notes"] = .string("CANARY NOTE")
      let clientID = try records.insert(client, scope: scope).id!
      var harborClient = Record(.clients, branch: harbor)
      harborClient["displayName"] = .string("CANARY HARBOR CLIENT")
      let harborClientID = try records.insert(harborClient, scope: scope).id!
      var project = Record(.projects, branch: downtown)
      project["title"] = .string("Lima wedding")
      project["client"] = .bytes(clientID.bytes)
      project["package"] = .string("CANARY PACKAGE")
      project["deliverables"] = .list([.string("album")])
      project["shotList"] = .list([.string("first dance")])
      let projectID = try records.insert(project, scope: scope).id!
      var other = Record(.projects, branch: harbor)
      other["title"] = .string("Harbor gala")
      other["client"] = .bytes(harborClientID.bytes)
      let otherID = try records.insert(other, scope: scope).id!
      var contract = Record(.contracts, branch: downtown)
      contract["project"] = .bytes(projectID.bytes)
      contract["terms"] = .string("CANARY TERMS")
      contract["value"] = .money(minorUnits: 987_654, currency: "USD")
      _ = try records.insert(contract, scope: scope)
      var engagements = [RecordID]()
      for (vendor, rate) in zip(vendors, [111_111, 222_222]) {
        var engagement = Record(.engagements)
        engagement["vendor"] = .bytes(vendor.bytes)
        engagement["project"] = .bytes(projectID.bytes)
        engagement["role"] = .string("secondShooter")
        engagement["rate"] = .money(minorUnits: Int64(rate), currency: "USD")
        engagement["start"] = .date(days: today - 1)
        engagement["end"] = .date(days: today + 30)
        engagements.append(try records.insert(engagement, scope: scope).id!)
      }
      // Media a staff member stored: not the vendor's receipt.
      var media = Record(.media)
      media["project"] = .bytes(projectID.bytes)
      media["fileName"] = .string("staff.jpg")
      _ = try records.insert(media, scope: scope)
      return [projectID, otherID, clientID] + engagements
    }
    return Studio(
      store: store, owner: owner, clock: clock, vendor: vendors[0], project: ids[0],
      otherProject: ids[1], client: ids[2], engagement: ids[3], otherEngagement: ids[4],
      downtown: downtown, harbor: harbor)
  }

  /// Adds vendor `name` with ``vendorPassword``, hashed cheaply (the tests log in often).
  static func addVendor(_ name: String, to store: RecordStore, by owner: RecordStore.Principal)
    throws -> RecordID
  {
    try store.write(actor: owner.user) { tx throws(VaultError) -> RecordID in
      var user = Record(.users)
      user["name"] = .string(name)
      user["role"] = .string("vendor")
      user["status"] = .string("active")
      user["passwordHash"] = .string(
        try PasswordHash.hash(SecretBytes(utf8: vendorPassword), parameters: cheapKeyDerivation))
      return try tx.insertTrusted(user, scope: .organization).id!
    }
  }

  /// Everything a handle reads, as text.
  static func everything(_ handle: VaultHandle) throws -> String {
    var text = ""
    for collection in RecordCollection.allCases {
      for record in try handle.list(collection).records {
        text += "\(record)\n"
        let id = try #require(record.id)
        text += "\(String(describing: try handle.get(collection, id)))\n"
      }
    }
    for collection in [RecordCollection.clients] {
      for word in ["ana", "canary", "owner", "clerk", "lens", "downtown"] {
        text += "\(try handle.search(collection, word).records)\n"
      }
    }
    return text
  }

  @Test func aVendorSeesItsEngagedProjectAndNamesOnly() throws {
    let dir = TemporaryDirectory()
    let studio = try Self.studio(dir)
    let vendor = try studio.vendorHandle()
    let project = try #require(try vendor.get(.projects, studio.project))
    #expect(project.text("title") == "Lima wedding")
    #expect(project["shotList"] != nil && project["deliverables"] != nil)
    #expect(project["package"] == nil)
    #expect(try vendor.get(.projects, studio.otherProject) == nil)
    let client = try #require(try vendor.get(.clients, studio.client))
    #expect(client.text("displayName") == "Ana Lima")
    #expect(client["emails"] == nil && client["notes"] == nil && client.createdBy == nil)
    // Its own engagement with its own rate; never the other vendor's.
    let own = try vendor.list(.engagements).records
    #expect(own.map(\.id) == [studio.engagement])
    #expect(own.first?.money("rate")?.minorUnits == 111_111)
    #expect(try vendor.get(.engagements, studio.otherEngagement) == nil)
    // Crew names: itself and the other vendor on the project, not the studio's staff.
    let names = try vendor.list(.users).records.compactMap { $0.text("name") }.sorted()
    #expect(names == ["grip", "lens"])
    #expect(try vendor.list(.users).records.allSatisfy { $0["role"] == nil })
    #expect(try vendor.list(.branches).records.map(\.id) == [studio.downtown])
    for collection in [RecordCollection.contracts, .invoices, .payments, .settings, .media] {
      #expect(try vendor.list(collection).records.isEmpty, "\(collection)")
    }
    // No sentinel reaches any of its reads, lists or searches.
    let text = try Self.everything(vendor)
    for canary in Self.canaries {
      #expect(!text.contains(canary), "a vendor read \(canary)")
    }
    #expect(!text.contains("222222") && !text.contains("2222.22") && !text.contains("987654"))
    // Filters and searches work on what it sees, and tell nothing about the rest.
    #expect(try vendor.search(.clients, "ana").records.count == 1)
    #expect(try vendor.search(.clients, "canary").records.isEmpty)
    #expect(
      try vendor.list(.projects, filter: .reference(field: "client", studio.client)).records.count
        == 1)
  }

  @Test func vendorsWriteNothingAndReadNoAuditAndEveryRefusalIsLogged() throws {
    let dir = TemporaryDirectory()
    let studio = try Self.studio(dir)
    let vendor = try studio.vendorHandle()
    let denials = { () throws -> Int in
      try studio.owner.readAudit().entries.filter { $0.event.action == .accessDenied }.count
    }
    let before = try denials()
    #expect(throws: VaultError.self) {
      try vendor.write { records, scope throws(VaultError) in
        var project = Record(.projects, branch: studio.downtown)
        project["title"] = .string("mine")
        project["client"] = .bytes(studio.client.bytes)
        _ = try records.insert(project, scope: scope)
      }
    }
    #expect(throws: VaultError.self) { _ = try vendor.readAudit() }
    #expect(try denials() == before + 2)
  }

  @Test func accessEndsAtCompletionUnlessExtendedAndAtTheEngagementsEnd() throws {
    let dir = TemporaryDirectory()
    let studio = try Self.studio(dir)
    let vendor = try studio.vendorHandle()
    #expect(try vendor.get(.projects, studio.project) != nil)
    let report = try studio.owner.completeProject(studio.project)
    #expect(report.engagementsEnded == 2)
    // The very next call, however soon, finds nothing.
    studio.clock.advance(by: 1_000)
    #expect(try vendor.get(.projects, studio.project) == nil)
    #expect(try vendor.list(.projects).records.isEmpty)
    #expect(try vendor.list(.clients).records.isEmpty)
    #expect(throws: VaultError.self) {
      _ = try vendor.storeBlob([1], into: studio.project, fileName: "late.jpg", kind: .photo)
    }
    // Extending takes a step-up bound to the engagement; without one it is refused.
    let ownerToken = try #require(try ownerSession(studio))
    #expect(throws: VaultError.self) {
      try ownerToken.handle.extendEngagement(
        studio.engagement, until: studio.today.adding(days: 7), proof: "svp_00")
    }
    let proof = try studio.store.stepUp(
      session: ownerToken.token, password: SecretBytes(utf8: ownerPassword),
      action: .engagementExtension, resource: studio.engagement, now: studio.clock.read())
    // Not past the engagement's own end.
    #expect(throws: VaultError.self) {
      try ownerToken.handle.extendEngagement(
        studio.engagement, until: studio.today.adding(days: 31), proof: proof)
    }
    try ownerToken.handle.extendEngagement(
      studio.engagement, until: studio.today.adding(days: 7), proof: proof)
    #expect(try vendor.get(.projects, studio.project) != nil)
    // The other vendor's engagement stays ended.
    let grip = try studio.store.login(
      user: "grip", password: SecretBytes(utf8: Self.vendorPassword), clock: studio.clock.read
    ).handle
    #expect(try grip.get(.projects, studio.project) == nil)
    let extended = try studio.owner.readAudit().entries.filter {
      $0.event.action == .engagementExtended
    }
    #expect(extended.count == 1)
    // The extension's last day still grants; the day after does not.
    studio.clock.advance(by: 7 * SessionLimits.day)
    #expect(try vendor.get(.projects, studio.project) != nil)
    studio.clock.advance(by: SessionLimits.day)
    #expect(try vendor.get(.projects, studio.project) == nil)
  }

  @Test func theEngagementsOwnDatesBoundAccess() throws {
    let dir = TemporaryDirectory()
    let studio = try Self.studio(dir)
    let vendor = try studio.vendorHandle()
    // Started yesterday, ends in 30 days: day 30 grants, day 31 does not. (Used every
    // 15 days, the session itself stays alive.)
    studio.clock.advance(by: 15 * SessionLimits.day)
    #expect(try vendor.get(.projects, studio.project) != nil)
    studio.clock.advance(by: 15 * SessionLimits.day)
    #expect(try vendor.get(.projects, studio.project) != nil)
    studio.clock.advance(by: SessionLimits.day)
    #expect(try vendor.get(.projects, studio.project) == nil)
  }

  @Test func uploadsAreWriteOnlyWithReceiptsAndNoExistenceOracle() throws {
    let dir = TemporaryDirectory()
    let studio = try Self.studio(dir)
    let vendor = try studio.vendorHandle()
    let content = [UInt8](repeating: 7, count: 42)
    let first = try vendor.storeBlob(content, into: studio.project, fileName: "a.jpg", kind: .photo)
    let again = try vendor.storeBlob(content, into: studio.project, fileName: "a.jpg", kind: .photo)
    #expect(first.size == 42 && first.size == again.size && first.sha256 == again.sha256)
    #expect(first.sha256 == Hex.encode(SHA256.hash(content)))
    #expect(first.media != again.media && first.blob != again.blob)
    // Its receipts are what it lists; the staff's media stays out of sight.
    let listed = try vendor.list(.media).records
    #expect(Set(listed.compactMap(\.id)) == [first.media, again.media])
    #expect(
      listed.allSatisfy {
        $0["uploader"] == nil && $0["fileName"] == nil
          && $0.text("contentHash") == "sha256:" + first.sha256
      })
    // Not engaged and not existing read the same.
    let messages = [studio.otherProject, RecordID.random()].map { project in
      Self.refusal {
        _ = try vendor.storeBlob([1], into: project, fileName: "x.jpg", kind: nil)
      }
    }
    #expect(messages[0] != nil && messages[0] == messages[1])
    // Write-only: the vendor reads, lists and deletes nothing.
    #expect(Self.refusal { _ = try vendor.openBlob(first.blob) } != nil)
    #expect(Self.refusal { _ = try vendor.blobs(ofProject: studio.project) } != nil)
    #expect(Self.refusal { try vendor.deleteBlob(first.blob) } != nil)
    // Staff of the branch read it back.
    #expect(try studio.owner.openBlob(first.blob).read(at: 0, count: 100) == content)
  }

  /// The message of the policy refusal `body` throws, or nil.
  static func refusal(_ body: () throws -> Void) -> String? {
    do {
      try body()
    } catch let error as VaultError where error.code == .policyViolation {
      return error.message
    } catch {}
    return nil
  }

  /// The owner's handle and its session token.
  func ownerSession(_ studio: Studio) throws -> (handle: VaultHandle, token: String)? {
    try studio.store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: studio.clock.read)
  }
}

extension Day {
  func adding(days: Int32) -> Day { Day(daysSince1970: daysSince1970 + days) }
}
