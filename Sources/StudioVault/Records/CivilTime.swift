import Glibc
import VaultCore

/// Calendar arithmetic for the record layer's times (RFC 3339 with a zone) and dates
/// (`YYYY-MM-DD`), without Foundation's calendars: proleptic Gregorian, UTC offsets
/// kept as written. Days count from 1970-01-01 (Howard Hinnant's `days_from_civil`).
public enum CivilTime {
  /// Years a time or date may name: four digits, as RFC 3339 allows.
  static let years = 0...9999

  /// Days since 1970-01-01 of a calendar day.
  static func days(year: Int, month: Int, day: Int) -> Int {
    let shifted = month <= 2 ? year - 1 : year
    let era = (shifted >= 0 ? shifted : shifted - 399) / 400
    let yearOfEra = shifted - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }

  /// The calendar day of a day count.
  static func civil(days: Int) -> (year: Int, month: Int, day: Int) {
    let shifted = days + 719_468
    let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
    let dayOfEra = shifted - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
  }

  static func daysInMonth(year: Int, month: Int) -> Int {
    switch month {
    case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
  }

  /// Parses `YYYY-MM-DD` into days since 1970-01-01.
  public static func parseDate(_ text: String) -> Int32? {
    var scanner = DigitScanner(text)
    guard let year = scanner.number(4), scanner.skip("-"), let month = scanner.number(2),
      scanner.skip("-"), let day = scanner.number(2), scanner.isAtEnd,
      (1...12).contains(month), (1...daysInMonth(year: year, month: month)).contains(day)
    else { return nil }
    return Int32(days(year: year, month: month, day: day))
  }

  /// `YYYY-MM-DD` of a day count.
  public static func formatDate(_ days: Int32) -> String {
    let (year, month, day) = civil(days: Int(days))
    return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
  }

  /// Parses an RFC 3339 time with a zone (`2026-06-13T15:30:00-04:00`,
  /// `2026-06-13T19:30:00.250Z`) into milliseconds since the epoch and the offset in
  /// minutes. Fractions beyond milliseconds are refused rather than rounded.
  public static func parseTime(_ text: String) -> (milliseconds: Int64, offsetMinutes: Int16)? {
    var scanner = DigitScanner(text)
    guard let year = scanner.number(4), scanner.skip("-"), let month = scanner.number(2),
      scanner.skip("-"), let day = scanner.number(2),
      scanner.skip("T") || scanner.skip("t"),
      let hour = scanner.number(2), scanner.skip(":"), let minute = scanner.number(2),
      scanner.skip(":"), let second = scanner.number(2),
      (1...12).contains(month), (1...daysInMonth(year: year, month: month)).contains(day),
      hour < 24, minute < 60, second < 60
    else { return nil }
    var milliseconds = 0
    if scanner.skip(".") {
      var digits = 0
      while let digit = scanner.number(1) {
        guard digits < 3 else { return nil }
        milliseconds = milliseconds * 10 + digit
        digits += 1
      }
      guard digits > 0 else { return nil }
      for _ in digits..<3 { milliseconds *= 10 }
    }
    let offset: Int
    if scanner.skip("Z") || scanner.skip("z") {
      offset = 0
    } else {
      let sign: Int
      if scanner.skip("+") {
        sign = 1
      } else if scanner.skip("-") {
        sign = -1
      } else {
        return nil
      }
      guard let hours = scanner.number(2), scanner.skip(":"), let minutes = scanner.number(2),
        hours <= 18, minutes < 60, hours * 60 + minutes <= 18 * 60
      else { return nil }
      offset = sign * (hours * 60 + minutes)
    }
    guard scanner.isAtEnd else { return nil }
    let localSeconds =
      days(year: year, month: month, day: day) * 86_400 + hour * 3600
      + minute * 60 + second
    let utcMilliseconds = Int64(localSeconds - offset * 60) * 1000 + Int64(milliseconds)
    return (utcMilliseconds, Int16(offset))
  }

  /// RFC 3339 of an instant, in the offset it was written with; milliseconds only when
  /// there are some. Nil for an instant outside years 0–9999.
  public static func formatTime(milliseconds: Int64, offsetMinutes: Int16) -> String? {
    let (local, overflow) = milliseconds.addingReportingOverflow(Int64(offsetMinutes) * 60_000)
    guard !overflow else { return nil }
    let (seconds, fraction) = local.quotientAndRemainder(dividingBy: 1000)
    let wholeSeconds = fraction < 0 ? seconds - 1 : seconds
    let millis = fraction < 0 ? fraction + 1000 : fraction
    let (dayCount, secondOfDay) = wholeSeconds.quotientAndRemainder(dividingBy: 86_400)
    let day = secondOfDay < 0 ? dayCount - 1 : dayCount
    let second = secondOfDay < 0 ? secondOfDay + 86_400 : secondOfDay
    guard let dayInt = Int(exactly: day), abs(dayInt) < 4_000_000 else { return nil }
    let date = civil(days: dayInt)
    guard years.contains(date.year) else { return nil }
    var text = "\(pad(date.year, 4))-\(pad(date.month, 2))-\(pad(date.day, 2))"
    text +=
      "T\(pad(Int(second / 3600), 2)):\(pad(Int(second / 60 % 60), 2)):\(pad(Int(second % 60), 2))"
    if millis != 0 { text += "." + pad(Int(millis), 3) }
    if offsetMinutes == 0 {
      text += "Z"
    } else {
      let magnitude = abs(Int(offsetMinutes))
      text +=
        (offsetMinutes < 0 ? "-" : "+") + "\(pad(magnitude / 60, 2)):\(pad(magnitude % 60, 2))"
    }
    return text
  }

  /// The UTC day of an instant (index keys use it for booking days).
  static func utcDay(milliseconds: Int64) -> Int32 {
    let (days, rest) = milliseconds.quotientAndRemainder(dividingBy: 86_400_000)
    return Int32(clamping: rest < 0 ? days - 1 : days)
  }

  /// The local calendar day of an instant in the offset it was written with: a
  /// wedding at 23:00 on June 13 in New York is booked on June 13.
  static func localDay(milliseconds: Int64, offsetMinutes: Int16) -> Int32 {
    let (local, overflow) = milliseconds.addingReportingOverflow(Int64(offsetMinutes) * 60_000)
    return utcDay(milliseconds: overflow ? milliseconds : local)
  }

  /// The latest instant the engine reasons about: 9999-12-31T23:59:59.999Z.
  static let latestMilliseconds: Int64 = 253_402_300_799_999

  /// A clock reading brought into 1970 … 9999, so that no time arithmetic or calendar
  /// conversion can overflow on a clock an application supplied.
  static func clamped(_ milliseconds: Int64) -> Int64 {
    min(max(milliseconds, 0), latestMilliseconds)
  }

  /// The current instant, in milliseconds since the epoch.
  static func now() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
  }

  private static func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width
      ? digits : String(repeating: "0", count: width - digits.count) + digits
  }
}

/// Reads fixed-width decimal fields and separators from ASCII text.
private struct DigitScanner {
  let bytes: [UInt8]
  var position = 0

  init(_ text: String) { bytes = Array(text.utf8) }

  var isAtEnd: Bool { position == bytes.count }

  mutating func number(_ width: Int) -> Int? {
    guard position + width <= bytes.count else { return nil }
    var value = 0
    for offset in 0..<width {
      let byte = bytes[position + offset]
      guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
      value = value * 10 + Int(byte - UInt8(ascii: "0"))
    }
    position += width
    return value
  }

  mutating func skip(_ separator: Character) -> Bool {
    guard position < bytes.count, let ascii = separator.asciiValue, bytes[position] == ascii else {
      return false
    }
    position += 1
    return true
  }
}
