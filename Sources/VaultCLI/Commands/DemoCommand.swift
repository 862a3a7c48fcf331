import Glibc
import StudioVault
import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// `vault demo [DIR]`: the main job of `make demo`.
enum DemoCommand: Command {
  static let name = "demo"
  static let summary = "build a sample studio and show what each role sees"
  static let usage = "vault demo [DIR]"
  static let discussion = """
    Builds DIR/studio.vault (DIR defaults to ./demo; an earlier demo vault there is
    replaced, any other vault refused): a studio with two branches, an owner, an hq admin, a manager and a
    staff member in each branch, and a vendor; 50 clients, a month of bookings with
    contracts, invoices and payments; a refund under dual control; uploads, one of
    them by the vendor. Then shows what each role sees of the same client and
    project, what is refused, the audit log as two roles see it, and the keyless
    `audit verify`, `check` and `stats` of the file. Every step goes through the
    same API and the same checks as an application.

    The vault's passphrase is VAULT_PASSPHRASE, and every demo user's password
    VAULT_PASSWORD; when unset, the demo's own (printed), which are for a demo only.
    """
  static let options: [OptionSpec] = []

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    guard arguments.positionals.count <= 1 else {
      throw UsageError("expected at most one DIR")
    }
    let directory = arguments.positionals.first ?? "demo"
    guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
      throw VaultError(.io, "cannot create directory \(directory)", errno: errno)
    }
    let path = directory + "/studio.vault"
    // Running it again rebuilds it, but only a vault the demo made: its marker says so.
    let marker = directory + "/.studiovault-demo"
    if access(path, F_OK) == 0 || access(path + "-lock", F_OK) == 0 {
      guard access(marker, F_OK) == 0 else {
        throw VaultError(
          .alreadyExists,
          "\(path) exists and is not a demo vault: give `vault demo` another directory")
      }
      for file in [path, path + "-lock"] where unlink(file) != 0 && errno != ENOENT {
        throw VaultError(.io, "cannot remove the earlier demo vault \(file)", errno: errno)
      }
    }
    let fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw VaultError(.io, "cannot create \(marker)", errno: errno) }
    close(fd)
    let demo = try StudioDemo(path: path, console: console)
    try demo.build()
    try demo.showViews()
    try demo.showRefusals()
    try demo.showAudit()
    console.line("\n== The file, checked without the key (as a backup tool would)")
    for command in [["audit", "verify", path], ["check", path]] {
      console.line("\n$ vault \(command.joined(separator: " "))")
      let status = CommandLineTool.run(command, console: console)
      guard status == ExitCode.success.rawValue else { return .problemsFound }
    }
    console.line("\n$ vault stats --deep \(path)   (the largest trees; the passphrase names them)")
    let store = try VaultStore.open(
      at: path, credential: demo.credential, options: .init(readOnly: true))
    let stats = try store.read { (snapshot: Snapshot) -> JSON in
      try StatsCommand.statistics(store: store, snapshot: snapshot)
    }
    StatsCommand.printSummary(stats, console: console, treeLimit: 8)
    console.line("\nThe vault stays in \(path): try `vault help`, then e.g.")
    // Only the demo's own secrets are shown, never ones from the environment.
    var secrets = ""
    if console.environment("VAULT_PASSPHRASE") == nil {
      secrets += "VAULT_PASSPHRASE='\(StudioDemo.passphrase)' "
    }
    if console.environment("VAULT_PASSWORD") == nil {
      secrets += "VAULT_PASSWORD='\(StudioDemo.password)' "
    }
    console.line("  \(secrets)vault list \(path) --user sam --collection clients --search lima")
    return .success
  }
}

/// The sample studio: who is in it, and what it holds.
private final class StudioDemo {
  static let passphrase = "correct horse battery staple"
  static let password = "demo password, never for real use"

  struct Person {
    let name: String
    let role: String
    let branch: String?
    var title: String {
      switch role {
      case "branchManager": "\(branch ?? "") manager"
      case "staff": "\(branch ?? "") staff"
      case "vendor": "vendor, second shooter"
      default: role
      }
    }
  }

