import VaultCore
import VaultFormat
import VaultStorage

/// Which records a caller may reach: the whole organization, or one branch. Every
/// query and write takes one; the access layer derives it from the caller's
/// capability.
public enum Scope: Sendable, Hashable, CustomStringConvertible {
  case organization
  case branch(RecordID)

  /// Whether `record` lies inside this scope. A branch sees its own records, its own
  /// branch record, its own users and the organization's settings.
  public func contains(_ record: Record) -> Bool {
    switch self {
    case .organization: return true
    case .branch(let branch):
      switch record.collection {
      case .settings: return true
      case .branches: return record.id == branch
      default: return record.branch == branch
      }
    }
  }

  public var description: String {
    switch self {
    case .organization: "organization"
    case .branch(let branch): "branch \(branch)"
    }
  }
}

/// Which records a list returns (inside the caller's scope).
public enum RecordFilter: Sendable, Hashable {
  case all
  /// Records of one branch.
  case branch(RecordID)
  /// Records whose reference field `field` names `target` (a client's projects, a
  /// project's invoices).
  case reference(field: String, RecordID)
  /// Projects with a session on a day in the range (local day of the session start).
  case days(ClosedRange<Day>)
  /// Records whose choice field `field` is `value` (invoices by status).
  case choice(field: String, String)
}

/// One page of a list: the records, and the cursor that continues after them (nil at
/// the end).
public struct RecordPage: Sendable {
  public var records: [Record]
  public var nextCursor: String?
}

/// What reading needs of a write transaction or a snapshot: opened record bodies and
/// ordered scans of record and index trees.
protocol RecordSource {
  var indexes: RecordIndexes { get }
  /// The opened body of record `id`, or nil.
  func body(_ collection: RecordCollection, _ id: [UInt8]) throws(VaultError) -> [UInt8]?
  /// Keys and values of `collection`'s index tree in `start ..< end`.
  func scanIndex(
    _ collection: RecordCollection, from start: [UInt8], to end: [UInt8]?,
    _ body: ([UInt8], [UInt8]) throws(VaultError) -> Bool) throws(VaultError)
  /// The search runs of `collection` (FORMAT.md 19.3, kind 9), ascending.
  func searchRuns(_ collection: RecordCollection) throws(VaultError) -> [UInt64]
  /// Keys (`token ‖ id`) of search run `run` of `collection` in `start ..< end`, at
  /// most `limit`.
  func searchRunKeys(
    _ collection: RecordCollection, run: UInt64, from start: [UInt8], to end: [UInt8]?,
    limit: Int
  ) throws(VaultError) -> [[UInt8]]
  /// Keys (record ids) of `collection`'s record tree from `start` on.
  func scanIDs(
    _ collection: RecordCollection, from start: [UInt8]?,
    _ body: ([UInt8]) throws(VaultError) -> Bool) throws(VaultError)
  /// One index entry's value.
  func indexValue(_ collection: RecordCollection, _ key: [UInt8]) throws(VaultError) -> [UInt8]?
  /// The organization's currency, when set (a snapshot reads it once).
  func defaultCurrency() throws(VaultError) -> Currency?
  /// Record `id` opened from `sealed`, a copy of its stored bytes an index keeps.
  func open(_ collection: RecordCollection, _ id: [UInt8], sealed: [UInt8]) throws(VaultError)
    -> [UInt8]
}

/// The settings record's id: all zero bits.
let settingsID = RecordID.allZero

extension RecordSource {
  // MARK: Point reads

  /// Record `id` of `collection` if it exists and lies in `scope`.
  ///
  /// - Throws: `.erased` for a record whose key was destroyed.
  func get(_ collection: RecordCollection, _ id: RecordID, scope: Scope) throws(VaultError)
    -> Record?
  {
    let loaded: Record?
    do throws(VaultError) {
      loaded = try load(collection, id.bytes)
    } catch  where error.code == .erased {
      // Erased: only a caller whose scope held the record learns that it was.
      // Fails closed: without a mark naming the caller's branch, nothing is said.
      if case .branch(let branch) = scope,
        try indexValue(collection, RecordIndexes.erasedKey(id.bytes)) != branch.bytes
      {
        return nil
      }
      throw error
    }
    guard let record = loaded, scope.contains(record) else { return nil }
    return try decorated(record)
  }

  /// A record as stored, without scope check or derived fields.
  func load(_ collection: RecordCollection, _ id: [UInt8]) throws(VaultError) -> Record? {
    guard let body = try body(collection, id) else { return nil }
    return try Record.decode(body, collection: collection, id: try RecordID(bytes: id))
  }

