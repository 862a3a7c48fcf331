import VaultCore

/// An ISO 4217 currency: its code and how many minor units make one major unit.
public struct Currency: Hashable, Sendable, CustomStringConvertible {
  /// The three-letter code, upper case (`USD`).
  public let code: String
  /// Digits after the decimal point: 2 for USD, 0 for JPY, 3 for KWD.
  public let minorUnits: Int

  /// The currency with ISO 4217 code `code`.
  ///
  /// - Throws: `.invalidArgument` for a code that is not an active ISO 4217 currency
  ///   (precious metals, funds codes and test codes are not money a studio bills in).
  public init(_ code: String) throws(VaultError) {
    guard let known = Self.table[code] else {
      throw VaultError(
        .invalidArgument,
        "\"\(code)\" is not an ISO 4217 currency code (use three capital letters, e.g. USD)")
    }
    self.code = code
    minorUnits = known
  }

  public var description: String { code }

  /// Active ISO 4217 codes (from Debian's iso-codes list), with their minor units.
  static let table: [String: Int] = {
    var table = [String: Int]()
    for code in codes { table[code] = 2 }
    for code in zeroDecimal { table[code] = 0 }
    for code in threeDecimal { table[code] = 3 }
    for code in fourDecimal { table[code] = 4 }
    return table
  }()

  private static let zeroDecimal = [
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
  ]
  private static let threeDecimal = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
  private static let fourDecimal = ["CLF", "UYW"]
  private static let codes = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR",
    "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW",
    "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA",
    "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD",
    "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG",
    "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE",
    "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP",
    "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWL",
  ]
}

/// An amount of money: integer minor units (cents, yen, fils) of one currency.
///
/// Arithmetic never overflows silently and never mixes currencies: both are errors.
/// There are no floating-point amounts anywhere.
public struct Money: Hashable, Sendable, CustomStringConvertible {
  /// The amount in minor units of ``currency`` (12500 is 125.00 USD).
  public let minorUnits: Int64
  public let currency: Currency

  public init(minorUnits: Int64, currency: Currency) {
    self.minorUnits = minorUnits
    self.currency = currency
  }

  /// Zero in `currency`.
  public static func zero(_ currency: Currency) -> Money {
    Money(minorUnits: 0, currency: currency)
  }

  /// `self + other`.
  ///
  /// - Throws: `.invalidArgument` for another currency; `.tooLarge` on overflow.
  public func adding(_ other: Money) throws(VaultError) -> Money {
    try requireSameCurrency(other, "add")
    let (sum, overflow) = minorUnits.addingReportingOverflow(other.minorUnits)
    guard !overflow else { throw Self.overflow("\(self) + \(other)") }
    return Money(minorUnits: sum, currency: currency)
  }

  /// `self − other`.
  ///
  /// - Throws: `.invalidArgument` for another currency; `.tooLarge` on overflow.
  public func subtracting(_ other: Money) throws(VaultError) -> Money {
    try requireSameCurrency(other, "subtract")
    let (difference, overflow) = minorUnits.subtractingReportingOverflow(other.minorUnits)
    guard !overflow else { throw Self.overflow("\(self) − \(other)") }
    return Money(minorUnits: difference, currency: currency)
  }

  /// `self × factor` (a quantity of line items, for example).
  ///
  /// - Throws: `.tooLarge` on overflow.
  public func multiplied(by factor: Int64) throws(VaultError) -> Money {
    let (product, overflow) = minorUnits.multipliedReportingOverflow(by: factor)
    guard !overflow else { throw Self.overflow("\(self) × \(factor)") }
    return Money(minorUnits: product, currency: currency)
  }

  /// The sum of `amounts`, all in `currency`.
  ///
  /// - Throws: `.invalidArgument` when one is in another currency; `.tooLarge` on
  ///   overflow.
  public static func sum(_ amounts: some Sequence<Money>, in currency: Currency)
    throws(VaultError) -> Money
  {
    var total = Money.zero(currency)
    for amount in amounts { total = try total.adding(amount) }
    return total
  }

  /// The amount written out in major units, exactly: `125.00 USD`, `-3 JPY`.
  public var description: String { "\(decimalString) \(currency.code)" }

  /// The amount in major units without the code: `125.00`.
  public var decimalString: String {
    let digits = currency.minorUnits
    let magnitude = minorUnits.magnitude
    guard digits > 0 else { return (minorUnits < 0 ? "-" : "") + String(magnitude) }
    var scale: UInt64 = 1
    for _ in 0..<digits { scale *= 10 }
    let fraction = String(magnitude % scale)
    return (minorUnits < 0 ? "-" : "") + String(magnitude / scale) + "."
      + String(repeating: "0", count: digits - fraction.count) + fraction
  }

  /// Parses an amount in major units (`125`, `125.5`, `-0.05`) exactly, without
  /// floating point.
  ///
  /// - Throws: `.invalidArgument` for anything else, more decimals than the currency
  ///   has, or an amount beyond 64 bits of minor units.
  public init(decimal text: String, currency: Currency) throws(VaultError) {
    var digits = Substring(text)
    let negative = digits.hasPrefix("-")
    if negative { digits = digits.dropFirst() }
    let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    let whole = parts[0]
    let fraction = parts.count > 1 ? parts[1] : ""
    guard !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit), fraction.allSatisfy(\.isASCIIDigit),
      parts.count == 1 || !fraction.isEmpty
    else {
      throw VaultError(.invalidArgument, "\"\(text)\" is not an amount (e.g. 125.00)")
    }
    guard fraction.count <= currency.minorUnits else {
      throw VaultError(
        .invalidArgument,
        "\"\(text)\" has more decimals than \(currency.code) has (\(currency.minorUnits))")
    }
    var value: Int64 = 0
    let padded =
      whole + fraction + String(repeating: "0", count: currency.minorUnits - fraction.count)
    for character in padded {
      let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
      let digit = Int64(character.asciiValue ?? 48) - 48
      let (next, overflow2) = shifted.addingReportingOverflow(digit)
      guard !overflow1, !overflow2 else { throw Self.overflow(text) }
      value = next
    }
    self.init(minorUnits: negative ? -value : value, currency: currency)
  }

  private func requireSameCurrency(_ other: Money, _ verb: String) throws(VaultError) {
    guard other.currency == currency else {
      throw VaultError(
        .invalidArgument, "cannot \(verb) \(other.currency.code) and \(currency.code) amounts")
    }
  }

  private static func overflow(_ what: String) -> VaultError {
    VaultError(.tooLarge, "the amount \(what) is beyond what a vault can hold")
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool { asciiValue.map { $0 >= 48 && $0 <= 57 } ?? false }
}