  static let people = [
    Person(name: "olivia", role: "owner", branch: nil),
    Person(name: "henry", role: "hq", branch: nil),
    Person(name: "dana", role: "branchManager", branch: "Downtown"),
    Person(name: "sam", role: "staff", branch: "Downtown"),
    Person(name: "maya", role: "branchManager", branch: "Harbor"),
    Person(name: "theo", role: "staff", branch: "Harbor"),
    Person(name: "vic", role: "vendor", branch: nil),
  ]

  let path: String
  let console: any Console
  let vault: Vault
  let password: SecretBytes
  let credential: VaultCredential
  var usd: Currency
  /// Handles and session tokens, by user name.
  var handles: [String: (handle: VaultHandle, token: String)] = [:]
  var branches: [String: RecordID] = [:]
  var client: RecordID?
  var project: RecordID?
  var contract: RecordID?
  var harborClient: RecordID?
  /// The payment of the second Downtown booking (refunded in part), and the refund.
  var payment: RecordID?
  var refundID: RecordID?

  init(path: String, console: any Console) throws {
    self.path = path
    self.console = console
    let passphrase = console.environment("VAULT_PASSPHRASE") ?? Self.passphrase
    let password = console.environment("VAULT_PASSWORD") ?? Self.password
    self.password = SecretBytes(utf8: password)
    credential = .passphrase(passphrase)
    usd = try Currency("USD")
    console.line("== Building a sample studio in \(path)")
    if console.environment("VAULT_PASSPHRASE") == nil {
      console.line("   vault passphrase (demo only): \(Self.passphrase)")
    }
    if console.environment("VAULT_PASSWORD") == nil {
      console.line("   every user's password (demo only): \(Self.password)")
    }
    vault = try Vault.create(
      at: path, credential: credential, ownerName: "olivia",
      ownerPassword: self.password, currency: usd, keyDerivation: .interactive)
  }

  func handle(_ name: String) -> VaultHandle { handles[name]!.handle }

  func proof(_ name: String, _ action: HighRiskAction, _ resource: RecordID?) throws -> String {
    try vault.stepUp(
      session: handles[name]!.token, password: password, action: action, resource: resource)
  }

  // MARK: Building

  func build() throws {
    handles["olivia"] = try vault.login(user: "olivia", password: password, label: "demo")
    let owner = handle("olivia")
    try owner.write { tx, scope throws(VaultError) in
      for name in ["Downtown", "Harbor"] {
        branches[name] = try tx.insert(Branch(name: name), scope: scope).meta.id!
      }
    }
    for person in Self.people.dropFirst() {
      _ = try owner.addUser(
        name: person.name, role: person.role, branch: person.branch.map { branches[$0]! },
        email: "\(person.name)@lumen.example", password: password,
        proof: try proof("olivia", .roleChange, nil))
      handles[person.name] = try vault.login(user: person.name, password: password, label: "demo")
    }
    // Managers approve refunds up to 500.00 themselves; hq up to 2,000.00.
    try owner.changeSettings(proof: try proof("olivia", .securityPolicyChange, nil)) {
      (settings) throws(VaultError) in
      settings["branchRefundLimit"] = .money(minorUnits: 50_000, currency: "USD")
      settings["hqRefundLimit"] = .money(minorUnits: 200_000, currency: "USD")
    }
    console.line(
      "   studio \"Lumen\": branches Downtown and Harbor; refund limits 500.00 (manager)")
    for person in Self.people {
      console.line("   \(person.name.padding(to: 8))\(person.title)")
    }
    let counts = try addStudioRecords()
    console.line(
      "   \(counts.clients) clients, \(counts.projects) bookings over the next month, as"
        + " many contracts and invoices, \(counts.payments) payments")
    try refund()
    try uploads()
  }

