import VaultCore
import VaultFormat
import VaultStorage

/// Search entries stored in sorted runs (FORMAT.md 19.3, kind 9).
///
/// A client gives a dozen search entries whose blinded tokens land at random places
/// in key order. Inserted into one index tree, a transaction of 1,000 clients touched
/// most of that tree's leaves and rewrote them (about 3 pages per client, ten times
/// the record itself). Instead, a transaction writes its new entries, sorted, into a
/// tree of their own (a *run*: packed pages appended at the right edge), and runs of
/// the same size class are merged once ``fanIn`` of them exist, so an entry is
/// rewritten O(log n) times, always sequentially. Searches probe every run (a few
/// dozen at most); SQLite's FTS5 and LSM trees make the same trade.
///
/// A run is the tree `$search:COLLECTION:RUN` (RUN: 16 lowercase hex digits) holding
/// keys `token ‖ id` with empty values; the index tree lists the runs under
/// `09 ‖ run (u64 big-endian)`.
enum SearchRuns {
  /// Runs of one size class merged into one when this many exist.
  static let fanIn = 4

  static func treeName(_ collection: RecordCollection, run: UInt64) -> String {
    let digits = String(run, radix: 16)
    return "$search:\(collection.rawValue):"
      + String(repeating: "0", count: 16 - digits.count) + digits
  }

  static func directoryKey(_ run: UInt64) -> [UInt8] {
    [RecordIndexes.Kind.searchRun.rawValue] + withUnsafeBytes(of: run.bigEndian) { Array($0) }
  }

  /// The index keys of the run directory: `start ..< end`.
  static let directoryRange: (start: [UInt8], end: [UInt8]) = (
    [RecordIndexes.Kind.searchRun.rawValue], [RecordIndexes.Kind.searchRun.rawValue + 1]
  )

  /// The run a directory key names.
  static func run(fromDirectoryKey key: [UInt8]) throws(VaultError) -> UInt64 {
    guard key.count == 9 else {
      throw VaultError(.corrupt, "a search-run directory key is \(key.count) bytes, not 9")
    }
    return key.dropFirst().reduce(0) { $0 << 8 | UInt64($1) }
  }

  /// The runs `index` (a collection's index tree, if it has one) lists, ascending.
  static func runs(listedIn index: (some ScannableTree)?) throws(VaultError) -> [UInt64] {
    var runs = [UInt64]()
    try index?.scanTyped(from: directoryRange.start, to: directoryRange.end) {
      key, _ throws(VaultError) in
      runs.append(try run(fromDirectoryKey: key))
      return true
    }
    return runs
  }

  /// Runs whose sizes share a class (powers of ``fanIn``) are merged together:
  /// 0–3 entries are class 0, 4–15 class 1, 16–63 class 2, …
  static func sizeClass(_ count: UInt64) -> Int {
    count < 4 ? 0 : (UInt64.bitWidth - 1 - count.leadingZeroBitCount) / 2
  }

