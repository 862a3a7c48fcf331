import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// Every sealed page of a vault file opened with `cipher`, as plaintext page bytes: what
/// someone holding the passphrase could read from the file, free pages included.
func openedPages(of path: String, cipher: PageCipher, pageSize: Int) throws -> [[UInt8]] {
  let image = try fileBytes(path)
  var pages = [[UInt8]]()
  for number in 0..<image.count / pageSize {
    let bytes = Array(image[number * pageSize..<(number + 1) * pageSize])
    guard let page = try? Page(bytes, location: PageNumber(UInt64(number))), page.isSealed,
      let opened = try? cipher.open(page)
    else { continue }
    pages.append(opened.bytes)
  }
  return pages
}

/// A sealed store on a simulated disk (crash tests); `lockPath` names its lock file.
func sealedStore(on disk: SimulatedDisk, lockPath: String) throws -> SealedStore {
  try SealedStore(
    VaultStore(path: lockPath, file: disk, options: .init(), credential: testCredential))
}

func sampleBody(_ index: Int) -> [UInt8] {
  Array(
    """
    {"displayName":"Client \(index)","emails":["client\(index)@example.com"],\
    "phones":["+1 555 01\(index % 100)"],"notes":"prefers golden hour, \(index)",\
    "address":{"city":"Lisbon","street":"Rua \(index)"}}
    """.utf8)
}

