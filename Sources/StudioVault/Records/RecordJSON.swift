import VaultCore
import VaultFormat

/// Records as JSON objects, in the shapes of ../shared/spec/records-json.md.
package enum RecordJSON {
  /// What decoding needs from the vault: the organization's currency (for
  /// `{"amount": N}`) and name lookups (`"branch": "Downtown"`, `"vendor": "ana"`).
  package struct Context {
    var defaultCurrency: Currency?
    /// The id of the branch or user named `name`.
    var resolveName: (RecordCollection, String) throws(VaultError) -> RecordID

    package init(
      defaultCurrency: Currency?,
      resolveName: @escaping (RecordCollection, String) throws(VaultError) -> RecordID
    ) {
      self.defaultCurrency = defaultCurrency
      self.resolveName = resolveName
    }
  }

  /// Members every record may carry on input besides its schema's fields.
  static let commonOutputOnly: Set<String> = [
    "version", "createdAt", "updatedAt", "projectDeleted", "deletedAt",
  ]

  /// The record one JSON object describes. Output-only fields are accepted and
  /// ignored, so an export imports back unchanged.
  ///
  /// - Throws: `.invalidRecord` naming the field and what was wrong.
  package static func decode(_ json: JSON, as collection: RecordCollection, context: Context)
    throws(VaultError) -> Record
  {
    guard case .object(let members) = json else {
      throw RecordValidation.failure("", "expected an object, got \(json.kindName)")
    }
    let schema = collection.schema
    var record = Record(collection)
    for name in members.keys.sorted() {
      let value = members[name] ?? .null
      switch name {
      case "id":
        guard case .string(let text) = value else {
          throw RecordValidation.failure("id", "expected a string, got \(value.kindName)")
        }
        guard let id = try? RecordID(text) else {
          throw RecordValidation.failure("id", "not a record id (a UUID)")
        }
        record.id = id
      case "branch":
        if case .null = value { continue }
        guard case .none = schema.branchSource else {
          record.branch = try reference(value, to: .branches, path: "branch", context: context)
          continue
        }
        throw RecordValidation.failure("branch", "\(collection) belong to no branch")
      case _ where commonOutputOnly.contains(name): continue
      default:
        guard let spec = schema.field(name), spec.presence != .internal else {
          throw RecordValidation.failure(name, "unknown field of \(collection)")
        }
        if spec.presence == .outputOnly { continue }
        if case .null = value { continue }
        record.fields[spec.tag] = try fieldValue(
          value, type: spec.type, path: name, context: context)
      }
    }
    return record
  }

  private static func fieldValue(
    _ json: JSON, type: FieldType, path: String, context: Context
  ) throws(VaultError) -> FieldValue {
    func mismatch(_ expected: String) -> VaultError {
      RecordValidation.failure(path, "expected \(expected), got \(json.kindName)")
    }
    switch type {
    case .text, .choice:
      guard case .string(let text) = json else { throw mismatch("a string") }
      return .string(text)
    case .integer:
      switch json {
      case .int(let number): return .integer(number)
      case .double: throw RecordValidation.failure(path, "expected an integer, got a fraction")
      default: throw mismatch("an integer")
      }
    case .bool:
      guard case .bool(let flag) = json else { throw mismatch("true or false") }
      return .bool(flag)
    case .money:
      return try money(json, path: path, context: context)
    case .time:
      guard case .string(let text) = json else { throw mismatch("an RFC 3339 time string") }
      guard let time = Timestamp(rfc3339: text) else {
        throw RecordValidation.failure(
          path, "\"\(text)\" is not an RFC 3339 time with a zone (2026-06-13T15:30:00-04:00)")
      }
      return .time(time)
    case .date:
      guard case .string(let text) = json else { throw mismatch("a YYYY-MM-DD date string") }
      guard let day = Day(iso: text) else {
        throw RecordValidation.failure(path, "\"\(text)\" is not a date (YYYY-MM-DD)")
      }
      return .date(days: day.daysSince1970)
    case .reference(let target):
      return .bytes(try reference(json, to: target, path: path, context: context).bytes)
    case .list(let itemType, _):
      guard case .array(let items) = json else { throw mismatch("a list") }
      var values = [FieldValue]()
      for (index, item) in items.enumerated() {
        values.append(
          try fieldValue(item, type: itemType, path: "\(path)[\(index)]", context: context))
      }
      return .list(values)
    case .object(let specs):
      guard case .object(let members) = json else { throw mismatch("an object") }
      var fields = FieldMap()
      for name in members.keys.sorted() {
        let memberPath = "\(path).\(name)"
        guard let spec = specs.first(where: { $0.name == name }) else {
          throw RecordValidation.failure(memberPath, "unknown field")
        }
        let value = members[name] ?? .null
        if spec.presence == .outputOnly { continue }
        if case .null = value { continue }
        fields[spec.tag] = try fieldValue(
          value, type: spec.type, path: memberPath, context: context)
      }
      return .object(fields)
    }
  }

  private static func money(_ json: JSON, path: String, context: Context) throws(VaultError)
    -> FieldValue
  {
    guard case .object(let members) = json else {
      throw RecordValidation.failure(
        path, "expected money ({\"amount\": 125000, \"currency\": \"USD\"}), got \(json.kindName)")
    }
    if let unknown = members.keys.sorted().first(where: { $0 != "amount" && $0 != "currency" }) {
      throw RecordValidation.failure("\(path).\(unknown)", "unknown field of money")
    }
    let amount: Int64
    switch members["amount"] {
    case .int(let units)?: amount = units
    case .double?:
      throw RecordValidation.failure(
        "\(path).amount", "expected integer minor units (cents), got a fraction")
    case nil: throw RecordValidation.failure("\(path).amount", "required, but missing")
    case let other?:
      throw RecordValidation.failure("\(path).amount", "expected an integer, got \(other.kindName)")
    }
    let currency: Currency
    switch members["currency"] {
    case .string(let code)?:
      do { currency = try Currency(code) } catch {
        throw RecordValidation.failure("\(path).currency", error.message)
      }
    case nil:
      guard let fallback = context.defaultCurrency else {
        throw RecordValidation.failure("\(path).currency", "required, but missing")
      }
      currency = fallback
    case let other?:
      throw RecordValidation.failure("\(path).currency", "expected a string, got \(other.kindName)")
    }
    return .money(minorUnits: amount, currency: currency.code)
  }

  private static func reference(
    _ json: JSON, to target: RecordCollection, path: String, context: Context
  ) throws(VaultError) -> RecordID {
    guard case .string(let text) = json else {
      throw RecordValidation.failure(path, "expected a record id string, got \(json.kindName)")
    }
    if let id = try? RecordID(text) { return id }
    guard target == .branches || target == .users else {
      throw RecordValidation.failure(path, "not a record id (a UUID)")
    }
    do { return try context.resolveName(target, text) } catch {
      throw RecordValidation.failure(path, error.message)
    }
  }

  // MARK: Output

  /// The JSON object of a record: every field but internal ones, money in full,
  /// references as ids.
  static func encode(_ record: Record) -> JSON {
    var members = [String: JSON]()
    if let id = record.id { members["id"] = .string(id.description) }
    if let branch = record.branch { members["branch"] = .string(branch.description) }
    members["version"] = .int(record.version)
    if let createdAt = record.createdAt { members["createdAt"] = .string(createdAt.description) }
    if let updatedAt = record.updatedAt { members["updatedAt"] = .string(updatedAt.description) }
    if record.deletedAt != nil {
      if record.collection == .projects {
        members["deletedAt"] = .string(record.deletedAt?.description ?? "")
      } else {
        members["projectDeleted"] = .bool(true)
      }
    }
    encode(record.fields, specs: record.schema.fields, into: &members)
    return .object(members)
  }

  private static func encode(
    _ fields: FieldMap, specs: [FieldSpec], into members: inout [String: JSON]
  ) {
    for spec in specs where spec.presence != .internal {
      if let value = fields[spec.tag] { members[spec.name] = json(value, type: spec.type) }
    }
  }

  private static func json(_ value: FieldValue, type: FieldType) -> JSON {
    switch value {
    case .string(let text): return .string(text)
    case .integer(let number): return .int(number)
    case .bool(let flag): return .bool(flag)
    case .money(let units, let code): return ["amount": .int(units), "currency": .string(code)]
    case .time(let milliseconds, let offset):
      return .string(Timestamp(milliseconds: milliseconds, offsetMinutes: offset).description)
    case .date(let days): return .string(Day(daysSince1970: days).description)
    case .bytes(let bytes):
      return .string(
        (try? RecordID(bytes: bytes))?.description ?? Hex.encode(bytes))
    case .list(let items):
      let itemType: FieldType = if case .list(let inner, _) = type { inner } else { type }
      return .array(items.map { json($0, type: itemType) })
    case .object(let fields):
      var members = [String: JSON]()
      if case .object(let specs) = type { encode(fields, specs: specs, into: &members) }
      return .object(members)
    }
  }
}
