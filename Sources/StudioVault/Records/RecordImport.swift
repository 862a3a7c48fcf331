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
    var ids = [RecordID]()
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
        ids.append(try insert(record, scope: scope).id ?? RecordID.random())
      } catch {
        var located = error
        located.message = "line \(lineNumber): \(error.message)"
        throw located
      }
    }
    return ids
  }
}

extension Record {
  /// The record as a JSON object (../shared/spec/records-json.md), one line of an
  /// export.
  package var json: JSON { RecordJSON.encode(self) }
}
