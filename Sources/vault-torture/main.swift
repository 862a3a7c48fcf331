// vault-torture: a studio's work in a child process, killed with SIGKILL at random
// moments, over and over; after every kill the vault is reopened and checked.
//
//   vault-torture [--kills N] [--seed S] [--dir DIR]     (N also from TORTURE_KILLS)
//   vault-torture --verify DIR                           (check a torture directory)
//   vault-torture --bit-rot ROUNDS [--seed S] [--dir DIR] (bit flips; BitRot.swift)
//   vault-torture --concurrency SECONDS [--seed S]     (threads; Concurrency.swift)
//   vault-torture --endurance OPERATIONS [--seed S]    (steady state; Endurance.swift)
//
// The child logs an operation to an acknowledgment file (synced) only after the
// operation's commits returned. After each kill the parent requires: the vault opens;
// `check` (with the key) and the keyless audit verification are clean; every
// acknowledged operation is there, whole; every booking (project, contract, invoice and
// payment in one commit) is whole or absent; every refund was requested before it was
// approved and approved before it was executed; the audit log has exactly the entries
// the committed records' histories call for, one to one. Exit 0 when every round passed, 1 with
// the seed and the round when one did not.
import Glibc
import StudioVault
import VaultCore
import VaultCrypto
import VaultFormat
import VaultReader
@_spi(Engine) import VaultStorage

let arguments = CommandLine.arguments
let key: SymmetricKey = {
  guard let key = try? SymmetricKey(copying: [UInt8](repeating: 0x3C, count: 32)) else {
    fatalError("a 32-byte key is always accepted")
  }
  return key
}()
let password = SecretBytes(utf8: "the torture owner's password, long enough")

func say(_ text: String) {
  let line = text + "\n"
  _ = line.withCString { write(1, $0, strlen($0)) }
}

func fail(_ text: String) -> Never {
  say("vault-torture: FAILED: " + text)
  exit(1)
}

/// A small deterministic generator (xorshift), seeded from the command line.
struct Generator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state ^= state << 13
    state ^= state >> 7
    state ^= state << 17
    return state
  }
  mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(1, bound))) }
}

// MARK: The child: a studio at work

/// One acknowledged operation, as the log line `KIND ID…` says.
func acknowledge(_ fd: Int32, _ line: String) {
  let text = line + "\n"
  let written = text.withCString { write(fd, $0, strlen($0)) }
  guard written == text.utf8.count, fsync(fd) == 0 else { fail("cannot write the ack log") }
}

