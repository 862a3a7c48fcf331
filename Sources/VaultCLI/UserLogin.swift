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
      .option("totp", "CODE", "the user's one-time code (or a recovery code), when enrolled"),
      .option("wait", "SECONDS", "wait this long for another writer (default 5)"),
    ] + Secrets.passwordOptions + Secrets.passphraseOptions

  /// The vault's records and the logged-in user: from `VAULT_SESSION` when set (a
  /// session `vault login` opened), else from `--user` and the password (plus
  /// `--totp`). Opened for writing even by commands that only read: every login, good
  /// or bad, is written to the audit log.
  static func open(
    _ path: String, _ arguments: Arguments, console: any Console
  ) throws -> (RecordStore, RecordStore.Principal) {
    let (store, principal, _) = try openWithSession(path, arguments, console: console)
    return (store, principal)
  }

  /// ``open(_:_:console:)`` for a high-risk command: the password given is its step-up
  /// (../shared/spec/cli.md), so a session token alone is refused.
  static func openForHighRisk(
    _ path: String, _ arguments: Arguments, console: any Console, action: String
  ) throws -> (RecordStore, RecordStore.Principal) {
    let (store, principal, passwordGiven) = try openWithSession(path, arguments, console: console)
    guard passwordGiven else {
      throw VaultError(
        .policyViolation, "\(action) needs your password (step-up): a session is not enough")
    }
    return (store, principal)
  }

  /// ``open(_:_:console:)``, telling whether a password was given (a session token
  /// alone never counts as step-up).
  static func openWithSession(
    _ path: String, _ arguments: Arguments, console: any Console
  ) throws -> (RecordStore, RecordStore.Principal, passwordGiven: Bool) {
    let session = console.environment("VAULT_SESSION").flatMap { $0.isEmpty ? nil : $0 }
    guard let name = arguments.value("user") ?? (session == nil ? nil : "") else {
      throw UsageError(
        "--user NAME is required (or VAULT_SESSION): commands with keys act as a user")
    }
    // The secrets are read before the slow key derivation.
    let passphrase = try Secrets.passphrase(arguments, console: console)
    let password = session == nil ? try Secrets.password(arguments, console: console) : nil
    let options = VaultStore.Options(lockTimeout: try arguments.seconds("wait", default: 5))
    let store = try RecordStore.open(at: path, credential: passphrase, options: options)
    if let session, password == nil {
      let (principal, _) = try store.resumeSession(
        token: session, now: Timestamp.now().milliseconds)
      guard name.isEmpty || name == principal.name else {
        throw UsageError("VAULT_SESSION belongs to another user than --user \(name)")
      }
      return (store, principal, false)
    }
    guard let password else { throw UsageError("a password is required") }
    let principal = try store.authenticate(
      user: name, password: password, totp: arguments.value("totp"))
    return (store, principal, true)
  }

  /// Refuses users whose role is not among `roles`.
  static func require(_ principal: RecordStore.Principal, roles: [String], to action: String) throws
  {
    guard roles.contains(principal.role) else {
      throw VaultError(.policyViolation, "only \(roles.joined(separator: " or ")) may \(action)")
    }
  }
}
