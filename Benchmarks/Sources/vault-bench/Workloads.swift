import Foundation
@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto

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
  /// Records of 4 KiB for the second rotation figure.
  var largeRecords = 10_000
  /// Bookings stored for W3 (the query lists about 1/8 of them).
  var bookings = 200_000
  /// Audit entries appended for W5 (in batches of `batch`), then verified.
  var auditEntries = 1_000_000
  /// W4's uploads, and the size of its single large upload for memory.
  var uploads = UploadSet()
  var bigUpload = 4 << 30
  var samples = 5
  var withPeers = true
  var directory = NSTemporaryDirectory() + "vault-bench-\(getpid())"
}

/// A peer the vault is compared with, and the ratio (vault rate / peer rate) it must
/// reach; nil: shown for orientation only.
struct Comparison {
  var peer: any Engine.Type
  var target: Double?
}

/// The workloads of ../shared/spec/benchmarks.md built so far.
enum Workload: String, CaseIterable {
  /// Insert the records in transactions of `batch`, each durable.
  case inserts = "W1"
  /// Random point reads of the inserted records, opened and decoded.
  case reads = "W2"
  /// W1 through the records layer: typed clients, validated, indexed, sealed.
  case recordInserts = "W1-records"
  /// W2 through the records layer: typed clients opened and decoded.
  case recordReads = "W2-records"
  /// One branch's bookings in a date range, through an index, opened and decoded.
  case bookings = "W3"
  /// Re-key every record: KEK rotation for the vault, `PRAGMA rekey` for SQLCipher.
  case rotation = "W7"
  /// The same with 4 KiB records: the vault's advantage should grow with record size.
  case largeRotation = "W7-4k"
  /// Change the passphrase of a vault holding the records: one key derivation.
  case passphraseChange = "W7-passphrase"
  /// One record per durable transaction.
  /// Open a vault holding many records (key already derived) and read one.
  case open = "W6"
  case singleCommits = "W8"
  /// The same at the page-store layer: sealed pages, no per-record keys.
  case storeSingleCommits = "W8-store"
  /// Append audit entries in batches of `batch`, each batch one durable commit with its
  /// signed checkpoint.
  case auditAppend = "W5-append"
  /// Verify the whole log without the key (chain, tree, every checkpoint signature).
  case auditVerify = "W5-verify"
  /// W1-records, W2-records and W3 through a capability handle (session check,
  /// projections, field permissions), against the same without handles.
  case handleInserts = "W1-handle"
  case handleReads = "W2-handle"
  case handleBookings = "W3-handle"
  /// Store the incompressible half of W4's uploads, each durable.
  case uploadWrite = "W4-write"
  /// Store all of W4's uploads (half text-like, which compresses).
  case uploadMixed = "W4-mixed"
  /// Read the incompressible uploads back, every chunk authenticated.
  case uploadRead = "W4-read"
  /// Peak RSS of a process storing one large upload, above the same storing 1 byte.
  case uploadMemory = "W4-rss"

  /// The engine measured as "the vault".
  var vaultEngine: any Engine.Type {
    self == .storeSingleCommits ? StoreEngine.self : VaultEngine.self
  }

  var title: String {
    switch self {
    case .inserts: "insert records, 1,000 per durable transaction"
    case .reads: "random point reads by id, opened and decoded"
    case .bookings: "one branch's bookings in a date range via an index (1/8 of all)"
    case .recordInserts:
      "insert typed clients (validated, indexed for search), 1,000 per transaction"
    case .recordReads: "random point reads of typed clients, opened and decoded"
    case .rotation: "re-key every record (vault: KEK rotation; SQLCipher: PRAGMA rekey)"
    case .largeRotation: "re-key every 4 KiB record"
    case .passphraseChange: "change the passphrase (limit: one Argon2id derivation)"
    case .open: "open a vault of W1's records (key derived) and read one (limit: a tiny vault)"
    case .singleCommits: "durable single-record commits"
    case .storeSingleCommits: "durable single-value commits of the page store (sealed pages)"
    case .auditAppend: "append audit entries, 1,000 per durable commit (target: 200,000/s)"
    case .auditVerify: "verify the whole audit log without the key (limit: bare SHA-256)"
    case .handleInserts: "W1-records through a capability handle (vs without)"
    case .handleReads: "W2-records through a capability handle (vs without)"
    case .handleBookings: "W3 through a capability handle (vs without)"
    case .uploadWrite:
      "store incompressible uploads durably (limit: bare seal + pwrite + fdatasync)"
    case .uploadMixed: "store uploads, half text-like, durably (orientation)"
    case .uploadRead: "read uploads back, every chunk authenticated (limit: bare pread + open)"
    case .uploadMemory: "peak RSS storing one large upload, above storing 1 byte (target < 64)"
    }
  }

