import VaultCore
import VaultFormat

extension RecordStore {
  /// Recomputes every index from the records and compares it with the stored index
  /// trees: an entry missing, an entry no record accounts for, a unique name mapping
  /// to the wrong record.
  ///
  /// - Returns: one line per problem (empty when every index agrees with the records).
  @_spi(Engine) public func indexProblems() throws(VaultError) -> [String] {
    try read { snapshot throws(VaultError) in
      let source = snapshot.source
      var problems = [String]()
      for collection in RecordCollection.allCases {
        var expected = Set<[UInt8]>()
        var names = [[UInt8]: [UInt8]]()
        var records = Set<[UInt8]>()
        try source.scanIDs(collection, from: nil) { id throws(VaultError) in
          records.insert(id)
          let loaded: Record?
          do throws(VaultError) {
            loaded = try source.load(collection, id)
          } catch  where error.code == .erased {
            // An erased client keeps no index entry but its erasure mark.
            if try source.indexValue(collection, RecordIndexes.erasedKey(id)) == nil {
              problems.append("\(collection): an erased record without its erasure mark")
            }
            return true
          }
          guard let record = loaded else { return true }
          let entries = try source.indexes.entries(of: record)
          expected.formUnion(entries.keys)
          for name in entries.names { names[name] = id }
          return true
        }
        var found = Set<[UInt8]>()
        try source.scanIndex(collection, from: [], to: nil) { key, value throws(VaultError) in
          switch key.first.flatMap(RecordIndexes.Kind.init(rawValue:)) {
          case .uniqueName?:
            if names[key] != value {
              problems.append("\(collection): a unique name maps to the wrong record")
            }
            names[key] = nil
          case .searchRun?:
            // The run's entries are checked below, with the index tree's own.
            _ = try SearchRuns.run(fromDirectoryKey: key)
            if !value.isEmpty {
              problems.append("\(collection): a search-run entry has an unexpected value")
            }
          case .deletedProject?, .erased?:
            if !records.contains(Array(key.dropFirst())) {
              problems.append("\(collection): a mark of a missing record")
            }
          default:
            found.insert(key)
            // A covering entry holds exactly the record's stored bytes.
            if RecordIndexes.isCovering(key) {
              let stored = try source.sealed.storedBytes(
                of: Array(key.suffix(16)), in: collection.rawValue)
              if stored.map({ source.indexes.coveringValue($0.record) }) != value {
                problems.append("\(collection): a day entry holds a stale copy of its record")
              }
            } else if !value.isEmpty {
              problems.append("\(collection): an index entry has an unexpected value")
            }
          }
          return true
        }
        // Search entries in runs count as the kind-5 entries they replace; an entry
        // stored twice (in two runs, or a run and the index tree) is a problem too.
        var doubled = 0
        let runs = try source.searchRuns(collection)
        // A run tree the directory does not list would escape searches and erasures.
        let listed = Set(runs.map { SearchRuns.treeName(collection, run: $0) })
        let unlisted = try source.sealed.snapshot.allTreeNames().filter {
          $0.hasPrefix("$search:\(collection.rawValue):") && !listed.contains($0)
        }
        if !unlisted.isEmpty {
          problems.append("\(collection): \(unlisted.count) search runs are not listed")
        }
        for run in runs {
          guard
            try source.sealed.snapshot.anyTree(named: SearchRuns.treeName(collection, run: run))
              != nil
          else {
            problems.append("\(collection): search run \(run) is listed but missing")
            continue
          }
          var position = [UInt8]()
          while true {
            let keys = try source.searchRunKeys(
              collection, run: run, from: position, to: nil, limit: 1024)
            for key in keys {
              // `found` then holds a malformed key as a stray entry.
              if !found.insert([RecordIndexes.Kind.search.rawValue] + key).inserted { doubled += 1 }
            }
            guard keys.count == 1024, let last = keys.last else { break }
            position = last + [0]
          }
        }
        if doubled > 0 { problems.append("\(collection): \(doubled) search entries stored twice") }
        let missing = expected.subtracting(found).count
        let stray = found.subtracting(expected).count
        if missing > 0 { problems.append("\(collection): \(missing) index entries missing") }
        if stray > 0 { problems.append("\(collection): \(stray) index entries match no record") }
        if !names.isEmpty { problems.append("\(collection): \(names.count) unique names missing") }
      }
      return problems
    }
  }
}