  /// The organization's settings.
  func settings() throws(VaultError) -> Record {
    try load(.settings, settingsID.bytes) ?? Record(.settings, id: settingsID)
  }

  /// The organization's currency, when set, read from the settings record.
  func currencyFromSettings() throws(VaultError) -> Currency? {
    guard let code = try settings().text("currency") else { return nil }
    return try Currency(code)
  }

  /// The id of the branch or user named `name` (case- and accent-insensitive).
  func id(named name: String, in collection: RecordCollection) throws(VaultError) -> RecordID? {
    let schema = collection.schema
    for case .uniqueName(let field) in schema.indexes {
      let key = indexes.uniqueNameKey(collection, field: try schema.tag(field), name: name)
      guard let value = try indexValue(collection, key) else { return nil }
      return try RecordID(bytes: value)
    }
    return nil
  }

  /// Adds the derived fields, which cost index scans and so are computed only when
  /// asked for: a client's lifetime value.
  func withDerivedFields(_ record: Record, scope: Scope) throws(VaultError) -> Record {
    var record = record
    guard record.collection == .clients, let id = record.id,
      try get(.clients, id, scope: scope) != nil
    else { return record }
    // An amount too large to sum leaves the value out rather than failing the read.
    let value = try? lifetimeValue(ofClient: id)
    record["lifetimeValue"] = value.flatMap { $0 }.map {
      .money(minorUnits: $0.minorUnits, currency: $0.currency.code)
    }
    return record
  }

  /// Adds what every read shows: a retained financial record's mark when its project
  /// was deleted.
  func decorated(_ record: Record) throws(VaultError) -> Record {
    var record = record
    guard let id = record.id else { return record }
    if RecordIndexes.retainedByDeletion.contains(record.collection),
      let marked = try indexValue(record.collection, RecordIndexes.deletedProjectKey(id.bytes))
    {
      record.deletedAt = try? RecordIndexes.decodeTime(marked)
    }
    return record
  }

  // MARK: Lists

  /// A page of `collection`'s records in `scope` that `filter` selects, after
  /// `cursor` (from a previous page), at most `limit`.
  func list(
    _ collection: RecordCollection, scope: Scope, filter: RecordFilter = .all,
    after cursor: String? = nil, limit: Int = 100
  ) throws(VaultError) -> RecordPage {
    let schema = collection.schema
    let start = try cursor.map { (text) throws(VaultError) in try Self.decodeCursor(text) }
    guard limit > 0 else { throw VaultError(.invalidArgument, "a page holds at least one record") }
    switch filter {
    case .all:
      if case .branch(let branch) = scope,
        schema.indexes.contains(where: { if case .branch = $0 { true } else { false } })
      {
        return try pagedIndexScan(
          collection,
          ranges: [Self.prefixRange([RecordIndexes.Kind.branch.rawValue] + branch.bytes)],
          after: start, limit: limit, scope: scope
        ) { _, _ in true }
      }
      return try pagedIDScan(collection, after: start, limit: limit, scope: scope)
    case .branch(let branch):
      guard scope == .organization || scope == .branch(branch) else {
        throw VaultError(.invalidArgument, "branch \(branch) is outside this scope (\(scope))")
      }
      guard schema.indexes.contains(where: { if case .branch = $0 { true } else { false } }) else {
        throw VaultError(.invalidArgument, "\(collection) are not listed by branch")
      }
      return try pagedIndexScan(
        collection, ranges: [Self.prefixRange([RecordIndexes.Kind.branch.rawValue] + branch.bytes)],
        after: start, limit: limit, scope: scope
      ) { _, _ in true }
    case .reference(let field, let target):
      guard
        schema.indexes.contains(where: { if case .reference(field) = $0 { true } else { false } })
      else {
        throw VaultError(.invalidArgument, "\(collection) are not listed by \(field)")
      }
      let tag = try schema.tag(field)
      return try pagedIndexScan(
        collection,
        ranges: [Self.prefixRange(RecordIndexes.referencePrefix(tag: tag, target: target.bytes))],
        after: start, limit: limit, scope: scope
      ) { _, _ in true }
    case .days(let days):
      guard
        let (list, field) = schema.indexes.lazy.compactMap({ index -> (String, String)? in
          if case .day(let list, let field) = index { (list, field) } else { nil }
        }).first
      else {
        throw VaultError(.invalidArgument, "\(collection) are not listed by date")
      }
      let ranges = try branches(in: scope).map { branch in
        (
          RecordIndexes.dayPrefix(branch: branch)
            + RecordIndexes.dayBytes(days.lowerBound.daysSince1970),
          RecordIndexes.dayPrefix(branch: branch)
            + RecordIndexes.dayBytes(days.upperBound.daysSince1970)
            + [UInt8](repeating: 0xFF, count: 17)
        )
      }
      return try pagedIndexScan(
        collection, ranges: ranges, after: start, limit: limit, scope: scope
      ) { (record: Record, key: [UInt8]) throws(VaultError) -> Bool in
        // A project with several sessions in the range is listed once, at its first.
        guard key.count == 37 else {
          throw VaultError(.corrupt, "a day index key of \(collection) has the wrong length")
        }
        let keyDay = Array(key[17..<21])
        let first = try RecordIndexes.days(of: record, list: list, field: field).filter {
          days.contains(Day(daysSince1970: $0))
        }.min()
        return first.map(RecordIndexes.dayBytes) == keyDay
      }
    case .choice(let field, let value):
      let tag = try schema.tag(field)
      guard schema.indexes.contains(where: { if case .choice(field) = $0 { true } else { false } }),
        let position = RecordIndexes.choicePosition(schema, tag: tag, name: value)
      else {
        throw VaultError(.invalidArgument, "\(collection) are not listed by \(field) \"\(value)\"")
      }
      let ranges = try branches(in: scope).map { branch in
        Self.prefixRange(RecordIndexes.choicePrefix(tag: tag, branch: branch) + [position])
      }
      return try pagedIndexScan(
        collection, ranges: ranges, after: start, limit: limit, scope: scope
      ) { _, _ in true }
    }
  }

