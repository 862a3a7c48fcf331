/// A JSON value with a deterministic encoding: object keys sorted (by their UTF-8
/// bytes), no insignificant whitespace, integers exact. `--json` output is built from these.
package enum JSON: Equatable, Sendable {
  case null
  case bool(Bool)
  case int(Int64)
  case uint(UInt64)
  case double(Double)
  case string(String)
  case array([JSON])
  case object([String: JSON])

  /// The encoded document.
  package var encoded: String { String(decoding: encodedBytes, as: UTF8.self) }

  /// The encoded document as UTF-8 bytes.
  package var encodedBytes: [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(64)
    encode(into: &out)
    return out
  }

  private func encode(into out: inout [UInt8]) {
    switch self {
    case .null: out += "null".utf8
    case .bool(let value): out += (value ? "true" : "false").utf8
    case .int(let value):
      if value < 0 { out.append(UInt8(ascii: "-")) }
      JSON.appendDigits(value.magnitude, to: &out)
    case .uint(let value): JSON.appendDigits(value, to: &out)
    case .double(let value):
      if value.isFinite {
        out +=
          (value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value))
          .utf8
      } else {
        out += "null".utf8
      }
    case .string(let value): JSON.encodeString(value, into: &out)
    case .array(let values):
      out.append(UInt8(ascii: "["))
      for (index, value) in values.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        value.encode(into: &out)
      }
      out.append(UInt8(ascii: "]"))
    case .object(let members):
      out.append(UInt8(ascii: "{"))
      // Keys in UTF-8 byte order: canonical, and cheaper than String's comparison.
      let sorted = members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
      for (index, member) in sorted.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        JSON.encodeString(member.key, into: &out)
        out.append(UInt8(ascii: ":"))
        member.value.encode(into: &out)
      }
      out.append(UInt8(ascii: "}"))
    }
  }

  private static func appendDigits(_ value: UInt64, to out: inout [UInt8]) {
    guard value >= 10 else {
      out.append(UInt8(ascii: "0") + UInt8(value))
      return
    }
    appendDigits(value / 10, to: &out)
    out.append(UInt8(ascii: "0") + UInt8(value % 10))
  }

  /// A string with the escapes JSON requires: quote, backslash and control characters
  /// (bytes of multi-byte UTF-8 sequences are all 0x80 or more, so bytes suffice).
  private static func encodeString(_ value: String, into out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    for byte in value.utf8 {
      switch byte {
      case UInt8(ascii: "\""): out += #"\""#.utf8
      case UInt8(ascii: "\\"): out += #"\\"#.utf8
      case UInt8(ascii: "\n"): out += #"\n"#.utf8
      case UInt8(ascii: "\r"): out += #"\r"#.utf8
      case UInt8(ascii: "\t"): out += #"\t"#.utf8
      case 0..<0x20:
        let hex = Array("0123456789abcdef".utf8)
        out += #"\u00"#.utf8
        out.append(hex[Int(byte >> 4)])
        out.append(hex[Int(byte & 0x0F)])
      default: out.append(byte)
      }
    }
    out.append(UInt8(ascii: "\""))
  }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral,
  ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral,
  ExpressibleByNilLiteral
{
  package init(stringLiteral value: String) { self = .string(value) }
  package init(booleanLiteral value: Bool) { self = .bool(value) }
  package init(integerLiteral value: Int64) { self = .int(value) }
  package init(arrayLiteral elements: JSON...) { self = .array(elements) }
  package init(nilLiteral: ()) { self = .null }
  package init(dictionaryLiteral elements: (String, JSON)...) {
    self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
  }
}