  /// The run keys (`token ‖ id`) of search entries `entries` (`05 ‖ token ‖ id`),
  /// sorted, each once.
  static func runKeys(_ entries: [[UInt8]]) -> [[UInt8]] {
    // Every search entry is 33 bytes: sorting them as four big-endian words is several
    // times faster than comparing arrays.
    guard entries.allSatisfy({ $0.count == 33 }) else {
      var sorted = entries.map { Array($0.dropFirst()) }
      sorted.sort { KeyOrder.less($0, $1) }
      return sorted.enumerated().filter { $0.offset == 0 || $0.element != sorted[$0.offset - 1] }
        .map(\.element)
    }
    var words = entries.map { entry in
      entry.withUnsafeBytes { raw in
        (
          UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 1, as: UInt64.self)),
          UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 9, as: UInt64.self)),
          UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 17, as: UInt64.self)),
          UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 25, as: UInt64.self))
        )
      }
    }
    words.sort { $0 < $1 }
    var keys = [[UInt8]]()
    keys.reserveCapacity(words.count)
    for (index, word) in words.enumerated() where index == 0 || word != words[index - 1] {
      keys.append(
        [UInt8](unsafeUninitializedCapacity: 32) { buffer, count in
          let raw = UnsafeMutableRawBufferPointer(buffer)
          raw.storeBytes(of: word.0.bigEndian, toByteOffset: 0, as: UInt64.self)
          raw.storeBytes(of: word.1.bigEndian, toByteOffset: 8, as: UInt64.self)
          raw.storeBytes(of: word.2.bigEndian, toByteOffset: 16, as: UInt64.self)
          raw.storeBytes(of: word.3.bigEndian, toByteOffset: 24, as: UInt64.self)
          count = 32
        })
    }
    return keys
  }

  /// Calls `body` with the union of the keys of `sourceCount` sorted sources from
  /// `start` on, in order, each key once, until `body` returns false. `read(source,
  /// from, limit)` gives up to `limit` keys of one source from `from` on, in order:
  /// sources are read a batch at a time, so a merge of large runs stays out of memory.
  static func mergedScan(
    sourceCount: Int, from start: [UInt8], batch: Int = 256,
    read: (_ source: Int, _ from: [UInt8], _ limit: Int) throws(VaultError) -> [[UInt8]],
    _ body: ([UInt8]) throws(VaultError) -> Bool
  ) throws(VaultError) {
    // Each source's current batch and how far the merge has taken from it; a source
    // whose batch came back short has nothing more.
    struct Cursor {
      var keys: [[UInt8]]
      var next = 0
      var hasMore: Bool
    }
    var cursors = [Cursor]()
    for source in 0..<sourceCount {
      let keys = try read(source, start, batch)
      cursors.append(Cursor(keys: keys, hasMore: keys.count >= batch))
    }
    var previous: [UInt8]?
    while true {
      // The source with the smallest next key (a few dozen sources at most).
      var smallest: Int?
      for index in cursors.indices {
        if cursors[index].next == cursors[index].keys.count {
          guard cursors[index].hasMore, let last = cursors[index].keys.last else { continue }
          let keys = try read(index, last + [0], batch)  // the keys after `last`
          cursors[index] = Cursor(keys: keys, hasMore: keys.count >= batch)
          if keys.isEmpty { continue }
        }
        if let best = smallest,
          !KeyOrder.less(
            cursors[index].keys[cursors[index].next], cursors[best].keys[cursors[best].next])
        {
          continue
        }
        smallest = index
      }
      guard let smallest else { return }
      let key = cursors[smallest].keys[cursors[smallest].next]
      cursors[smallest].next += 1
      if key == previous { continue }
      previous = key
      if try !body(key) { return }
    }
  }
}

extension RecordSource {
  /// Search entries of `collection` in `start ..< end` (keys of the form
  /// `05 ‖ token ‖ id`), from the index tree (kind 5, which earlier writers used) and
  /// from every run, in key order.
  func scanSearchEntries(
    _ collection: RecordCollection, from start: [UInt8], to end: [UInt8],
    _ body: ([UInt8]) throws(VaultError) -> Bool
  ) throws(VaultError) {
    let kind = RecordIndexes.Kind.search.rawValue
    guard start.first == kind, end.first == kind else {
      throw VaultError(.internal, "a search range outside the search entries")
    }
    let runs = try searchRuns(collection)
    // Source 0 is the index tree; source i > 0 is run runs[i - 1].
    try SearchRuns.mergedScan(sourceCount: runs.count + 1, from: start) {
      (source, from, limit) throws(VaultError) in
      guard source > 0 else {
        var keys = [[UInt8]]()
        try scanIndex(collection, from: from, to: end) { key, _ in
          keys.append(key)
          return keys.count < limit
        }
        return keys
      }
      return try searchRunKeys(
        collection, run: runs[source - 1], from: Array(from.dropFirst()),
        to: Array(end.dropFirst()), limit: limit
      ).map { [kind] + $0 }
    } _: { key throws(VaultError) in
      try body(key)
    }
  }
}

extension TransactionSource {
  /// Adds index entry `key` of `collection`: search entries wait for the run this
  /// transaction writes at its end; other entries go into the index tree.
  func addIndexEntry(_ collection: RecordCollection, _ key: [UInt8], to tree: WriteTree)
    throws(VaultError)
  {
    if key.first == RecordIndexes.Kind.search.rawValue {
      sealed.pendingSearchEntries[collection, default: []].append(key)
      if sealed.withdrawnSearchEntries[collection]?.isEmpty == false {
        sealed.withdrawnSearchEntries[collection]?.remove(key)
      }
    } else {
      try tree.insert([], forKey: key)
    }
  }

