import StudioVault
import VaultCore
import VaultStorage

/// `vault backup SRC DST [--verify] [--json]`
enum BackupCommand: Command {
  static let name = "backup"
  static let summary = "copy a consistent snapshot of a vault, without the key"
  static let usage = "vault backup SRC DST [--verify] [--json]"
  static let discussion = """
    Copies the newest commit of SRC to a new file DST, while other processes go on
    writing SRC: the pages of that commit are held for the copy, every reachable page
    is copied at its place (upload extents included), free pages become zeros, and
    DST is synced before it gets its name. DST is a vault holding exactly that one
    commit, with the same passphrase and the same audit log. Needs no key.
    --verify then checks DST as `vault check` does, its audit log included.
    Incremental backups (--incremental-from) are not available yet.
    """
  static let options: [OptionSpec] = [
    .flag("verify", "check DST after writing it"),
    .flag("json", "print the outcome as JSON"),
    .option("incremental-from", "BACKUP", "not available yet"),
  ]
  static var exitCodes: [(ExitCode, String)] {
    [
      (.success, "DST written (and verified with --verify)"),
      (.problemsFound, "--verify found problems in DST (listed)"),
      (.usage, "usage error, or DST exists"),
      (.dataError, "SRC is not a vault, or is damaged"),
      (.noInput, "SRC is missing or unreadable"),
      (.ioError, "I/O error, or the disk is full"),
      (.locked, "writers kept replacing the state being copied"),
    ]
  }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("SRC", "DST")
    guard arguments.value("incremental-from") == nil else {
      throw UsageError("incremental backups are not available yet: make a full one")
    }
    let store = try VaultStore.open(
      at: positionals[0], credential: nil, options: .init(readOnly: true))
    let bar = ProgressBar(console: console, label: "copying pages")
    let report = try Backup.copy(store, to: positionals[1]) { done, total in
      bar.update(done, of: total)
    }
    bar.finish()
    var problems = [CheckProblem]()
    if arguments.flag("verify") {
      problems = Checker.check(path: positionals[1]).problems
      problems += CheckCommand.auditProblems(positionals[1])
    }
    if arguments.flag("json") {
      var fields: [String: JSON] = [
        "transactionId": .uint(report.transaction.rawValue),
        "pagesCopied": .int(Int64(report.pagesCopied)), "pageCount": .uint(report.pageCount),
      ]
      if arguments.flag("verify") {
        fields["ok"] = .bool(problems.isEmpty)
        fields["problems"] = .array(
          problems.map {
            [
              "page": $0.page.map { .uint($0) } ?? .null, "kind": .string($0.kind),
              "detail": .string($0.detail),
            ]
          })
      }
      console.json(.object(fields))
    } else {
      console.line(
        "copied commit \(report.transaction): \(report.pagesCopied) of \(report.pageCount) pages")
      for problem in problems {
        console.line("problem: \(problem.page.map { "page \($0): " } ?? "")\(problem.detail)")
      }
      if arguments.flag("verify") && problems.isEmpty { console.line("verified: no problems") }
    }
    return problems.isEmpty ? .success : .problemsFound
  }
}
