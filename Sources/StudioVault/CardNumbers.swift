/// Spots values shaped like payment card numbers, which no record may hold: the
/// product never stores payment details (../shared/spec/records-json.md).
public enum CardNumbers {
  /// Whether `text` contains a run of 13 to 19 digits (single spaces or hyphens may
  /// separate them, as people write card numbers) that passes the Luhn check.
  ///
  /// A run is maximal: digits glued to more digits belong to the same run, so a
  /// 25-digit reference number is not searched for a card number inside it.
  public static func contains(in text: String) -> Bool {
    var digits = [UInt8]()
    var lastWasSeparator = false
    func runIsCard() -> Bool {
      defer { digits.removeAll(keepingCapacity: true) }
      return (13...19).contains(digits.count) && passesLuhn(digits)
    }
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"):
        digits.append(byte - UInt8(ascii: "0"))
        lastWasSeparator = false
      case UInt8(ascii: " "), UInt8(ascii: "-"):
        // One separator between digits continues the run; anything more ends it.
        if !digits.isEmpty && !lastWasSeparator {
          lastWasSeparator = true
        } else {
          if runIsCard() { return true }
          lastWasSeparator = false
        }
      default:
        if runIsCard() { return true }
        lastWasSeparator = false
      }
    }
    return runIsCard()
  }

  /// The Luhn (mod 10) check over `digits`, most significant first.
  static func passesLuhn(_ digits: [UInt8]) -> Bool {
    var sum = 0
    for (position, digit) in digits.reversed().enumerated() {
      var value = Int(digit)
      if position % 2 == 1 {
        value *= 2
        if value > 9 { value -= 9 }
      }
      sum += value
    }
    return sum % 10 == 0
  }
}
