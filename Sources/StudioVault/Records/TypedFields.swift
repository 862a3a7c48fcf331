import VaultCore
import VaultFormat

/// A typed view of one collection's records: a Swift struct with the collection's
/// fields, converted to and from ``Record`` through the collection's schema (the
/// schema stays the one source of tags, types and limits).
public protocol StudioRecord: Sendable, Equatable {
  static var collection: RecordCollection { get }
  /// What the engine keeps about the record: id, version, times, branch.
  var meta: RecordMeta { get set }
  /// The typed view of a stored record.
  ///
  /// - Throws: `.corrupt` when a stored value does not fit its field.
  init(_ record: Record) throws(VaultError)
  /// The record to store.
  var record: Record { get }
}

/// The engine's facts about a record (``Record``'s fields outside the schema).
public struct RecordMeta: Sendable, Equatable {
  /// Nil until inserted (the engine assigns one), unless chosen.
  public var id: RecordID?
  public var branch: RecordID?
  public internal(set) var version: Int64 = 0
  public internal(set) var createdAt: Timestamp?
  public internal(set) var updatedAt: Timestamp?
  public internal(set) var deletedAt: Timestamp?
  public internal(set) var createdBy: RecordID?

  public init(id: RecordID? = nil, branch: RecordID? = nil) {
    self.id = id
    self.branch = branch
  }

  init(_ record: Record) {
    id = record.id
    branch = record.branch
    version = record.version
    createdAt = record.createdAt
    updatedAt = record.updatedAt
    deletedAt = record.deletedAt
    createdBy = record.createdBy
  }

  func apply(to record: inout Record) {
    record.id = id
    record.branch = branch
    record.version = version
    record.createdAt = createdAt
    record.updatedAt = updatedAt
    record.deletedAt = deletedAt
    record.createdBy = createdBy
  }
}

/// Reads typed values out of a field map by field name (through the schema).
struct FieldReader {
  let fields: FieldMap
  let specs: [FieldSpec]
  let path: String

  init(_ record: Record) {
    fields = record.fields
    specs = record.schema.fields
    path = "\(record.collection)"
  }

  init(fields: FieldMap, specs: [FieldSpec], path: String) {
    self.fields = fields
    self.specs = specs
    self.path = path
  }

  private func value(_ name: String) throws(VaultError) -> FieldValue? {
    guard let spec = specs.first(where: { $0.name == name }) else {
      throw VaultError(.internal, "\(path) has no field \(name)")
    }
    return fields[spec.tag]
  }

  private func mismatch(_ name: String, _ expected: String) -> VaultError {
    VaultError(.corrupt, "\(path).\(name) holds no \(expected)")
  }

  func string(_ name: String) throws(VaultError) -> String? {
    switch try value(name) {
    case nil: return nil
    case .string(let text)?: return text
    default: throw mismatch(name, "string")
    }
  }

  func required(_ name: String) throws(VaultError) -> String {
    guard let text = try string(name) else { throw mismatch(name, "value") }
    return text
  }

  func choice<Choice: RawRepresentable>(_ name: String, as type: Choice.Type) throws(VaultError)
    -> Choice? where Choice.RawValue == String
  {
    guard let text = try string(name) else { return nil }
    guard let choice = Choice(rawValue: text) else { throw mismatch(name, "known \(name)") }
    return choice
  }

  func strings(_ name: String) throws(VaultError) -> [String] {
    switch try value(name) {
    case nil: return []
    case .list(let items)?:
      var texts = [String]()
      for item in items {
        guard case .string(let text) = item else { throw mismatch(name, "list of strings") }
        texts.append(text)
      }
      return texts
    default: throw mismatch(name, "list")
    }
  }

  func integer(_ name: String) throws(VaultError) -> Int64? {
    switch try value(name) {
    case nil: return nil
    case .integer(let number)?: return number
    default: throw mismatch(name, "integer")
    }
  }

  func bool(_ name: String) throws(VaultError) -> Bool? {
    switch try value(name) {
    case nil: return nil
    case .bool(let flag)?: return flag
    default: throw mismatch(name, "boolean")
    }
  }

  func money(_ name: String) throws(VaultError) -> Money? {
    switch try value(name) {
    case nil: return nil
    case .money(let units, let code)?:
      guard let currency = try? Currency(code) else { throw mismatch(name, "currency") }
      return Money(minorUnits: units, currency: currency)
    default: throw mismatch(name, "money")
    }
  }

  func time(_ name: String) throws(VaultError) -> Timestamp? {
    switch try value(name) {
    case nil: return nil
    case .time(let milliseconds, let offset)?:
      return Timestamp(milliseconds: milliseconds, offsetMinutes: offset)
    default: throw mismatch(name, "time")
    }
  }

