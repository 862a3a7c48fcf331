import VaultCore

extension JSON {
  /// The deepest nesting a parsed document may have: records nest three levels, so
  /// this is generous, and it keeps hostile input from exhausting the stack.
  package static let maximumDepth = 32

  /// Parses one JSON document (RFC 8259), strictly: no trailing commas, no comments,
  /// no duplicate object keys (a second `"amount"` must not silently win), nothing
  /// after the value but whitespace. A number without fraction or exponent that fits
  /// 64 bits parses as ``int(_:)``; any other number as ``double(_:)``, so callers can
  /// refuse `1250.5` where minor units belong.
  ///
  /// - Throws: `.invalidRecord` saying what is wrong and at which character.
  package static func parse(_ text: String) throws(VaultError) -> JSON {
    var parser = JSONParser(Array(text.utf8))
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 0)
    parser.skipWhitespace()
    guard parser.isAtEnd else { throw parser.error("unexpected text after the JSON value") }
    return value
  }

  /// The JSON type's name, for error messages (`expected a string, got a number`).
  package var kindName: String {
    switch self {
    case .null: "null"
    case .bool: "a boolean"
    case .int, .uint, .double: "a number"
    case .string: "a string"
    case .array: "a list"
    case .object: "an object"
    }
  }
}

/// A recursive-descent parser over UTF-8 bytes.
private struct JSONParser {
  let bytes: [UInt8]
  var position = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  var isAtEnd: Bool { position >= bytes.count }

  func error(_ what: String) -> VaultError {
    VaultError(.invalidRecord, "invalid JSON at character \(position + 1): \(what)")
  }

  mutating func skipWhitespace() {
    while position < bytes.count,
      bytes[position] == 0x20 || bytes[position] == 0x0A || bytes[position] == 0x0D
        || bytes[position] == 0x09
    {
      position += 1
    }
  }

  mutating func expect(_ literal: String, value: JSON) throws(VaultError) -> JSON {
    for byte in literal.utf8 {
      guard position < bytes.count, bytes[position] == byte else {
        throw error("expected \(literal)")
      }
      position += 1
    }
    return value
  }