@Suite struct SealedRecordTests {
  @Test func recordsRoundTripAndCompressWhenItPays() throws {
    let dir = TemporaryDirectory()
    let store = try SealedStore.create(at: dir.file("v.vault"), credential: testCredential)
    let large = [UInt8](repeating: 0x61, count: 50_000)
    try store.write { tx throws(VaultError) in
      for index in 0..<300 { try tx.put(sampleBody(index), id: bytes("c\(index)"), in: "clients") }
      try tx.put(large, id: bytes("big"), in: "clients")
      try tx.put([], id: bytes("empty"), in: "clients")
    }
    try store.read { snapshot throws(VaultError) in
      for index in 0..<300 {
        #expect(try snapshot.get(bytes("c\(index)"), in: "clients") == sampleBody(index))
      }
      #expect(try snapshot.get(bytes("big"), in: "clients") == large)
      #expect(try snapshot.get(bytes("empty"), in: "clients") == [])
      #expect(try snapshot.get(bytes("nobody"), in: "clients") == nil)
    }
    // The 50 kB run compressed to almost nothing before sealing.
    let stored = try #require(
      try store.store.read { try $0.tree(named: "clients")?.value(forKey: bytes("big")) })
    #expect(stored.count < 1_000)
    #expect(try SealedRecord(decoding: stored).flags & SealedRecord.compressedFlag != 0)
    try store.write { tx throws(VaultError) in
      try tx.put(bytes("updated"), id: bytes("c1"), in: "clients")
      #expect(try tx.get(bytes("c1"), in: "clients") == bytes("updated"))
      #expect(try tx.remove(bytes("c2"), in: "clients"))
      #expect(try tx.get(bytes("c2"), in: "clients") == nil)
    }
    #expect(
      try store.read { s throws(VaultError) in try s.get(bytes("c1"), in: "clients") }
        == bytes("updated"))
    #expect(Checker.check(path: dir.file("v.vault"), credential: testCredential).ok)
  }

  /// Sealed bodies and wrapped keys are bound to their record: moved, swapped or
  /// replayed, they fail to open, with a typed error.
  @Test func swappedOrMovedSealsFailToOpen() throws {
    let dir = TemporaryDirectory()
    let store = try SealedStore.create(at: dir.file("v.vault"), credential: testCredential)
    try store.write { tx throws(VaultError) in
      try tx.put(bytes("alice's notes"), id: bytes("alice"), in: "clients")
      try tx.put(bytes("bob's notes"), id: bytes("bob"), in: "clients")
      try tx.put(bytes("a project"), id: bytes("alice"), in: "projects")
    }
    func stored(_ id: String) throws -> (record: [UInt8], dataKey: [UInt8]) {
      let found = try store.read { s throws(VaultError) in
        try s.storedBytes(of: bytes(id), in: "clients")
      }
      let pair = try #require(found)
      return (pair.record, try #require(pair.dataKey))
    }
    let alice = try stored("alice")
    let bob = try stored("bob")
    let clientKeys = SealedStore.dataKeyTree(for: "clients")
    let aliceReference = DataKeyEntry.key(try SealedRecord.keyReference(of: alice.record))
    var bobKeyAsAlices = try DataKeyEntry(decoding: bob.dataKey)
    bobKeyAsAlices.recordID = bytes("alice")
    let attacks: [(String, (WriteTransaction) throws -> Void, [UInt8], String)] = [
      (
        "bodies swapped",
        { tx in try tx.openTree(named: "clients").insert(bob.record, forKey: bytes("alice")) },
        bytes("alice"), "clients"
      ),
      (
        "data keys swapped",
        { tx in try tx.openAnyTree(named: clientKeys).insert(bob.dataKey, forKey: aliceReference) },
        bytes("alice"), "clients"
      ),
      (
        "another record's key relabelled as this one's",
        { tx in
          try tx.openAnyTree(named: clientKeys).insert(
            bobKeyAsAlices.encode(), forKey: aliceReference)
        }, bytes("alice"), "clients"
      ),
      (
        "moved to another collection",
        { tx in
          try tx.openTree(named: "projects").insert(alice.record, forKey: bytes("alice"))
          try tx.openAnyTree(named: SealedStore.dataKeyTree(for: "projects")).insert(
            alice.dataKey, forKey: aliceReference)
        }, bytes("alice"), "projects"
      ),
      (
        "version relabelled",
        { tx in
          var record = try SealedRecord(decoding: alice.record)
          record.version += 1
          try tx.openTree(named: "clients").insert(record.encode(), forKey: bytes("alice"))
        }, bytes("alice"), "clients"
      ),
    ]
    for (what, attack, id, collection) in attacks {
      try store.store.write { tx in try attack(tx) }
      let error = #expect(throws: VaultError.self, "\(what)") {
        try store.read { s throws(VaultError) in try s.get(id, in: collection) }
      }
      #expect(error?.code == .authenticationFailed, "\(what): \(String(describing: error))")
      // Put things back for the next attack.
      try store.store.write { tx in
        try tx.openTree(named: "clients").insert(alice.record, forKey: bytes("alice"))
        try tx.openAnyTree(named: clientKeys).insert(alice.dataKey, forKey: aliceReference)
      }
      #expect(
        try store.read { s throws(VaultError) in try s.get(bytes("alice"), in: "clients") }
          == bytes("alice's notes"))
    }
  }

  /// Rotation re-wraps every data key, rewrites no body, and retires the old KEK.
  @Test func rotationRewrapsKeysAndLeavesBodiesAlone() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try SealedStore.create(at: path, credential: testCredential)
    try store.write { tx throws(VaultError) in
      for index in 0..<1_000 {
        try tx.put(sampleBody(index), id: bytes("c\(index)"), in: "clients")
      }
    }
    func bodies() throws -> [[UInt8]: [UInt8]] {
      try store.store.read { snapshot in
        var result = [[UInt8]: [UInt8]]()
        try snapshot.tree(named: "clients")?.scan { key, value in
          result[key] = value
          return true
        }
        return result
      }
    }
    let before = try bodies()
    var reports = [(Int, Int)]()
    let report = try store.rotateKeyEncryptionKey(batchSize: 128) { reports.append(($0, $1)) }
    #expect(report.kekID == 2 && report.rewrapped == 1_000 && report.retired == [1])
    #expect(report.batches >= 1_000 / 128)
    #expect(reports.last.map { $0 == (1_000, 1_000) } == true)
    #expect(try bodies() == before)
    #expect(try !store.isRotationPending)
    try store.read { snapshot throws(VaultError) in
      for index in 0..<1_000 {
        #expect(try snapshot.get(bytes("c\(index)"), in: "clients") == sampleBody(index))
      }
    }
    var kekIDs = Set<UInt32>()
    try store.store.read { snapshot in
      try snapshot.anyTree(named: SealedStore.dataKeyTree(for: "clients"))?.scan { _, value in
        kekIDs.insert(try DataKeyEntry(decoding: value).wrapped.kekID)
        return true
      }
    }
    #expect(kekIDs == [2])
    // A second rotation works the same way, and new records use the new KEK.
    try store.write { tx throws(VaultError) in
      try tx.put(bytes("new"), id: bytes("n"), in: "clients")
    }
    #expect(try store.rotateKeyEncryptionKey().retired == [2])
    let reopened = try SealedStore.open(at: path, credential: testCredential)
    #expect(
      try reopened.read { s throws(VaultError) in try s.get(bytes("n"), in: "clients") }
        == bytes("new"))
  }

  /// A crash at any write or sync of a rotation leaves every record readable; the next
  /// call resumes and finishes it.
  @Test func aCrashDuringRotationLosesNothingAndResumes() throws {
    let seed = testSeed(31)
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    do {
      let store = try SealedStore.create(at: path, credential: testCredential)
      try store.write { tx throws(VaultError) in
        for index in 0..<400 {
          try tx.put(sampleBody(index), id: bytes("c\(index)"), in: "clients")
        }
      }
    }
    let initial = try fileBytes(path)
    // Count the operations of an uninterrupted rotation.
    let clean = SimulatedDisk(image: initial)
    let cleanStore = try sealedStore(on: clean, lockPath: dir.file("clean.vault"))
    let start = clean.operations
    try cleanStore.rotateKeyEncryptionKey(batchSize: 50)
    let operations = clean.operations - start
    var random = SeededGenerator(seed: seed)
    var resumed = 0
    for crashAt in stride(from: 1, through: operations, by: max(1, operations / 25)) {
      let disk = SimulatedDisk(image: initial)
      let store = try sealedStore(on: disk, lockPath: dir.file("r\(crashAt).vault"))
      disk.crashAtOperation = disk.operations + crashAt
      #expect(throws: VaultError.self) { try store.rotateKeyEncryptionKey(batchSize: 50) }
      let image = dir.file("crash\(crashAt).vault")
      try Data(disk.imageAfterPowerLoss(using: &random)).write(to: URL(fileURLWithPath: image))
      let reopened = try SealedStore.open(at: image, credential: testCredential)
      try reopened.read { snapshot throws(VaultError) in
        for index in 0..<400 {
          #expect(
            try snapshot.get(bytes("c\(index)"), in: "clients") == sampleBody(index),
            "seed \(seed), crash at \(crashAt)")
        }
      }
      if try reopened.isRotationPending { resumed += 1 }
      let report = try reopened.rotateKeyEncryptionKey(batchSize: 50)
      #expect(try !reopened.isRotationPending)
      try reopened.read { snapshot throws(VaultError) in
        #expect(try snapshot.get(bytes("c399"), in: "clients") == sampleBody(399))
      }
      #expect(!report.retired.contains(report.kekID))
      #expect(Checker.check(path: image, credential: testCredential).ok)
    }
    #expect(resumed > 0)
  }

  /// After erasure, neither the wrapped key nor the sealed body survives anywhere in
  /// the file, even to someone who opens every page, free ones included, with the key.
  @Test func erasedRecordsCannotBeRecoveredEvenWithTheKey() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try SealedStore.create(at: path, credential: testCredential)
    // Several versions, so older copies of the victim's pages pile up in free pages.
    for round in 0..<4 {
      try store.write { tx throws(VaultError) in
        for index in 0..<200 {
          try tx.put(sampleBody(index * 10 + round), id: bytes("c\(index)"), in: "clients")
        }
      }
    }
    let victims = [bytes("c7"), bytes("c150")]
    var secrets = [[UInt8]]()
    for round in 0..<3 {
      // Rewrite the victims a few times more: each version leaves a copy behind.
      try store.write { tx throws(VaultError) in
        for victim in victims {
          try tx.put(Array("secret \(round) of \(victim)".utf8), id: victim, in: "clients")
        }
      }
      for victim in victims {
        let found = try store.read { s throws(VaultError) in
          try s.storedBytes(of: victim, in: "clients")
        }
        let stored = try #require(found)
        secrets += [try #require(stored.dataKey), stored.record]
      }
    }
    let cipher = try #require(store.store.reader.cipher)
    let pageSize = store.store.pageSize
    // Before: someone with the key finds the newest ones, and older copies linger in
    // free pages (the search works, and erasure has something to do).
    let before = try openedPages(of: path, cipher: cipher, pageSize: pageSize)
    let found = secrets.filter { secret in before.contains { contains($0, secret) } }
    #expect(found.count > 4, "only \(found.count) of \(secrets.count) secrets found before")

    let zeroed = try store.eraseRecords(victims.map { ("clients", $0) })
    #expect(zeroed > 0)
    let raw = try fileBytes(path)
    let after = try openedPages(of: path, cipher: cipher, pageSize: pageSize)
    for secret in secrets {
      #expect(!contains(raw, secret))
      #expect(!after.contains { contains($0, secret) }, "an erased secret survives in a page")
    }
    // Everything else is intact.
    try store.read { snapshot throws(VaultError) in
      #expect(try snapshot.get(bytes("c7"), in: "clients") == nil)
      #expect(try snapshot.get(bytes("c8"), in: "clients") == sampleBody(8 * 10 + 3))
    }
    #expect(Checker.check(path: path, credential: testCredential).ok)
    // Keeping the body (a retained record) still makes it unreadable.
    try store.eraseRecords([("clients", bytes("c9"))], keepBodies: true)
    let error = #expect(throws: VaultError.self) {
      try store.read { s throws(VaultError) in try s.get(bytes("c9"), in: "clients") }
    }
    #expect(error?.code == .erased)
  }

  /// Erasure waits for a snapshot that still reads the erased data, and gives up with
  /// a typed error rather than pulling pages from under it.
  @Test func erasureWaitsForOlderSnapshots() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try SealedStore.create(
      at: path, credential: testCredential, options: .init(lockTimeout: 0.3))
    try store.write { tx throws(VaultError) in try tx.put(bytes("x"), id: bytes("a"), in: "clients")
    }
    let snapshot = try store.store.makeSnapshot()
    let error = #expect(throws: VaultError.self) {
      try store.eraseRecords([("clients", bytes("a"))])
    }
    #expect(error?.code == .locked)
    // The old snapshot still reads its state.
    #expect(try snapshot.tree(named: "clients")?.value(forKey: bytes("a")) != nil)
    snapshot.close()
    // Scrubbing again now completes.
    #expect(try store.store.scrubFreePages() >= 0)
    #expect(Checker.check(path: path, credential: testCredential).ok)
  }
}

