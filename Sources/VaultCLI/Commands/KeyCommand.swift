@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
import VaultStorage

/// `vault key passphrase|rotate PATH --user U`
enum KeyCommand: Command {
  static let name = "key"
  static let summary = "change the passphrase (O(1)) or rotate the key-encryption key"
  static let usage =
    "vault key passphrase|rotate PATH --user U [--kdf LEVEL] [--batch N] [--wait SECONDS]"
  static let discussion = """
    Both open the vault with its passphrase (VAULT_PASSPHRASE or --passphrase-file)
    and act as an owner (--user, password from VAULT_PASSWORD or --password-file).

    passphrase  re-wraps the master key under a new passphrase, read from
                VAULT_NEW_PASSPHRASE or --new-passphrase-file, stretched at the --kdf
                level (default moderate). Rewrites the two header copies only: one key
                derivation, whatever the vault's size. Copies of the file taken before
                the change still open with the old passphrase.
    rotate      makes a new key-encryption key primary and re-wraps every record's data
                key under it, --batch keys per transaction (default 10000), then
                retires the old one. Record bodies are not rewritten. A rotation cut
                short (a crash, ^C) leaves every record readable; run it again to finish.
    """
  static let options: [OptionSpec] =
    [
      .option("kdf", "LEVEL", "new passphrase stretching: interactive, moderate, sensitive"),
      .option(
        "new-passphrase-file", "FILE",
        "read the new passphrase from FILE (else VAULT_NEW_PASSPHRASE)"
      ),
      .option("batch", "N", "data keys re-wrapped per transaction (rotate)"),
      .flag("json", "print the outcome as JSON"),
    ] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] {
    [
      (.success, "success"),
      (.usage, "usage error, or a passphrase missing"),
      (.dataError, "not a vault, corrupt, or an unsupported version"),
      (.noInput, "the vault file is missing or unreadable"),
      (.ioError, "I/O error"),
      (.locked, "another writer held the vault past --wait"),
      (.denied, "wrong passphrase, unknown user or wrong password, or not an owner"),
    ]
  }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("passphrase|rotate", "PATH")
    let (action, path) = (positionals[0], positionals[1])
    guard ["passphrase", "rotate"].contains(action) else {
      throw UsageError("unknown key action \"\(action)\": use passphrase or rotate")
    }
    switch action {
    case "passphrase":
      let level = arguments.value("kdf") ?? "moderate"
      guard let keyDerivation = PasswordKDF.Parameters(levelName: level) else {
        throw UsageError("--kdf must be interactive, moderate or sensitive, not \"\(level)\"")
      }
      // Read every secret before the slow key derivations.
      let new = try Secrets.newPassphrase(arguments, console: console)
      let user = try UserLogin.login(
        path, arguments, console: console, stepUp: (.passphraseChange, nil))
      try user.handle.changeCredential(
        to: .passphrase(new), keyDerivation: keyDerivation, proof: user.proof ?? "")
      if arguments.flag("json") {
        console.json(["changed": .bool(true), "kdf": .string(level)])
      } else {
        console.line(
          "passphrase changed (\(level) key derivation); no page but the header rewritten")
      }
    default:
      let batch = try arguments.integer("batch", default: 10_000)
      guard batch > 0 else { throw UsageError("--batch must be at least 1") }
      let user = try UserLogin.login(path, arguments, console: console, stepUp: (.keyRotation, nil))
      let bar = ProgressBar(console: console, label: "re-wrapping data keys")
      let report = try user.handle.rotateKeyEncryptionKey(
        proof: user.proof ?? "", batchSize: batch
      ) { done, total in
        bar.update(done, of: UInt64(total))
      }
      bar.finish()
      if arguments.flag("json") {
        console.json([
          "kekId": .uint(UInt64(report.kekID)), "rewrapped": .int(Int64(report.rewrapped)),
          "retired": .array(report.retired.map { .uint(UInt64($0)) }),
          "transactions": .int(Int64(report.batches)),
        ])
      } else {
        console.line(
          "key-encryption key \(report.kekID) is primary: \(report.rewrapped) data keys"
            + " re-wrapped in \(report.batches) transactions; retired "
            + (report.retired.isEmpty
              ? "none" : report.retired.map(String.init).joined(separator: ", ")))
      }
    }
    return .success
  }
}

/// `vault erase-client PATH --user U ID`
enum EraseClientCommand: Command {
  static let name = "erase-client"
  static let summary = "crypto-shred one client's personal data"
  static let usage = "vault erase-client PATH --user U ID [--wait SECONDS] [--json]"
  static let discussion = """
    Destroys the data key of client ID, rewrites the client's projects without their
    personal fields (on-site contact), removes the client from every index, then
    overwrites with zeros every free page an older copy may linger in. Afterwards the
    client's personal data cannot be recovered from the file, even with the passphrase.
    Invoices, payments and other financial records stay, keeping only the client's id
    (../shared/spec/access.md, Client erasure).
    """
  static let options: [OptionSpec] =
    [.flag("json", "print the outcome as JSON")] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { KeyCommand.exitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("PATH", "ID")
    let id = try RecordID(positionals[1])
    let user = try UserLogin.login(
      positionals[0], arguments, console: console, stepUp: (.clientErasure, id))
    let store = user.store
    guard let report = try erase(id, user: user) else {
      // Erased before, perhaps cut short (a crash, an old reader): opening finished
      // that scrub, or it is finished now.
      let zeroed =
        try store.sealed.pagesScrubbedAtOpen
        ?? (store.sealed.isScrubPending ? store.sealed.finishPendingErasure() : 0)
      console.line("client \(id) was already erased; \(zeroed) free pages overwritten now")
      return .success
    }
    if arguments.flag("json") {
      console.json([
        "erased": .string(id.description), "projectsScrubbed": .int(Int64(report.projectsScrubbed)),
        "pagesZeroed": .int(Int64(report.pagesZeroed)),
      ])
    } else {
      console.line(
        "client \(id) erased; \(report.projectsScrubbed) projects lost their personal fields;"
          + " \(report.pagesZeroed) free pages overwritten with zeros")
    }
    return .success
  }

  /// The erasure's report, or nil when the client was erased before.
  private static func erase(_ id: RecordID, user: UserLogin.User) throws(VaultError)
    -> ClientErasureReport?
  {
    do throws(VaultError) {
      return try user.handle.eraseClient(id, proof: user.proof ?? "")
    } catch  where error.code == .erased {
      return nil
    }
  }
}
