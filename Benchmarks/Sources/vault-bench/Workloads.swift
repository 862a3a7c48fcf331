import Foundation

/// One workload's figures for one engine: operations per second per sample.
struct Figures {
  var samples: [Double] = []
  var checksum = ResultChecksum()

  var median: Double {
    let sorted = samples.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1
      ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
  }

  /// (max − min) / median: how much the samples disagree.
  var spread: Double {
    guard let low = samples.min(), let high = samples.max(), median > 0 else { return 0 }
    return (high - low) / median
  }
}

/// Settings of one run.
struct RunSettings {
  var records = 100_000
  var batch = 1_000
  var singleCommits = 2_000
  var reads = 100_000
  var samples = 5
  var withPeers = true
  var directory = NSTemporaryDirectory() + "vault-bench-\(getpid())"
}

/// The workloads of this layer, each measured for one engine in a fresh directory.
enum Workload: String, CaseIterable {
  /// Insert the records in transactions of `batch`, each durable (W1 shape).
  case inserts = "W1"
  /// Random point reads of the inserted records (W2 shape).
  case reads = "W2"
  /// One record per durable transaction (W8).
  case singleCommits = "W8"

  var title: String {
    switch self {
    case .inserts: "insert records, 1,000 per durable transaction"
    case .reads: "random point reads by id"
    case .singleCommits: "durable single-record commits"
    }
  }

  var unit: String {
    switch self {
    case .inserts: "records/s"
    case .reads: "reads/s"
    case .singleCommits: "commits/s"
    }
  }

  /// The target ratio vault / SQLite at this layer (issue 2).
  var target: Double {
    switch self {
    case .inserts: 1.0
    case .reads: 1.5
    case .singleCommits: 1.0
    }
  }

  /// One sample: operations per second, and the checksum of what was read or written.
  func sample<E: Engine>(_ engine: E.Type, data: Dataset, settings: RunSettings, label: String)
    throws -> (Double, ResultChecksum)
  {
    let path = settings.directory + "/\(label)-\(E.name).db"
    defer {
      for suffix in ["", "-lock", "-wal", "-shm"] { unlink(path + suffix) }
    }
    var checksum = ResultChecksum()
    switch self {
    case .inserts:
      let db = try E(path: path)
      let seconds = try measure {
        for start in stride(from: 0, to: settings.records, by: settings.batch) {
          let end = min(start + settings.batch, settings.records)
          try db.insert(ids: data.ids[start..<end], bodies: data.bodies[start..<end])
        }
      }
      checksum.add(try db.read(id: data.ids[settings.records / 2]) ?? [])
      return (Double(settings.records) / seconds, checksum)
    case .reads:
      let db = try E(path: path)
      for start in stride(from: 0, to: settings.records, by: 10_000) {
        let end = min(start + 10_000, settings.records)
        try db.insert(ids: data.ids[start..<end], bodies: data.bodies[start..<end])
      }
      var random = SplitMix(seed: 77)
      let order = (0..<settings.reads).map { _ in Int(random.next() % UInt64(settings.records)) }
      // Warm the cache as a long-running application would have it.
      for index in order.prefix(settings.reads / 10) { _ = try db.read(id: data.ids[index]) }
      let seconds = try measure {
        for index in order { checksum.add(try db.read(id: data.ids[index]) ?? []) }
      }
      return (Double(settings.reads) / seconds, checksum)
    case .singleCommits:
      let db = try E(path: path)
      let count = min(settings.singleCommits, data.ids.count)
      let seconds = try measure {
        for index in 0..<count {
          try db.insert(ids: data.ids[index..<index + 1], bodies: data.bodies[index..<index + 1])
        }
      }
      checksum.add(try db.read(id: data.ids[count - 1]) ?? [])
      return (Double(count) / seconds, checksum)
    }
  }
}