  private func addStudioRecords() throws -> (clients: Int, projects: Int, payments: Int) {
    let first = [
      "Ana", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jonas",
      "Keiko", "Liam", "Mina", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara",
      "Umar", "Vera", "Wes", "Ximena", "Yusuf",
    ]
    let last = ["Lima", "Okafor", "Novak", "Berg", "Santos", "Haddad", "Kim", "Moreau"]
    let now = Timestamp.now()
    let today = now.day.daysSince1970
    let hour: Int64 = 3_600_000
    let day = 24 * hour
    let owner = handle("olivia")
    return try owner.write { tx, scope throws(VaultError) in
      var clients = [RecordID]()
      for index in 0..<50 {
        let branch = index % 2 == 0 ? "Downtown" : "Harbor"
        let name = "\(first[index % first.count]) \(last[(index * 3) % last.count])"
        var client = Client(displayName: name, branch: branches[branch]!)
        client.emails = ["\(name.lowercased().replacingSpaces()).\(index)@mail.example"]
        client.phones = ["+1 555 01\(index < 10 ? "0" : "")\(index)"]
        client.notes = "prefers natural light; allergic to lilies"
        client.leadSource = ["referral", "instagram", "wedding fair"][index % 3]
        client.tags = index % 5 == 0 ? ["vip"] : []
        clients.append(try tx.insert(client, scope: scope).meta.id!)
      }
      var payments = 0
      for index in 0..<30 {
        let clientID = clients[index]
        let branch = index % 2 == 0 ? "Downtown" : "Harbor"
        let kind: ProjectKind = [.wedding, .portrait, .event, .commercial][index % 4]
        var project = Project(
          title: "\(kind.rawValue.capitalized) for client \(index + 1)", client: clientID,
          branch: branches[branch]!)
        project.kind = kind
        project.status = .booked
        let start = Int64(today + 1 + Int32(index)) * day + 10 * hour
        project.sessions = [
          .init(
            start: Timestamp(milliseconds: start), end: Timestamp(milliseconds: start + 6 * hour),
            location: branch == "Downtown" ? "Riverside Park" : "Harbor Pavilion")
        ]
        project.onSiteContact = .init(name: "Event planner \(index + 1)", phone: "+1 555 0199")
        project.package = ["Gold", "Silver", "Bronze"][index % 3]
        project.deliverables = ["300 edited photos", "online gallery"]
        project.shotList = ["first look", "family portraits", "golden hour"]
        let projectID = try tx.insert(project, scope: scope).meta.id!
        let value = Money(minorUnits: Int64(180_000 + index * 5_000), currency: usd)
        var contract = Contract(project: projectID, value: value)
        contract.terms = "50% deposit on booking, balance on delivery."
        contract.signatureStatus = .signed
        contract.signedAt = now
        let contractID = try tx.insert(contract, scope: scope).meta.id!
        var invoice = Invoice(
          project: projectID,
          lineItems: [.init(description: "\(project.package!) package", amount: value)])
        invoice.dueDate = Day(daysSince1970: today + 14)
        invoice.status = .sent
        let invoiceID = try tx.insert(invoice, scope: scope).meta.id!
        if index < 20 {
          var payment = Payment(invoice: invoiceID, amount: value)
          payment.method = .card
          payment.gatewayReference = "pi_demo_\(index)"
          payment.receivedAt = now
          let paymentID = try tx.insert(payment, scope: scope).meta.id!
          if index == 2 { self.payment = paymentID }
          payments += 1
        }
        if index == 0 {
          (self.client, self.project, self.contract) = (clientID, projectID, contractID)
        }
        if index == 1 { self.harborClient = clientID }
      }
      // The vendor, engaged as second shooter on the first Downtown booking.
      let vendor = try tx.id(named: "vic", in: .users)!
      var engagement = Engagement(vendor: vendor, project: self.project!, role: .secondShooter)
      engagement.rate = Money(minorUnits: 60_000, currency: usd)
      engagement.start = Day(daysSince1970: today)
      engagement.end = Day(daysSince1970: today + 30)
      engagement.status = .active
      _ = try tx.insert(engagement, scope: scope)
      return (clients.count, 30, payments)
    }
  }

  /// Staff asks, the branch manager approves and executes: each with a step-up.
  private func refund() throws {
    let payment = self.payment!
    let requested = try handle("sam").requestRefund(
      of: payment, amount: Money(minorUnits: 15_000, currency: usd),
      reason: "second photographer arrived late", proof: try proof("sam", .refundRequest, payment))
    let refund = requested.id!
    refundID = refund
    try handle("dana").decideRefund(
      refund, approve: true, proof: try proof("dana", .refundApproval, refund))
    try handle("dana").executeRefund(
      refund, gatewayReference: "re_demo_1", proof: try proof("dana", .refundExecution, refund))
    console.line(
      "   refund of 150.00: requested by sam (staff), approved and executed by dana (manager),"
        + " each with a step-up")
  }

