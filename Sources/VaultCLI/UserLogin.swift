@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// Commands that act as a user open the vault with its passphrase, then act through
/// a capability handle: from `VAULT_SESSION` when set (a session `vault login`
/// opened), else from `--user NAME` and the password (from `VAULT_PASSWORD` or
/// `--password-file`, plus `--totp` when enrolled). A password run logs in with a
/// short session of its own, ended when the command exits (both audited,
/// ../shared/spec/cli.md); the password is the step-up of the command's own high-risk
/// action, which a session token alone never is.
enum UserLogin {
  static let options: [OptionSpec] =
    [
      .option("user", "NAME", "act as this user (password from VAULT_PASSWORD)"),
      .option("totp", "CODE", "the user's one-time code (or a recovery code), when enrolled"),
      .option("wait", "SECONDS", "wait this long for another writer (default 5)"),
    ] + Secrets.passwordOptions + Secrets.passphraseOptions

  /// Who a command acts as.
  struct User {
    let store: RecordStore
    let handle: VaultHandle
    /// The step-up proof for the command's high-risk action, when it asked for one.
    let proof: String?
    /// Whether a password was given (it serves as step-up; a session never does).
    let passwordGiven: Bool
    var principal: RecordStore.Principal { handle.principal }
  }

  /// The handles whose run sessions end when the command does.
  final class RunSessions: Sendable {
    private let handles = Locked<[VaultHandle]>([])
    func add(_ handle: VaultHandle) { handles.withLock { $0.append(handle) } }

    /// Ends them; a failure leaves the session to lapse within its fifteen minutes.
    func endAll() {
      for handle in handles.withLock({ $0 }) { try? handle.endSession() }
    }
  }

  /// The sessions of the command running on this task (``CommandLineTool`` sets it).
  @TaskLocal static var runSessions: RunSessions?

  /// The vault opened with its passphrase, and who the command says it acts as: the
  /// session token from `VAULT_SESSION`, or the name and password.
  static func credentials(
    _ path: String, _ arguments: Arguments, console: any Console
  ) throws -> (store: RecordStore, name: String, session: String?, password: SecretBytes?) {
    var session = console.environment("VAULT_SESSION").flatMap { $0.isEmpty ? nil : $0 }
    // A password named with --user wins over a session: it can step up, a session cannot.
    let passwordGiven =
      console.environment("VAULT_PASSWORD").map { !$0.isEmpty } == true
      || arguments.value("password-file") != nil
    if arguments.value("user") != nil, passwordGiven { session = nil }
    guard let name = arguments.value("user") ?? (session == nil ? nil : "") else {
      throw UsageError(
        "--user NAME is required (or VAULT_SESSION): commands with keys act as a user")
    }
    // The secrets are read before the slow key derivation.
    let passphrase = try Secrets.passphrase(arguments, console: console)
    let password = session == nil ? try Secrets.password(arguments, console: console) : nil
    let options = VaultStore.Options(lockTimeout: try arguments.seconds("wait", default: 5))
    let store = try RecordStore.open(at: path, credential: passphrase, options: options)
    return (store, name, session, password)
  }

  /// Logs the command's user in. With `stepUp`, the command performs that high-risk
  /// action (on that record): a password is required, and yields the proof.
  static func login(
    _ path: String, _ arguments: Arguments, console: any Console,
    stepUp: (action: HighRiskAction, resource: RecordID?)? = nil
  ) throws -> User {
    try login(
      path, arguments, console: console,
      stepUp: stepUp.map { step in (step.action, { _, _ throws(VaultError) in step.resource }) })
  }

  /// ``login(_:_:console:stepUp:)`` for an action whose record is found by name (a
  /// branch, a user) once the password is checked, in the user's scope.
  static func login(
    _ path: String, _ arguments: Arguments, console: any Console,
    stepUp: (
      action: HighRiskAction,
      resource: (RecordSnapshot, RecordStore.Principal) throws(VaultError) -> RecordID?
    )?
  ) throws -> User {
    let (store, name, session, password) = try credentials(path, arguments, console: console)
    if let session, password == nil {
      let handle = try store.handle(session: session)
      guard name.isEmpty || name == handle.principal.name else {
        throw UsageError("VAULT_SESSION belongs to another user than --user \(name)")
      }
      if stepUp != nil {
        throw try store.denied(
          .stepUpFailed, handle.principal,
          "this command is high-risk and needs your password (step-up): a session is not enough")
      }
      return User(store: store, handle: handle, proof: nil, passwordGiven: false)
    }
    guard let password else { throw UsageError("a password is required") }
    let (handle, proof) = try store.loginForCommand(
      user: name, password: password, totp: arguments.value("totp"), stepUp: stepUp,
      label: "vault command")
    runSessions?.add(handle)
    return User(store: store, handle: handle, proof: proof, passwordGiven: true)
  }

  /// The id of the user or branch `name` (a name or an id) in `scope`.
  static func id(
    named name: String, in collection: RecordCollection, _ snapshot: RecordSnapshot,
    scope: Scope
  ) throws(VaultError) -> RecordID {
    var found = try? RecordID(name)
    if found == nil { found = try snapshot.id(named: name, in: collection) }
    guard let found, try snapshot.get(collection, found, scope: scope) != nil else {
      let kind = collection == .users ? "user" : "branch"
      throw VaultError(.noSuchRecord, "no \(kind) named \(name) in your scope")
    }
    return found
  }

  /// A step-up resolver for the user or branch `name`.
  static func target(_ name: String, in collection: RecordCollection)
    -> (RecordSnapshot, RecordStore.Principal) throws(VaultError) -> RecordID?
  {
    { snapshot, principal throws(VaultError) in
      try id(named: name, in: collection, snapshot, scope: principal.scope)
    }
  }

}
