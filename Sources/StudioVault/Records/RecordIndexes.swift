import VaultCore
import VaultFormat

/// The keys of a collection's secondary indexes (FORMAT.md section 19.3), kept in the
/// tree `$index:COLLECTION` in the same transaction as the records. Index keys end
/// with the record id and map to an empty value, except unique names, which map to
/// the id. They hold no names, emails, phones, notes or amounts: search words and
/// names are blinded under the index key; what stays visible to a holder of the vault
/// key is in FORMAT.md section 19.4.
struct RecordIndexes {
  enum Kind: UInt8 {
    case branch = 1
    case reference = 2
    case day = 3
    case choice = 4
    case search = 5
    case uniqueName = 6
    /// A retained financial record (or engagement) of a deleted project, mapped to
    /// the deletion time.
    case deletedProject = 7
    /// An erased record (its key destroyed), mapped to the branch it belonged to.
    case erased = 8
    /// A run of search entries (SearchRuns.swift): the directory of the
    /// `$search:COLLECTION:RUN` trees, which hold what kind 5 held.
    case searchRun = 9
  }

  /// The prefix lengths a word is indexed under: its first 3 characters, and its first
  /// 6 when it has that many. A query word probes the longest of these it covers, and
  /// the candidates are checked against the opened record. Two tokens per word (not
  /// one per prefix) keep index writes, which land at random places, few.
  static let searchPrefixLengths = [3, 6]

  /// The prefixes `word` is indexed under.
  static func searchPrefixes(of word: String) -> [String] {
    searchPrefixLengths.filter { word.count >= $0 }.map { String(word.prefix($0)) }
  }

  /// The prefix a query word probes: the longest indexed prefix it covers.
  static func probe(for word: String) -> String {
    let length = searchPrefixLengths.last { word.count >= $0 } ?? searchPrefixLengths[0]
    return String(word.prefix(length))
  }
  /// The branch bytes of records that have none.
  static let noBranch = [UInt8](repeating: 0, count: 16)

  let blind: BlindIndex
  /// The largest sealed record a day entry copies: one whose entry still fits inline in
  /// a leaf (a larger copy would cost an overflow chain per row, no better than the
  /// record itself). Larger records get an empty value and are read from their tree.
  let coveringLimit: Int

  init(blind: BlindIndex, pageSize: Int) {
    self.blind = blind
    let dayKeyLength = 1 + 16 + 4 + 16
    coveringLimit =
      LeafPage.maximumInlineCellSize(pageSize: pageSize)
      - LeafPage.inlineCellSize(keyLength: dayKeyLength, valueLength: 0)
  }

  /// What a covering entry holds for a record stored as `sealed`.
  func coveringValue(_ sealed: [UInt8]) -> [UInt8] { sealed.count <= coveringLimit ? sealed : [] }

  static func treeName(_ collection: RecordCollection) -> String { "$index:\(collection)" }

  /// The index entries of `record`: plain keys, and unique-name keys with their value.
  func entries(of record: Record) throws(VaultError) -> (keys: Set<[UInt8]>, names: [[UInt8]]) {
    guard let id = record.id?.bytes else {
      throw VaultError(.internal, "indexing a record without id")
    }
    let schema = record.schema
    let branch = record.branch?.bytes ?? Self.noBranch
    var keys = Set<[UInt8]>(minimumCapacity: 32)
    var names = [[UInt8]]()
    for index in schema.indexes {
      switch index {
      case .branch:
        if let recordBranch = record.branch {
          keys.insert([Kind.branch.rawValue] + recordBranch.bytes + id)
        }
      case .reference(let field):
        let tag = try schema.tag(field)
        if case .bytes(let target)? = record.fields[tag] {
          keys.insert(Self.referencePrefix(tag: tag, target: target) + id)
        }
      case .day(let list, let field):
        for day in try Self.days(of: record, list: list, field: field) {
          keys.insert(Self.dayPrefix(branch: branch) + Self.dayBytes(day) + id)
        }
      case .choice(let field):
        let tag = try schema.tag(field)
        if case .string(let name)? = record.fields[tag],
          let position = Self.choicePosition(schema, tag: tag, name: name)
        {
          keys.insert(Self.choicePrefix(tag: tag, branch: branch) + [position] + id)
        }
      case .search(let nameFields, let emailFields, let phoneFields):
        let label = BlindIndex.labelPrefix(Self.searchLabel(record.collection, branch: branch))
        // Words shorter than 3 characters are never searched for (queries refuse
        // them): searchPrefixes gives them none.
        for word in try Self.searchWords(
          of: record, names: nameFields, emails: emailFields, phones: phoneFields)
        {
          for prefix in Self.searchPrefixes(of: word) {
            var key = [Kind.search.rawValue]
            key.reserveCapacity(1 + 16 + id.count)
            key += blind.token(prefix, labelPrefix: label)
            key += id
            keys.insert(key)
          }
        }
      case .uniqueName(let field):
        if let name = record.text(field) {
          names.append(uniqueNameKey(record.collection, field: try schema.tag(field), name: name))
        }
      }
    }
    return (keys, names)
  }

  // MARK: Key layouts

  static func referencePrefix(tag: UInt16, target: [UInt8]) -> [UInt8] {
    [Kind.reference.rawValue, UInt8(tag >> 8), UInt8(tag & 0xFF)] + target
  }

  static func dayPrefix(branch: [UInt8]) -> [UInt8] { [Kind.day.rawValue] + branch }

