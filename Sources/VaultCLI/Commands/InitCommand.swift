import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// `vault init PATH [--page-size N] [--kdf LEVEL]`
enum InitCommand: Command {
  static let name = "init"
  static let summary = "create a new, empty, encrypted vault file"
  static let usage =
    "vault init PATH [--page-size N] [--kdf interactive|moderate|sensitive] [--json]"
  static let discussion = """
    The passphrase comes from VAULT_PASSPHRASE or --passphrase-file, never from the
    command line. It is stretched with Argon2id at the --kdf level (default moderate:
    3 passes over 256 MiB) to wrap the vault's random master key.

    Creates the file atomically: it is built under a temporary name, synced, and linked
    into place, so a crash never leaves a half-made vault. Refuses to overwrite an
    existing file.
    """
  static let options: [OptionSpec] =
    [
      .option("page-size", "N", "bytes per page: 4096 (default), 8192, ..., 65536"),
      .option("kdf", "LEVEL", "passphrase stretching: interactive, moderate (default), sensitive"),
      .flag("json", "print the new vault's info as JSON"),
    ] + Secrets.passphraseOptions

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let path = try arguments.require("PATH")[0]
    let pageSize = try arguments.integer("page-size", default: FileFormat.defaultPageSize)
    guard FileFormat.isValidPageSize(pageSize) else {
      throw UsageError("--page-size must be a power of two from 4096 to 65536")
    }
    let level = arguments.value("kdf") ?? "moderate"
    guard let keyDerivation = PasswordKDF.Parameters(levelName: level) else {
      throw UsageError("--kdf must be interactive, moderate or sensitive, not \"\(level)\"")
    }
    let credential = try Secrets.passphrase(arguments, console: console)
    let store = try VaultStore.create(
      at: path, credential: credential, keyDerivation: keyDerivation, pageSize: pageSize)
    if arguments.flag("json") {
      console.json(try InfoCommand.info(store))
    } else {
      console.line("created \(path) (\(pageSize)-byte pages)")
    }
    return .success
  }
}