  /// Removes index entry `key` of `collection` wherever it is: in the index tree, or (a
  /// search entry) in a run or among those this transaction has not written yet. A
  /// search entry is looked for everywhere, not only until found: were it ever stored
  /// twice, an erasure must still leave no copy.
  func removeIndexEntry(_ collection: RecordCollection, _ key: [UInt8], from tree: WriteTree)
    throws(VaultError)
  {
    try tree.removeValue(forKey: key)
    guard key.first == RecordIndexes.Kind.search.rawValue else { return }
    let runKey = Array(key.dropFirst())
    for run in try sealed.searchRuns(collection) {
      let name = SearchRuns.treeName(collection, run: run)
      _ = try sealed.transaction.anyTree(named: name)?.removeValue(forKey: runKey)
    }
    // Added earlier in this transaction, perhaps: kept out of its run.
    sealed.withdrawnSearchEntries[collection, default: []].insert(key)
  }
}

extension SealedTransaction {
  /// Writes each collection's pending search entries as a new run, then merges runs
  /// of a size class that has ``SearchRuns/fanIn`` of them.
  func flushSearchEntries() throws(VaultError) {
    let pending = pendingSearchEntries
    let withdrawn = withdrawnSearchEntries
    pendingSearchEntries = [:]
    withdrawnSearchEntries = [:]
    for (collection, entries) in pending.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
      let withdrawn = withdrawn[collection] ?? []
      let keys = SearchRuns.runKeys(entries).filter {
        withdrawn.isEmpty || !withdrawn.contains([RecordIndexes.Kind.search.rawValue] + $0)
      }
      guard !keys.isEmpty else { continue }
      var runs = try searchRuns(collection)
      let run = (runs.last ?? 0) + 1
      let output = try tree(SearchRuns.treeName(collection, run: run))
      for key in keys { try output.insert([], forKey: key) }
      try tree(RecordIndexes.treeName(collection)).insert([], forKey: SearchRuns.directoryKey(run))
      runs.append(run)
      try mergeSearchRuns(collection, runs: runs)
    }
  }

  /// The runs listed in `collection`'s index tree, ascending.
  func searchRuns(_ collection: RecordCollection) throws(VaultError) -> [UInt64] {
    try SearchRuns.runs(listedIn: transaction.anyTree(named: RecordIndexes.treeName(collection)))
  }

  /// Merges runs of `collection` while some size class holds ``SearchRuns/fanIn`` of
  /// them (the smallest such class first, so a merge can fill the next class).
  private func mergeSearchRuns(_ collection: RecordCollection, runs: [UInt64]) throws(VaultError) {
    var runs = runs
    while true {
      var byClass = [Int: [UInt64]]()
      for run in runs {
        let count =
          try transaction.anyTree(named: SearchRuns.treeName(collection, run: run))?.count ?? 0
        byClass[SearchRuns.sizeClass(count), default: []].append(run)
      }
      guard
        let merging = byClass.filter({ $0.value.count >= SearchRuns.fanIn }).min(by: {
          $0.key < $1.key
        })?.value
      else { return }
      let merged = (runs.last ?? 0) + 1
      let output = try tree(SearchRuns.treeName(collection, run: merged))
      let inputs = try merging.map { (run) throws(VaultError) in
        try transaction.anyTree(named: SearchRuns.treeName(collection, run: run))
      }
      // Each batch is read before `body` writes: no scan sees a change.
      try SearchRuns.mergedScan(sourceCount: inputs.count, from: []) {
        (source, from, limit) throws(VaultError) in
        try inputs[source]?.keys(from: from, limit: limit) ?? []
      } _: { key throws(VaultError) in
        try output.insert([], forKey: key)
        return true
      }
      let index = try tree(RecordIndexes.treeName(collection))
      for run in merging {
        try transaction.dropAnyTree(named: SearchRuns.treeName(collection, run: run))
        try index.removeValue(forKey: SearchRuns.directoryKey(run))
      }
      try index.insert([], forKey: SearchRuns.directoryKey(merged))
      runs = runs.filter { !merging.contains($0) } + [merged]
    }
  }
}