extension SealedRecordTests {
  /// Sealed records with planted markers (names, emails, amounts, notes, ids) through
  /// inserts, updates, deletes, compression, rotation and erasure: the raw file holds
  /// none of them at any point, live pages or free ones.
  @Test func plantedMarkersNeverReachTheFile() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let planted = PlantedMarkers(path: path, seed: testSeed(0xB0D1))
    let marker = planted.text
    let assertClean = planted.expectAbsent
    let store = try SealedStore.create(at: path, credential: testCredential)
    var ids = [[UInt8]]()
    try store.write { tx throws(VaultError) in
      for index in 0..<300 {
        let id = Array(marker("client-id-\(index)").utf8)
        ids.append(id)
        var body = "{\"name\":\"\(marker("Name"))\",\"email\":\"\(marker("mail"))@example.com\","
        body += "\"amount\":\(marker("98765")),\"notes\":\"\(marker("allergic to lilies"))\""
        if index % 10 == 0 {
          // Long, compressible notes: zstd runs before sealing.
          body += ",\"diary\":\"" + String(repeating: marker("diary") + " ", count: 60) + "\""
        }
        try tx.put(Array((body + "}").utf8), id: id, in: "clients")
      }
    }
    try assertClean("after inserts")
    try store.write { tx throws(VaultError) in
      for (index, id) in ids.enumerated() where index % 3 == 0 {
        try tx.put(Array("{\"notes\":\"\(marker("updated"))\"}".utf8), id: id, in: "clients")
      }
      for (index, id) in ids.enumerated() where index % 7 == 0 { try tx.remove(id, in: "clients") }
    }
    try assertClean("after updates and deletes")
    try store.rotateKeyEncryptionKey(batchSize: 64)
    try assertClean("after rotation")
    try store.eraseRecords([("clients", ids[1])])
    try assertClean("after erasure")
    #expect(planted.markers.count > 1_000)
    // The markers are there for the key holder: the search is not vacuous.
    let sample = try store.read { s throws(VaultError) in try s.get(ids[2], in: "clients") }
    #expect(sample.map { String(decoding: $0, as: UTF8.self).contains("Name-") } == true)
  }
}

