@_spi(Engine) import StudioVault
import VaultCore
import VaultStorage

/// `vault login PATH --user U [--remember] [--device LABEL]`
enum LoginCommand: Command {
  static let name = "login"
  static let summary = "open a session and print its token (for VAULT_SESSION)"
  static let usage = "vault login PATH --user U [--remember] [--device LABEL]"
  static let discussion = """
    Logs the user in and opens a session: rolling 30 days, at most 90 (with --remember
    90 and 365, except for owners and hq). The token is printed once, on standard
    output; give it to later commands in VAULT_SESSION instead of a password. A session
    alone is never step-up: high-risk commands still want the password.
    """
  static let options: [OptionSpec] =
    [
      .flag("remember", "a remembered session (not for owners and hq)"),
      .option("device", "LABEL", "a label for this device, shown by `session list`"),
    ] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let path = try arguments.require("PATH")[0]
    guard console.environment("VAULT_SESSION") == nil else {
      throw UsageError("unset VAULT_SESSION to log in with a password")
    }
    let (store, name, _, password) = try UserLogin.credentials(path, arguments, console: console)
    guard let password else { throw UsageError("a password is required") }
    let (_, token) = try store.login(
      user: name, password: password, totp: arguments.value("totp"),
      rememberMe: arguments.flag("remember"), label: arguments.value("device") ?? "")
    console.line(token)
    return .success
  }
}

/// `vault session list|revoke PATH --user U …`
enum SessionCommand: Command {
  static let name = "session"
  static let summary = "list or revoke sessions"
  static let usage = """
    vault session list PATH --user U [--json]
           vault session revoke PATH --user U (ID | --all-others | --user-sessions NAME)
    """
  static let discussion = """
    list    the user's live sessions: id, device, created, last used, expiry.
    revoke  ends one of the user's sessions by id, or all of them but the one in
            VAULT_SESSION (--all-others); owners and hq end another user's sessions
            with --user-sessions NAME, with their password (step-up).
    """
  static let options: [OptionSpec] =
    [
      .flag("json", "print JSON"),
      .flag("all-others", "revoke: every session of the user but the current one"),
      .option("user-sessions", "NAME", "revoke: every session of user NAME (owners, hq)"),
    ] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    guard let action = arguments.positionals.first else {
      throw UsageError("missing list or revoke")
    }
    let now = Timestamp.now().milliseconds
    switch action {
    case "list":
      let path = try arguments.require("list", "PATH")[1]
      let user = try UserLogin.login(path, arguments, console: console)
      let sessions = try user.store.sessions(of: user.principal.user, now: now)
      // The session this command runs in: VAULT_SESSION's, or the run's own.
      let current = user.handle.sessionID
      if arguments.flag("json") {
        console.json([
          "sessions": .array(
            sessions.map { session in
              [
                "id": .string(session.id), "device": .string(session.label),
                "createdAt": .string(Formatting.timestamp(milliseconds: session.createdAt)),
                "lastUsedAt": .string(Formatting.timestamp(milliseconds: session.lastUsedAt)),
                "expiresAt": .string(Formatting.timestamp(milliseconds: session.expiresAt)),
                "remembered": .bool(session.rememberMe),
                "current": .bool(session.id == current),
              ]
            })
        ])
      } else {
        for session in sessions {
          console.line(
            session.id + "  " + Formatting.timestamp(milliseconds: session.lastUsedAt) + "  "
              + (session.label.isEmpty ? "(no label)" : session.label)
              + (session.id == current ? "  (this one)" : ""))
        }
      }
    case "revoke":
      let positionals = arguments.positionals
      guard positionals.count == 2 || positionals.count == 3 else {
        throw UsageError("usage: \(usage)")
      }
      let id = positionals.count == 3 ? positionals[2] : nil
      let other = arguments.value("user-sessions")
      // Terminating others' sessions is high-risk: the password is its step-up.
      let login = try UserLogin.login(
        positionals[1], arguments, console: console,
        stepUp: other.map { name in (.sessionTermination, UserLogin.target(name, in: .users)) })
      let (store, user) = (login.store, login.principal)
      let revoked: Int
      if let other {
        let target = try store.read { snapshot throws(VaultError) in
          try UserLogin.id(named: other, in: .users, snapshot, scope: user.scope)
        }
        revoked = try login.handle.endSessions(of: target, proof: login.proof ?? "")
      } else if arguments.flag("all-others") {
        let current = console.environment("VAULT_SESSION").flatMap(RecordStore.sessionID(ofToken:))
        revoked = try store.revokeSessions(of: user.user, keeping: current, actor: user.auditActor)
      } else if let id {
        revoked = try store.revokeSessions(of: user.user, id: id, actor: user.auditActor)
      } else {
        throw UsageError("revoke needs a session ID, --all-others or --user-sessions NAME")
      }
      if arguments.flag("json") {
        console.json(["revoked": .int(Int64(revoked))])
      } else {
        console.line("\(revoked) session\(revoked == 1 ? "" : "s") revoked")
      }
    default:
      throw UsageError("unknown session command \"\(action)\" (list or revoke)")
    }
    return .success
  }
}
