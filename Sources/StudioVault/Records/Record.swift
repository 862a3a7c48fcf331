import VaultCore
import VaultFormat

/// An instant as records hold it: milliseconds since the Unix epoch and the UTC offset
/// it was written with (so `15:30-04:00` prints back as written).
public struct Timestamp: Hashable, Sendable, Comparable, CustomStringConvertible {
  public var milliseconds: Int64
  public var offsetMinutes: Int16

  public init(milliseconds: Int64, offsetMinutes: Int16 = 0) {
    self.milliseconds = milliseconds
    self.offsetMinutes = offsetMinutes
  }

  /// Parses RFC 3339 with a zone (`2026-06-13T15:30:00-04:00`).
  public init?(rfc3339 text: String) {
    guard let parsed = CivilTime.parseTime(text) else { return nil }
    self.init(milliseconds: parsed.milliseconds, offsetMinutes: parsed.offsetMinutes)
  }

  /// The current time, in UTC.
  public static func now() -> Timestamp { Timestamp(milliseconds: CivilTime.now()) }

  /// The local calendar day (what a booking's day is).
  public var day: Day {
    Day(daysSince1970: CivilTime.localDay(milliseconds: milliseconds, offsetMinutes: offsetMinutes))
  }

  public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
    lhs.milliseconds < rhs.milliseconds
  }

  /// RFC 3339, in the offset it was written with.
  public var description: String {
    CivilTime.formatTime(milliseconds: milliseconds, offsetMinutes: offsetMinutes)
      ?? "\(milliseconds) ms"
  }
}

/// A calendar day.
public struct Day: Hashable, Sendable, Comparable, CustomStringConvertible {
  public var daysSince1970: Int32

  public init(daysSince1970: Int32) { self.daysSince1970 = daysSince1970 }

  /// Parses `YYYY-MM-DD`.
  public init?(iso text: String) {
    guard let days = CivilTime.parseDate(text) else { return nil }
    daysSince1970 = days
  }

  public static func < (lhs: Day, rhs: Day) -> Bool { lhs.daysSince1970 < rhs.daysSince1970 }

  public var description: String { CivilTime.formatDate(daysSince1970) }
}

/// One record of a collection, its fields by tag as the schema defines them, plus what
/// the engine keeps about every record (id, version, times, branch).
///
/// The typed structs (``Client``, ``Project``, …) convert to and from this; import,
/// export and the indexes work on it directly.
public struct Record: Sendable, Equatable {
  public let collection: RecordCollection
  /// Assigned at insert when not given.
  public var id: RecordID?
  /// 1 when first stored, +1 per update; 0 before the record is stored.
  public internal(set) var version: Int64 = 0
  public internal(set) var createdAt: Timestamp?
  public internal(set) var updatedAt: Timestamp?
  /// The branch the record belongs to (nil for organization-wide records).
  public var branch: RecordID?
  /// When the project was deleted (projects), or when the project a financial record
  /// belongs to was (set on reads).
  public internal(set) var deletedAt: Timestamp?
  /// The user who created the record.
  public internal(set) var createdBy: RecordID?
  /// The schema's fields (tags from 16 up).
  public var fields: FieldMap

  public init(
    _ collection: RecordCollection, id: RecordID? = nil, branch: RecordID? = nil,
    fields: FieldMap = FieldMap()
  ) {
    self.collection = collection
    self.id = id
    self.branch = branch
    self.fields = fields
  }

  public var schema: CollectionSchema { collection.schema }

  /// Field `name`'s value.
  public subscript(name: String) -> FieldValue? {
    get { schema.field(name).flatMap { fields[$0.tag] } }
    set {
      if let spec = schema.field(name) { fields[spec.tag] = newValue }
    }
  }

  // MARK: Typed field access

  /// Field `name` as text (strings and choices), if it holds one.
  public func text(_ name: String) -> String? {
    if case .string(let text)? = self[name] { return text }
    return nil
  }

  /// Field `name` as a list of texts (empty when absent).
  public func texts(_ name: String) -> [String] {
    guard case .list(let items)? = self[name] else { return [] }
    return items.compactMap { if case .string(let text) = $0 { text } else { nil } }
  }