  func date(_ name: String) throws(VaultError) -> Day? {
    switch try value(name) {
    case nil: return nil
    case .date(let days)?: return Day(daysSince1970: days)
    default: throw mismatch(name, "date")
    }
  }

  func id(_ name: String) throws(VaultError) -> RecordID? {
    switch try value(name) {
    case nil: return nil
    case .bytes(let bytes)?:
      guard let id = try? RecordID(bytes: bytes) else { throw mismatch(name, "record id") }
      return id
    default: throw mismatch(name, "record id")
    }
  }

  func object(_ name: String) throws(VaultError) -> FieldReader? {
    guard let spec = specs.first(where: { $0.name == name }), case .object(let inner) = spec.type
    else { throw VaultError(.internal, "\(path).\(name) is not an object field") }
    switch fields[spec.tag] {
    case nil: return nil
    case .object(let map)?: return FieldReader(fields: map, specs: inner, path: "\(path).\(name)")
    default: throw mismatch(name, "object")
    }
  }

  func objects(_ name: String) throws(VaultError) -> [FieldReader] {
    guard let spec = specs.first(where: { $0.name == name }),
      case .list(.object(let inner), _) = spec.type
    else { throw VaultError(.internal, "\(path).\(name) is not a list of objects") }
    switch fields[spec.tag] {
    case nil: return []
    case .list(let items)?:
      var readers = [FieldReader]()
      for item in items {
        guard case .object(let map) = item else { throw mismatch(name, "list of objects") }
        readers.append(FieldReader(fields: map, specs: inner, path: "\(path).\(name)"))
      }
      return readers
    default: throw mismatch(name, "list")
    }
  }
}

/// Writes typed values into a field map by field name (through the schema); nil and
/// empty lists leave a field absent.
struct FieldWriter {
  private(set) var fields = FieldMap()
  let specs: [FieldSpec]

  init(_ collection: RecordCollection) { specs = collection.schema.fields }
  init(specs: [FieldSpec]) { self.specs = specs }

  private mutating func set(_ name: String, _ value: FieldValue?) {
    // Names come from this file's structs; a round-trip test covers every one.
    guard let spec = specs.first(where: { $0.name == name }) else { return }
    fields[spec.tag] = value
  }

  mutating func set(_ name: String, _ text: String?) { set(name, text.map(FieldValue.string)) }
  mutating func set<Choice: RawRepresentable>(_ name: String, _ choice: Choice?)
  where Choice.RawValue == String { set(name, choice.map { .string($0.rawValue) }) }
  mutating func set(_ name: String, _ texts: [String]) {
    set(name, texts.isEmpty ? nil : .list(texts.map(FieldValue.string)))
  }
  mutating func set(_ name: String, _ number: Int64?) { set(name, number.map(FieldValue.integer)) }
  mutating func set(_ name: String, _ flag: Bool?) { set(name, flag.map(FieldValue.bool)) }
  mutating func set(_ name: String, _ amount: Money?) {
    set(name, amount.map { .money(minorUnits: $0.minorUnits, currency: $0.currency.code) })
  }
  mutating func set(_ name: String, _ time: Timestamp?) { set(name, time.map(FieldValue.time)) }
  mutating func set(_ name: String, _ day: Day?) {
    set(name, day.map { .date(days: $0.daysSince1970) })
  }
  mutating func set(_ name: String, _ id: RecordID?) { set(name, id.map { .bytes($0.bytes) }) }
  mutating func set(_ name: String, object: FieldMap?) {
    set(name, object.flatMap { $0.isEmpty ? nil : .object($0) })
  }
  mutating func set(_ name: String, objects: [FieldMap]) {
    set(name, objects.isEmpty ? nil : .list(objects.map(FieldValue.object)))
  }

  /// A writer for the sub-fields of object field `name` (or of its list's items).
  func nested(_ name: String) -> FieldWriter {
    switch specs.first(where: { $0.name == name })?.type {
    case .object(let inner)?, .list(.object(let inner), _)?: FieldWriter(specs: inner)
    default: FieldWriter(specs: [])
    }
  }
}

extension StudioRecord {
  /// A record of this collection with `fields`, and this value's meta.
  func makeRecord(_ fields: FieldMap) -> Record {
    var record = Record(Self.collection, fields: fields)
    meta.apply(to: &record)
    return record
  }

  /// Checks that `record` belongs to this collection.
  static func require(_ record: Record) throws(VaultError) {
    guard record.collection == collection else {
      throw VaultError(
        .invalidArgument, "a \(record.collection) record is not one of \(collection)")
    }
  }
}
