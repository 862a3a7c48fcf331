import StudioVault
import VaultCore
import VaultStorage

/// `vault backup SRC DST [--incremental-from BACKUP] [--verify] [--json]`
enum BackupCommand: Command {
  static let name = "backup"
  static let summary = "copy a consistent snapshot of a vault, without the key"
  static let usage = "vault backup SRC DST [--incremental-from BACKUP] [--verify] [--json]"
  static let discussion = """
    Copies the newest commit of SRC to a new file DST, while other processes go on
    writing SRC: the pages of that commit are held for the copy, every reachable page
    is copied at its place (upload extents included), free pages become zeros, and
    DST is synced before it gets its name. DST is a vault holding exactly that one
    commit, with the same passphrase and the same audit log. Needs no key.

    With --incremental-from BACKUP (a full backup, or an incremental one), DST holds
    only the pages written since the commit BACKUP holds, and is not a vault by
    itself: `vault restore FULL INCR... OUT` rebuilds the vault from the full backup
    and the incremental ones, in the order they were made.

    --verify then checks DST: a full backup as `vault check` does, its audit log
    included; an incremental one page by page against its tables.
    """
  static let options: [OptionSpec] = [
    .option("incremental-from", "BACKUP", "copy only what changed since that backup"),
    .flag("verify", "check DST after writing it"),
    .flag("json", "print the outcome as JSON"),
  ]
  static var exitCodes: [(ExitCode, String)] {
    [
      (.success, "DST written (and verified with --verify)"),
      (.problemsFound, "--verify found problems in DST (listed)"),
      (.usage, "usage error, DST exists, or BACKUP is not a backup of SRC's history"),
      (.dataError, "SRC or BACKUP is not a vault, or is damaged"),
      (.noInput, "SRC or BACKUP is missing or unreadable"),
      (.ioError, "I/O error, or the disk is full"),
      (.locked, "writers kept replacing the state being copied"),
    ]
  }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("SRC", "DST")
    let base = arguments.value("incremental-from")
    let store = try VaultStore.open(
      at: positionals[0], credential: nil, options: .init(readOnly: true))
    let bar = ProgressBar(console: console, label: "copying pages")
    let report: BackupReport
    if let base {
      report = try Backup.copyIncremental(store, from: base, to: positionals[1]) { done, total in
        bar.update(done, of: total)
      }
    } else {
      report = try Backup.copy(store, to: positionals[1]) { done, total in
        bar.update(done, of: total)
      }
    }
    bar.finish()
    var problems = [CheckProblem]()
    if arguments.flag("verify") {
      if base == nil {
        let checking = ProgressBar(console: console, label: "checking the copy")
        problems = Checker.check(path: positionals[1]) { checking.update($0, of: $1) }.problems
        checking.finish()
        problems += CheckCommand.auditProblems(positionals[1])
      } else {
        problems = Backup.verifyIncremental(at: positionals[1])
      }
    }
    return report.print(
      console: console, json: arguments.flag("json"),
      verified: arguments.flag("verify") ? problems : nil)
  }
}

/// `vault restore FULL [INCREMENTAL ...] DST [--json]`
enum RestoreCommand: Command {
  static let name = "restore"
  static let summary = "rebuild a vault from a full backup and incremental ones"
  static let usage = "vault restore FULL [INCREMENTAL ...] DST [--json]"
  static let discussion = """
    Writes to the new file DST the vault that the full backup FULL and the incremental
    backups after it hold together: each INCREMENTAL must continue the commit the ones
    before it end with, so give them in the order they were made. The result is
    walked and verified before it gets its name, and is exactly the full backup of the
    newest commit. Needs no key; the files of the chain are only read.
    """
  static let options: [OptionSpec] = [.flag("json", "print the outcome as JSON")]
  static var exitCodes: [(ExitCode, String)] {
    [
      (.success, "DST written and verified"),
      (.usage, "usage error, DST exists, or the backups do not form a chain"),
      (.dataError, "a backup of the chain is damaged"),
      (.noInput, "a backup is missing or unreadable"),
      (.ioError, "I/O error, or the disk is full"),
    ]
  }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = arguments.positionals
    guard positionals.count >= 2 else {
      throw UsageError("expected FULL, any INCREMENTAL backups, then DST")
    }
    let bar = ProgressBar(console: console, label: "restoring pages")
    let report = try Backup.restore(
      base: positionals[0], increments: Array(positionals.dropFirst().dropLast()),
      to: positionals[positionals.count - 1]
    ) { done, total in bar.update(done, of: total) }
    bar.finish()
    return report.print(console: console, json: arguments.flag("json"), verified: nil)
  }
}