  var unit: String {
    switch self {
    case .inserts, .rotation, .largeRotation: "records/s"
    case .reads: "reads/s"
    case .bookings: "rows/s"
    case .recordInserts: "records/s"
    case .recordReads: "reads/s"
    case .passphraseChange: "changes/s"
    case .singleCommits, .storeSingleCommits: "commits/s"
    case .auditAppend, .auditVerify: "entries/s"
    case .handleInserts: "records/s"
    case .handleReads: "reads/s"
    case .handleBookings: "rows/s"
    case .uploadWrite, .uploadMixed, .uploadRead: "MB/s"
    case .uploadMemory: "MiB"
    case .open: "ms"
    }
  }

  var comparisons: [Comparison] {
    switch self {
    case .inserts:
      [
        Comparison(peer: SQLiteEngine.self, target: 1.0),
        .init(peer: SQLCipherEngine.self, target: 2.0),
      ]
    case .reads:
      [
        Comparison(peer: SQLiteEngine.self, target: 1.0),
        .init(peer: SQLCipherEngine.self, target: nil),
      ]
    case .recordInserts:
      [
        Comparison(peer: SQLiteEngine.self, target: 1.0),
        .init(peer: SQLCipherEngine.self, target: 2.0),
      ]
    case .bookings, .recordReads:
      [
        Comparison(peer: SQLiteEngine.self, target: 1.0),
        .init(peer: SQLCipherEngine.self, target: nil),
      ]
    case .rotation, .largeRotation: [Comparison(peer: SQLCipherEngine.self, target: 5.0)]
    case .passphraseChange: []
    case .singleCommits:
      [
        Comparison(peer: SQLiteEngine.self, target: 1.0),
        .init(peer: SQLCipherEngine.self, target: nil),
      ]
    case .storeSingleCommits: [Comparison(peer: SQLiteEngine.self, target: 1.0)]
    case .auditAppend, .auditVerify, .open: []
    case .uploadWrite, .uploadMixed, .uploadRead, .uploadMemory: []
    case .handleInserts, .handleReads, .handleBookings:
      [Comparison(peer: NoHandleEngine.self, target: 0.9)]
    }
  }

  /// Whether the vault and its peers return the same bytes (the records variants
  /// return decoded names, the peers the stored JSON: compared by count only).
  var comparesData: Bool {
    ![.recordInserts, .recordReads, .handleInserts, .handleReads].contains(self)
  }

  /// For workloads measured against a physical limit instead of a peer: the ratio
  /// vault / limit it must reach. (W6 and W4-rss, where less is better, are judged
  /// apart: see ``ceiling``.)
  var limitTarget: Double? {
    switch self {
    case .passphraseChange: 0.8
    case .auditAppend: 1.0
    case .auditVerify: 0.7
    case .uploadWrite, .uploadRead: 0.8
    default: nil
    }
  }

  /// For workloads where less is better: the most the vault may take.
  var ceiling: Double? {
    switch self {
    case .uploadMemory: 64
    case .open: 10
    default: nil
    }
  }

