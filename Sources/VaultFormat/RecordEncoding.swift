import VaultCore

/// One field value of a record, as the record encoding stores it.
///
/// Typed records (clients, projects, invoices, …) map their fields to these under
/// numeric tags fixed per collection; a field added later is simply absent from older
/// records, and a migration rewrites tags.
public indirect enum FieldValue: Equatable, Sendable {
  case string(String)
  case integer(Int64)
  case bool(Bool)
  /// Integer minor units and an ISO 4217 code (the records layer validates the code).
  case money(minorUnits: Int64, currency: String)
  /// An instant, in milliseconds since the Unix epoch, and the UTC offset it was
  /// written with, in minutes (so `15:30-04:00` prints back as written); offsets lie
  /// within ±18 hours, as RFC 3339 allows.
  case time(milliseconds: Int64, offsetMinutes: Int16)
  /// A calendar day, as days since 1970-01-01.
  case date(days: Int32)
  case bytes([UInt8])
  case list([FieldValue])
  case object(FieldMap)
}

/// Fields by tag.
///
/// Kept as one array in ascending tag order, the order the encoding stores them in: a
/// record has a few dozen fields at most, so decoding appends and lookups bisect,
/// with no hashing and one allocation per object.
public struct FieldMap: Equatable, Sendable {
  public struct Entry: Equatable, Sendable {
    public var tag: UInt16
    public var value: FieldValue
  }

  /// The fields, tags strictly ascending.
  public private(set) var entries: [Entry]

  public init(_ fields: [UInt16: FieldValue] = [:]) {
    entries = fields.map { Entry(tag: $0.key, value: $0.value) }.sorted { $0.tag < $1.tag }
  }

  /// Entries whose tags strictly ascend (the decoder checks they do).
  init(ascending entries: [Entry]) { self.entries = entries }

  /// The fields as a dictionary (a copy: changing it changes nothing here).
  public var fields: [UInt16: FieldValue] {
    Dictionary(uniqueKeysWithValues: entries.lazy.map { ($0.tag, $0.value) })
  }

  public var tags: [UInt16] { entries.map(\.tag) }
  public var isEmpty: Bool { entries.isEmpty }
  public var count: Int { entries.count }

  public subscript(tag: UInt16) -> FieldValue? {
    get {
      let (index, found) = position(of: tag)
      return found ? entries[index].value : nil
    }
    set {
      let (index, found) = position(of: tag)
      switch (found, newValue) {
      case (true, let value?): entries[index].value = value
      case (true, nil): entries.remove(at: index)
      case (false, let value?): entries.insert(Entry(tag: tag, value: value), at: index)
      case (false, nil): break
      }
    }
  }

  /// Removes field `tag`; returns its value, if it had one.
  @discardableResult
  public mutating func removeValue(forKey tag: UInt16) -> FieldValue? {
    let (index, found) = position(of: tag)
    return found ? entries.remove(at: index).value : nil
  }

  /// Removes and returns the fields whose tags lie below `limit` (a prefix).
  public mutating func removeTags(below limit: UInt16) -> [Entry] {
    let end = position(of: limit).index
    // Copied out first: a slice still sharing the storage would make removal copy it.
    let removed = Array(entries[..<end])
    entries.removeFirst(end)
    return removed
  }

  /// Only the fields whose tags satisfy `keep`.
  public func filter(tags keep: (UInt16) -> Bool) -> FieldMap {
    FieldMap(ascending: entries.filter { keep($0.tag) })
  }

  /// Where `tag` is, or would go.
  private func position(of tag: UInt16) -> (index: Int, found: Bool) {
    var low = 0
    var high = entries.count
    while low < high {
      let middle = (low + high) / 2
      if entries[middle].tag < tag { low = middle + 1 } else { high = middle }
    }
    return (low, low < entries.count && entries[low].tag == tag)
  }
}

/// The compact, versioned binary encoding of a record body (before compression and
/// sealing). FORMAT.md section 18 specifies it:
///
/// ```
/// record := u8 encoding (1) ‖ u16 schema version ‖ object
/// object := varint count ‖ (varint tag ‖ value) × count, tags strictly ascending
/// value  := u8 kind ‖ payload
/// ```
///
/// Varints are unsigned LEB128 (at most 10 bytes, no overlong forms); signed numbers
/// are zigzag-encoded first. Decoding checks every length against the bytes left and
/// nests at most ``maximumDepth`` deep, so hostile input costs no more than its size.
public enum RecordEncoding {
  public static let version: UInt8 = 1
  public static let maximumDepth = 8