func runChild(directory: String, seed: UInt64) -> Never {
  var random = Generator(state: seed | 1)
  let log = open(directory + "/acks.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
  guard log >= 0 else { fail("cannot open the ack log") }
  do {
    let vault = try Vault.open(at: directory + "/torture.vault", credential: .rawKey(key))
    try work(vault, random: &random, operations: nil) { acknowledge(log, $0) }
  } catch {
    fail("the child's work failed: \(error)")
  }
  fail("the child's work ended")
}

/// A studio at work in `vault`: `operations` operations (endless when nil), each
/// reported to `done` (as an ack line) once its commits returned.
func work(
  _ vault: Vault, random: inout Generator, operations: Int?, done: (String) -> Void
) throws(VaultError) {
  let (owner, token) = try vault.login(user: "owner", password: password)
  let branch = try owner.write { tx, scope throws(VaultError) in
    try tx.id(named: "Main", in: .branches)
  }
  guard let branch else { fail("the branch is missing") }
  let usd = try Currency("USD")
  var payments = try owner.list(.payments, limit: 50).records.compactMap(\.id)
  var projects = try owner.list(.projects, limit: 50).records.compactMap(\.id)
  var performed = 0
  while operations.map({ performed < $0 }) ?? true {
    performed += 1
    switch random.below(10) {
    case 0..<3:
      let id = try owner.write { tx, scope throws(VaultError) in
        var client = Client(displayName: "Client \(random.next() % 100_000)", branch: branch)
        client.emails = ["c\(random.next() % 1000)@example.com"]
        return try tx.insert(client, scope: scope).meta.id!
      }
      done("client \(id)")
    case 3..<7:
      // A booking: four records in one commit.
      let amount = Money(minorUnits: Int64(100_000 + random.below(400_000)), currency: usd)
      let ids = try owner.write { tx, scope throws(VaultError) -> [RecordID] in
        let client = try tx.insert(Client(displayName: "Booker", branch: branch), scope: scope)
        var project = Project(title: "Booking", client: client.meta.id!, branch: branch)
        project.kind = .wedding
        let projectID = try tx.insert(project, scope: scope).meta.id!
        let contract = try tx.insert(Contract(project: projectID, value: amount), scope: scope)
        let invoice = try tx.insert(
          Invoice(project: projectID, lineItems: [.init(description: "Gold", amount: amount)]),
          scope: scope)
        let payment = try tx.insert(
          Payment(invoice: invoice.meta.id!, amount: amount), scope: scope)
        return [projectID, contract.meta.id!, invoice.meta.id!, payment.meta.id!]
      }
      projects.append(ids[0])
      payments.append(ids[3])
      done("booking " + ids.map(\.description).joined(separator: " "))
    case 7..<9 where !payments.isEmpty:
      // A refund, through its three steps, each with a step-up.
      let payment = payments[random.below(payments.count)]
      let request = try owner.requestRefund(
        of: payment, amount: Money(minorUnits: 1_000, currency: usd), reason: "torture",
        proof: try vault.stepUp(
          session: token, password: password, action: .refundRequest, resource: payment))
      let refund = request.id!
      try owner.decideRefund(
        refund, approve: true,
        proof: try vault.stepUp(
          session: token, password: password, action: .refundApproval, resource: refund))
      try owner.executeRefund(
        refund, gatewayReference: "re_\(random.next() % 1_000_000)",
        proof: try vault.stepUp(
          session: token, password: password, action: .refundExecution, resource: refund))
      done("refund \(refund)")
    default:
      guard !projects.isEmpty else { continue }
      let project = projects[random.below(projects.count)]
      let bytes = (0..<(1 + random.below(300_000))).map { _ in
        UInt8(truncatingIfNeeded: random.next())
      }
      let receipt = try owner.storeBlob(bytes, into: project, fileName: "IMG.JPG", kind: .photo)
      done("blob \(receipt.blob) \(receipt.sha256)")
    }
  }
  try owner.endSession()
}

// MARK: The parent: kill, reopen, check

func setUp(directory: String, name: String = "torture.vault") throws(VaultError) {
  _ = try Vault.create(
    at: directory + "/" + name, credential: .rawKey(key), ownerName: "owner",
    ownerPassword: password, currency: try Currency("USD"), keyDerivation: .interactive)
  let vault = try Vault.open(at: directory + "/" + name, credential: .rawKey(key))
  let (owner, token) = try vault.login(user: "owner", password: password)
  try owner.write { tx, scope throws(VaultError) in
    _ = try tx.insert(Branch(name: "Main"), scope: scope)
  }
  // The owner requests, approves and executes refunds alone (a one-person studio).
  try owner.changeSettings(
    proof: try vault.stepUp(session: token, password: password, action: .securityPolicyChange)
  ) { (settings) throws(VaultError) in settings["allowOwnerSelfApproval"] = .bool(true) }
  try owner.endSession()
}

/// The acknowledged operations: whole lines only (the last may be torn by the kill).
func acknowledged(_ directory: String) -> [[String]] {
  guard let file = fopen(directory + "/acks.log", "r") else { return [] }
  defer { fclose(file) }
  var text = [UInt8]()
  var buffer = [UInt8](repeating: 0, count: 65_536)
  while true {
    let count = fread(&buffer, 1, buffer.count, file)
    if count <= 0 { break }
    text += buffer[..<count]
  }
  let lines = text.split(separator: 0x0A, omittingEmptySubsequences: false)
  return lines.dropLast().map {
    String(decoding: $0, as: UTF8.self).split(separator: " ").map(String.init)
  }
}

/// Every record of a paged listing: `page` lists from a cursor (nil: the start).
func allPages(_ page: (_ after: String?) throws(VaultError) -> RecordPage) throws(VaultError)
  -> [Record]
{
  var records = [Record]()
  var cursor: String?
  repeat {
    let next = try page(cursor)
    records += next.records
    cursor = next.nextCursor
  } while cursor != nil
  return records
}

struct Check {
  var failures: [String] = []
  mutating func require(_ condition: Bool, _ what: @autoclosure () -> String) {
    if !condition { failures.append(what()) }
  }
}

/// Everything the parent requires after a kill.
func verify(directory: String) throws(VaultError) -> (operations: Int, failures: [String]) {
  let path = directory + "/torture.vault"
  var check = Check()
  // Open first (the first open after a crash chooses the state), then check it.
  let vault = try Vault.open(at: path, credential: .rawKey(key))
  let report = Checker.check(path: path, credential: .rawKey(key))
  check.require(report.ok, "check: \(report.problems.prefix(3))")
  let keyless = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
  let audit = try AuditVerification.verify(keyless)
  check.require(audit.ok, "audit verify: \(audit.problems.prefix(3))")
  let (owner, _) = try vault.login(user: "owner", password: password)
  defer { try? owner.endSession() }
  let operations = acknowledged(directory)
  for operation in operations {
    guard operation.count >= 2, let id = try? RecordID(operation[1]) else {
      check.require(false, "an ack line is malformed: \(operation)")
      continue
    }
    switch operation[0] {
    case "client":
      check.require(try owner.get(.clients, id) != nil, "acknowledged client \(id) is missing")
    case "booking":
      let collections: [RecordCollection] = [.projects, .contracts, .invoices, .payments]
      for (collection, text) in zip(collections, operation.dropFirst()) {
        let member = try RecordID(text)
        check.require(
          try owner.get(collection, member) != nil,
          "acknowledged \(collection) \(member) is missing")
      }
    case "refund":
      let refund = try owner.get(.refunds, id)
      check.require(
        refund?.text("state") == "executed", "acknowledged refund \(id) is not executed")
    case "blob":
      let reader = try? owner.openBlob(id)
      check.require(reader?.info.sha256 == operation.last, "acknowledged blob \(id) is missing")
    default:
      check.require(false, "unknown ack \(operation[0])")
    }
  }
  // Whole bookings only: every invoice has its project and a payment; every payment
  // its invoice.
  var invoices = Set<RecordID>()
  for invoice in try allPages({ cursor throws(VaultError) in
    try owner.list(.invoices, after: cursor, limit: 500)
  }) {
    invoices.insert(invoice.id!)
    check.require(
      invoice.reference("project").flatMap { try? owner.get(.projects, $0) } != nil,
      "invoice \(invoice.id!) without its project")
  }
  let payments = try allPages { cursor throws(VaultError) in
    try owner.list(.payments, after: cursor, limit: 500)
  }
  let paid = Set(payments.compactMap { $0.reference("invoice") })
  check.require(
    invoices == paid, "\(invoices.symmetricDifference(paid).count) bookings are partial")
  try auditMatchesRecords(owner, &check)
  return (operations.count, check.failures)
}

/// The audited entries read so far, by the record they are about (the log only grows,
/// so each round reads only what is new).
nonisolated(unsafe) var auditedByRecord: [RecordID: [AuditAction]] = [:]
nonisolated(unsafe) var auditRead: UInt64 = 0

/// The audit log and the committed records match one to one: every contract, invoice,
/// payment, refund and upload has exactly the entries its history calls for, and every
/// such entry is about a record that exists (a commit never logs what it did not do,
/// nor does what it did not log).
func auditMatchesRecords(_ owner: VaultHandle, _ check: inout Check) throws(VaultError) {
  let tracked: Set<AuditAction> = [
    .recordCreated, .paymentRecorded, .refundRequested, .refundApproved, .refundExecuted,
    .uploadStored,
  ]
  while true {
    let listing = try owner.readAudit(from: auditRead, limit: 5_000)
    for entry in listing.entries {
      auditRead = max(auditRead, entry.sequence + 1)
      guard tracked.contains(entry.event.action), entry.event.outcome == .success,
        let first = entry.event.targets.first, let id = try? RecordID(bytes: first)
      else { continue }
      auditedByRecord[id, default: []].append(entry.event.action)
    }
    if listing.entries.count < 5_000 { break }
  }
  var expected: [RecordID: [AuditAction]] = [:]
  for collection in [RecordCollection.contracts, .invoices, .payments, .refunds, .media] {
    for record in try allPages({ cursor throws(VaultError) in
      try owner.list(collection, after: cursor, limit: 500)
    }) {
      guard let id = record.id else { continue }
      switch collection {
      case .payments: expected[id] = [.paymentRecorded]
      case .refunds:
        let steps: [AuditAction] = [.refundRequested, .refundApproved, .refundExecuted]
        let done =
          ["requested": 1, "approved": 2, "executed": 3][record.text("state") ?? ""] ?? 0
        expected[id] = Array(steps.prefix(done))
      case .media: expected[id] = [.uploadStored]
      default: expected[id] = [.recordCreated]
      }
    }
  }
  for (id, actions) in expected where auditedByRecord[id] ?? [] != actions {
    check.require(
      false, "record \(id) has audit entries \(auditedByRecord[id] ?? []), not \(actions)")
  }
  for (id, actions) in auditedByRecord where expected[id] == nil {
    check.require(false, "audit entries \(actions) are about \(id), which was never committed")
  }
}

/// A keyless full backup of the vault while the child writes, then checked with the
/// key; what went wrong, or nil.
func backUpBesideTheWriter(_ directory: String) -> String? {
  let target = directory + "/live-backup.vault"
  unlink(target)
  unlink(target + "-lock")
  do throws(VaultError) {
    let reader = try VaultReader(path: directory + "/torture.vault")
    let commit = try reader.newestCommit()
    defer { commit.close() }
    let problems = try commit.verify()
    guard problems.isEmpty else { return "the pinned commit: \(problems.prefix(3))" }
    _ = try commit.backUp(to: target)
  } catch {
    return "\(error)"
  }
  let report = Checker.check(path: target, credential: .rawKey(key))
  return report.ok ? nil : "the backup: \(report.problems.prefix(3))"
}

func runParent() -> Never {
  func value(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else {
      return nil
    }
    return arguments[index + 1]
  }
  let kills =
    Int(value("--kills") ?? getenv("TORTURE_KILLS").map { String(cString: $0) } ?? "")
    ?? 200
  let seed = UInt64(value("--seed") ?? "") ?? UInt64.random(in: 1...UInt64(UInt32.max))
  var directory = value("--dir") ?? ""
  if directory.isEmpty {
    var template = Array("/tmp/vault-torture-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { fail("cannot make a directory") }
    directory = String(cString: made)
  }
  if let count = value("--endurance") {
    runEndurance(operations: Int(count) ?? 1_000_000, seed: seed, directory: directory)
  }
  if let seconds = value("--concurrency") {
    runConcurrency(seconds: Int(seconds) ?? 60, seed: seed, directory: directory)
  }
  if let rounds = value("--bit-rot") {
    runBitRot(rounds: Int(rounds) ?? 100, seed: seed, directory: directory)
  }
  say("vault-torture: \(kills) kills, seed \(seed), in \(directory)")
  var random = Generator(state: seed)
  do {
    try setUp(directory: directory)
  } catch {
    fail("setting up: \(error)")
  }
  var largest: UInt64 = 0
  var liveBackups = 0
  for round in 1...max(1, kills) {
    var child: pid_t = 0
    let childSeed = String(random.next())
    let argv = [arguments[0], "--child", directory, childSeed]
    var cArguments = argv.map { strdup($0) } + [nil]
    defer { for pointer in cArguments { free(pointer) } }
    guard posix_spawn(&child, arguments[0], nil, nil, &cArguments, environ) == 0 else {
      fail("cannot start the child")
    }
    // Let it work for 20 ms to 0.6 s (opening and logging in take part of that).
    usleep(useconds_t(20_000 + random.below(580_000)))
    // Every tenth round, a backup by this process while the child writes: a reading
    // process pins a commit, verifies it and copies it beside a live writer.
    if round % 10 == 0 {
      if let problem = backUpBesideTheWriter(directory) {
        fail("round \(round) (seed \(seed)): a backup beside the writer: \(problem)")
      }
      liveBackups += 1
    }
    kill(child, SIGKILL)
    var status: Int32 = 0
    waitpid(child, &status, 0)
    // A child that ended by itself (not by the kill) failed: its output says why.
    if status & 0x7F == 0 { fail("round \(round) (seed \(seed)): the child exited by itself") }
    do {
      let (operations, failures) = try verify(directory: directory)
      guard failures.isEmpty else {
        fail("round \(round) (seed \(seed)): \(failures.prefix(5).joined(separator: "; "))")
      }
      largest = max(largest, fileSize(directory + "/torture.vault"))
      if round % 25 == 0 || round == kills {
        say(
          "vault-torture: \(round) kills survived, \(operations) operations acknowledged, "
            + "\(auditedByRecord.count) records matched to their audit entries")
      }
    } catch {
      fail("round \(round) (seed \(seed)): the vault did not reopen: \(error)")
    }
  }
  say(
    "vault-torture: all \(kills) kills survived; largest file \(largest / 1024) KiB; "
      + "\(liveBackups) backups taken beside the writer, all checked clean")
  exit(0)
}

if arguments.count == 4 && arguments[1] == "--child" {
  runChild(directory: arguments[2], seed: UInt64(arguments[3]) ?? 1)
}
if arguments.count == 3 && arguments[1] == "--verify" {
  do {
    let (operations, failures) = try verify(directory: arguments[2])
    guard failures.isEmpty else { fail(failures.prefix(5).joined(separator: "; ")) }
    say("vault-torture: \(operations) acknowledged operations, all there and whole")
    exit(0)
  } catch {
    fail("the vault did not open: \(error)")
  }
}
runParent()
