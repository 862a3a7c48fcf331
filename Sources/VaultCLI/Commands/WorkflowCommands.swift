@_spi(Engine) import StudioVault
import VaultCore
import VaultFormat

/// `vault refund request|approve|reject|execute PATH --user U …`
enum RefundCommand: Command {
  static let name = "refund"
  static let summary = "request, approve, reject or execute a refund"
  static let usage = """
    vault refund request PATH --user U --payment ID --amount N --reason TEXT [--json]
           vault refund approve PATH --user U ID [--reason TEXT]
           vault refund reject PATH --user U ID --reason TEXT
           vault refund execute PATH --user U ID --gateway-reference REF
    """
  static let discussion = """
    Refunds are under dual control (../shared/spec/access.md, Refunds). Staff and above
    request; branch managers approve up to branchRefundLimit, hq up to hqRefundLimit,
    owners any amount; the requester never approves their own request; branch managers
    and above execute an approved refund, recording the payment gateway's reference.
    Every step is high-risk: it wants the user's password (its step-up), not a session.
    --amount is in minor units of the organization's currency (12500 is 125.00), or
    "12500 EUR". Refusals exit 77 and are logged.
    """
  static let options: [OptionSpec] =
    [
      .option("payment", "ID", "request: the payment to refund"),
      .option("amount", "N", "request: minor units, optionally with a currency"),
      .option("reason", "TEXT", "request and reject (approve: optional): why"),
      .option("gateway-reference", "REF", "execute: the gateway's reference of the refund"),
      .flag("json", "print the refund as JSON"),
    ] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    guard let action = arguments.positionals.first else {
      throw UsageError("missing request, approve, reject or execute")
    }
    let refund: RecordID
    switch action {
    case "request":
      let path = try arguments.require("request", "PATH")[1]
      let payment = try RecordID(try requiredOption("payment", arguments))
      let amountText = try requiredOption("amount", arguments)
      let reason = try requiredOption("reason", arguments)
      let user = try UserLogin.login(
        path, arguments, console: console, stepUp: (.refundRequest, payment))
      let amount = try parseAmount(amountText, store: user.store)
      let stored = try user.handle.requestRefund(
        of: payment, amount: amount, reason: reason, proof: user.proof ?? "")
      guard let id = stored.id else { throw VaultError(.internal, "a stored refund without id") }
      refund = id
      return try show(refund, user, arguments, console, "refund \(refund) requested")
    case "approve", "reject":
      let positionals = try arguments.require(action, "PATH", "ID")
      refund = try RecordID(positionals[2])
      let reason = arguments.value("reason")
      if action == "reject", reason == nil { throw UsageError("refund reject needs --reason") }
      let user = try UserLogin.login(
        positionals[1], arguments, console: console, stepUp: (.refundApproval, refund))
      try user.handle.decideRefund(
        refund, approve: action == "approve", reason: reason, proof: user.proof ?? "")
      return try show(
        refund, user, arguments, console,
        "refund \(refund) \(action == "approve" ? "approved" : "rejected")")
    case "execute":
      let positionals = try arguments.require("execute", "PATH", "ID")
      refund = try RecordID(positionals[2])
      let reference = try requiredOption("gateway-reference", arguments)
      let user = try UserLogin.login(
        positionals[1], arguments, console: console, stepUp: (.refundExecution, refund))
      try user.handle.executeRefund(refund, gatewayReference: reference, proof: user.proof ?? "")
      return try show(refund, user, arguments, console, "refund \(refund) executed")
    default:
      throw UsageError(
        "unknown refund action \"\(action)\": use request, approve, reject or execute")
    }
  }

  /// Prints the refund as the user now sees it (JSON), or `summary`.
  private static func show(
    _ refund: RecordID, _ user: UserLogin.User, _ arguments: Arguments, _ console: any Console,
    _ summary: String
  ) throws -> ExitCode {
    if arguments.flag("json"), let record = try user.handle.get(.refunds, refund) {
      console.json(record.json)
    } else {
      console.line(summary)
    }
    return .success
  }

  /// `N` or `N CUR`, in minor units; the organization's currency by default.
  private static func parseAmount(_ text: String, store: RecordStore) throws -> Money {
    let parts = text.split(separator: " ")
    guard (1...2).contains(parts.count), let units = Int64(parts[0]) else {
      throw UsageError(
        "--amount is minor units, optionally with a currency: 12500 or \"12500 EUR\"")
    }
    let code: String? =
      parts.count == 2
      ? String(parts[1])
      : try store.read { snapshot throws(VaultError) in try snapshot.settings().text("currency") }
    guard let code else { throw UsageError("--amount needs a currency: the organization has none") }
    return Money(minorUnits: units, currency: try Currency(code))
  }
}