  enum Kind: UInt8 {
    case string = 1
    case integer = 2
    case falseValue = 3
    case trueValue = 4
    case money = 5
    case time = 6
    case date = 7
    case bytes = 8
    case list = 9
    case object = 10
  }

  /// Encodes `fields` as a record of schema version `schema`.
  public static func encode(_ fields: FieldMap, schema: UInt16) -> [UInt8] {
    var writer = ByteWriter()
    writer.write(version)
    writer.write(schema)
    encode(fields, into: &writer)
    return writer.bytes
  }

  /// Decodes a record: its schema version and fields.
  ///
  /// - Throws: `.corrupt` naming what is wrong, `.unsupportedVersion` for a newer
  ///   encoding.
  public static func decode(_ bytes: [UInt8]) throws(VaultError) -> (
    schema: UInt16, fields: FieldMap
  ) {
    var reader = ByteReader(bytes, page: 0)
    let encoding = try reader.readUInt8("record encoding")
    guard encoding == version else {
      throw VaultError(.unsupportedVersion, "record encoding \(encoding) is not supported")
    }
    let schema = try reader.readUInt16("schema version")
    let fields = try decodeObject(&reader, depth: 0)
    guard reader.isAtEnd else { throw reader.corrupt("bytes after the record's fields") }
    return (schema, fields)
  }

  // MARK: Encoding

  private static func encode(_ object: FieldMap, into writer: inout ByteWriter) {
    writeVarint(UInt64(object.count), into: &writer)
    for entry in object.entries {
      writeVarint(UInt64(entry.tag), into: &writer)
      encode(entry.value, into: &writer)
    }
  }

  private static func encode(_ value: FieldValue, into writer: inout ByteWriter) {
    switch value {
    case .string(let text):
      writer.write(Kind.string.rawValue)
      let bytes = Array(text.utf8)
      writeVarint(UInt64(bytes.count), into: &writer)
      writer.write(bytes)
    case .integer(let number):
      writer.write(Kind.integer.rawValue)
      writeVarint(zigzag(number), into: &writer)
    case .bool(let flag):
      writer.write(flag ? Kind.trueValue.rawValue : Kind.falseValue.rawValue)
    case .money(let minorUnits, let currency):
      writer.write(Kind.money.rawValue)
      writeVarint(zigzag(minorUnits), into: &writer)
      let code = Array(currency.utf8)
      writeVarint(UInt64(code.count), into: &writer)
      writer.write(code)
    case .time(let milliseconds, let offset):
      writer.write(Kind.time.rawValue)
      writeVarint(zigzag(milliseconds), into: &writer)
      writeVarint(zigzag(Int64(offset)), into: &writer)
    case .date(let days):
      writer.write(Kind.date.rawValue)
      writeVarint(zigzag(Int64(days)), into: &writer)
    case .bytes(let bytes):
      writer.write(Kind.bytes.rawValue)
      writeVarint(UInt64(bytes.count), into: &writer)
      writer.write(bytes)
    case .list(let items):
      writer.write(Kind.list.rawValue)
      writeVarint(UInt64(items.count), into: &writer)
      for item in items { encode(item, into: &writer) }
    case .object(let object):
      writer.write(Kind.object.rawValue)
      encode(object, into: &writer)
    }
  }

  static func zigzag(_ value: Int64) -> UInt64 {
    UInt64(bitPattern: (value << 1) ^ (value >> 63))
  }

  static func unzigzag(_ value: UInt64) -> Int64 {
    Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
  }

  static func writeVarint(_ value: UInt64, into writer: inout ByteWriter) {
    var rest = value
    while rest >= 0x80 {
      writer.write(UInt8(truncatingIfNeeded: rest) | 0x80)
      rest >>= 7
    }
    writer.write(UInt8(rest))
  }

  // MARK: Decoding

  static func readVarint(_ reader: inout ByteReader, _ what: String) throws(VaultError) -> UInt64 {
    var value: UInt64 = 0
    for index in 0..<10 {
      let byte = try reader.readUInt8(what)
      let bits = UInt64(byte & 0x7F)
      // The tenth byte may only hold the top bit of 64.
      guard index < 9 || bits <= 1 else { throw reader.corrupt("\(what) overflows 64 bits") }
      value |= bits << (7 * UInt64(index))
      if byte & 0x80 == 0 {
        guard byte != 0 || index == 0 else { throw reader.corrupt("\(what) is not minimal") }
        return value
      }
    }
    throw reader.corrupt("\(what) is longer than 10 bytes")
  }

