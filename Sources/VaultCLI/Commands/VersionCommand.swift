import StudioVault
import VaultFormat

/// `vault version [--json]`
enum VersionCommand: Command {
  static let name = "version"
  static let summary = "show the version of this build and the file format it writes"
  static let usage = "vault version [--json]"
  static let discussion = ""
  static let options: [OptionSpec] = [.flag("json", "print one JSON document")]

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    _ = try arguments.require()
    if arguments.flag("json") {
      console.json([
        "version": .string(CommandLineTool.version),
        "formatVersion": .int(Int64(FileFormat.version)),
      ])
    } else {
      console.line("vault \(CommandLineTool.version) (file format \(FileFormat.version))")
    }
    return .success
  }
}
