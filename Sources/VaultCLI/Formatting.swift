import Glibc
import VaultCore

/// Text formats shared by commands.
enum Formatting {
  /// RFC 3339 in UTC with milliseconds, e.g. `2026-12-04T19:55:51.123Z`.
  static func timestamp(milliseconds: Int64) -> String {
    var seconds = time_t(milliseconds.floorDivided(by: 1000))
    let millis = Int(milliseconds - Int64(seconds) * 1000)
    var parts = tm()
    guard gmtime_r(&seconds, &parts) != nil else { return String(milliseconds) }
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let fraction = String(1000 + millis).dropFirst()
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
      + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
  }

  static func hex(_ bytes: some Sequence<UInt8>) -> String { Hex.encode(bytes) }

  /// 16 bytes as a UUID string (8-4-4-4-12 lowercase hex).
  static func uuid(_ bytes: [UInt8]) -> String {
    let text = hex(bytes)
    guard text.count == 32 else { return text }
    let characters = Array(text)
    return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }
      .joined(separator: "-")
  }

  /// A classic hex dump: offset, 16 bytes, printable characters. Runs of all-zero lines
  /// are shown once, then `*`.
  static func hexDump(_ bytes: [UInt8]) -> String {
    var text = ""
    var previousZero = false
    for start in stride(from: 0, to: bytes.count, by: 16) {
      let line = bytes[start..<min(start + 16, bytes.count)]
      let isZero = line.allSatisfy { $0 == 0 }
      if isZero && previousZero {
        if !text.hasSuffix("*\n") { text += "*\n" }
        continue
      }
      previousZero = isZero
      let offset = String(start, radix: 16)
      text += String(repeating: "0", count: max(0, 6 - offset.count)) + offset + "  "
      text += line.map { byte in
        let h = String(byte, radix: 16)
        return h.count == 1 ? "0" + h : h
      }.joined(separator: " ")
      text +=
        "  " + String(line.map { (32...126).contains($0) ? Character(UnicodeScalar($0)) : "." })
      text += "\n"
    }
    return text
  }

  static func bytes(_ count: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
      value /= 1024
      unit += 1
    }
    return unit == 0 ? "\(count) B" : String(format1(value)) + " " + units[unit]
  }

  static func format1(_ value: Double) -> String {
    let scaled = (value * 10).rounded() / 10
    return scaled == scaled.rounded() ? String(Int(scaled)) + ".0" : String(scaled)
  }

  /// A fraction rounded to three decimals.
  static func fraction(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

extension Int64 {
  func floorDivided(by divisor: Int64) -> Int64 {
    let quotient = self / divisor
    return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
  }
}
