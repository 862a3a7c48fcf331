@_spi(Engine) import StudioVault
import VaultCore
import VaultFormat
import VaultStorage

/// `vault audit verify|checkpoint|list PATH …`
enum AuditCommand: Command {
  static let name = "audit"
  static let summary = "verify, checkpoint or list the audit log"
  static let usage = """
    vault audit verify PATH [--checkpoint FILE] [--json]
           vault audit checkpoint PATH
           vault audit list PATH --user U [--from N] [--limit N] [--json]
    """
  static let discussion = """
    verify      recomputes the hash chain and the Merkle tree over every entry, checks
                every checkpoint's signature with the public key in the file header and
                its root against the entries; with --checkpoint, also that the log still
                extends a checkpoint saved earlier (which catches a vault rolled back to
                an older copy), and with --key, that the file header still holds the
                audit key `vault info` printed. Names the first entry each problem puts
                in doubt. Needs no key.
    checkpoint  prints the newest signed checkpoint (a C2SP signed note): keep it
                elsewhere, and give it to `verify --checkpoint` later. Needs no key.
    list        the entries the user may see (owners and hq all, branch managers their
                branch's, staff their own security events), each with its inclusion
                proof against the newest checkpoint. Reading the log is itself logged.
    """
  static let options: [OptionSpec] =
    [
      .flag("json", "print JSON (verify: one document; list: one entry a line)"),
      .option("checkpoint", "FILE", "verify: a checkpoint saved earlier to check against"),
      .option("key", "VERIFIERKEY", "verify: the audit key expected (from `vault info` earlier)"),
      .option("from", "N", "list: start at entry N (default 0)"),
      .option("limit", "N", "list: at most N entries (default 10000)"),
    ] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] {
    [
      (.success, "success; for verify: the log verifies"),
      (.problemsFound, "verify: problems found (listed)"),
      (.usage, "usage error"),
      (.dataError, "not a vault, corrupt, or an unreadable checkpoint file"),
      (.noInput, "the vault or the checkpoint file is missing or unreadable"),
      (.denied, "list: wrong passphrase or password, or a role that may not read the log"),
    ]
  }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    guard let subcommand = arguments.positionals.first else {
      throw UsageError("missing verify, checkpoint or list")
    }
    switch subcommand {
    case "verify":
      return try verify(try arguments.require("verify", "PATH")[1], arguments, console)
    case "checkpoint":
      let path = try arguments.require("checkpoint", "PATH")[1]
      let store = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
      guard let note = try AuditVerification.newestCheckpoint(store) else {
        throw VaultError(.noSuchRecord, "the vault's audit log has no signed checkpoint")
      }
      console.write(note)
      return .success
    case "list":
      return try list(try arguments.require("list", "PATH")[1], arguments, console)
    default:
      throw UsageError("unknown audit command \"\(subcommand)\" (verify, checkpoint or list)")
    }
  }

  private static func verify(_ path: String, _ arguments: Arguments, _ console: any Console)
    throws -> ExitCode
  {
    let saved = try arguments.value("checkpoint").map(readTextFile)
    let store = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    let bar = ProgressBar(console: console, label: "verifying the audit log")
    var report = try AuditVerification.verify(store, against: saved) { done, total in
      bar.update(Int(done), of: total)
    }
    bar.finish()
    if let expected = arguments.value("key") {
      // The header's key is only checksummed: pinning it catches a replaced one even
      // with no checkpoint saved.
      let found = try AuditCheckpoint.verifierKey(
        vaultID: store.header.vaultID, publicKey: store.header.auditPublicKey)
      _ = try SignedNote.parseVerifierKey(expected)
      if found != expected {
        report.problems.append(
          .init(
            entry: nil, kind: "key",
            detail: "the vault's audit key is \(found), not the expected \(expected)"))
      }
    }
    if arguments.flag("json") {
      console.json([
        "ok": .bool(report.ok),
        "entries": .uint(report.entries),
        "treeSize": .uint(report.treeSize),
        "rootHash": .string(Hex.encode(report.rootHash)),
        "checkpoints": .int(Int64(report.checkpoints)),
        "firstBadEntry": report.firstBadEntry.map(JSON.uint) ?? .null,
        "problems": .array(
          report.problems.map {
            [
              "entry": $0.entry.map(JSON.uint) ?? .null, "kind": .string($0.kind),
              "detail": .string($0.detail),
            ]
          }),
      ])
    } else {
      for problem in report.problems { console.line("\(problem.kind): \(problem)") }
      if report.ok, report.entries == 0, report.checkpoints == 0 {
        console.line(
          "ok: no audit log in this vault (only a checkpoint saved earlier tells a log"
            + " removed from one never kept)")
      } else if report.ok {
        console.line(
          "ok: \(report.entries) entries, \(report.checkpoints) checkpoints, root "
            + Hex.encode(report.rootHash))
      } else {
        let first = report.firstBadEntry.map { ", first bad entry \($0)" } ?? ""
        console.line("\(report.problems.count) problems found\(first)")
      }
    }
    return report.ok ? .success : .problemsFound
  }

  private static func list(_ path: String, _ arguments: Arguments, _ console: any Console)
    throws -> ExitCode
  {
    let start = try arguments.integer("from", default: 0)
    let limit = try arguments.integer("limit", default: 10_000)
    guard start >= 0, limit >= 1 else {
      throw UsageError("--from is 0 or more and --limit 1 or more")
    }
    let user = try UserLogin.login(path, arguments, console: console)
    let listing = try user.handle.readAudit(from: UInt64(start), limit: limit)
    let root = Hex.encode(listing.checkpoint.root)
    for record in listing.entries {
      let json = entryJSON(record, treeSize: listing.checkpoint.size, root: root)
      if arguments.flag("json") {
        console.line(json.encoded)
      } else {
        let event = record.event
        var line = String(record.sequence).padding(to: 7)
        line += Formatting.timestamp(milliseconds: event.time).padding(to: 25)
        line += event.action.description.padding(to: 24)
        line += event.outcome.description.padding(to: 8)
        line += actorText(event.actor)
        if let detail = record.detail { line += " " + detail }
        if record.detailErased { line += " (detail erased)" }
        console.line(line)
      }
    }
    if !arguments.flag("json") {
      console.line("checkpoint: \(listing.checkpoint.size) entries, root \(root)")
    }
    return .success
  }

  private static func actorText(_ actor: AuditActor) -> String {
    switch actor {
    case .system: "system"
    case .user(let id, let role): "\(role) \(Formatting.uuid(id))"
    }
  }

  /// One entry as `audit list --json` prints it.
  static func entryJSON(_ record: AuditRecord, treeSize: UInt64, root: String) -> JSON {
    let event = record.event
    var actor: [String: JSON] = ["kind": .string("system")]
    if case .user(let id, let role) = event.actor {
      actor = [
        "kind": .string("user"), "id": .string(Formatting.uuid(id)),
        "role": .string(role.description),
      ]
    }
    let detail: JSON =
      record.detail.flatMap { try? JSON.parse($0) } ?? .null
    return [
      "sequence": .uint(record.sequence),
      "time": .string(Formatting.timestamp(milliseconds: event.time)),
      "actor": .object(actor),
      "branch": event.branch.map { .string(Formatting.uuid($0)) } ?? .null,
      "action": .string(event.action.description),
      "outcome": .string(event.outcome.description),
      "targets": .array(event.targets.map { .string(Formatting.uuid($0)) }),
      "detail": detail,
      "detailErased": .bool(record.detailErased),
      "entry": .string(Hex.encode(record.stored)),
      "proof": .array(record.proof.map { .string(Hex.encode($0)) }),
      "treeSize": .uint(treeSize),
      "rootHash": .string(root),
    ]
  }
}