/// `vault billing override|clear PATH --user U --branch B …`
enum BillingCommand: Command {
  static let name = "billing"
  static let summary = "override billing enforcement for a branch, or end the override"
  static let usage = """
    vault billing override PATH --user U --branch B --reason TEXT --until DATE
           vault billing clear PATH --user U --branch B
    """
  static let discussion = """
    With billing enforcement on, a project with an unpaid invoice cannot be delivered
    or completed. An owner may override that for one branch until DATE (YYYY-MM-DD,
    today to a year ahead), giving a reason; every delivery made under the override is
    logged. High-risk: it wants the owner's password (its step-up), not a session.
    """
  static let options: [OptionSpec] =
    [
      .option("branch", "B", "the branch (name or id)"),
      .option("reason", "TEXT", "override: why deliveries may go ahead unpaid"),
      .option("until", "DATE", "override: the last day it holds (YYYY-MM-DD)"),
    ] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    guard let action = arguments.positionals.first, ["override", "clear"].contains(action) else {
      throw UsageError("missing override or clear")
    }
    let path = try arguments.require(action, "PATH")[1]
    let branchName = try requiredOption("branch", arguments)
    var until: Day?
    var reason: String?
    if action == "override" {
      reason = try requiredOption("reason", arguments)
      let text = try requiredOption("until", arguments)
      guard let day = Day(iso: text) else { throw UsageError("--until is a date: YYYY-MM-DD") }
      until = day
    }
    let user = try UserLogin.login(
      path, arguments, console: console,
      stepUp: (.billingOverride, UserLogin.target(branchName, in: .branches)))
    let branch = try user.store.read { snapshot throws(VaultError) in
      try UserLogin.id(named: branchName, in: .branches, snapshot, scope: user.principal.scope)
    }
    if let until, let reason {
      try user.handle.setBillingOverride(
        for: branch, until: until, reason: reason, proof: user.proof ?? "")
      console.line("billing enforcement overridden for branch \(branchName) through \(until)")
    } else {
      try user.handle.clearBillingOverride(for: branch, proof: user.proof ?? "")
      console.line("billing enforcement restored for branch \(branchName)")
    }
    return .success
  }
}

/// `vault engagement extend PATH --user U ID --until DATE`
enum EngagementCommand: Command {
  static let name = "engagement"
  static let summary = "keep a vendor's access past the project's completion"
  static let usage = "vault engagement extend PATH --user U ID --until DATE"
  static let discussion = """
    A vendor's access ends when its project is completed, and in any case at the
    engagement's end. A branch manager or above may extend one engagement through
    DATE (YYYY-MM-DD, a year ahead at most, never past the engagement's end); if the
    completion had ended it, it is active again. High-risk: it wants the password
    (its step-up), not a session. Logged as engagementExtended.
    """
  static let options: [OptionSpec] =
    [.option("until", "DATE", "the last day the vendor keeps access (YYYY-MM-DD)")]
    + UserLogin.options
  static var exitCodes: [(ExitCode, String)] { userCommandExitCodes }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("extend", "PATH", "ID")
    guard positionals[0] == "extend" else {
      throw UsageError("unknown engagement action \"\(positionals[0])\": use extend")
    }
    let id = try RecordID(positionals[2])
    guard let until = Day(iso: try requiredOption("until", arguments)) else {
      throw UsageError("--until is a date: YYYY-MM-DD")
    }
    let user = try UserLogin.login(
      positionals[1], arguments, console: console, stepUp: (.engagementExtension, id))
    try user.handle.extendEngagement(id, until: until, proof: user.proof ?? "")
    console.line("engagement \(id) extended through \(until)")
    return .success
  }
}
