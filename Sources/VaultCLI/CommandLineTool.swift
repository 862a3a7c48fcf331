import StudioVault
import VaultCore
import VaultFormat

/// The `vault` command line: `vault <command> [options] PATH [ARGS]`.
///
/// Every failure becomes a message on standard error and an exit code from the
/// contract; nothing the user types can make it trap.
package enum CommandLineTool {
  /// The version this build reports.
  package static let version = "0.1.0"

  static var commands: [any Command.Type] {
    [
      InitCommand.self, DemoCommand.self, InfoCommand.self, CheckCommand.self, PagesCommand.self,
      PageCommand.self, StatsCommand.self, BranchCommand.self, SettingsCommand.self,
      ImportCommand.self, GetCommand.self, ListCommand.self, ExportCommand.self,
      ProjectCommand.self, RefundCommand.self, BillingCommand.self, EngagementCommand.self,
      KeyCommand.self, EraseClientCommand.self, AuditCommand.self, BlobCommand.self,
      BackupCommand.self, RestoreCommand.self, RecoverCommand.self,
      LoginCommand.self, SessionCommand.self, UserCommand.self, TOTPCommand.self,
      VersionCommand.self,
    ]
  }

  static func command(named name: String) -> (any Command.Type)? {
    commands.first { $0.name == name }
  }

  /// Runs one command line (without the program name) and returns the exit code.
  package static func run(_ arguments: [String], console: any Console) -> Int32 {
    // Sessions a password run opened end with the run, however it ends.
    let sessions = UserLogin.RunSessions()
    defer { sessions.endAll() }
    return UserLogin.$runSessions.withValue(sessions) { dispatch(arguments, console: console) }
  }

  private static func dispatch(_ arguments: [String], console: any Console) -> Int32 {
    guard let name = arguments.first else {
      console.writeError(overview)
      return ExitCode.usage.rawValue
    }
    let rest = Array(arguments.dropFirst())
    if name == "help" || name == "--help" || name == "-h" {
      return help(rest, console: console).rawValue
    }
    guard let command = command(named: name) else {
      console.error("unknown command \"\(name)\"; run `vault help` for the list")
      return ExitCode.usage.rawValue
    }
    do {
      let parsed = try Arguments(rest, accepting: command.options + [.flag("help", "")])
      if parsed.flag("help") {
        console.write(command.help)
        return ExitCode.success.rawValue
      }
      return try command.run(parsed, console: console).rawValue
    } catch let error as UsageError {
      console.error("\(error.message)\nusage: \(command.usage)  (see `vault help \(name)`)")
      return ExitCode.usage.rawValue
    } catch let error as VaultError {
      console.error(error.description)
      return ExitCode(for: error).rawValue
    } catch {
      console.error("unexpected failure: \(error)")
      return ExitCode.internalError.rawValue
    }
  }

  private static func help(_ arguments: [String], console: any Console) -> ExitCode {
    guard let name = arguments.first else {
      console.write(overview)
      return .success
    }
    // `vault help audit verify` is `vault audit --help`: subcommands share their
    // command's help.
    guard arguments.count <= 2, let command = command(named: name) else {
      console.error("no help for \"\(arguments.joined(separator: " "))\"; run `vault help`")
      return .usage
    }
    console.write(command.help)
    return .success
  }

  static var overview: String {
    var text = "usage: vault <command> [options] PATH [ARGS]\n\ncommands:\n"
    for command in commands {
      text += "  \(command.name)".padding(to: 16) + command.summary + "\n"
    }
    text += "  help".padding(to: 16) + "show help for a command (vault help COMMAND)\n"
    text += "\nOptions may come before or after PATH. --json prints one JSON document.\n"
    return text
  }
}