extension SealedRecordTests {
  /// The engine's trees cannot be reached by name, through either API.
  @Test func reservedNamesAreRefused() throws {
    let dir = TemporaryDirectory()
    let store = try SealedStore.create(at: dir.file("v.vault"), credential: testCredential)
    for name in ["$keyring", "$keys:clients", "$anything"] {
      let viaStore = #expect(throws: VaultError.self) {
        try store.store.write { tx in _ = try tx.openTree(named: name) }
      }
      #expect(viaStore?.code == .invalidArgument)
      #expect(throws: VaultError.self) {
        try store.store.write { tx in _ = try tx.dropTree(named: name) }
      }
      let viaRecords = #expect(throws: VaultError.self) {
        try store.write { tx throws(VaultError) in try tx.put([1], id: [1], in: name) }
      }
      #expect(viaRecords?.code == .invalidArgument)
    }
    #expect(throws: VaultError.self) {
      try store.write { tx throws(VaultError) in try tx.put([1], id: [1], in: "") }
    }
    // Not even for reading, and they are not listed.
    #expect(throws: VaultError.self) {
      try store.store.write { tx in _ = try tx.tree(named: "$keyring") }
    }
    #expect(throws: VaultError.self) { try store.store.read { try $0.tree(named: "$keyring") } }
    try store.write { tx throws(VaultError) in try tx.put([1], id: [1], in: "clients") }
    #expect(try store.store.read { try $0.treeNames() } == ["clients"])
    #expect(try store.store.write { tx in try tx.treeNames() } == ["clients"])
  }

  /// A record altered to point at another record's data key (possible through the
  /// plain tree API) does not make an update or an erasure destroy that other key.
  @Test func anAlteredKeyReferenceDoesNotEraseAnotherRecordsKey() throws {
    let dir = TemporaryDirectory()
    let store = try SealedStore.create(at: dir.file("v.vault"), credential: testCredential)
    try store.write { tx throws(VaultError) in
      try tx.put(bytes("alice"), id: bytes("a"), in: "clients")
      try tx.put(bytes("bob"), id: bytes("b"), in: "clients")
    }
    let bob = try #require(
      try store.read { s throws(VaultError) in try s.storedBytes(of: bytes("b"), in: "clients") })
    try store.store.write { tx in
      try tx.openTree(named: "clients").insert(bob.record, forKey: bytes("a"))
    }
    try store.write { tx throws(VaultError) in
      try tx.put(bytes("alice again"), id: bytes("a"), in: "clients")
    }
    try store.eraseRecords([("clients", bytes("a"))])
    #expect(
      try store.read { s throws(VaultError) in try s.get(bytes("b"), in: "clients") }
        == bytes("bob"))
  }

  /// A KEK made by a transaction that rolls back must not outlive it in memory: the
  /// next transaction makes its own KEK under the same id, and records written under
  /// either must stay readable after a reopen.
  @Test func aRolledBackKEKIsForgotten() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    // A bare store (as `vault init` makes it): no KEK yet.
    let store = try SealedStore(try VaultStore.create(at: path, credential: testCredential))
    struct Rollback: Error {}
    do {
      try store.store.write { raw in
        let tx = SealedTransaction(store: store, transaction: raw)
        try tx.put(bytes("lost"), id: bytes("a"), in: "clients")
        _ = try tx.get(bytes("a"), in: "clients")
        throw Rollback()
      }
    } catch is Rollback {}
    try store.write { tx throws(VaultError) in
      try tx.put(bytes("kept"), id: bytes("b"), in: "clients")
    }
    try store.write { tx throws(VaultError) in
      try tx.put(bytes("later"), id: bytes("c"), in: "clients")
    }
    #expect(
      try store.read { s throws(VaultError) in try s.get(bytes("b"), in: "clients") }
        == bytes("kept"))
    let reopened = try SealedStore.open(at: path, credential: testCredential)
    try reopened.read { snapshot throws(VaultError) in
      #expect(try snapshot.get(bytes("b"), in: "clients") == bytes("kept"))
      #expect(try snapshot.get(bytes("c"), in: "clients") == bytes("later"))
      #expect(try snapshot.get(bytes("a"), in: "clients") == nil)
    }
  }

  /// Collections whose names differ only in Unicode normalization are distinct, and a
  /// rotation resumed from a position in one still reaches every other.
  @Test func canonicallyEquivalentCollectionsStayApart() throws {
    let dir = TemporaryDirectory()
    let store = try SealedStore.create(at: dir.file("v.vault"), credential: testCredential)
    let composed = "caf\u{E9}"  // é as one scalar
    let decomposed = "cafe\u{301}"  // e + combining acute
    try store.write { tx throws(VaultError) in
      for index in 0..<30 {
        try tx.put(bytes("composed \(index)"), id: bytes("\(index)"), in: composed)
        try tx.put(bytes("decomposed \(index)"), id: bytes("\(index)"), in: decomposed)
        try tx.put(bytes("f \(index)"), id: bytes("\(index)"), in: "f")
      }
    }
    try store.read { snapshot throws(VaultError) in
      #expect(try snapshot.get(bytes("3"), in: composed) == bytes("composed 3"))
      #expect(try snapshot.get(bytes("3"), in: decomposed) == bytes("decomposed 3"))
    }
    let report = try store.rotateKeyEncryptionKey(batchSize: 7)
    #expect(report.rewrapped == 90 && report.retired == [1])
    try store.read { snapshot throws(VaultError) in
      for index in 0..<30 {
        #expect(try snapshot.get(bytes("\(index)"), in: composed) == bytes("composed \(index)"))
        #expect(try snapshot.get(bytes("\(index)"), in: decomposed) == bytes("decomposed \(index)"))
        #expect(try snapshot.get(bytes("\(index)"), in: "f") == bytes("f \(index)"))
      }
    }
  }
}