  /// A page of the records of `collection` matching the search `text` in `scope`:
  /// every word of it must begin a word of the record's name, email or phone digits
  /// (case- and accent-insensitive).
  func search(
    _ collection: RecordCollection, _ text: String, scope: Scope, after cursor: String? = nil,
    limit: Int = 100
  ) throws(VaultError) -> RecordPage {
    let schema = collection.schema
    guard
      let (names, emails, phones) = schema.indexes.lazy.compactMap({
        index -> ([String], [String], [String])? in
        if case .search(let names, let emails, let phones) = index {
          (names, emails, phones)
        } else {
          nil
        }
      }).first
    else {
      throw VaultError(.invalidArgument, "\(collection) cannot be searched")
    }
    let words = try SearchTokens.queryWords(text)
    // The longest word narrows the most; every word is checked on the opened record.
    let probe = RecordIndexes.probe(for: words.max { $0.count < $1.count } ?? words[0])
    let start = try cursor.map { (text) throws(VaultError) in try Self.decodeCursor(text) }
    // One range per branch, in key order (the cursor is a key).
    let ranges = try branches(in: scope).map { branch in
      Self.prefixRange(indexes.searchPrefix(collection, branch: branch, word: probe))
    }.sorted { Self.less($0.0, $1.0) }
    return try pagedIndexScan(
      collection, ranges: ranges, after: start, limit: limit, scope: scope, searchEntries: true
    ) { (record: Record, _: [UInt8]) throws(VaultError) -> Bool in
      let recordWords = try RecordIndexes.searchWords(
        of: record, names: names, emails: emails, phones: phones)
      return words.allSatisfy { word in recordWords.contains { $0.hasPrefix(word) } }
    }
  }

  /// Every branch id in `scope`, in byte order.
  func branches(in scope: Scope) throws(VaultError) -> [[UInt8]] {
    if case .branch(let branch) = scope { return [branch.bytes] }
    var ids = [[UInt8]]()
    try scanIDs(.branches, from: nil) { id in
      ids.append(id)
      return true
    }
    return ids
  }

  // MARK: Paging

