@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// `vault init PATH --owner NAME [--currency C] [--page-size N] [--kdf LEVEL]`
enum InitCommand: Command {
  static let name = "init"
  static let summary = "create a vault, its organization and first owner"
  static let usage =
    "vault init PATH --owner NAME [--currency USD] [--page-size N]"
    + " [--kdf interactive|moderate|sensitive] [--json]"
  static let discussion = """
    The passphrase comes from VAULT_PASSPHRASE or --passphrase-file, never from the
    command line. It is stretched with Argon2id at the --kdf level (default moderate:
    3 passes over 256 MiB) to wrap the vault's random master key.

    The first owner's password comes from VAULT_PASSWORD or --password-file (at least
    15 characters); it is stored as an Argon2id hash at the same --kdf level. The
    organization's currency (--currency, default USD) is what amounts without a
    currency mean on import.

    Creates the file atomically: it is built under a temporary name, synced, and linked
    into place, so a crash never leaves a half-made vault. Refuses to overwrite an
    existing file.
    """
  static let options: [OptionSpec] =
    [
      .option("owner", "NAME", "the first owner's user name (required)"),
      .option("currency", "CODE", "the organization's ISO 4217 currency (default USD)"),
      .option("page-size", "N", "bytes per page: 4096 (default), 8192, ..., 65536"),
      .option("kdf", "LEVEL", "passphrase stretching: interactive, moderate (default), sensitive"),
      .flag("json", "print the new vault's info as JSON"),
    ] + Secrets.passphraseOptions + Secrets.passwordOptions

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
    guard let owner = arguments.value("owner"), !owner.isEmpty else {
      throw UsageError("--owner NAME is required: a vault starts with its first owner")
    }
    let currency = try Currency(arguments.value("currency") ?? "USD")
    let credential = try Secrets.passphrase(arguments, console: console)
    let organization = RecordStore.Organization(
      ownerName: owner, ownerPassword: try Secrets.password(arguments, console: console),
      currency: currency, passwordHashing: keyDerivation)
    let store = try RecordStore.create(
      at: path, credential: credential, keyDerivation: keyDerivation, pageSize: pageSize,
      organization: organization)
    if arguments.flag("json") {
      console.json(try InfoCommand.info(store.sealed.store))
    } else {
      console.line("created \(path) (\(pageSize)-byte pages)")
    }
    return .success
  }
}
