import VaultCore
import VaultFormat

/// Checks a record's fields against its schema: every required field present, every
/// value of its field's type and within its limits, no unknown field, no value shaped
/// like a card number in a financial record. Import and the typed API both end here,
/// so the two cannot disagree on what a valid record is.
enum RecordValidation {
  /// - Throws: `.invalidRecord` naming the field (`lineItems[2].amount: …`).
  static func validate(_ record: Record) throws(VaultError) {
    let schema = record.schema
    try validate(
      record.fields, specs: schema.fields, path: "", refusesCards: schema.refusesCardNumbers)
  }

  static func failure(_ path: String, _ message: String) -> VaultError {
    VaultError(.invalidRecord, path.isEmpty ? message : "\(path): \(message)")
  }

  private static func validate(
    _ fields: FieldMap, specs: [FieldSpec], path: String, refusesCards: Bool
  ) throws(VaultError) {
    for tag in fields.tags where !specs.contains(where: { $0.tag == tag }) {
      throw failure(path, "field tag \(tag) is not in the schema")
    }
    for spec in specs {
      let fieldPath = path.isEmpty ? spec.name : "\(path).\(spec.name)"
      guard let value = fields[spec.tag] else {
        if spec.presence == .required { throw failure(fieldPath, "required, but missing") }
        continue
      }
      try validate(value, type: spec.type, path: fieldPath, refusesCards: refusesCards)
    }
  }

  private static func validate(
    _ value: FieldValue, type: FieldType, path: String, refusesCards: Bool
  ) throws(VaultError) {
    func mismatch(_ expected: String) -> VaultError {
      failure(path, "expected \(expected), got \(value.kindName)")
    }
    switch type {
    case .text(let maxBytes):
      guard case .string(let text) = value else { throw mismatch("a string") }
      let count = text.utf8.count
      guard count <= maxBytes else {
        throw failure(path, "\(count) bytes is longer than the \(maxBytes) allowed")
      }
      if refusesCards, CardNumbers.contains(in: text) {
        throw failure(
          path, "looks like a payment card number; card details are never stored")
      }
    case .integer(let range):
      guard case .integer(let number) = value else { throw mismatch("an integer") }
      guard range.contains(number) else {
        throw failure(path, "\(number) is outside \(range.lowerBound)…\(range.upperBound)")
      }
    case .bool:
      guard case .bool = value else { throw mismatch("true or false") }
    case .money:
      guard case .money(let units, let code) = value else { throw mismatch("money") }
      do { _ = try Currency(code) } catch { throw failure(path, error.message) }
      // Refunds, discounts and corrections are records of their own: no amount is
      // negative (a negative line item would settle an invoice with no payment).
      guard units >= 0 else { throw failure(path, "an amount must not be negative") }
    case .time:
      guard case .time(let milliseconds, let offset) = value else { throw mismatch("a time") }
      guard CivilTime.formatTime(milliseconds: milliseconds, offsetMinutes: offset) != nil else {
        throw failure(path, "the time is outside years 0000–9999")
      }
    case .date:
      guard case .date(let days) = value else { throw mismatch("a date") }
      let year = CivilTime.civil(days: Int(days)).year
      guard CivilTime.years.contains(year) else {
        throw failure(path, "the date is outside years 0000–9999")
      }
    case .reference:
      guard case .bytes(let bytes) = value, bytes.count == 16 else { throw mismatch("a record id") }
    case .choice(let names):
      guard case .string(let name) = value else { throw mismatch("a string") }
      // The value is not echoed: it could be anything a user typed (a card number).
      guard names.contains(name) else {
        throw failure(path, "not one of \(names.joined(separator: ", "))")
      }
    case .list(let itemType, let maxCount):
      guard case .list(let items) = value else { throw mismatch("a list") }
      guard items.count <= maxCount else {
        throw failure(path, "\(items.count) items is more than the \(maxCount) allowed")
      }
      for (index, item) in items.enumerated() {
        try validate(item, type: itemType, path: "\(path)[\(index)]", refusesCards: refusesCards)
      }
    case .object(let specs):
      guard case .object(let fields) = value else { throw mismatch("an object") }
      try validate(fields, specs: specs, path: path, refusesCards: refusesCards)
    }
  }
}

extension FieldValue {
  /// The kind of value, for error messages.
  var kindName: String {
    switch self {
    case .string: "a string"
    case .integer: "an integer"
    case .bool: "a boolean"
    case .money: "money"
    case .time: "a time"
    case .date: "a date"
    case .bytes: "bytes"
    case .list: "a list"
    case .object: "an object"
    }
  }
}
