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
  public func importJSONLines(
    _ text: String, into collection: RecordCollection, branch: RecordID?, scope: Scope,
    progress: (_ stored: Int, _ total: Int) -> Void = { _, _ in }
  ) throws(VaultError) -> [RecordID] {
    try requireWithin(scope)
    let context = RecordJSON.Context(defaultCurrency: try source.defaultCurrency()) {
      (collection: RecordCollection, name: String) throws(VaultError) -> RecordID in
      // In a handle's transaction, names outside its scope are not found.
      guard let id = try self.id(named: name, in: collection) else {
        throw VaultError(.invalidRecord, "no \(collection.singular) named \"\(name)\"")
      }
      return id
    }
    // First every line is decoded (errors name the line) ...
    var pending = [(line: Int, record: Record)]()
    var renamed = [RecordID: RecordID]()
    var lineNumber = 0
    // Split at LF bytes (a CRLF is one Character to Swift, so not at "\n").
    for bytes in text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false) {
      lineNumber += 1
      let line = String(decoding: bytes.last == 0x0D ? bytes.dropLast() : bytes, as: UTF8.self)
      guard line.contains(where: { !$0.isWhitespace }) else { continue }
      do throws(VaultError) {
        var record = try RecordJSON.decode(JSON.parse(line), as: collection, context: context)
        if record.branch == nil, case .required = collection.schema.branchSource {
          record.branch = branch
        }
        if let id = record.id, try source.body(collection, id.bytes) != nil {
          // Taken: a new id, and the batch's references to it follow.
          let fresh = RecordID.random()
          renamed[id] = fresh
          record.id = fresh
        }
        pending.append((lineNumber, record))
      } catch {
        throw Self.atLine(lineNumber, error)
      }
    }
    // ... then stored, a record after the records of the batch it refers to (a
    // correction after what it corrects), whatever the order of the lines.
    let sameCollection = collection.schema.fields.filter {
      if case .reference(collection) = $0.type { true } else { false }
    }.map(\.tag)
    var position = [RecordID: Int]()
    for (index, item) in pending.enumerated() {
      for tag in sameCollection {
        if case .bytes(let bytes)? = item.record.fields[tag], let old = try? RecordID(bytes: bytes),
          let fresh = renamed[old]
        {
          pending[index].record.fields[tag] = .bytes(fresh.bytes)
        }
      }
      if let id = pending[index].record.id { position[id] = index }
    }
    // One audit entry for the import, with its counts, not one per record.
    let auditedEachWrite = auditsEachWrite
    auditsEachWrite = false
    defer { auditsEachWrite = auditedEachWrite }
    // Depth-first over "refers to" (each record refers to few): linear in the batch.
    var state = [UInt8](repeating: 0, count: pending.count)  // 0 new, 1 visiting, 2 stored
    var ids = [RecordID?](repeating: nil, count: pending.count)
    var storedCount = 0
    for first in pending.indices where state[first] == 0 {
      var stack = [first]
      while let index = stack.last {
        if state[index] == 0 {
          state[index] = 1
          for tag in sameCollection {
            guard case .bytes(let bytes)? = pending[index].record.fields[tag],
              let target = try? RecordID(bytes: bytes), let next = position[target],
              state[next] == 0
            else { continue }
            stack.append(next)  // a cycle meets a visiting record and is not followed
          }
          continue
        }
        stack.removeLast()
        guard state[index] == 1 else { continue }
        state[index] = 2
        do throws(VaultError) {
          ids[index] = try insert(pending[index].record, scope: scope).id
        } catch {
          throw Self.atLine(pending[index].line, error)
        }
        storedCount += 1
        if storedCount % 256 == 0 { progress(storedCount, pending.count) }
      }
    }
    let stored = ids.compactMap { $0 }
    auditsEachWrite = auditedEachWrite
    try audit(
      AuditDraft(
        .recordsImported, actor: try auditActor(), branch: branch,
        detail: (
          branch.map(AuditSubject.branch) ?? .organization,
          [
            "collection": .string(collection.rawValue), "imported": .int(Int64(stored.count)),
            "renamed": .int(Int64(renamed.count)),
          ]
        )))
    return stored
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