  mutating func parseValue(depth: Int) throws(VaultError) -> JSON {
    guard depth <= JSON.maximumDepth else { throw error("values nest too deep") }
    guard position < bytes.count else { throw error("the input ended where a value belongs") }
    switch bytes[position] {
    case UInt8(ascii: "{"): return try parseObject(depth: depth)
    case UInt8(ascii: "["): return try parseArray(depth: depth)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): return try expect("true", value: .bool(true))
    case UInt8(ascii: "f"): return try expect("false", value: .bool(false))
    case UInt8(ascii: "n"): return try expect("null", value: .null)
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
    default: throw error("unexpected character")
    }
  }

  mutating func parseObject(depth: Int) throws(VaultError) -> JSON {
    position += 1
    var members = [String: JSON]()
    skipWhitespace()
    if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
      position += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
        throw error("expected a quoted member name")
      }
      let name = try parseString()
      guard members[name] == nil else { throw error("member \"\(name)\" appears twice") }
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
        throw error("expected \":\" after a member name")
      }
      position += 1
      skipWhitespace()
      members[name] = try parseValue(depth: depth + 1)
      skipWhitespace()
      guard position < bytes.count else { throw error("the input ended inside an object") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
        continue
      }
      guard bytes[position] == UInt8(ascii: "}") else { throw error("expected \",\" or \"}\"") }
      position += 1
      return .object(members)
    }
  }

  mutating func parseArray(depth: Int) throws(VaultError) -> JSON {
    position += 1
    var items = [JSON]()
    skipWhitespace()
    if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
      position += 1
      return .array(items)
    }
    while true {
      skipWhitespace()
      items.append(try parseValue(depth: depth + 1))
      skipWhitespace()
      guard position < bytes.count else { throw error("the input ended inside a list") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
        continue
      }
      guard bytes[position] == UInt8(ascii: "]") else { throw error("expected \",\" or \"]\"") }
      position += 1
      return .array(items)
    }
  }

  mutating func parseString() throws(VaultError) -> String {
    position += 1
    var scalars = String.UnicodeScalarView()
    var run = position
    // Copies unescaped runs as they are; the input came from a String, so it is UTF-8.
    func flush(_ end: Int) throws(VaultError) {
      guard end > run else { return }
      guard let text = String(validating: bytes[run..<end], as: UTF8.self) else {
        throw error("a string is not valid UTF-8")
      }
      scalars.append(contentsOf: text.unicodeScalars)
    }
    while position < bytes.count {
      let byte = bytes[position]
      if byte == UInt8(ascii: "\"") {
        try flush(position)
        position += 1
        return String(scalars)
      }
      guard byte >= 0x20 else { throw error("a control character inside a string") }
      if byte == UInt8(ascii: "\\") {
        try flush(position)
        position += 1
        scalars.append(try parseEscape())
        run = position
        continue
      }
      position += 1
    }
    throw error("the input ended inside a string")
  }

  mutating func parseEscape() throws(VaultError) -> Unicode.Scalar {
    guard position < bytes.count else { throw error("the input ended inside an escape") }
    let byte = bytes[position]
    position += 1
    switch byte {
    case UInt8(ascii: "\""): return "\""
    case UInt8(ascii: "\\"): return "\\"
    case UInt8(ascii: "/"): return "/"
    case UInt8(ascii: "b"): return "\u{08}"
    case UInt8(ascii: "f"): return "\u{0C}"
    case UInt8(ascii: "n"): return "\n"
    case UInt8(ascii: "r"): return "\r"
    case UInt8(ascii: "t"): return "\t"
    case UInt8(ascii: "u"):
      let first = try parseHex4()
      if (0xD800..<0xDC00).contains(first) {
        // A surrogate pair: the low half must follow as another \u escape.
        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
          bytes[position + 1] == UInt8(ascii: "u")
        else { throw error("a lone surrogate in a \\u escape") }
        position += 2
        let second = try parseHex4()
        guard (0xDC00..<0xE000).contains(second),
          let scalar = Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
        else { throw error("a bad surrogate pair in a \\u escape") }
        return scalar
      }
      guard let scalar = Unicode.Scalar(first) else {
        throw error("a lone surrogate in a \\u escape")
      }
      return scalar
    default: throw error("unknown escape")
    }
  }

  mutating func parseHex4() throws(VaultError) -> UInt32 {
    guard position + 4 <= bytes.count else { throw error("a \\u escape needs four hex digits") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let byte = bytes[position]
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: throw error("a \\u escape needs four hex digits")
      }
      value = value << 4 | UInt32(digit)
      position += 1
    }
    return value
  }

  mutating func parseNumber() throws(VaultError) -> JSON {
    let start = position
    func digits() -> Int {
      let first = position
      while position < bytes.count,
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position])
      {
        position += 1
      }
      return position - first
    }
    if bytes[position] == UInt8(ascii: "-") { position += 1 }
    let integerStart = position
    guard digits() > 0 else { throw error("a number needs digits") }
    guard bytes[integerStart] != UInt8(ascii: "0") || position - integerStart == 1 else {
      throw error("a number must not start with 0")
    }
    var isInteger = true
    if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
      position += 1
      isInteger = false
      guard digits() > 0 else { throw error("a fraction needs digits") }
    }
    if position < bytes.count,
      bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")
    {
      position += 1
      isInteger = false
      if position < bytes.count,
        bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")
      {
        position += 1
      }
      guard digits() > 0 else { throw error("an exponent needs digits") }
    }
    let text = String(decoding: bytes[start..<position], as: UTF8.self)
    if isInteger, let integer = Int64(text) { return .int(integer) }
    guard let double = Double(text), double.isFinite else { throw error("a number out of range") }
    return .double(double)
  }
}
