/// The options a command accepts.
package struct OptionSpec: Sendable {
  package var name: String
  /// The value's placeholder in help, or nil for a flag.
  package var value: String?
  package var help: String

  package static func flag(_ name: String, _ help: String) -> OptionSpec {
    OptionSpec(name: name, value: nil, help: help)
  }
  package static func option(_ name: String, _ value: String, _ help: String) -> OptionSpec {
    OptionSpec(name: name, value: value, help: help)
  }
}

/// A command line split into positional arguments and options. Options may stand
/// before or after positionals; `--` ends options; `--name=value` and `--name value`
/// are the same.
package struct Arguments: Sendable {
  package private(set) var positionals: [String] = []
  private var values: [String: String] = [:]
  private var flags: Set<String> = []

  /// - Throws: ``UsageError`` for an unknown option or a missing value.
  package init(_ arguments: [String], accepting specs: [OptionSpec]) throws(UsageError) {
    var index = 0
    var optionsEnded = false
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      if optionsEnded || !argument.hasPrefix("--") || argument == "-" {
        positionals.append(argument)
        continue
      }
      if argument == "--" {
        optionsEnded = true
        continue
      }
      var name = String(argument.dropFirst(2))
      var inlineValue: String?
      if let equals = name.firstIndex(of: "=") {
        inlineValue = String(name[name.index(after: equals)...])
        name = String(name[..<equals])
      }
      guard let spec = specs.first(where: { $0.name == name }) else {
        throw UsageError("unknown option --\(name)")
      }
      if spec.value == nil {
        guard inlineValue == nil else { throw UsageError("--\(name) takes no value") }
        flags.insert(name)
        continue
      }
      if let inlineValue {
        values[name] = inlineValue
      } else {
        guard index < arguments.count else { throw UsageError("--\(name) needs a value") }
        values[name] = arguments[index]
        index += 1
      }
    }
  }

  package func flag(_ name: String) -> Bool { flags.contains(name) }
  package func value(_ name: String) -> String? { values[name] }

  /// The positional arguments, which must number exactly `names.count`.
  package func require(_ names: String...) throws(UsageError) -> [String] {
    guard positionals.count == names.count else {
      let expected = names.map { $0 }.joined(separator: " ")
      if positionals.count < names.count {
        throw UsageError("missing \(names[positionals.count]) (expected: \(expected))")
      }
      throw UsageError("unexpected argument \"\(positionals[names.count])\"")
    }
    return positionals
  }

  /// An integer option, or `defaultValue` when absent.
  package func integer(_ name: String, default defaultValue: Int) throws(UsageError) -> Int {
    guard let text = values[name] else { return defaultValue }
    guard let value = Int(text) else {
      throw UsageError("--\(name) needs a number, not \"\(text)\"")
    }
    return value
  }

  /// A non-negative number of seconds, or `defaultValue`.
  package func seconds(_ name: String, default defaultValue: Double) throws(UsageError) -> Double {
    guard let text = values[name] else { return defaultValue }
    guard let value = Double(text), value >= 0, value.isFinite else {
      throw UsageError("--\(name) needs a number of seconds, not \"\(text)\"")
    }
    return value
  }
}

/// A mistake in how a command was invoked (exit code 64).
package struct UsageError: Error, Sendable {
  package var message: String
  package init(_ message: String) { self.message = message }
}
