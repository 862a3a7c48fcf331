import Glibc
@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto

/// Exit codes of the commands that act as a user.
let userCommandExitCodes: [(ExitCode, String)] = [
  (.success, "success"),
  (.usage, "usage error, or a secret missing"),
  (.dataError, "not a vault, corrupt, or a bad record (the message names line and field)"),
  (.noInput, "the vault or the input file is missing or unreadable"),
  (.ioError, "I/O error"),
  (.locked, "another writer held the vault past --wait"),
  (.denied, "wrong passphrase, unknown user or wrong password, or refused by policy"),
]

/// `vault branch add PATH --user U NAME`
enum BranchCommand: Command {
  static let name = "branch"
  static let summary = "add a branch"
  static let usage = "vault branch add PATH --user U NAME [--time-zone TZ] [--json]"
  static let discussion = """
    Branch names are unique (ignoring case and accents). Owners and hq add branches.
    """
  static let options: [OptionSpec] =
    [
      .option("time-zone", "TZ", "the branch's IANA time zone"),
      .flag("json", "print the new branch as JSON"),
    ]
    + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("add", "PATH", "NAME")
    guard positionals[0] == "add" else {
      throw UsageError("unknown branch action \"\(positionals[0])\": use add")
    }
    let user = try UserLogin.login(positionals[1], arguments, console: console)
    var branch = Record(.branches)
    branch["name"] = .string(positionals[2])
    if let zone = arguments.value("time-zone") { branch["timeZone"] = .string(zone) }
    // Only owners and hq write branch names: the handle's field permissions refuse others.
    let stored = try user.handle.write { tx, scope throws(VaultError) in
      try tx.insert(branch, scope: scope)
    }
    if arguments.flag("json") {
      console.json(stored.json)
    } else {
      console.line(stored.id?.description ?? "")
    }
    return .success
  }
}

/// `vault settings show|set PATH --user U [KEY=VALUE …]`
enum SettingsCommand: Command {
  static let name = "settings"
  static let summary = "show or change the organization's settings"
  static let usage = "vault settings show|set PATH --user U [KEY=VALUE ...] [--json]"
  static let discussion = """
    Keys: currency (ISO 4217), branchRefundLimit and hqRefundLimit (minor units, e.g.
    50000 or "50000 EUR"), billingEnforcement and allowOwnerSelfApproval (true or
    false), requireTwoFactor (comma-separated roles, or empty), stepUpMinutes (1-15).
    Only owners change settings (hq the currency), with their password as step-up.
    """
  static let options: [OptionSpec] =
    [.flag("json", "print the settings as JSON")] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    guard arguments.positionals.count >= 2 else {
      throw UsageError("settings needs show or set, and PATH")
    }
    let (action, path) = (arguments.positionals[0], arguments.positionals[1])
    let assignments = Array(arguments.positionals.dropFirst(2))
    switch action {
    case "show":
      guard assignments.isEmpty else { throw UsageError("settings show takes no KEY=VALUE") }
      let user = try UserLogin.login(path, arguments, console: console)
      print(try user.handle.settings(), arguments, console)
    case "set":
      guard !assignments.isEmpty else { throw UsageError("settings set needs KEY=VALUE") }
      // Changing settings is high-risk: the password is its step-up.
      let user = try UserLogin.login(
        path, arguments, console: console, stepUp: (.securityPolicyChange, nil))
      let updated = try user.handle.changeSettings(proof: user.proof ?? "") {
        settings throws(VaultError) in
        let currency = try settings.text("currency").map { (code) throws(VaultError) in
          try Currency(code)
        }
        for assignment in assignments {
          try apply(assignment, to: &settings, currency: currency)
        }
      }
      print(updated, arguments, console)
    default:
      throw UsageError("unknown settings action \"\(action)\": use show or set")
    }
    return .success
  }

  private static func print(_ settings: Record, _ arguments: Arguments, _ console: any Console) {
    guard case .object(var members) = settings.json else { return }
    for key in ["id", "version", "createdAt", "updatedAt"] { members[key] = nil }
    if arguments.flag("json") {
      console.json(.object(members))
    } else {
      for (key, value) in members.sorted(by: { $0.key < $1.key }) {
        console.line("\(key) = \(value.plainText)")
      }
    }
  }

  /// Applies one `KEY=VALUE` (a bad one is `.invalidArgument`: exit 64).
  static func apply(_ assignment: String, to settings: inout Record, currency: Currency?)
    throws(VaultError)
  {
    guard let equals = assignment.firstIndex(of: "=") else {
      throw VaultError(.invalidArgument, "\"\(assignment)\" is not KEY=VALUE")
    }
    let key = String(assignment[..<equals])
    let value = String(assignment[assignment.index(after: equals)...])
    let settable = RecordCollection.settings.schema.fields.filter { $0.presence != .internal }.map {
      $0.name
    }
    guard let spec = settings.schema.field(key), settable.contains(key) else {
      throw VaultError(
        .invalidArgument,
        "unknown setting \"\(key)\"; settings are \(settable.joined(separator: ", "))")
    }
    switch spec.type {
    case .bool:
      guard let flag = Bool(value) else {
        throw VaultError(.invalidArgument, "\(key) is true or false")
      }
      settings[key] = .bool(flag)
    case .integer:
      guard let number = Int64(value) else {
        throw VaultError(.invalidArgument, "\(key) is a whole number")
      }
      settings[key] = .integer(number)
    case .money:
      let parts = value.split(separator: " ")
      guard (1...2).contains(parts.count), let units = Int64(parts[0]) else {
        throw VaultError(
          .invalidArgument,
          "\(key) is minor units, optionally with a currency: 50000 or \"50000 EUR\"")
      }
      let code = parts.count == 2 ? String(parts[1]) : currency?.code
      guard let code else {
        throw VaultError(.invalidArgument, "\(key) needs a currency: set currency first")
      }
      settings[key] = .money(minorUnits: units, currency: code)
    case .list:
      settings[key] = .list(value.split(separator: ",").map { .string(String($0)) })
    default:
      if key == "currency" { _ = try Currency(value) }
      settings[key] = .string(value)
    }
  }
}