  /// A length or count that must fit in what is left of the input (each item takes at
  /// least one byte), so a forged count cannot make us allocate.
  private static func readCount(_ reader: inout ByteReader, _ what: String) throws(VaultError)
    -> Int
  {
    let count = try readVarint(&reader, what)
    guard count <= UInt64(reader.remaining) else {
      throw reader.corrupt("\(what) \(count) exceeds the \(reader.remaining) bytes left")
    }
    return Int(count)
  }

  private static func decodeObject(_ reader: inout ByteReader, depth: Int) throws(VaultError)
    -> FieldMap
  {
    guard depth <= maximumDepth else { throw reader.corrupt("fields nest too deep") }
    let count = try readCount(&reader, "field count")
    var entries = [FieldMap.Entry]()
    entries.reserveCapacity(count)
    var previous: UInt64?
    for _ in 0..<count {
      let tag = try readVarint(&reader, "field tag")
      guard tag <= UInt64(UInt16.max), previous.map({ tag > $0 }) ?? true else {
        throw reader.corrupt("field tags must ascend and fit 16 bits (found \(tag))")
      }
      previous = tag
      entries.append(
        FieldMap.Entry(tag: UInt16(tag), value: try decodeValue(&reader, depth: depth)))
    }
    return FieldMap(ascending: entries)
  }

  /// `length` bytes of UTF-8 text, straight from the reader's bytes. Decoding repairs
  /// invalid UTF-8, so text that differs from its bytes was not valid (this is several
  /// times faster than the generic `String(validating:as:)` on a copy of the bytes).
  private static func readText(_ reader: inout ByteReader, _ length: Int, _ what: String)
    throws(VaultError) -> String
  {
    let range = try reader.readRange(length, what)
    let text: String? = reader.bytes.withUnsafeBufferPointer { buffer in
      let bytes = UnsafeBufferPointer(rebasing: buffer[range])
      var text = String(decoding: bytes, as: UTF8.self)
      let unchanged = text.withUTF8 { $0.count == bytes.count && $0.elementsEqual(bytes) }
      return unchanged ? text : nil
    }
    guard let text else { throw reader.corrupt("a \(what) is not UTF-8") }
    return text
  }

  private static func decodeValue(_ reader: inout ByteReader, depth: Int) throws(VaultError)
    -> FieldValue
  {
    let rawKind = try reader.readUInt8("value kind")
    guard let kind = Kind(rawValue: rawKind) else {
      throw reader.corrupt("unknown value kind \(rawKind)")
    }
    switch kind {
    case .string:
      let length = try readCount(&reader, "string length")
      return .string(try readText(&reader, length, "string"))
    case .integer:
      return .integer(unzigzag(try readVarint(&reader, "integer")))
    case .falseValue: return .bool(false)
    case .trueValue: return .bool(true)
    case .money:
      let minorUnits = unzigzag(try readVarint(&reader, "amount"))
      let length = try readCount(&reader, "currency length")
      guard length == 3 else { throw reader.corrupt("a currency code is three letters") }
      return .money(minorUnits: minorUnits, currency: try readText(&reader, length, "currency"))
    case .time:
      let milliseconds = unzigzag(try readVarint(&reader, "time"))
      let offset = unzigzag(try readVarint(&reader, "UTC offset"))
      // Real offsets lie within ±18 hours (checked before narrowing: abs(Int16.min) traps).
      guard (-18 * 60...18 * 60).contains(offset) else {
        throw reader.corrupt("UTC offset \(offset) minutes is impossible")
      }
      return .time(milliseconds: milliseconds, offsetMinutes: Int16(offset))
    case .date:
      let days = unzigzag(try readVarint(&reader, "date"))
      guard let value = Int32(exactly: days) else { throw reader.corrupt("date out of range") }
      return .date(days: value)
    case .bytes:
      let length = try readCount(&reader, "bytes length")
      return .bytes(try reader.readBytes(length, "bytes"))
    case .list:
      guard depth < maximumDepth else { throw reader.corrupt("fields nest too deep") }
      let count = try readCount(&reader, "list length")
      var items = [FieldValue]()
      items.reserveCapacity(count)
      for _ in 0..<count { items.append(try decodeValue(&reader, depth: depth + 1)) }
      return .list(items)
    case .object:
      return .object(try decodeObject(&reader, depth: depth + 1))
    }
  }
}