  /// One sample: operations per second, and the checksum of what was read or written.
  func sample(
    _ engine: any Engine.Type, data: Dataset, large: Dataset, bookings: BookingSet,
    settings: RunSettings, label: String
  ) throws -> (Double, ResultChecksum) {
    let path = settings.directory + "/\(label)-\(engine.name).db"
    defer {
      for suffix in ["", "-lock", "-wal", "-shm"] { unlink(path + suffix) }
    }
    var checksum = ResultChecksum()
    switch self {
    case .inserts:
      let db = try engine.init(path: path)
      let seconds = try measure {
        for start in stride(from: 0, to: settings.records, by: settings.batch) {
          let end = min(start + settings.batch, settings.records)
          try db.insert(ids: data.ids[start..<end], bodies: data.bodies[start..<end])
        }
      }
      checksum.add(try db.read(id: data.ids[settings.records / 2]) ?? [])
      return (Double(settings.records) / seconds, checksum)
    case .reads:
      let db = try engine.init(path: path)
      try load(db, data, count: settings.records)
      var random = SplitMix(seed: 77)
      let order = (0..<settings.reads).map { _ in Int(random.next() % UInt64(settings.records)) }
      // Warm the cache as a long-running application would have it.
      for index in order.prefix(settings.reads / 10) { _ = try db.read(id: data.ids[index]) }
      let seconds = try measure {
        for index in order { checksum.add(try db.read(id: data.ids[index]) ?? []) }
      }
      return (Double(settings.reads) / seconds, checksum)
    case .recordInserts, .recordReads:
      guard engine.name == VaultEngine.name || engine.name == HandleMarker.name else {
        // The peers run the plain workloads: same data, stored as JSON text.
        return try (self == .recordInserts ? Workload.inserts : .reads).sample(
          engine, data: data, large: large, bookings: bookings, settings: settings, label: label)
      }
      let db = try VaultClients(path: path, throughHandle: engine.name == HandleMarker.name)
      let clients = try (0..<settings.records).map {
        try db.client(data.fields[$0], id: data.ids[$0])
      }
      if self == .recordInserts {
        let seconds = try measure {
          for start in stride(from: 0, to: settings.records, by: settings.batch) {
            try db.insert(clients[start..<min(start + settings.batch, settings.records)])
          }
        }
        checksum.add(try db.read(id: data.ids[settings.records / 2]))
        return (Double(settings.records) / seconds, checksum)
      }
      for start in stride(from: 0, to: settings.records, by: 10_000) {
        try db.insert(clients[start..<min(start + 10_000, settings.records)])
      }
      var random = SplitMix(seed: 77)
      let order = (0..<settings.reads).map { _ in Int(random.next() % UInt64(settings.records)) }
      for index in order.prefix(settings.reads / 10) { _ = try db.read(id: data.ids[index]) }
      let seconds = try measure {
        for index in order { checksum.add(try db.read(id: data.ids[index])) }
      }
      return (Double(settings.reads) / seconds, checksum)
    case .bookings:
      let db: any BookingEngine =
        switch engine.name {
        case VaultEngine.name: try VaultBookings(path: path, set: bookings)
        case HandleMarker.name: try VaultBookings(path: path, set: bookings, throughHandle: true)
        case SQLiteEngine.name: try SQLBookings(path: path, api: .sqlite, key: nil)
        default:
          try SQLBookings(
            path: path,
            api: try SQLiteAPI.sqlcipher ?? { throw SQLiteError(description: "no SQLCipher") }(),
            key: "benchmark passphrase")
        }
      for start in stride(from: 0, to: bookings.bookings.count, by: 10_000) {
        try db.insert(
          bookings.bookings[start..<min(start + 10_000, bookings.bookings.count)], of: bookings)
      }
      var rows = 0
      let seconds = try measure { rows = try db.listQuery(of: bookings, checksum: &checksum) }
      return (Double(rows) / seconds, checksum)
    case .rotation, .largeRotation:
      let set = self == .rotation ? data : large
      let count = self == .rotation ? settings.records : settings.largeRecords
      let db = try engine.init(path: path)
      try load(db, set, count: count)
      let seconds = try measure { try db.rekey() }
      for index in stride(from: 0, to: count, by: max(1, count / 100)) {
        checksum.add(try db.read(id: set.ids[index]) ?? [])
      }
      return (Double(count) / seconds, checksum)
    case .passphraseChange:
      let store = try SealedStore.create(
        at: path, credential: .passphrase("benchmark passphrase"), keyDerivation: .moderate)
      try store.write { tx throws(VaultError) in
        for index in 0..<min(settings.records, 10_000) {
          try tx.put(data.bodies[index], id: data.ids[index], in: "clients")
        }
      }
      let seconds = try measure {
        try store.changeCredential(to: .passphrase("another one"), keyDerivation: .moderate)
      }
      return (1 / seconds, checksum)
    case .handleInserts, .handleReads, .handleBookings:
      // The vault through a handle; the no-handle baseline, the same workload without.
      let throughHandle = engine.name == VaultEngine.name
      switch self {
      case .handleBookings:
        return try Workload.bookings.sample(
          throughHandle ? HandleMarker.self : VaultEngine.self, data: data, large: large,
          bookings: bookings, settings: settings, label: label)
      default:
        return try (self == .handleInserts ? Workload.recordInserts : .recordReads).sample(
          throughHandle ? HandleMarker.self : VaultEngine.self, data: data, large: large,
          bookings: bookings, settings: settings, label: label)
      }
    case .auditAppend:
      let log = try AuditBench(path: path)
      let seconds = try measure { try log.append(settings.auditEntries, batch: settings.batch) }
      return (Double(settings.auditEntries) / seconds, checksum)
    case .auditVerify:
      let log = try AuditBench(path: path)
      try log.append(settings.auditEntries, batch: settings.batch)
      let seconds = try measure { try log.verify(expecting: settings.auditEntries) }
      return (Double(settings.auditEntries) / seconds, checksum)
    case .uploadWrite, .uploadMixed:
      let vault = try VaultUploads(path: path)
      let indices = self == .uploadWrite ? settings.uploads.incompressible : settings.uploads.all
      var bytes = 0
      let seconds = try measure {
        for index in indices {
          let receipt = try vault.upload(uploadContents[index])
          checksum.add(Array(receipt.sha256.utf8))
          bytes += Int(receipt.size)
        }
      }
      return (Double(bytes) / seconds / 1e6, checksum)
    case .uploadRead:
      let vault = try VaultUploads(path: path)
      let blobs = try settings.uploads.incompressible.map {
        try vault.upload(uploadContents[$0]).blob
      }
      var bytes = 0
      let seconds = try measure {
        for blob in blobs { bytes += try vault.read(blob, into: &checksum) }
      }
      return (Double(bytes) / seconds / 1e6, checksum)
    case .open:
      return (try Self.openAndRead(data, count: settings.records, path: path), checksum)
    case .uploadMemory:
      let baseline = try UploadMemory.peak(directory: settings.directory, size: 1)
      let peak = try UploadMemory.peak(directory: settings.directory, size: settings.bigUpload)
      return ((peak - baseline) / Double(1 << 20), checksum)
    case .singleCommits, .storeSingleCommits:
      let db = try engine.init(path: path)
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

  /// The physical limit of this workload, in its unit, if it has one.
  /// W6: stores `count` records of `data` at `path`, then opens the vault 20 times
  /// with its raw key (the key derivation is not the open's cost) and reads one record
  /// each time; the mean milliseconds per open and read.
  static func openAndRead(_ data: Dataset, count: Int, path: String) throws -> Double {
    let key = SymmetricKey.random()
    do {
      let store = try SealedStore.create(at: path, credential: .rawKey(key))
      for start in stride(from: 0, to: count, by: 10_000) {
        try store.write { tx throws(VaultError) in
          for index in start..<min(start + 10_000, count) {
            try tx.put(data.bodies[index], id: data.ids[index], in: "clients")
          }
        }
      }
    }
    let rounds = 20
    var found = 0
    let seconds = try measure {
      for round in 0..<rounds {
        let store = try SealedStore.open(
          at: path, credential: .rawKey(key), options: .init(readOnly: true))
        let id = data.ids[round * 7919 % count]
        if try store.read({ snapshot throws(VaultError) in
          try snapshot.get(id, in: "clients")
        }) != nil {
          found += 1
        }
      }
    }
    guard found == rounds else { throw VaultError(.internal, "W6 read \(found) of \(rounds)") }
    return seconds / Double(rounds) * 1000
  }

  /// Whether the limit is measured in turn with the vault's samples (one limit sample
  /// after each), rather than once after them: W4's limits go through the disk, whose
  /// speed drifts during a run, and W5's bare hashing swings by a third between runs
  /// on a shared machine, so only side-by-side samples compare.
  var limitAlternates: Bool {
    self == .uploadWrite || self == .uploadRead || self == .auditVerify
  }

  /// What W5-verify's limit hashes: the stored entries of a log appended as the
  /// vault's is.
  func limitInput(_ settings: RunSettings) throws -> [[UInt8]] {
    let path = settings.directory + "/limit-audit.db"
    defer { for suffix in ["", "-lock"] { unlink(path + suffix) } }
    let log = try AuditBench(path: path)
    try log.append(settings.auditEntries, batch: settings.batch)
    return try log.storedEntries()
  }

  /// One sample of an alternating limit (``limitAlternates``), in the workload's unit.
  func limitSample(_ settings: RunSettings) throws -> Double {
    if self == .auditVerify {
      return Double(bareAuditEntries.count) / measure { AuditBench.bareHashing(bareAuditEntries) }
    }
    let path = settings.directory + "/limit-uploads.bin"
    defer { unlink(path) }
    let contents = settings.uploads.incompressible.map { uploadContents[$0] }
    let rate =
      try self == .uploadWrite
      ? BareUploads.write(contents, path: path) : BareUploads.read(contents, path: path)
    return rate / 1e6
  }

  func limit(_ settings: RunSettings) throws -> Double? {
    if self == .auditAppend { return 200_000 }
    if self == .open {
      let path = settings.directory + "/limit-open.db"
      defer { for suffix in ["", "-lock"] { unlink(path + suffix) } }
      return try Self.openAndRead(
        Dataset(count: 10, seed: 2029), count: 10, path: path)
    }
    if limitAlternates { return nil }
    guard self == .passphraseChange else { return nil }
    let seconds = try measure {
      _ = try PasswordKDF.deriveKey(
        from: SecretBytes(utf8: "benchmark passphrase"), salt: [UInt8](repeating: 7, count: 16),
        parameters: .moderate)
    }
    return 1 / seconds
  }

  private func load(_ db: any Engine, _ set: Dataset, count: Int) throws {
    for start in stride(from: 0, to: count, by: 10_000) {
      let end = min(start + 10_000, count)
      try db.insert(ids: set.ids[start..<end], bodies: set.bodies[start..<end])
    }
  }
}