/// `vault import PATH --user U --collection C [--branch B] [FILE]`
enum ImportCommand: Command {
  static let name = "import"
  static let summary = "import records from JSON lines"
  static let usage = "vault import PATH --user U --collection C [--branch B] [FILE] [--json]"
  static let discussion = """
    Reads one JSON object per line (../shared/spec/records-json.md) from FILE, or from
    standard input. All or nothing: the first bad line stops the import with exit 65
    and a message naming the line, the field and what was wrong, and nothing is
    written. Prints the new ids, one a line (--json: a list).
    """
  static let options: [OptionSpec] =
    [
      .option("collection", "C", "clients, projects, invoices, ... (see records-json.md)"),
      .option("branch", "B", "branch name or id for records that name none"),
      .flag("json", "print the new ids as a JSON list"),
    ] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    guard (1...2).contains(arguments.positionals.count) else {
      throw UsageError("import takes PATH and at most one FILE")
    }
    let path = arguments.positionals[0]
    let collection = try RecordCollection(named: try requiredOption("collection", arguments))
    let text: String
    if arguments.positionals.count == 2, arguments.positionals[1] != "-" {
      text = try readTextFile(arguments.positionals[1])
    } else {
      text = try readStandardInput()
    }
    let user = try UserLogin.login(path, arguments, console: console)
    let bar = ProgressBar(console: console, label: "importing records")
    let ids = try user.handle.write { records, scope throws(VaultError) in
      let branch = try arguments.value("branch").map { (name) throws(VaultError) in
        try resolveBranch(name, records)
      }
      return try records.importJSONLines(text, into: collection, branch: branch, scope: scope) {
        bar.update($0, of: UInt64($1))
      }
    }
    bar.finish()
    if arguments.flag("json") {
      console.json(.array(ids.map { .string($0.description) }))
    } else {
      for id in ids { console.line(id.description) }
    }
    return .success
  }

  static func resolveBranch(_ name: String, _ tx: RecordTransaction) throws(VaultError) -> RecordID
  {
    if let id = try? RecordID(name) { return id }
    guard let id = try tx.id(named: name, in: .branches) else {
      throw VaultError(.invalidArgument, "no branch named \"\(name)\"")
    }
    return id
  }
}

