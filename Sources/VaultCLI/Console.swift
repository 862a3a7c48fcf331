import Glibc
import StudioVault

/// Where a command writes: data to `standardOutput`, diagnostics to `standardError`.
/// Tests capture both.
package protocol Console: AnyObject {
  func write(_ text: String)
  func writeError(_ text: String)
  /// Whether standard error is a terminal (progress bars go there only then).
  var isErrorTerminal: Bool { get }
  /// An environment variable (secrets come from there, never from arguments).
  func environment(_ name: String) -> String?
}

extension Console {
  func line(_ text: String = "") { write(text + "\n") }
  func json(_ value: JSON) { write(value.encoded + "\n") }
  func error(_ message: String) { writeError("vault: error: \(message)\n") }
}

/// The process's own standard output and error.
package final class StandardConsole: Console {
  package init() {}
  package func write(_ text: String) { StandardConsole.writeAll(1, text) }
  package func writeError(_ text: String) { StandardConsole.writeAll(2, text) }

  /// Writes all of `text` to a descriptor, unbuffered (so output and errors interleave
  /// in order and nothing is lost at exit).
  static func writeAll(_ descriptor: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
      let written = bytes.withUnsafeMutableBytes {
        Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset)
      }
      if written < 0 {
        if errno == EINTR { continue }
        return  // a closed pipe: nothing more can be said
      }
      offset += written
    }
  }
  package var isErrorTerminal: Bool { isatty(2) == 1 }
  package func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
  }
}

/// Output kept in memory, for tests.
package final class CapturedConsole: Console {
  package private(set) var output = ""
  package private(set) var errors = ""
  let variables: [String: String]
  package init(environment: [String: String] = [:]) { variables = environment }
  package func environment(_ name: String) -> String? { variables[name] }
  package func write(_ text: String) { output += text }
  package func writeError(_ text: String) { errors += text }
  package var isErrorTerminal: Bool { false }
}
