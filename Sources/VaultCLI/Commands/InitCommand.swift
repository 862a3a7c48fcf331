import VaultCore
import VaultFormat
import VaultStorage

/// `vault init PATH [--page-size N]`
enum InitCommand: Command {
  static let name = "init"
  static let summary = "create a new, empty vault file"
  static let usage = "vault init PATH [--page-size N] [--json]"
  static let discussion = """
    Creates the file atomically: it is built under a temporary name, synced, and linked
    into place, so a crash never leaves a half-made vault. Refuses to overwrite an
    existing file.
    """
  static let options: [OptionSpec] = [
    .option("page-size", "N", "bytes per page: 4096 (default), 8192, ..., 65536"),
    .flag("json", "print the new vault's info as JSON"),
  ]

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let path = try arguments.require("PATH")[0]
    let pageSize = try arguments.integer("page-size", default: FileFormat.defaultPageSize)
    guard FileFormat.isValidPageSize(pageSize) else {
      throw UsageError("--page-size must be a power of two from 4096 to 65536")
    }
    let store = try VaultStore.create(at: path, pageSize: pageSize)
    if arguments.flag("json") {
      console.json(try InfoCommand.info(store))
    } else {
      console.line("created \(path) (\(pageSize)-byte pages)")
    }
    return .success
  }
}
