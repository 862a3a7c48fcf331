import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// `value`, or a failure (`#require` cannot throw a typed `VaultError`).
func need<T>(_ value: T?) throws(VaultError) -> T {
  guard let value else { throw VaultError(.internal, "a required value is missing") }
  return value
}

@Suite struct TypedRecordTests {
  /// Every typed collection with every field set (several scripts, maximum sizes), and
  /// with only its required fields: stored and read back equal, and every field lands
  /// under its schema tag (nothing silently dropped).
  @Test func everyTypedCollectionRoundTrips() throws {
    let dir = TemporaryDirectory()
    let (store, owner, downtown, _) = try studioStore(dir)
    let usd = try Currency("USD")
    let name = unicodeText(bytes: 200)
    let time = try #require(Timestamp(rfc3339: "2027-06-13T15:30:00.250-04:00"))
    let day = try #require(Day(iso: "2027-06-13"))
    func same<Value: StudioRecord>(_ stored: Value, _ original: Value) -> Bool {
      var expected = original
      expected.meta = stored.meta
      return stored == expected
    }
    func everyField<Value: StudioRecord>(_ value: Value, except: Set<String> = []) {
      let record = value.record
      for spec in record.schema.fields
      where spec.presence != .internal && !except.contains(spec.name) {
        #expect(record.fields[spec.tag] != nil, "\(Value.collection).\(spec.name) not written")
      }
    }
    try store.write(actor: owner) { tx throws(VaultError) in
      var vendor = User(name: name, role: .vendor, email: "ana@example.com")
      vendor = try tx.insert(vendor, scope: .organization)
      #expect(vendor.status == "active" && vendor.meta.version == 1)
      var branch = Branch(name: "Ωμέγα", timeZone: "Europe/Athens")
      branch.address = PostalAddress(
        line1: "1 Odos", line2: "B", city: "Αθήνα", region: "Attica", postalCode: "10552",
        country: "GR")
      let storedBranch = try tx.insert(branch, scope: .organization)
      #expect(same(storedBranch, branch))

      var client = Client(displayName: name, branch: downtown)
      client.emails = ["zoe@example.com", "z@ex.org"]
      client.phones = ["+1 (555) 010-0199"]
      client.address = PostalAddress(line1: "1 Rue", city: "Lyon", country: "FR")
      client.notes = unicodeText(bytes: 16_384)
      client.leadSource = "instagram"
      client.tags = ["vip"]
      everyField(client, except: ["lifetimeValue"])
      let storedClient = try tx.insert(client, scope: .organization)
      let clientID = try need(storedClient.meta.id)
      let readClient = try need(try tx.get(Client.self, clientID, scope: .organization))
      #expect(readClient.lifetimeValue == nil)  // derived only when asked for
      var withoutValue = readClient
      withoutValue.meta = client.meta
      #expect(withoutValue.displayName == name && withoutValue.notes == client.notes)

      var project = Project(title: name, client: clientID, branch: downtown)
      project.kind = .wedding
      project.status = .booked
      project.sessions = [
        .init(start: time, end: time, location: "Chapel"), .init(start: time),
      ]
      project.onSiteContact = .init(name: "Mia", phone: "555")
      project.package = "Gold"
      project.deliverables = ["album"]
      project.shotList = ["rings", "first dance"]
      everyField(project, except: ["legalHold"])
      let storedProject = try tx.insert(project, scope: .organization)
      #expect(same(storedProject, project))
      let projectID = try need(storedProject.meta.id)
      #expect(same(try need(try tx.get(Project.self, projectID, scope: .organization)), project))

      var contract = Contract(project: projectID, value: Money(minorUnits: 250_000, currency: usd))
      contract.terms = "Net 30"
      contract.signatureStatus = .signed
      contract.signedAt = time
      everyField(contract)
      #expect(same(try tx.insert(contract, scope: .organization), contract))

      var invoice = Invoice(
        project: projectID,
        lineItems: [.init(description: "Gold", amount: Money(minorUnits: 250_000, currency: usd))])
      invoice.discounts = [.init(amount: Money(minorUnits: 100, currency: usd), reason: "loyal")]
      invoice.dueDate = day
      invoice.status = .sent
      let storedInvoice = try tx.insert(invoice, scope: .organization)
      #expect(storedInvoice.discounts.first?.appliedBy == owner)
      let invoiceID = try need(storedInvoice.meta.id)
      var correction = Invoice(project: projectID, lineItems: invoice.lineItems)
      correction.corrects = invoiceID
      everyField(correction, except: ["discounts", "dueDate", "status"])
      #expect(same(try tx.insert(correction, scope: .organization), correction))

      var payment = Payment(invoice: invoiceID, amount: Money(minorUnits: 1000, currency: usd))
      payment.method = .bankTransfer
      payment.gatewayReference = "tr_1"
      payment.receivedAt = time
      let storedPayment = try tx.insert(payment, scope: .organization)
      #expect(same(storedPayment, payment))
      let paymentID = try need(storedPayment.meta.id)

      let refund = Refund(
        payment: paymentID, amount: Money(minorUnits: 10, currency: usd), reason: "late")
      let storedRefund = try tx.insert(refund, scope: .organization)
      #expect(storedRefund.state == .requested && storedRefund.requester == owner)

      var dispute = Dispute(
        payment: paymentID, amount: Money(minorUnits: 10, currency: usd), reason: "cb")
      dispute.status = .opened
      dispute.gatewayReference = "dp_1"
      dispute.openedAt = time
      dispute.closedAt = time
      everyField(dispute)
      #expect(same(try tx.insert(dispute, scope: .organization), dispute))

      var engagement = Engagement(
        vendor: try need(vendor.meta.id), project: projectID, role: .editor)
      engagement.rate = Money(minorUnits: 40_000, currency: usd)
      engagement.start = day
      engagement.end = day
      engagement.status = .active
      everyField(engagement, except: ["extendedUntil"])
      #expect(same(try tx.insert(engagement, scope: .organization), engagement))

      var media = Media(project: projectID, fileName: "DSC_0001.NEF")
      media.kind = .raw
      media.size = 52_428_800
      media.capturedAt = time
      media.camera = "Z9"
      media.width = 8256
      media.height = 5504
      media.contentHash = "ab12"
      media.tags = ["ceremony"]
      media.selected = true
      media.delivered = false
      // A blob is stored through a handle (BlobTests checks media records pointing at one).
      everyField(media, except: ["uploader", "blob"])
      let storedMedia = try tx.insert(media, scope: .organization)
      #expect(storedMedia.uploader == owner)

      // Only the required fields.
      let bare = try tx.insert(Media(project: projectID, fileName: "x"), scope: .organization)
      #expect(bare.kind == nil && bare.tags.isEmpty && bare.meta.branch == downtown)

      var settings = try OrganizationSettings(try tx.settings())
      #expect(settings.currency == "USD" && settings.billingEnforcement == true)
      settings.requireTwoFactor = [.owner, .hq]
      settings.stepUpMinutes = 10
      settings.branchRefundLimit = Money(minorUnits: 50_000, currency: usd)
      let updated = try tx.update(settings, scope: .organization)
      #expect(updated.requireTwoFactor == [.owner, .hq] && updated.meta.version == 2)
    }
    #expect(try store.indexProblems() == [])
    // Derived on request: payments (1,000) less executed refunds (none yet).
    let clients = try store.all(.clients)
    let derived = try store.read { snapshot throws(VaultError) in
      try clients.map { (record) throws(VaultError) in
        try Client(snapshot.withDerivedFields(record, scope: .organization))
      }
    }
    #expect(derived.compactMap(\.lifetimeValue) == [Money(minorUnits: 1000, currency: usd)])
  }

  /// A stored value that does not fit its typed field is `.corrupt`, not a trap.
  @Test func mismatchedStoredValuesAreCorrupt() throws {
    var record = Record(.projects)
    record["title"] = .integer(5)
    #expect(throws: VaultError.self) { _ = try Project(record) }
    record["title"] = .string("T")
    #expect(throws: VaultError.self) { _ = try Project(record) }  // no client
    record["client"] = .bytes([1, 2, 3])
    #expect(throws: VaultError.self) { _ = try Project(record) }
    record["client"] = .bytes(RecordID.random().bytes)
    record["kind"] = .string("séance")
    #expect(throws: VaultError.self) { _ = try Project(record) }
    #expect(throws: VaultError.self) { _ = try Client(record) }  // another collection
  }
}