/// `vault get PATH --user U --collection C ID`
enum GetCommand: Command {
  static let name = "get"
  static let summary = "print one record, as the user may see it"
  static let usage = "vault get PATH --user U --collection C ID [--json]"
  static let discussion = "A record outside the user's branch is reported as missing."
  static let options: [OptionSpec] =
    [
      .option("collection", "C", "the record's collection"),
      .flag("json", "print the record as JSON"),
    ]
    + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("PATH", "ID")
    let collection = try RecordCollection(named: try requiredOption("collection", arguments))
    let id = try RecordID(positionals[1])
    let user = try UserLogin.login(positionals[0], arguments, console: console)
    guard let record = try user.handle.get(collection, id, derived: true) else {
      throw VaultError(
        .noSuchRecord, "no \(collection) record \(id) that \(user.principal.name) may see")
    }
    if arguments.flag("json") {
      console.json(record.json)
    } else if case .object(let members) = record.json {
      for (key, value) in members.sorted(by: { $0.key < $1.key }) {
        console.line("\(key): \(value.plainText)")
      }
    }
    return .success
  }
}

/// `vault list PATH --user U --collection C [--branch B] [--search TEXT]` and
/// `vault export PATH --user U --collection C [--out FILE]`
enum ListCommand: Command {
  static let name = "list"
  static let summary = "list the records the user may see"
  static let usage =
    "vault list PATH --user U --collection C [--branch B] [--search TEXT] [--client ID] [--project ID] [--from DATE --to DATE] [--json]"
  static let discussion = """
    --search matches clients whose name, email or phone digits have words starting
    with every word of TEXT (case and accents ignored; words of 3 characters or more).
    --from/--to list projects with a session on those days. --json prints JSON lines.
    """
  static let options: [OptionSpec] =
    [
      .option("collection", "C", "the collection to list"),
      .option("branch", "B", "only this branch (name or id)"),
      .option("search", "TEXT", "clients whose name, email or phone match"),
      .option("client", "ID", "records of this client (projects)"),
      .option("project", "ID", "records of this project (contracts, invoices, media, ...)"),
      .option("from", "DATE", "projects with a session on or after DATE"),
      .option("to", "DATE", "projects with a session on or before DATE"),
      .flag("json", "print JSON lines"),
    ] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let path = try arguments.require("PATH")[0]
    let collection = try RecordCollection(named: try requiredOption("collection", arguments))
    let user = try UserLogin.login(path, arguments, console: console)
    let filter = try filter(arguments, user: user)
    // A search runs in the user's scope, narrowed to `--branch` when given.
    var handle = user.handle
    if arguments.value("search") != nil {
      switch filter {
      case .all: break
      case .branch(let branch) where !user.handle.isVendor:
        do {
          handle = try handle.narrowed(toBranch: branch)
        } catch {
          throw VaultError(.invalidArgument, "branch \(branch) is outside this scope")
        }
      default: throw VaultError(.invalidArgument, "--search combines with --branch only")
      }
    }
    var cursor: String?
    repeat {
      let page =
        if let text = arguments.value("search") {
          try handle.search(collection, text, after: cursor, derived: true)
        } else {
          try handle.list(collection, filter: filter, after: cursor, derived: true)
        }
      for record in page.records {
        if arguments.flag("json") {
          console.json(record.json)
        } else {
          console.line(summary(of: record))
        }
      }
      cursor = page.nextCursor
    } while cursor != nil
    return .success
  }

  static func filter(_ arguments: Arguments, user: UserLogin.User) throws -> RecordFilter {
    if let branch = arguments.value("branch") {
      return .branch(
        try user.store.read { snapshot throws(VaultError) -> RecordID in
          guard user.handle.isVendor else {
            return try UserLogin.id(
              named: branch, in: .branches, snapshot, scope: user.principal.scope)
          }
          // A vendor's list keeps to its engagements anyway; an unknown name lists
          // nothing rather than saying whether such a branch exists.
          if let id = try? RecordID(branch) { return id }
          return try snapshot.id(named: branch, in: .branches) ?? RecordID.random()
        })
    }
    if let client = arguments.value("client") {
      return .reference(field: "client", try RecordID(client))
    }
    if let project = arguments.value("project") {
      return .reference(field: "project", try RecordID(project))
    }
    if arguments.value("from") != nil || arguments.value("to") != nil {
      guard let from = Day(iso: arguments.value("from") ?? "0000-01-01"),
        let to = Day(iso: arguments.value("to") ?? "9999-12-31"), from <= to
      else { throw UsageError("--from and --to are dates (YYYY-MM-DD), --from not after --to") }
      return .days(from...to)
    }
    return .all
  }

  /// One line about a record: its id and the fields that name it.
  static func summary(of record: Record) -> String {
    let naming = ["displayName", "title", "name", "fileName", "reason", "role"]
    var parts = [record.id?.description ?? ""]
    for field in naming {
      if let text = record.text(field) { parts.append(text) }
    }
    if let amount = record.money("amount") ?? record.money("value") {
      parts.append(amount.description)
    }
    return parts.joined(separator: "  ")
  }
}

