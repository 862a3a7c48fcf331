@_spi(Engine) import StudioVault
import VaultCore
import VaultStorage

/// Commands that act as a user open the vault with its passphrase, then log the
/// user in with their password (`--user NAME`, password from `VAULT_PASSWORD` or
/// `--password-file`). The access layer will add sessions and step-up; until then the
/// user's role and branch decide the scope.
enum UserLogin {
  static let options: [OptionSpec] =
    [
      .option("user", "NAME", "act as this user (password from VAULT_PASSWORD)"),
      .option("wait", "SECONDS", "wait this long for another writer (default 5)"),
    ] + Secrets.passwordOptions + Secrets.passphraseOptions

  /// The vault's records and the logged-in user. Opened for writing even by commands
  /// that only read: every login, good or bad, is written to the audit log.
  static func open(
    _ path: String, _ arguments: Arguments, console: any Console
  ) throws -> (RecordStore, RecordStore.Principal) {
    guard let name = arguments.value("user") else {
      throw UsageError("--user NAME is required: commands with keys act as a user")
    }
    // Both secrets are read before the slow key derivation.
    let passphrase = try Secrets.passphrase(arguments, console: console)
    let password = try Secrets.password(arguments, console: console)
    let options = VaultStore.Options(lockTimeout: try arguments.seconds("wait", default: 5))
    let store = try RecordStore.open(at: path, credential: passphrase, options: options)
    let principal = try store.authenticate(user: name, password: password)
    return (store, principal)
  }

  /// Refuses users whose role is not among `roles`.
  static func require(_ principal: RecordStore.Principal, roles: [String], to action: String) throws
  {
    guard roles.contains(principal.role) else {
      throw VaultError(.policyViolation, "only \(roles.joined(separator: " or ")) may \(action)")
    }
  }
}
