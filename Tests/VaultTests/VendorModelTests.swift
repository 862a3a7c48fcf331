import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault

/// The vendor column of ../shared/spec/access.md's matrix, typed in again from the
/// text and decided the simplest way over an in-memory picture of the studio: what a
/// vendor reaches and which fields it reads. Random studios (engagements active,
/// ended, cancelled, dated, on completed, extended or deleted projects, uploads) are
/// built in a vault and in this picture; a vendor's handle and the model must agree on
/// every record and field, on every day around today.
enum VendorModel {
  /// The vendor column, cell by cell, and the fields each names.
  static let readable: [RecordCollection: Set<String>] = [
    // "branch name, address, settings": name (engaged)
    .branches: ["name"],
    // "users, roles": names of crew engaged on the same project
    .users: ["name"],
    // "client name": R (engaged); email, phone, address, notes, lead source: —
    .clients: ["displayName"],
    // "title, dates, location, schedule, shot list, on-site contact": R (engaged);
    // "package / deliverables": R deliverables; and the client the name belongs to
    .projects: ["title", "client", "sessions", "onSiteContact", "shotList", "deliverables"],
    // "vendor engagements (who, role, dates)": R own only; "vendor rates": own rate only
    .engagements: ["vendor", "project", "role", "start", "end", "extendedUntil", "rate"],
    // "media metadata": receipts of own uploads only (upload id, size, content hash)
    .media: ["size", "contentHash"],
    // contracts, invoices, payments, refunds, disputes: — ; settings: —
  ]

  struct Project {
    var branch: RecordID
    var client: RecordID
    var completed: Bool
    var deleted = false
  }

  struct Engagement {
    var vendor: RecordID
    var project: RecordID
    var status: String?
    var start, end: Int32?
    var extendedUntil: Int32?
  }

  struct Studio {
    var projects: [RecordID: Project] = [:]
    var engagements: [RecordID: Engagement] = [:]
    /// Media, by uploader (nil: the studio's own).
    var media: [RecordID: (project: RecordID, uploader: RecordID?)] = [:]

    /// "while the engagement is active": its status, its dates, its project's state.
    func isActive(_ engagement: Engagement, on day: Int32) -> Bool {
      guard (engagement.status ?? "active") == "active",
        engagement.start.map({ $0 <= day }) ?? true, engagement.end.map({ $0 >= day }) ?? true,
        let project = projects[engagement.project], !project.deleted
      else { return false }
      return !project.completed || (engagement.extendedUntil.map { $0 >= day } ?? false)
    }

    /// Whether `vendor` reaches record `id` of `collection` on `day`.
    func reaches(_ vendor: RecordID, _ collection: RecordCollection, _ id: RecordID, on day: Int32)
      -> Bool
    {
      let active = engagements.filter { isActive($0.value, on: day) }
      let engaged = Set(active.values.filter { $0.vendor == vendor }.map(\.project))
      switch collection {
      case .projects: return engaged.contains(id)
      case .clients: return engaged.contains { projects[$0]?.client == id }
      case .branches: return engaged.contains { projects[$0]?.branch == id }
      case .users:
        return id == vendor
          || active.values.contains { $0.vendor == id && engaged.contains($0.project) }
      case .engagements: return active[id]?.vendor == vendor
      case .media:
        guard let upload = media[id] else { return false }
        return upload.uploader == vendor && engaged.contains(upload.project)
      default: return false
      }
    }
  }
}