/// `vault export PATH --user U --collection C [--out FILE]`
enum ExportCommand: Command {
  static let name = "export"
  static let summary = "export a collection as JSON lines"
  static let usage = "vault export PATH --user U --collection C [--out FILE]"
  static let discussion = """
    Every record of the collection the user may see, one JSON object a line, in the
    shapes `vault import` reads back. The file is written atomically.
    """
  static let options: [OptionSpec] =
    [
      .option("collection", "C", "the collection to export"),
      .option("out", "FILE", "write to FILE (else standard output)"),
    ]
    + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let path = try arguments.require("PATH")[0]
    let collection = try RecordCollection(named: try requiredOption("collection", arguments))
    // Bulk export is high-risk (../shared/spec/access.md): never staff or vendors, and
    // the password is its step-up.
    let user = try UserLogin.login(path, arguments, console: console, stepUp: (.clientExport, nil))
    let records = try user.handle.exportRecords(collection, proof: user.proof ?? "")
    let bar = ProgressBar(console: console, label: "exporting records")
    var text = ""
    for (index, record) in records.enumerated() {
      text += record.json.encoded + "\n"
      if index % 256 == 0 { bar.update(index, of: UInt64(records.count)) }
    }
    bar.finish()
    if let out = arguments.value("out") {
      try writeTextFile(out, text)
    } else {
      console.write(text)
    }
    return .success
  }
}

/// `vault project complete|delete PATH --user U ID`
enum ProjectCommand: Command {
  static let name = "project"
  static let summary = "complete, delete, hold or release a project"
  static let usage = """
    vault project complete|delete PATH --user U ID [--json]
           vault project hold PATH --user U ID --reason TEXT
           vault project release PATH --user U ID
    """
  static let discussion = """
    complete  marks the project completed and ends its vendors' engagements. With
              billing enforcement on, refused (exit 77) while an invoice is unpaid,
              unless an owner overrode enforcement for the branch.
    delete    removes the project's schedule, shot list, contacts and media metadata;
              its contracts, invoices, payments, refunds and disputes stay, marked as
              belonging to a deleted project. Prints what was removed and kept.
    hold      places a legal hold (owners and hq): until released, the project is not
              deleted and its client not erased.
    release   releases it.
    delete, hold and release are high-risk: they want the password (step-up).
    """
  static let options: [OptionSpec] =
    [
      .flag("json", "print the outcome as JSON"),
      .option("reason", "TEXT", "hold: why (kept in the project, for owners and hq)"),
    ] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("complete|delete|hold|release", "PATH", "ID")
    let id = try RecordID(positionals[2])
    switch positionals[0] {
    case "hold":
      let reason = try requiredOption("reason", arguments)
      let user = try UserLogin.login(
        positionals[1], arguments, console: console, stepUp: (.legalHold, id))
      try user.handle.placeLegalHold(on: id, reason: reason, proof: user.proof ?? "")
      console.line("project \(id) is under a legal hold")
    case "release":
      let user = try UserLogin.login(
        positionals[1], arguments, console: console, stepUp: (.legalHold, id))
      try user.handle.releaseLegalHold(on: id, proof: user.proof ?? "")
      console.line("project \(id)'s legal hold is released")
    case "complete":
      let user = try UserLogin.login(positionals[1], arguments, console: console)
      let report = try user.handle.completeProject(id)
      if arguments.flag("json") {
        console.json([
          "completed": .string(id.description),
          "engagementsEnded": .int(Int64(report.engagementsEnded)),
          "underBillingOverride": .bool(report.underBillingOverride),
        ])
      } else {
        console.line("project \(id) completed; \(report.engagementsEnded) vendor engagements ended")
      }
    case "delete":
      let user = try UserLogin.login(
        positionals[1], arguments, console: console, stepUp: (.projectDeletion, id))
      let report = try user.handle.deleteProject(id, proof: user.proof ?? "")
      var retained = [String: JSON]()
      for (collection, count) in report.retained {
        retained[collection.rawValue] = .int(Int64(count))
      }
      if arguments.flag("json") {
        console.json([
          "deleted": .string(id.description),
          "removed": [
            "sessions": .int(Int64(report.sessionsRemoved)),
            "shotListItems": .int(Int64(report.shotListItemsRemoved)),
            "media": .int(Int64(report.mediaRemoved)),
          ],
          "retained": .object(retained),
        ])
      } else {
        let kept = report.retained.sorted { $0.key.rawValue < $1.key.rawValue }.map {
          "\($0.value) \($0.key)"
        }
        console.line(
          "project \(id) deleted: removed \(report.sessionsRemoved) sessions, \(report.shotListItemsRemoved)"
            + " shot-list items, \(report.mediaRemoved) media records; kept "
            + (kept.isEmpty ? "nothing else" : kept.joined(separator: ", ")))
      }
    default:
      throw UsageError(
        "unknown project action \"\(positionals[0])\": use complete, delete, hold or release")
    }
    return .success
  }
}

