import VaultCore
import VaultFormat

extension RecordTransaction {
  /// Imports JSON lines (../shared/spec/records-json.md) into `collection`, all or
  /// nothing: the first bad line throws, and the caller's transaction (this one) then
  /// commits nothing. Blank lines are skipped. A record without a branch takes
  /// `branch`; a given id is kept when free, else the record gets a new one.
  ///
  /// - Returns: the ids of the new records, in line order.
  /// - Throws: the record's error, its message prefixed with `line N: `.
  @_spi(Engine) public func importJSONLines(
    _ text: String, into collection: RecordCollection, branch: RecordID?, scope: Scope
  ) throws(VaultError) -> [RecordID] {
    let context = RecordJSON.Context(defaultCurrency: try source.defaultCurrency()) {
      (collection: RecordCollection, name: String) throws(VaultError) -> RecordID in
      guard let id = try self.source.id(named: name, in: collection) else {
        throw VaultError(.invalidRecord, "no \(collection.singular) named \"\(name)\"")
      }
      return id
    }
    // First every line is decoded (errors name the line) ...
    var pending = [(line: Int, record: Record)]()
    var lineNumber = 0
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      lineNumber += 1
      guard line.contains(where: { !$0.isWhitespace }) else { continue }
      do throws(VaultError) {
        var record = try RecordJSON.decode(
          JSON.parse(String(line)), as: collection, context: context)
        if record.branch == nil, case .required = collection.schema.branchSource {
          record.branch = branch
        }
        if let id = record.id, try source.body(collection, id.bytes) != nil { record.id = nil }
        pending.append((lineNumber, record))
      } catch {
        throw Self.atLine(lineNumber, error)
      }
    }
    // ... then stored, a record after those of the batch it refers to (a correction
    // after what it corrects), whatever the order of the lines.
    let batchIDs = Set(pending.compactMap { $0.record.id })
    let sameCollection = collection.schema.fields.filter {
      if case .reference(collection) = $0.type { true } else { false }
    }.map(\.tag)
    var stored = Set<RecordID>()
    var ids = [RecordID?](repeating: nil, count: pending.count)
    func store(_ index: Int) throws(VaultError) {
      do throws(VaultError) {
        let id = try insert(pending[index].record, scope: scope).id
        ids[index] = id
        if let id { stored.insert(id) }
      } catch {
        throw Self.atLine(pending[index].line, error)
      }
    }
    while let firstLeft = ids.firstIndex(of: nil) {
      var progressed = false
      for index in firstLeft..<pending.count where ids[index] == nil {
        let waitsFor = sameCollection.compactMap { tag -> RecordID? in
          guard case .bytes(let bytes)? = pending[index].record.fields[tag] else { return nil }
          return try? RecordID(bytes: bytes)
        }.filter { batchIDs.contains($0) && !stored.contains($0) }
        guard waitsFor.isEmpty else { continue }
        try store(index)
        progressed = true
      }
      // A cycle: the first record left goes anyway, and fails naming its line.
      if !progressed { try store(firstLeft) }
    }
    return ids.compactMap { $0 }
  }

  private static func atLine(_ line: Int, _ error: VaultError) -> VaultError {
    var located = error
    located.message = "line \(line): \(error.message)"
    return located
  }
}

extension Record {
  /// The record as a JSON object (../shared/spec/records-json.md), one line of an
  /// export.
  package var json: JSON { RecordJSON.encode(self) }
}