  private func uploads() throws {
    var random = SystemRandomNumberGenerator()
    func photo(_ size: Int) -> [UInt8] {
      // JPEG magic, then noise: stored as is (compression would not pay).
      [0xFF, 0xD8, 0xFF, 0xE0] + (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
    }
    for (index, name) in ["sam", "sam", "sam", "vic"].enumerated() {
      let upload = try handle(name).beginUpload(
        into: project!, fileName: "IMG_\(1001 + index).JPG", kind: .photo)
      try upload.write(photo(300_000 + index * 10_000))
      _ = try upload.finish()
    }
    console.line("   4 photo uploads on the first booking: 3 by sam, 1 by vic (the vendor)")
  }

  // MARK: Showing

  /// What each user sees of one record: its fields, or that it is refused.
  func showViews() throws {
    for (collection, id, what) in [
      (RecordCollection.clients, client!, "the client of the first Downtown booking"),
      (.projects, project!, "that booking (the vendor is engaged on it)"),
    ] {
      console.line("\n== \(what), as each user sees it")
      let full = try fields(handle("olivia").get(collection, id, derived: true))
      console.line("   fields: \(full.sorted().joined(separator: ", "))")
      for person in Self.people {
        var line = "   \(person.name.padding(to: 8))\(person.title.padding(to: 24))"
        do {
          if let record = try handle(person.name).get(collection, id, derived: true) {
            let seen = fields(record)
            let hidden = full.subtracting(seen)
            line +=
              hidden.isEmpty ? "everything" : "hidden: " + hidden.sorted().joined(separator: ", ")
          } else {
            line += "not visible (another branch)"
          }
        } catch {
          line += "refused: \(error.message)"
        }
        console.line(line)
      }
    }
  }

  private func fields(_ record: Record?) -> Set<String> {
    guard case .object(let members)? = record?.json else { return [] }
    // Every record has these; they say nothing of what a role may see.
    return Set(members.keys).subtracting(["id", "version", "createdAt", "updatedAt"])
  }

  func showRefusals() throws {
    console.line("\n== Refused")
    attempt("maya (Harbor manager) reads a Downtown client") {
      try handle("maya").get(.clients, client!) != nil
    }
    attempt("theo (Harbor staff) lists Downtown's clients") {
      try handle("theo").narrowed(toBranch: branches["Downtown"]!).list(.clients).records
        .isEmpty == false
    }
    attempt("vic (vendor) reads the contract's value") {
      try handle("vic").get(.contracts, contract!)?["value"] != nil
    }
    attempt("sam (staff) approves a refund") {
      let refund = refundID!
      try handle("sam").decideRefund(
        refund, approve: true, proof: try proof("sam", .refundApproval, refund))
      return true
    }
    _ = try handle("dana").completeProject(project!)
    console.line("   dana completes the booking; the vendor's engagement ends with it:")
    attempt("vic (vendor) reads the completed booking") {
      try handle("vic").get(.projects, project!) != nil
    }
  }

  /// Runs `body` and prints whether it was refused (as it should be).
  private func attempt(_ what: String, _ body: () throws -> Bool) {
    let outcome: String
    do {
      outcome = try body() ? "ALLOWED (unexpected)" : "refused: not visible"
    } catch let error as VaultError {
      outcome = "refused: \(error.message)"
    } catch {
      outcome = "refused: \(error)"
    }
    console.line("   \(what.padding(to: 50))\(outcome)")
  }

  func showAudit() throws {
    for name in ["olivia", "dana"] {
      let listing = try handle(name).readAudit()
      let person = Self.people.first { $0.name == name }!
      console.line(
        "\n== The audit log as \(name) (\(person.title)) sees it: \(listing.entries.count) of"
          + " \(listing.checkpoint.size) entries; the last 6")
      for record in listing.entries.suffix(6) {
        let event = record.event
        console.line(
          "   #\(String(record.sequence).padding(to: 5))\(event.action.description.padding(to: 22))"
            + "\(event.outcome.description.padding(to: 8))\(actor(event.actor))")
      }
    }
  }

  private func actor(_ actor: AuditActor) -> String {
    guard case .user(_, let role) = actor else { return "by the system" }
    return "by \(role)"
  }
}

extension String {
  fileprivate func replacingSpaces() -> String {
    String(map { $0 == " " ? "." : $0 })
  }
}
