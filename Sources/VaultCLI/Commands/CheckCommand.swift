import StudioVault
import VaultCore
import VaultStorage

/// `vault check PATH [--json]`
enum CheckCommand: Command {
  static let name = "check"
  static let summary = "verify every page in use and the free-page accounting (no key needed)"
  static let usage = "vault check PATH [--deep] [--json]"
  static let discussion = """
    Verifies both header copies, both meta pages, and every page reachable from the
    newest intact commit: checksum, page number, writer transaction, owning tree, type,
    structure and key order. Then checks that every page is either in use or free,
    never both and never neither, and verifies the audit log as `vault audit verify`
    does (chain, Merkle tree, checkpoint signatures, full pages never rewritten). Goes
    on past damaged pages and lists every problem. Needs no key and works while
    another process writes the vault.

    Without the key, page contents are sealed: the check verifies what a keyless reader
    can (checksums, identities, links, page counts). With --deep it also opens every
    page with the key (VAULT_PASSPHRASE or --passphrase-file), so a page altered by
    someone who fixed its checksum fails authentication, and it checks key order, key
    counts and the free list itself.
    """
  static let options: [OptionSpec] =
    [.flag("json", "print one JSON document")]
    + Secrets.deepOptions("also authenticate and decode every page (needs the passphrase)")
  static var exitCodes: [(ExitCode, String)] {
    [
      (.success, "no problem found"),
      (.problemsFound, "problems found (listed)"),
      (.usage, "usage error"),
      (.dataError, "not a vault, or an unsupported version"),
      (.noInput, "the vault file is missing or unreadable"),
      (.denied, "--deep: the passphrase is wrong"),
    ]
  }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let path = try arguments.require("PATH")[0]
    let bar = ProgressBar(console: console, label: "checking pages")
    let credential =
      try Secrets.deepCredential(arguments, console: console)
    var report = Checker.check(path: path, credential: credential) { done, total in
      bar.update(done, of: total)
    }
    bar.finish()
    if report.transaction != nil { report.problems += auditProblems(path) }
    // A file that cannot be opened at all is an input error, not a list of problems.
    if report.transaction == nil, let first = report.problems.first,
      ["open", "notAVault", "wrongPassphrase"].contains(first.kind)
    {
      if first.kind == "notAVault" {
        throw VaultError(.notAVault, first.detail)
      }
      if first.kind == "wrongPassphrase" {
        throw VaultError(.wrongPassphrase, first.detail)
      }
      if first.detail.hasPrefix("no such file") || first.detail.hasPrefix("permission denied") {
        throw VaultError(.notFound, first.detail)
      }
    }
    if arguments.flag("json") {
      console.json([
        "ok": .bool(report.ok),
        "pagesChecked": .int(Int64(report.pagesChecked)),
        "transactionId": report.transaction.map { .uint($0.rawValue) } ?? .null,
        "problems": .array(
          report.problems.map {
            [
              "page": $0.page.map { .uint($0) } ?? .null, "kind": .string($0.kind),
              "detail": .string($0.detail),
            ]
          }),
      ])
    } else {
      for problem in report.problems {
        let place = problem.page.map { "page \($0)" } ?? "vault"
        console.line("\(place): \(problem.kind): \(problem.detail)")
      }
      if report.ok {
        console.line("ok: \(report.pagesChecked) pages checked, no problems")
      } else {
        console.line(
          "\(report.problems.count) problems found (\(report.pagesChecked) pages checked)")
      }
    }
    return report.ok ? .success : .problemsFound
  }

  /// The audit log's problems, as check problems (`audit:` and the verifier's kind).
  static func auditProblems(_ path: String) -> [CheckProblem] {
    do throws(VaultError) {
      let store = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
      return try AuditVerification.verify(store).problems.map {
        CheckProblem(page: nil, kind: "audit:" + $0.kind, detail: $0.description)
      }
    } catch {
      return [CheckProblem(page: error.page, kind: "audit", detail: error.description)]
    }
  }
}