@Suite struct VendorModelTests {
  @Test(arguments: 0..<10)
  func vendorsAndTheModelAgreeOnEveryRecordAndField(world: Int) throws {
    let seed = testSeed(0x7E4D_0000 + UInt64(world))
    var random = SeededGenerator(seed: seed)
    let dir = TemporaryDirectory()
    let (store, ownerPrincipal, staff) = try SessionTests.studio(dir)
    let clock = TestClock(SessionTests.start)
    let today = Timestamp(milliseconds: clock.read()).day.daysSince1970
    let (owner, ownerToken) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: clock.read)
    let downtown = try #require(staff.branch)
    let harbor = try #require(
      try store.read { snapshot throws(VaultError) in
        try snapshot.id(named: "Harbor", in: .branches)
      })
    let branches = [downtown, harbor]
    var vendors = [RecordID]()
    for index in 0..<4 {
      vendors.append(try VendorTests.addVendor("vendor \(index)", to: store, by: ownerPrincipal))
    }
    var model = VendorModel.Studio()
    // Insertion order, so that a seed replays the same choices whatever the ids.
    var projectOrder = [RecordID]()
    var engagementOrder = [RecordID]()
    // Clients, projects (some completed), contracts, the studio's own media, and
    // engagements with every status and date window around today.
    let statuses: [String?] = [nil, "active", "active", "ended", "cancelled"]
    try owner.write { records, scope throws(VaultError) in
      var clients = [RecordID]()
      for index in 0..<4 {
        var client = Record(.clients, branch: branches[index % 2])
        client["displayName"] = .string("Client \(index)")
        client["emails"] = .list([.string("c\(index)@example.com")])
        client["notes"] = .string("note \(index)")
        clients.append(try records.insert(client, scope: scope).id!)
      }
      for index in 0..<6 {
        let client = clients[Int.random(in: 0..<4, using: &random)]
        let branch = branches[clients.firstIndex(of: client)! % 2]
        let completed = Bool.random(using: &random)
        var project = Record(.projects, branch: branch)
        project["title"] = .string("Project \(index)")
        project["client"] = .bytes(client.bytes)
        project["kind"] = .string("wedding")
        project["status"] = .string("booked")
        project["package"] = .string("package \(index)")
        project["deliverables"] = .list([.string("album")])
        project["shotList"] = .list([.string("rings")])
        project["onSiteContact"] = .object(FieldMap([1: .string("Planner")]))
        let id = try records.insert(project, scope: scope).id!
        // Completed as studios complete projects (before any engagement exists here).
        if completed { _ = try records.completeProject(id, scope: scope) }
        model.projects[id] = .init(branch: branch, client: client, completed: completed)
        projectOrder.append(id)
        var contract = Record(.contracts)
        contract["project"] = .bytes(id.bytes)
        contract["terms"] = .string("terms")
        contract["value"] = .money(minorUnits: 100_000, currency: "USD")
        _ = try records.insert(contract, scope: scope)
        var media = Record(.media)
        media["project"] = .bytes(id.bytes)
        media["fileName"] = .string("studio \(index).jpg")
        media["size"] = .integer(10)
        let mediaID = try records.insert(media, scope: scope).id!
        model.media[mediaID] = (id, nil)
      }
      let projects = projectOrder
      for _ in 0..<10 {
        var engagement = Record(.engagements)
        let vendor = vendors[Int.random(in: 0..<vendors.count, using: &random)]
        let project = projects[Int.random(in: 0..<projects.count, using: &random)]
        let status = statuses[Int.random(in: 0..<statuses.count, using: &random)]
        let start: Int32? =
          Bool.random(using: &random) ? today + Int32.random(in: -3...2, using: &random) : nil
        let end: Int32? =
          Bool.random(using: &random) ? today + Int32.random(in: -1...5, using: &random) : nil
        engagement["vendor"] = .bytes(vendor.bytes)
        engagement["project"] = .bytes(project.bytes)
        engagement["role"] = .string("editor")
        engagement["rate"] = .money(minorUnits: 5_000, currency: "USD")
        if let status { engagement["status"] = .string(status) }
        if let start { engagement["start"] = .date(days: start) }
        if let end { engagement["end"] = .date(days: end) }
        let id = try records.insert(engagement, scope: scope).id!
        model.engagements[id] = .init(
          vendor: vendor, project: project, status: status, start: start, end: end)
        engagementOrder.append(id)
      }
    }
    // Extensions past completion, each with its own step-up, where the engine allows one.
    for id in engagementOrder {
      let engagement = model.engagements[id]!
      guard model.projects[engagement.project]!.completed, Bool.random(using: &random) else {
        continue
      }
      let until = today + Int32.random(in: 0...4, using: &random)
      let proof = try store.stepUp(
        session: ownerToken, password: SecretBytes(utf8: ownerPassword),
        action: .engagementExtension, resource: id, now: clock.read())
      do {
        try owner.extendEngagement(id, until: Day(daysSince1970: until), proof: proof)
        model.engagements[id]!.extendedUntil = until
        model.engagements[id]!.status = "active"
      } catch {
        // Refused: cancelled, or past the engagement's own end.
        let status = engagement.status ?? "active"
        #expect(
          status == "cancelled" || (engagement.end.map { until > $0 } ?? false), "seed \(seed)")
      }
    }
    // Each vendor tries an upload into every project: it goes through exactly where the
    // model says the vendor is engaged today.
    var handles = [RecordID: VaultHandle]()
    for (index, vendor) in vendors.enumerated() {
      handles[vendor] = try store.login(
        user: "vendor \(index)", password: SecretBytes(utf8: VendorTests.vendorPassword),
        clock: clock.read
      ).handle
    }
    for vendor in vendors {
      for project in projectOrder {
        let expected = model.reaches(vendor, .projects, project, on: today)
        do {
          let receipt = try handles[vendor]!.storeBlob(
            [1, 2, 3, 4, 5, 6, 7], into: project, fileName: "upload.jpg", kind: .photo)
          model.media[receipt.media] = (project, vendor)
          #expect(expected, "seed \(seed): an upload outside the vendor's engagements")
        } catch {
          #expect(!expected, "seed \(seed): an engaged vendor's upload was refused")
        }
      }
    }
    // One project deleted (its media go with it).
    let deleted = projectOrder[Int.random(in: 0..<projectOrder.count, using: &random)]
    let proof = try store.stepUp(
      session: ownerToken, password: SecretBytes(utf8: ownerPassword), action: .projectDeletion,
      resource: deleted, now: clock.read())
    _ = try owner.deleteProject(deleted, proof: proof)
    model.projects[deleted]!.deleted = true
    model.media = model.media.filter { $0.value.project != deleted }

    // Every record of every collection, as the owner stores it.
    var stored = [RecordCollection: [Record]]()
    for collection in RecordCollection.allCases {
      var cursor: String?
      repeat {
        let page = try store.read { snapshot throws(VaultError) in
          try snapshot.list(collection, scope: .organization, after: cursor, limit: 500)
        }
        stored[collection, default: []] += page.records
        cursor = page.nextCursor
      } while cursor != nil
    }
    stored[.projects, default: []].append(
      try #require(
        try store.read { snapshot throws(VaultError) in
          try snapshot.get(.projects, deleted, scope: .organization)
        }))
    var decisions = 0
    // The days where the windows open and close: before, today, and after.
    for offset: Int32 in [-2, 0, 1, 3, 6] {
      let day = today + offset
      let dayClock = TestClock(SessionTests.start + Int64(offset) * SessionLimits.day)
      for (index, vendor) in vendors.enumerated() {
        let handle = try store.login(
          user: "vendor \(index)", password: SecretBytes(utf8: VendorTests.vendorPassword),
          clock: dayClock.read
        ).handle
        for (collection, records) in stored {
          var expectedIDs = Set<RecordID>()
          for record in records {
            let id = try #require(record.id)
            let reaches = model.reaches(vendor, collection, id, on: day)
            if reaches { expectedIDs.insert(id) }
            let seen = try handle.get(collection, id)
            #expect(
              (seen != nil) == reaches,
              "seed \(seed), day \(offset): vendor \(index) on \(collection) \(id)")
            decisions += 1
            guard let seen else { continue }
            for spec in collection.schema.fields where record.fields[spec.tag] != nil {
              let modelReads = VendorModel.readable[collection]?.contains(spec.name) ?? false
              #expect(
                (seen.fields[spec.tag] != nil) == modelReads,
                "seed \(seed): vendor \(index) reading \(collection).\(spec.name)")
              decisions += 1
            }
            #expect(seen.createdBy == nil)
          }
          let listed = Set(try handle.list(collection, limit: 1000).records.compactMap(\.id))
          #expect(listed == expectedIDs, "seed \(seed), day \(offset): \(collection) list")
        }
      }
    }
    #expect(decisions >= 1_000, "seed \(seed): \(decisions) decisions")
    print("vendor model, seed \(seed): \(decisions) decisions agreed")
  }
}