  /// Walks index key ranges (sorted, disjoint) from after `cursor`, opening each
  /// record and keeping those in scope that `accept` takes, until `limit`.
  ///
  /// - Parameter searchEntries: the ranges hold search entries, which are read from
  ///   the index tree and every search run (``scanSearchEntries(_:from:to:_:)``).
  private func pagedIndexScan(
    _ collection: RecordCollection, ranges: [([UInt8], [UInt8])], after cursor: [UInt8]?,
    limit: Int, scope: Scope, searchEntries: Bool = false,
    accept: (Record, [UInt8]) throws(VaultError) -> Bool
  ) throws(VaultError) -> RecordPage {
    var page = RecordPage(records: [], nextCursor: nil)
    for (rangeStart, rangeEnd) in ranges {
      if let cursor, !Self.less(cursor, rangeEnd) { continue }
      let from = cursor.map { Self.less(rangeStart, $0) ? $0 + [0] : rangeStart } ?? rangeStart
      var full = false
      var failure: VaultError?
      func scan(_ body: ([UInt8], [UInt8]) throws(VaultError) -> Bool) throws(VaultError) {
        if searchEntries {
          try scanSearchEntries(collection, from: from, to: rangeEnd) { key throws(VaultError) in
            try body(key, [])
          }
        } else {
          try scanIndex(collection, from: from, to: rangeEnd, body)
        }
      }
      try scan { key, value throws(VaultError) in
        guard key.count >= 16 else {
          throw VaultError(.corrupt, "an index key of \(collection) is too short")
        }
        let id = Array(key[(key.count - 16)...])
        // A day entry carries the record's sealed bytes: no lookup in the record tree.
        let found: Record?
        if value.isEmpty {
          found = try load(collection, id)
        } else {
          found = try Record.decode(
            open(collection, id, sealed: value), collection: collection, id: try RecordID(bytes: id)
          )
        }
        guard let record = found else {
          failure = VaultError(.corrupt, "an index entry of \(collection) names a missing record")
          return false
        }
        guard scope.contains(record), try accept(record, key), !Self.isHidden(record) else {
          return true
        }
        page.records.append(try decorated(record))
        if page.records.count == limit {
          page.nextCursor = Self.encodeCursor(key)
          full = true
          return false
        }
        return true
      }
      if let failure { throw failure }
      if full { break }
    }
    return page
  }

  /// Walks a record tree in id order from after `cursor`.
  private func pagedIDScan(
    _ collection: RecordCollection, after cursor: [UInt8]?, limit: Int, scope: Scope
  ) throws(VaultError) -> RecordPage {
    var page = RecordPage(records: [], nextCursor: nil)
    try scanIDs(collection, from: cursor.map { $0 + [0] }) { id throws(VaultError) in
      let loaded: Record?
      do throws(VaultError) {
        loaded = try load(collection, id)
      } catch  where error.code == .erased {
        return true  // an erased client: nothing of it is left to list
      }
      guard let record = loaded, scope.contains(record), !Self.isHidden(record) else { return true }
      page.records.append(try decorated(record))
      if page.records.count == limit {
        page.nextCursor = Self.encodeCursor(id)
        return false
      }
      return true
    }
    return page
  }

  /// Deleted projects stay for their financial records' sake, but lists leave them out.
  static func isHidden(_ record: Record) -> Bool {
    record.collection == .projects && record.deletedAt != nil
  }

  static func prefixRange(_ prefix: [UInt8]) -> ([UInt8], [UInt8]) {
    (prefix, prefix + [UInt8](repeating: 0xFF, count: 33))
  }

  static func less(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool { KeyOrder.less(lhs, rhs) }

  static func encodeCursor(_ key: [UInt8]) -> String { Hex.encode(key) }

  static func decodeCursor(_ text: String) throws(VaultError) -> [UInt8] {
    guard text.count <= 2 * 64, let bytes = Hex.decode(text) else {
      throw VaultError(.invalidArgument, "not a cursor of this list")
    }
    return bytes
  }

  // MARK: Money derived from financial records

  /// What a client has paid: payments (each replaced by its correction, if any) of the
  /// invoices of the client's projects, less executed refunds, in the organization's
  /// currency (amounts in other currencies are not summed; nil without a currency).
  func lifetimeValue(ofClient client: RecordID) throws(VaultError) -> Money? {
    guard let currency = try defaultCurrency() else { return nil }
    var total = Money.zero(currency)
    for project in try referencing(.projects, field: "client", client) {
      for invoice in try referencing(.invoices, field: "project", project) {
        for payment in try referencing(.payments, field: "invoice", invoice) {
          guard try referencing(.payments, field: "corrects", payment).isEmpty,
            let record = try load(.payments, payment.bytes), let amount = record.money("amount"),
            amount.currency == currency
          else { continue }
          total = try total.adding(amount)
          for refund in try referencing(.refunds, field: "payment", payment) {
            if let refunded = try load(.refunds, refund.bytes),
              refunded.text("state") == "executed",
              let amount = refunded.money("amount"), amount.currency == currency
            {
              total = try total.subtracting(amount)
            }
          }
        }
      }
    }
    return total
  }

  /// Ids of the records of `collection` whose `field` references `target`.
  func referencing(_ collection: RecordCollection, field: String, _ target: RecordID)
    throws(VaultError) -> [RecordID]
  {
    let (start, end) = Self.prefixRange(
      RecordIndexes.referencePrefix(tag: try collection.schema.tag(field), target: target.bytes))
    var ids = [RecordID]()
    try scanIndex(collection, from: start, to: end) { key, _ throws(VaultError) in
      ids.append(try RecordID(bytes: Array(key.suffix(16))))
      return true
    }
    return ids
  }
}