/// The value of an option the command cannot do without.
func requiredOption(_ name: String, _ arguments: Arguments) throws -> String {
  guard let value = arguments.value(name) else { throw UsageError("--\(name) is required") }
  return value
}

/// A text file's contents.
func readTextFile(_ path: String) throws -> String {
  let descriptor = open(path, O_RDONLY | O_CLOEXEC)
  guard descriptor >= 0 else { throw VaultError(.notFound, "cannot read \(path)", errno: errno) }
  defer { close(descriptor) }
  return try readAll(descriptor, what: path)
}

/// Everything on standard input.
func readStandardInput() throws -> String { try readAll(0, what: "standard input") }

private func readAll(_ descriptor: Int32, what: String) throws -> String {
  var bytes = [UInt8]()
  var buffer = [UInt8](repeating: 0, count: 65_536)
  while true {
    let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
    if count < 0 {
      if errno == EINTR { continue }
      throw VaultError(.io, "cannot read \(what)", errno: errno)
    }
    if count == 0 { break }
    bytes += buffer[..<count]
  }
  guard let text = String(validating: bytes, as: UTF8.self) else {
    throw VaultError(.invalidRecord, "\(what) is not UTF-8 text")
  }
  return text
}

/// Writes `text` to `path` atomically (a temporary file, synced, renamed into place).
func writeTextFile(_ path: String, _ text: String) throws {
  let temporary = path + ".tmp-\(getpid())"
  let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
  guard descriptor >= 0 else { throw VaultError(.io, "cannot create \(temporary)", errno: errno) }
  var bytes = Array(text.utf8)
  var offset = 0
  // Inside the loop the array is not empty, so it has an address.
  while offset < bytes.count {
    let written = bytes.withUnsafeMutableBytes {
      write(descriptor, $0.baseAddress! + offset, $0.count - offset)
    }
    if written < 0 {
      if errno == EINTR { continue }
      let failure = errno
      close(descriptor)
      unlink(temporary)
      throw VaultError(.io, "cannot write \(temporary)", errno: failure)
    }
    offset += written
  }
  guard fsync(descriptor) == 0, close(descriptor) == 0, rename(temporary, path) == 0 else {
    let failure = errno
    unlink(temporary)
    throw VaultError(.io, "cannot write \(path)", errno: failure)
  }
}

extension JSON {
  /// A value for humans: strings bare, everything else as JSON.
  var plainText: String {
    if case .string(let text) = self { return text }
    return encoded
  }
}
