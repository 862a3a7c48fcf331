@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
import VaultStorage

/// `vault user add|role|disable|enable|unlock|passwd PATH --user U …`
enum UserCommand: Command {
  static let name = "user"
  static let summary = "add users, change roles, disable, enable, unlock, change password"
  static let usage = """
    vault user add PATH --user U --name N --role R [--branch B] [--email E]
           vault user role PATH --user U NAME ROLE
           vault user disable|enable|unlock PATH --user U NAME
           vault user passwd PATH --user U
    """
  static let discussion = """
    add      a user, with the password in VAULT_NEW_USER_PASSWORD (15 characters or
             more). Nobody grants a role equal to or above their own, except an owner
             granting owner; branch managers add staff to their own branch.
    role     a new role (high-risk: your password is its step-up, a session is not);
             ends the user's sessions.
    disable  ends the user's sessions and refuses their logins; enable undoes it.
    unlock   clears a user's failed logins (after the lock at 100).
    passwd   your own password, from VAULT_NEW_USER_PASSWORD; ends your sessions.
    """
  static let options: [OptionSpec] =
    [
      .option("name", "N", "add: the new user's name"),
      .option("role", "R", "add: owner, hq, branchManager, staff or vendor"),
      .option("branch", "B", "add: the branch (branch managers and staff)"),
      .option("email", "E", "add: the user's email"),
      .option(
        "new-user-password-file", "FILE",
        "add, passwd: read the new password from FILE (else VAULT_NEW_USER_PASSWORD)"),
      .flag("json", "print JSON"),
    ] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    guard let action = arguments.positionals.first else {
      throw UsageError("missing add, role, disable, enable, unlock or passwd")
    }
    switch action {
    case "add":
      let path = try arguments.require("add", "PATH")[1]
      guard let name = arguments.value("name"), let role = arguments.value("role") else {
        throw UsageError("user add needs --name and --role")
      }
      let password = try Secrets.newUserPassword(arguments, console: console)
      // Users and roles are high-risk: the password is the step-up.
      let user = try UserLogin.login(path, arguments, console: console, stepUp: (.roleChange, nil))
      let branch = try arguments.value("branch").map { (name) throws(VaultError) in
        try user.store.read { snapshot throws(VaultError) in
          try UserLogin.id(named: name, in: .branches, snapshot, scope: user.principal.scope)
        }
      }
      let id = try user.handle.addUser(
        name: name, role: role, branch: branch, email: arguments.value("email"),
        password: password, proof: user.proof ?? "")
      console.line(arguments.flag("json") ? "{\"id\":\"\(id)\"}" : "user \(name) added: \(id)")
    case "role":
      let positionals = try arguments.require("role", "PATH", "NAME", "ROLE")
      let user = try UserLogin.login(
        positionals[1], arguments, console: console,
        stepUp: (.roleChange, UserLogin.target(positionals[2], in: .users)))
      try user.handle.changeRole(of: positionals[2], to: positionals[3], proof: user.proof ?? "")
      console.line("\(positionals[2]) is now \(positionals[3]); their sessions are ended")
    case "disable", "enable":
      let positionals = try arguments.require(action, "PATH", "NAME")
      let user = try UserLogin.login(
        positionals[1], arguments, console: console,
        stepUp: (.roleChange, UserLogin.target(positionals[2], in: .users)))
      try user.handle.setDisabled(
        action == "disable", user: positionals[2], proof: user.proof ?? "")
      console.line("\(positionals[2]) \(action)d")
    case "unlock":
      let positionals = try arguments.require("unlock", "PATH", "NAME")
      let user = try UserLogin.login(
        positionals[1], arguments, console: console,
        stepUp: (.roleChange, UserLogin.target(positionals[2], in: .users)))
      try user.handle.unlockLogins(of: positionals[2], proof: user.proof ?? "")
      console.line("\(positionals[2]) may log in again")
    case "passwd":
      let path = try arguments.require("passwd", "PATH")[1]
      let password = try Secrets.newUserPassword(arguments, console: console)
      let user = try UserLogin.login(path, arguments, console: console)
      guard user.passwordGiven else {
        throw VaultError(.policyViolation, "a password change needs the current password")
      }
      try user.store.changePassword(of: user.principal, to: password)
      console.line("password changed; your sessions are ended")
    default:
      throw UsageError("unknown user command \"\(action)\"")
    }
    return .success
  }
}

/// `vault totp enroll|disable PATH --user U`
enum TOTPCommand: Command {
  static let name = "totp"
  static let summary = "enrol or remove a one-time-code second factor"
  static let usage = """
    vault totp enroll PATH --user U [--code CODE]
           vault totp disable PATH --user U
    """
  static let discussion = """
    enroll           prints the otpauth URI (for the authenticator app's QR code) and its
                     secret; the factor is not required yet.
    enroll --code C  confirms with the app's current code, prints the ten recovery
                     codes once, and requires the factor at every login from then on.
    disable          removes it (high-risk: your password is its step-up).
    Both end your sessions.
    """
  static let options: [OptionSpec] =
    [.option("code", "CODE", "enroll: the app's current code, to confirm")] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    guard let action = arguments.positionals.first else {
      throw UsageError("missing enroll or disable")
    }
    let path = try arguments.require(action, "PATH")[1]
    switch action {
    case "enroll":
      // Enrolling needs the password (a session is not enough), and is what a user of a
      // role that must have a second factor may still do without one.
      let (store, name, _, password) = try UserLogin.credentials(path, arguments, console: console)
      guard let password else {
        throw VaultError(
          .policyViolation, "enrolling a second factor needs your password: a session is not enough"
        )
      }
      let user = try store.authenticate(
        user: name, password: password, totp: arguments.value("totp"), forEnrollment: true)
      if let code = arguments.value("code") {
        let codes = try store.confirmTOTPEnrollment(
          for: user.user, code: code, now: Timestamp.now().milliseconds, actor: user.auditActor)
        console.line("second factor on; recovery codes (each works once, keep them safe):")
        for code in codes { console.line("  " + code) }
      } else {
        let enrolment = try store.beginTOTPEnrollment(for: user.user)
        console.line(enrolment.uri)
        console.line("secret: " + enrolment.secret)
        console.line("then: vault totp enroll PATH --user \(user.name) --code CODE")
      }
    case "disable":
      // Removing a second factor is high-risk: the password is its step-up.
      // The factor removed is the user's own: the proof is bound to them.
      let user = try UserLogin.login(
        path, arguments, console: console,
        stepUp: (.secondFactorReset, { _, principal throws(VaultError) in principal.user }))
      try user.handle.removeSecondFactor(of: user.principal.user, proof: user.proof ?? "")
      console.line("second factor removed; your sessions are ended")
    default:
      throw UsageError("unknown totp command \"\(action)\" (enroll or disable)")
    }
    return .success
  }
}