  /// Field `name` as a record id, if it holds one.
  public func reference(_ name: String) -> RecordID? {
    if case .bytes(let bytes)? = self[name] { return try? RecordID(bytes: bytes) }
    return nil
  }

  /// Field `name` as money, if it holds a valid amount.
  public func money(_ name: String) -> Money? {
    if case .money(let units, let code)? = self[name], let currency = try? Currency(code) {
      return Money(minorUnits: units, currency: currency)
    }
    return nil
  }

  /// Field `name` as a boolean, if it holds one.
  public func bool(_ name: String) -> Bool? {
    if case .bool(let flag)? = self[name] { return flag }
    return nil
  }

  // MARK: Stored form

  /// The fields as stored: the schema's fields plus the engine's (``MetaTag``).
  package func storedFields() -> FieldMap {
    var stored = fields
    stored[MetaTag.version] = .integer(version)
    if let createdAt { stored[MetaTag.createdAt] = .time(createdAt) }
    if let updatedAt { stored[MetaTag.updatedAt] = .time(updatedAt) }
    if let branch { stored[MetaTag.branch] = .bytes(branch.bytes) }
    if let deletedAt { stored[MetaTag.deletedAt] = .time(deletedAt) }
    if let createdBy { stored[MetaTag.createdBy] = .bytes(createdBy.bytes) }
    return stored
  }

  /// The record a stored body holds, migrated to the current schema version.
  package static func decode(
    _ body: [UInt8], collection: RecordCollection, id: RecordID, schema: CollectionSchema? = nil
  ) throws(VaultError) -> Record {
    let schema = schema ?? collection.schema
    var (version, stored) = try RecordEncoding.decode(body)
    guard version <= schema.version else {
      throw VaultError(
        .unsupportedVersion,
        "a \(collection) record has schema version \(version); this engine reads up to \(schema.version)"
      )
    }
    if version < schema.version { try schema.migrate(version, &stored) }
    var record = Record(collection, id: id)
    // The engine's tags move out; the schema's fields stay in the decoded map as they
    // are (rebuilding it would cost as much as decoding did).
    for entry in stored.removeTags(below: MetaTag.firstSchemaTag) {
      let value = entry.value
      switch entry.tag {
      case MetaTag.version:
        guard case .integer(let number) = value else { throw corruptMeta(collection, "version") }
        record.version = number
      case MetaTag.createdAt: record.createdAt = try timestamp(value, collection, "createdAt")
      case MetaTag.updatedAt: record.updatedAt = try timestamp(value, collection, "updatedAt")
      case MetaTag.deletedAt: record.deletedAt = try timestamp(value, collection, "deletedAt")
      case MetaTag.branch: record.branch = try recordID(value, collection, "branch")
      case MetaTag.createdBy: record.createdBy = try recordID(value, collection, "createdBy")
      default: break  // a meta field of a later engine: ignored
      }
    }
    record.fields = stored
    return record
  }

  private static func corruptMeta(_ collection: RecordCollection, _ what: String) -> VaultError {
    VaultError(.corrupt, "a stored \(collection) record has a malformed \(what)")
  }

  private static func timestamp(_ value: FieldValue, _ collection: RecordCollection, _ what: String)
    throws(VaultError) -> Timestamp
  {
    guard case .time(let milliseconds, let offset) = value else {
      throw corruptMeta(collection, what)
    }
    return Timestamp(milliseconds: milliseconds, offsetMinutes: offset)
  }

  private static func recordID(_ value: FieldValue, _ collection: RecordCollection, _ what: String)
    throws(VaultError) -> RecordID
  {
    guard case .bytes(let bytes) = value, let id = try? RecordID(bytes: bytes) else {
      throw corruptMeta(collection, what)
    }
    return id
  }
}

extension FieldValue {
  static func time(_ timestamp: Timestamp) -> FieldValue {
    .time(milliseconds: timestamp.milliseconds, offsetMinutes: timestamp.offsetMinutes)
  }
}