extension BackupReport {
  /// Prints the report; `verified` lists what --verify found (nil: not asked).
  fileprivate func print(console: any Console, json: Bool, verified problems: [CheckProblem]?)
    -> ExitCode
  {
    if json {
      var fields: [String: JSON] = [
        "transactionId": .uint(transaction.rawValue),
        "pagesCopied": .int(Int64(pagesCopied)), "pageCount": .uint(pageCount),
      ]
      if let base { fields["baseTransactionId"] = .uint(base.rawValue) }
      if let problems {
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
      let since = base.map { " (changes since commit \($0))" } ?? ""
      console.line(
        "copied commit \(transaction)\(since): \(pagesCopied) of \(pageCount) pages")
      for problem in problems ?? [] {
        console.line("problem: \(problem.page.map { "page \($0): " } ?? "")\(problem.detail)")
      }
      if problems?.isEmpty == true { console.line("verified: no problems") }
    }
    return problems?.isEmpty ?? true ? .success : .problemsFound
  }
}

/// `vault recover SRC DST [--json]`
enum RecoverCommand: Command {
  static let name = "recover"
  static let summary = "with the key: copy what still authenticates from a damaged vault"
  static let usage = "vault recover SRC DST [--json]"
  static let discussion = """
    Opens SRC with its passphrase (VAULT_PASSPHRASE or --passphrase-file), walks its
    newest intact commit (when none is, the newest whose meta page verifies), and copies every entry of every tree whose page still
    authenticates (records, their keys, uploads, the audit log) into a new vault DST
    with the same passphrase and keys. Pages that fail are skipped with what lies below
    them, and listed, and the exit code is then 1. Older versions of entries left in free pages are never used: they
    could bring back revoked sessions or keys an erasure destroyed. On an intact vault
    this is a compacting copy. DST is checked before it gets its name.
    """
  static let options: [OptionSpec] =
    [.flag("json", "print the outcome as JSON")] + Secrets.passphraseOptions
  static var exitCodes: [(ExitCode, String)] {
    [
      (.success, "DST written, holding every entry of SRC's newest commit"),
      (.problemsFound, "DST written, but some of SRC was lost (listed)"),
      (.usage, "usage error, or DST exists"),
      (.dataError, "SRC is not a vault, or no commit of it can be opened"),
      (.noInput, "SRC is missing or unreadable"),
      (.ioError, "I/O error, or the disk is full"),
      (.denied, "wrong passphrase"),
    ]
  }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("SRC", "DST")
    let credential = try Secrets.passphrase(arguments, console: console)
    // When no commit is intact, the newest one whose meta page verifies is read anyway.
    var options = VaultStore.Options(readOnly: true)
    options.salvaging = true
    let source = try VaultStore.open(at: positionals[0], credential: credential, options: options)
    let bar = ProgressBar(console: console, label: "recovering pages")
    let report = try Salvage.recover(source, credential: credential, to: positionals[1]) {
      bar.update($0, of: $1)
    }
    bar.finish()
    let copied = report.entries.values.reduce(0, +)
    if arguments.flag("json") {
      console.json([
        "transactionId": .uint(report.transaction.rawValue),
        "entries": .object(report.entries.mapValues { .int(Int64($0)) }),
        "unreadableValues": .int(Int64(report.unreadableValues)),
        "olderThanDurable": .bool(report.olderThanDurable),
        "ok": .bool(!report.lostAnything),
        "damage": .array(
          report.damage.map {
            [
              "tree": .string($0.tree), "page": $0.problem.page.map { .uint($0) } ?? .null,
              "kind": .string($0.problem.kind), "detail": .string($0.problem.detail),
            ]
          }),
      ])
    } else {
      console.line(
        "recovered \(copied) entries of \(report.entries.count) trees from commit"
          + " \(report.transaction) into \(positionals[1])")
      for (tree, problem) in report.damage {
        console.line(
          "lost: \(tree): \(problem.page.map { "page \($0): " } ?? "")\(problem.detail)"
            + " (and what lay below it)")
      }
      if report.unreadableValues > 0 {
        console.line(
          "lost: \(report.unreadableValues) values whose overflow pages or extent failed")
      }
      if report.olderThanDurable {
        console.line(
          "lost: the newest commit known durable is damaged; DST holds the commit before it,"
            + " without the later changes (revoked sessions and disabled users may be back:"
            + " review them)")
      }
      if !report.lostAnything { console.line("nothing was damaged: DST holds every entry") }
    }
    return report.lostAnything ? .problemsFound : .success
  }
}