  /// A day as 4 big-endian bytes, offset by 2^31 so that byte order is day order.
  static func dayBytes(_ day: Int32) -> [UInt8] {
    let biased = UInt32(bitPattern: day) ^ 0x8000_0000
    return [
      UInt8(biased >> 24), UInt8(biased >> 16 & 0xFF), UInt8(biased >> 8 & 0xFF),
      UInt8(biased & 0xFF),
    ]
  }

  static func choicePrefix(tag: UInt16, branch: [UInt8]) -> [UInt8] {
    [Kind.choice.rawValue, UInt8(tag >> 8), UInt8(tag & 0xFF)] + branch
  }

  static func choicePosition(_ schema: CollectionSchema, tag: UInt16, name: String) -> UInt8? {
    guard let spec = schema.fields.first(where: { $0.tag == tag }),
      case .choice(let names) = spec.type,
      let position = names.firstIndex(of: name)
    else { return nil }
    return UInt8(truncatingIfNeeded: position)
  }

  /// Search keys of one branch: the branch is mixed into the blinding too, so equal
  /// words in two branches give unrelated tokens.
  /// The key prefix of one branch's entries for `word`. The branch is in the label,
  /// not the key: tokens of two branches differ, and keys stay short.
  func searchPrefix(_ collection: RecordCollection, branch: [UInt8], word: String) -> [UInt8] {
    searchPrefix(label: Self.searchLabel(collection, branch: branch), word: word)
  }

  func searchPrefix(label: String, word: String) -> [UInt8] {
    [Kind.search.rawValue] + blind.token(word, label: label)
  }

  /// The blinding label of one branch's search tokens.
  static func searchLabel(_ collection: RecordCollection, branch: [UInt8]) -> String {
    "\(collection).search." + Hex.encode(branch)
  }

  func uniqueNameKey(_ collection: RecordCollection, field tag: UInt16, name: String) -> [UInt8] {
    let folded = SearchTokens.fold(name).split(whereSeparator: \.isWhitespace).joined(
      separator: " ")
    return [Kind.uniqueName.rawValue, UInt8(tag >> 8), UInt8(tag & 0xFF)]
      + blind.token(folded, label: "\(collection).name")
  }

  /// Whether entries under `key` hold a copy of the record's sealed bytes (day
  /// entries: a date range then reads consecutive index pages, not one random record
  /// page per row).
  static func isCovering(_ key: [UInt8]) -> Bool { key.first == Kind.day.rawValue }

  /// The collections whose records a project deletion keeps and marks (kind 7).
  static let retainedByDeletion: Set<RecordCollection> = [
    .contracts, .engagements, .invoices, .payments, .refunds, .disputes,
  ]

  static func deletedProjectKey(_ id: [UInt8]) -> [UInt8] { [Kind.deletedProject.rawValue] + id }

  static func erasedKey(_ id: [UInt8]) -> [UInt8] { [Kind.erased.rawValue] + id }

  /// A time as an index value: i64 milliseconds, then i16 offset minutes (both
  /// little-endian, like every number in the format).
  static func encodeTime(_ time: Timestamp) -> [UInt8] {
    var writer = ByteWriter()
    writer.write(UInt64(bitPattern: time.milliseconds))
    writer.write(UInt16(bitPattern: time.offsetMinutes))
    return writer.bytes
  }

  static func decodeTime(_ bytes: [UInt8]) throws(VaultError) -> Timestamp {
    var reader = ByteReader(bytes, page: 0)
    let milliseconds = Int64(bitPattern: try reader.readUInt64("deletion time"))
    let offset = Int16(bitPattern: try reader.readUInt16("deletion offset"))
    return Timestamp(milliseconds: milliseconds, offsetMinutes: offset)
  }

  // MARK: What records contribute

  /// The local days of every `field` time in the list `list`.
  static func days(of record: Record, list: String, field: String) throws(VaultError) -> Set<Int32>
  {
    let schema = record.schema
    guard let listSpec = schema.field(list), case .list(.object(let itemSpecs), _) = listSpec.type,
      let itemTag = itemSpecs.first(where: { $0.name == field })?.tag
    else { throw VaultError(.internal, "\(record.collection) has no time list \(list).\(field)") }
    var days = Set<Int32>()
    if case .list(let items)? = record.fields[listSpec.tag] {
      for item in items {
        if case .object(let fields) = item,
          case .time(let milliseconds, let offset)? = fields[itemTag]
        {
          days.insert(CivilTime.localDay(milliseconds: milliseconds, offsetMinutes: offset))
        }
      }
    }
    return days
  }

  /// The folded search words of a record's name, email and phone fields.
  static func searchWords(of record: Record, names: [String], emails: [String], phones: [String])
    throws(VaultError) -> Set<String>
  {
    var words = Set<String>()
    func texts(_ field: String) throws(VaultError) -> [String] {
      switch record.fields[try record.schema.tag(field)] {
      case .string(let text)?: return [text]
      case .list(let items)?:
        return items.compactMap { if case .string(let text) = $0 { text } else { nil } }
      default: return []
      }
    }
    for field in names {
      for text in try texts(field) { words.formUnion(SearchTokens.words(ofName: text)) }
    }
    for field in emails {
      for text in try texts(field) { words.formUnion(SearchTokens.words(ofEmail: text)) }
    }
    for field in phones {
      for text in try texts(field) { words.formUnion(SearchTokens.words(ofPhone: text)) }
    }
    return words
  }
}
