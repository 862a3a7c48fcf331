@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
import VaultStorage

/// `vault key passphrase|rotate PATH`
enum KeyCommand: Command {
  static let name = "key"
  static let summary = "change the passphrase (O(1)) or rotate the key-encryption key"
  static let usage = "vault key passphrase|rotate PATH [--kdf LEVEL] [--batch N] [--wait SECONDS]"
  static let discussion = """
    Both open the vault with its passphrase (VAULT_PASSPHRASE or --passphrase-file).

    passphrase  re-wraps the master key under a new passphrase, read from
                VAULT_NEW_PASSPHRASE or --new-passphrase-file, stretched at the --kdf
                level (default moderate). Rewrites the two header copies only: one key
                derivation, whatever the vault's size. Copies of the file taken before
                the change still open with the old passphrase.
    rotate      makes a new key-encryption key primary and re-wraps every record's data
                key under it, --batch keys per transaction (default 10000), then
                retires the old one. Record bodies are not rewritten. A rotation cut
                short (a crash, ^C) leaves every record readable; run it again to finish.

    Once the vault has users, both also require --user of an owner.
    """
  static let options: [OptionSpec] =
    [
      .option("kdf", "LEVEL", "new passphrase stretching: interactive, moderate, sensitive"),
      .option(
        "new-passphrase-file", "FILE",
        "read the new passphrase from FILE (else VAULT_NEW_PASSPHRASE)"
      ),
      .option("batch", "N", "data keys re-wrapped per transaction (rotate)"),
      .option("wait", "SECONDS", "wait this long for another writer (default 5)"),
      .flag("json", "print the outcome as JSON"),
    ] + Secrets.passphraseOptions
  static var exitCodes: [(ExitCode, String)] {
    [
      (.success, "success"),
      (.usage, "usage error, or a passphrase missing"),
      (.dataError, "not a vault, corrupt, or an unsupported version"),
      (.noInput, "the vault file is missing or unreadable"),
      (.ioError, "I/O error"),
      (.locked, "another writer held the vault past --wait"),
      (.denied, "the passphrase is wrong"),
    ]
  }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("passphrase|rotate", "PATH")
    let (action, path) = (positionals[0], positionals[1])
    guard ["passphrase", "rotate"].contains(action) else {
      throw UsageError("unknown key action \"\(action)\": use passphrase or rotate")
    }
    let options = VaultStore.Options(lockTimeout: try arguments.seconds("wait", default: 5))
    switch action {
    case "passphrase":
      let level = arguments.value("kdf") ?? "moderate"
      guard let keyDerivation = PasswordKDF.Parameters(levelName: level) else {
        throw UsageError("--kdf must be interactive, moderate or sensitive, not \"\(level)\"")
      }
      // Read both secrets before the slow key derivations.
      let current = try Secrets.passphrase(arguments, console: console)
      let new = try Secrets.newPassphrase(arguments, console: console)
      let store = try VaultStore.open(at: path, credential: current, options: options)
      try store.changeCredential(to: .passphrase(new), keyDerivation: keyDerivation)
      if arguments.flag("json") {
        console.json(["changed": .bool(true), "kdf": .string(level)])
      } else {
        console.line(
          "passphrase changed (\(level) key derivation); no page but the header rewritten")
      }
    default:
      let batch = try arguments.integer("batch", default: 10_000)
      guard batch > 0 else { throw UsageError("--batch must be at least 1") }
      let store = try SealedStore.open(
        at: path, credential: try Secrets.passphrase(arguments, console: console),
        options: options)
      let bar = ProgressBar(console: console, label: "re-wrapping data keys")
      let report = try store.rotateKeyEncryptionKey(batchSize: batch) { done, total in
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

/// `vault erase-client PATH ID`
enum EraseClientCommand: Command {
  static let name = "erase-client"
  static let summary = "crypto-shred one client's personal data"
  static let usage = "vault erase-client PATH ID [--wait SECONDS] [--json]"
  static let discussion = """
    Destroys the data key of client ID (and removes the record), then overwrites with
    zeros every free page an older copy of it, or of its key, may linger in. Afterwards
    the client's data cannot be recovered from the file, even with the passphrase.
    Opens with the passphrase (VAULT_PASSPHRASE or --passphrase-file).

    This release erases the client record itself; the records layer extends erasure to
    the personal fields of the client's projects and to audit details about the client
    (../shared/spec/access.md, Client erasure). Once the vault has users it also
    requires --user with step-up.
    """
  static let options: [OptionSpec] =
    [
      .option("wait", "SECONDS", "wait this long for another writer or old readers (default 5)"),
      .flag("json", "print the outcome as JSON"),
    ] + Secrets.passphraseOptions
  static var exitCodes: [(ExitCode, String)] { KeyCommand.exitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("PATH", "ID")
    let id = Array(positionals[1].utf8)
    let store = try SealedStore.open(
      at: positionals[0], credential: try Secrets.passphrase(arguments, console: console),
      options: .init(lockTimeout: try arguments.seconds("wait", default: 5)))
    let exists = try store.read { snapshot throws(VaultError) in
      try snapshot.snapshot.tree(named: "clients")?.value(forKey: id) != nil
    }
    guard exists else {
      // Perhaps an earlier erase of it was interrupted after deleting it (a crash, an
      // old reader): opening finished that scrub, or it is finished now, so a rerun
      // completes the erasure.
      if let zeroed = try store.pagesScrubbedAtOpen
        ?? (store.isScrubPending ? store.finishPendingErasure() : nil)
      {
        console.line(
          "no client \(positionals[1]); finished an interrupted erasure (\(zeroed) pages zeroed)")
        return .success
      }
      throw VaultError(.invalidArgument, "no client \(positionals[1]) in this vault")
    }
    let zeroed = try store.eraseRecords([("clients", id)])
    if arguments.flag("json") {
      console.json(["erased": .string(positionals[1]), "pagesZeroed": .int(Int64(zeroed))])
    } else {
      console.line("client \(positionals[1]) erased; \(zeroed) free pages overwritten with zeros")
    }
    return .success
  }
}
