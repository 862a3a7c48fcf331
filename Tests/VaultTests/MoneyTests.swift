@_spi(Engine) import StudioVault
import Testing
import VaultCore

@Suite struct MoneyTests {
  @Test func currenciesAreISO4217WithTheirMinorUnits() throws {
    #expect(try Currency("USD").minorUnits == 2)
    #expect(try Currency("JPY").minorUnits == 0)
    #expect(try Currency("KWD").minorUnits == 3)
    #expect(try Currency("CLF").minorUnits == 4)
    for bad in ["usd", "US", "XAU", "XXX", "ABC", "", "USDD"] {
      let error = #expect(throws: VaultError.self, "\(bad)") { try Currency(bad) }
      #expect(error?.code == .invalidArgument)
    }
  }

  @Test func arithmeticNeverOverflowsSilentlyOrMixesCurrencies() throws {
    let usd = try Currency("USD")
    let eur = try Currency("EUR")
    let a = Money(minorUnits: 12_500, currency: usd)
    #expect(try a.adding(Money(minorUnits: 75, currency: usd)).minorUnits == 12_575)
    #expect(try a.subtracting(Money(minorUnits: 20_000, currency: usd)).minorUnits == -7_500)
    #expect(try a.multiplied(by: 3).minorUnits == 37_500)
    #expect(try Money.sum([a, a, a], in: usd).minorUnits == 37_500)
    let mixed = #expect(throws: VaultError.self) {
      try a.adding(Money(minorUnits: 1, currency: eur))
    }
    #expect(mixed?.code == .invalidArgument)
    #expect(throws: VaultError.self) { try Money.sum([a, Money.zero(eur)], in: usd) }
    let huge = Money(minorUnits: .max, currency: usd)
    let overflows = [
      Result { () throws(VaultError) in try huge.adding(Money(minorUnits: 1, currency: usd)) },
      Result { () throws(VaultError) in
        try Money(minorUnits: .min, currency: usd).subtracting(Money(minorUnits: 1, currency: usd))
      },
      Result { () throws(VaultError) in try huge.multiplied(by: 2) },
    ]
    for outcome in overflows {
      guard case .failure(let error) = outcome else {
        Issue.record("an overflow went unnoticed: \(outcome)")
        continue
      }
      #expect(error.code == .tooLarge)
    }
  }

  @Test func decimalTextRoundTripsExactly() throws {
    let usd = try Currency("USD")
    let jpy = try Currency("JPY")
    let kwd = try Currency("KWD")
    #expect(try Money(decimal: "125.00", currency: usd).minorUnits == 12_500)
    #expect(try Money(decimal: "125.5", currency: usd).minorUnits == 12_550)
    #expect(try Money(decimal: "-0.05", currency: usd).minorUnits == -5)
    #expect(try Money(decimal: "1200", currency: jpy).minorUnits == 1_200)
    #expect(try Money(decimal: "1.234", currency: kwd).description == "1.234 KWD")
    #expect(Money(minorUnits: -5, currency: usd).description == "-0.05 USD")
    #expect(Money(minorUnits: 7, currency: jpy).description == "7 JPY")
    for bad in ["", "-", "1.", ".5", "1.234", "12a", "1,00", "1.2.3", "99999999999999999999"] {
      #expect(throws: VaultError.self, "\(bad)") { try Money(decimal: bad, currency: usd) }
    }
    #expect(throws: VaultError.self) { try Money(decimal: "1.5", currency: jpy) }
    for value: Int64 in [0, 1, -1, 99, 100, 12_345_678, .max, .min + 1] {
      let money = Money(minorUnits: value, currency: usd)
      #expect(try Money(decimal: money.decimalString, currency: usd) == money)
    }
  }

  @Test func cardNumbersAreSpottedAndOtherNumbersAreNot() {
    for card in [
      "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111",
      "pay with 5500005555555559 ok",
      "378282246310005",
    ] {
      #expect(CardNumbers.contains(in: card), "\(card)")
    }
    for other in [
      "4111111111111112",  // fails Luhn
      "411111111111",  // 12 digits
      "41111111111111111111111",  // part of a longer number
      "+1 555 0100", "invoice 2026-06-13", "4111  1111 1111 1111",  // two spaces end the run
      "",
    ] {
      #expect(!CardNumbers.contains(in: other), "\(other)")
    }
  }

  @Test func recordIDsAreLowercaseUUIDs() throws {
    let id = RecordID.random()
    let text = id.description
    #expect(text.count == 36 && text == text.lowercased())
    #expect(try RecordID(text) == id)
    #expect(try RecordID(text.uppercased()) == id)
    #expect(RecordID.random() != id)
    for bad in ["", "3f2a", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", String(text.dropLast())] {
      #expect(throws: VaultError.self, "\(bad)") { try RecordID(bad) }
    }
    #expect(throws: VaultError.self) { try RecordID(bytes: [1, 2]) }
  }
}
