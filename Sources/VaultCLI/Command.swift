/// One `vault` command: its help text, options and behaviour.
package protocol Command {
  static var name: String { get }
  /// One line for the command list.
  static var summary: String { get }
  /// The synopsis, e.g. `vault info PATH [--json]`.
  static var usage: String { get }
  /// What the command does, in a few sentences.
  static var discussion: String { get }
  static var options: [OptionSpec] { get }
  static var exitCodes: [(ExitCode, String)] { get }
  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode
}

extension Command {
  static var exitCodes: [(ExitCode, String)] {
    [
      (.success, "success"),
      (.usage, "usage error"),
      (.dataError, "not a vault, corrupt, or unsupported version"),
      (.noInput, "the vault file is missing or unreadable"),
      (.ioError, "I/O error"),
    ]
  }

  /// The full help text (`vault help NAME` and `vault NAME --help`).
  static var help: String {
    var text = "usage: \(usage)\n\n\(summary)\n"
    if !discussion.isEmpty { text += "\n\(discussion)\n" }
    let all = options + [.flag("help", "show this help")]
    text += "\noptions:\n"
    for option in all {
      let left = "  --\(option.name)" + (option.value.map { " \($0)" } ?? "")
      text += left.padding(to: 28) + option.help + "\n"
    }
    text += "\nexit codes:\n"
    for (code, meaning) in exitCodes {
      text += "  \(code.rawValue)".padding(to: 8) + meaning + "\n"
    }
    return text
  }
}

extension String {
  func padding(to width: Int) -> String {
    count >= width ? self + " " : self + String(repeating: " ", count: width - count)
  }
}