extension SealedRecordTests {
  /// A crash at any write or sync of an erasure, scrub included, never leaves the
  /// erased data recoverable once the vault is opened again: the erasure's commit
  /// carries a flag, and opening finishes the scrub it promises.
  @Test func aCrashDuringErasureIsFinishedAtTheNextOpen() throws {
    let seed = testSeed(0xE5)
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let victim = bytes("victim")
    var secrets = [[UInt8]]()
    do {
      let store = try SealedStore.create(at: path, credential: testCredential)
      for round in 0..<3 {
        try store.write { tx throws(VaultError) in
          for index in 0..<100 {
            try tx.put(sampleBody(index + round), id: bytes("c\(index)"), in: "clients")
          }
          try tx.put(Array("secret \(round)".utf8), id: victim, in: "clients")
        }
        let found = try store.read { s throws(VaultError) in
          try s.storedBytes(of: victim, in: "clients")
        }
        let stored = try #require(found)
        secrets += [stored.record, try #require(stored.dataKey)]
      }
    }
    let initial = try fileBytes(path)
    let clean = SimulatedDisk(image: initial)
    let cleanStore = try sealedStore(on: clean, lockPath: dir.file("clean.vault"))
    let start = clean.operations
    try cleanStore.eraseRecords([("clients", victim)])
    let operations = clean.operations - start
    var random = SeededGenerator(seed: seed)
    var finishedAtOpen = 0
    for crashAt in 1...operations {
      let disk = SimulatedDisk(image: initial)
      let store = try sealedStore(on: disk, lockPath: dir.file("r\(crashAt).vault"))
      disk.crashAtOperation = disk.operations + crashAt
      _ = try? store.eraseRecords([("clients", victim)])
      let image = dir.file("crash\(crashAt).vault")
      try Data(disk.imageAfterPowerLoss(using: &random)).write(to: URL(fileURLWithPath: image))
      let reopened = try SealedStore.open(at: image, credential: testCredential)
      let erased = try reopened.read { s throws(VaultError) in
        try s.get(victim, in: "clients") == nil
      }
      if erased {
        finishedAtOpen += 1
        #expect(try !reopened.isScrubPending, "seed \(seed), crash at \(crashAt)")
        let cipher = try #require(reopened.store.reader.cipher)
        let pages = try openedPages(of: image, cipher: cipher, pageSize: reopened.store.pageSize)
        for secret in secrets {
          #expect(!pages.contains { contains($0, secret) }, "seed \(seed), crash at \(crashAt)")
        }
      }
      #expect(Checker.check(path: image, credential: testCredential).ok)
    }
    #expect(finishedAtOpen > 0 && operations > 3)
  }
}
