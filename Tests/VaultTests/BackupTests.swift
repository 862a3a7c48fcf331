import Dispatch
import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// `vault backup`: a keyless copy of one committed state, consistent while a writer
/// goes on, that opens, checks and verifies like the original.
@Suite struct BackupTests {
  @Test func aBackupOpensChecksAndHoldsTheSameRecordsBlobsAndLog() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let bytes = BlobTests.content(3 * BlobTests.chunk + 5, compressible: false, seed: 20)
    let receipt = try BlobTests.upload(bytes, by: studio.owner, into: studio.project)
    let source = studio.store.sealed.store.path
    let target = dir.file("backup.vault")
    let made = vault("backup", source, target, "--verify", "--json")
    #expect(made.status == 0, "\(made.errors)")
    let report = try parseJSON(made.output)
    #expect(report["ok"] as? Bool == true)
    #expect((report["pagesCopied"] as? Int ?? 0) > 3 * BlobTests.chunk / 4096)
    // It is a vault of its own: same key, same records, same blob, same log.
    let copy = try RecordStore.open(at: target, credential: testCredential)
    let (owner, _) = try copy.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: studio.clock.read)
    #expect(try owner.get(.projects, studio.project)?.text("title") == "Lima wedding")
    #expect(try BlobTests.readAll(owner.openBlob(receipt.blob)) == bytes)
    #expect(try AuditVerification.verify(copy.sealed.store).ok)
    // Nothing is left beside it.
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter {
      $0.contains(".partial")
    }
    #expect(leftovers.isEmpty)
    // Never over an existing file, nor beside a lock file left by another vault there.
    #expect(vault("backup", source, target).status == 64)
    FileManager.default.createFile(atPath: dir.file("b1.vault-lock"), contents: Data())
    #expect(vault("backup", source, dir.file("b1.vault")).status == 64)
    #expect(vault("backup", dir.file("missing.vault"), dir.file("b3.vault")).status == 66)
  }

  /// Backups taken while a writer rewrites every value of a tree with a new generation,
  /// commit after commit, and logs each commit's transaction: every backup, full or
  /// restored from an incremental chain, opens on one logged commit, whole.
  @Test func backupsWhileAWriterCommitsHoldLoggedCommits() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("busy.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    try store.write { tx in
      let tree = try tx.createTree(named: "data")
      for key in 0..<200 {
        try tree.insert(withUnsafeBytes(of: UInt64(0)) { Array($0) }, forKey: [UInt8(key)])
      }
    }
    // The writer's log: commit -> the generation every value holds in it.
    let log = Locked([try store.newestMeta().transaction: UInt64(0)])
    let stop = Locked(false)
    let writer = DispatchGroup()
    DispatchQueue.global().async(group: writer) {
      var generation: UInt64 = 0
      while !stop.withLock({ $0 }) {
        generation += 1
        let value =
          withUnsafeBytes(of: generation) { Array($0) } + [UInt8](repeating: 7, count: 300)
        do {
          try store.write { tx in
            let tree = try tx.tree(named: "data")!
            // Some keys each time, so increments hold part of the tree.
            for key in stride(from: Int(generation % 5), to: 200, by: 5) {
              try tree.insert(value, forKey: [UInt8(key)])
            }
          }
          let committed = try store.newestMeta().transaction
          log.withLock { $0[committed] = generation }
        } catch {
          Issue.record("the writer failed: \(error)")
          return
        }
      }
    }
    defer {
      stop.withLock { $0 = true }
      writer.wait()
    }
    /// The newest generation of each key in a vault file, keyed by key.
    func contents(_ path: String) throws -> [UInt8: UInt64] {
      let copy = try VaultStore.open(
        at: path, credential: testCredential, options: .init(readOnly: true))
      return try copy.read { snapshot in
        var seen = [UInt8: UInt64]()
        try snapshot.tree(named: "data")?.scan { key, value in
          seen[key[0]] = value.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
          return true
        }
        return seen
      }
    }
    /// What every key holds after commit `transaction`, replayed from the writer's log.
    func expected(at transaction: TransactionID) -> [UInt8: UInt64] {
      // The writer logs a commit just after it returns.
      for _ in 0..<2_000 where log.withLock({ $0[transaction] }) == nil { usleep(1_000) }
      let generations = log.withLock { $0 }.filter { $0.key <= transaction }.values.sorted()
      var values = [UInt8: UInt64]()
      for key in 0..<200 { values[UInt8(key)] = 0 }
      for generation in generations where generation > 0 {
        for key in stride(from: Int(generation % 5), to: 200, by: 5) {
          values[UInt8(key)] = generation
        }
      }
      return values
    }
    let reader = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    var chain = [String]()
    var transactions = Set<TransactionID>()
    for round in 0..<5 {
      // Let the writer commit between backups.
      let before = try reader.newestMeta().transaction
      var waited = 0
      while try reader.newestMeta().transaction < before.next.next, waited < 10_000 {
        usleep(1_000)
        waited += 1
      }
      let full = dir.file("copy-\(round).vault")
      let report = try Backup.copy(reader, to: full)
      transactions.insert(report.transaction)
      #expect(Checker.check(path: full).ok, "round \(round)")
      #expect(try contents(full) == expected(at: report.transaction), "round \(round)")
      #expect(log.withLock { $0[report.transaction] } != nil, "round \(round): not a commit")
      // The chain: the first full backup, then an increment each round.
      let link = dir.file("chain-\(round)")
      let made =
        chain.isEmpty
        ? try Backup.copy(reader, to: link)
        : try Backup.copyIncremental(reader, from: chain.last!, to: link)
      chain.append(link)
      let restored = dir.file("restored-\(round).vault")
      let rebuilt = try Backup.restore(
        base: chain[0], increments: Array(chain.dropFirst()), to: restored)
      #expect(rebuilt.transaction == made.transaction)
      #expect(try contents(restored) == expected(at: made.transaction), "round \(round)")
    }
    #expect(transactions.count >= 2)
  }

  // MARK: Incremental backups

  /// A full backup, then two incremental ones after uploads, record changes and a
  /// deletion: restoring the chain gives the full backup of the newest commit, byte for
  /// byte, and the increments hold only what changed.
  @Test func anIncrementalChainRestoresExactlyTheFullBackupOfItsNewestCommit() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let first = try BlobTests.upload(
      BlobTests.content(6 * BlobTests.chunk, compressible: false, seed: 31), by: studio.owner,
      into: studio.project)
    let source = studio.store.sealed.store.path
    let full = dir.file("full.vault")
    #expect(vault("backup", source, full).status == 0)

    let second = BlobTests.content(2 * BlobTests.chunk + 9, compressible: false, seed: 32)
    let receipt = try BlobTests.upload(second, by: studio.owner, into: studio.project)
    try studio.owner.write { records, scope throws(VaultError) in
      var project = try records.get(.projects, studio.project, scope: scope)!
      project["title"] = .string("Lima wedding, moved to June")
      try records.update(project, scope: scope)
    }
    let one = dir.file("one.svinc")
    let made = vault(
      "backup", source, one, "--incremental-from", full, "--verify", "--json")
    #expect(made.status == 0, "\(made.errors)")
    let report = try parseJSON(made.output)
    #expect(report["ok"] as? Bool == true)
    let fullTransaction = try parseJSON(vault("info", full, "--json").output)["transactionId"]
    #expect(report["baseTransactionId"] as? Int == fullTransaction as? Int)
    let oneTransaction = report["transactionId"] as? Int
    // The first upload's six extents did not change: they are not in the increment.
    let copied = report["pagesCopied"] as? Int ?? .max
    #expect(copied < (report["pageCount"] as? Int ?? 0) - 6 * BlobTests.chunk / 4096)

    try studio.owner.deleteBlob(first.blob, proof: ownerPassword)
    let two = dir.file("two.svinc")
    #expect(vault("backup", source, two, "--incremental-from", one).status == 0)
    let newest = dir.file("newest.vault")
    #expect(vault("backup", source, newest).status == 0)

    let restored = dir.file("restored.vault")
    let restore = vault("restore", full, one, two, restored, "--json")
    #expect(restore.status == 0, "\(restore.errors)")
    #expect(
      try Data(contentsOf: URL(fileURLWithPath: restored))
        == Data(contentsOf: URL(fileURLWithPath: newest)))
    let copy = try RecordStore.open(at: restored, credential: testCredential)
    let (owner, _) = try copy.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: studio.clock.read)
    #expect(
      try owner.get(.projects, studio.project)?.text("title") == "Lima wedding, moved to June")
    #expect(try BlobTests.readAll(owner.openBlob(receipt.blob)) == second)
    #expect(throws: VaultError.self) { try owner.openBlob(first.blob) }
    #expect(Checker.check(path: restored).ok)

    // A restore up to the first increment gives that commit.
    #expect(vault("restore", full, one, dir.file("middle.vault")).status == 0)
    #expect(Checker.check(path: dir.file("middle.vault")).ok)
    let middle = try parseJSON(vault("info", dir.file("middle.vault"), "--json").output)
    #expect(middle["transactionId"] as? Int == oneTransaction)

    // Chains that do not fit together are refused, and leave nothing behind.
    #expect(vault("restore", full, two, one, dir.file("r1.vault")).status == 64)
    // An increment given again after the chain moved past its base.
    #expect(vault("restore", full, one, two, one, dir.file("r5.vault")).status == 64)
    #expect(vault("restore", full, two, dir.file("r2.vault")).status == 64)
    #expect(vault("restore", one, two, dir.file("r3.vault")).status == 64)
    #expect(vault("restore", full, dir.file("absent.svinc"), dir.file("r4.vault")).status == 66)
    #expect(vault("restore", full, one, restored).status == 64)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { file in
      file.contains(".partial") || file.contains(".restoring")
        || ["r1", "r2", "r3", "r4", "r5"].contains { file.hasPrefix($0) }
    }
    #expect(leftovers.isEmpty, "\(leftovers)")
  }

  /// An increment made when nothing changed holds the headers and the meta page; one
  /// from a backup of another vault, of a commit the source is behind, or of another
  /// branch of the source's history, is refused.
  @Test func incrementsAreRefusedOutsideTheSourcesHistory() throws {
    let dir = TemporaryDirectory()
    let store = try VaultStore.create(at: dir.file("a.vault"), credential: testCredential)
    func put(_ key: UInt8, _ fill: UInt8, in store: VaultStore) throws {
      try store.write { tx in
        try tx.tree(named: "data")!.insert([UInt8](repeating: fill, count: 100), forKey: [key])
      }
    }
    try store.write { tx in
      let tree = try tx.createTree(named: "data")
      for key in 0..<200 {
        try tree.insert([UInt8](repeating: 1, count: 100), forKey: [UInt8(key)])
      }
    }
    let full = dir.file("full.vault")
    _ = try Backup.copy(store, to: full)
    let same = try Backup.copyIncremental(store, from: full, to: dir.file("same.svinc"))
    #expect(same.pagesCopied == 3)
    #expect(Backup.verifyIncremental(at: dir.file("same.svinc")).isEmpty)

    let other = try VaultStore.create(at: dir.file("b.vault"), credential: testCredential)
    #expect {
      try Backup.copyIncremental(other, from: full, to: dir.file("x.svinc"))
    } throws: { ($0 as? VaultError)?.code == .invalidArgument }

    // Another branch of history: a copy of the full backup, written to on its own.
    let fork = dir.file("fork.vault")
    try FileManager.default.copyItem(atPath: full, toPath: fork)
    let forked = try VaultStore.open(at: fork, credential: testCredential)
    try put(0, 7, in: forked)
    try put(100, 7, in: forked)
    let diverged = dir.file("diverged.vault")
    _ = try Backup.copy(forked, to: diverged)
    // The source is behind the fork's commit: refused.
    try put(0, 8, in: store)
    #expect {
      try Backup.copyIncremental(store, from: diverged, to: dir.file("y.svinc"))
    } throws: { ($0 as? VaultError)?.code == .invalidArgument }
    // The source is ahead, but a page it kept from its own commit 2 is not the fork's.
    try put(199, 8, in: store)
    try put(100, 8, in: store)
    #expect {
      try Backup.copyIncremental(store, from: diverged, to: dir.file("z.svinc"))
    } throws: { ($0 as? VaultError)?.code == .invalidArgument }
    #expect(!FileManager.default.fileExists(atPath: dir.file("z.svinc")))
  }

  /// A damaged increment: `--verify` lists the page, and a restore refuses it.
  @Test func aDamagedIncrementIsFoundByVerifyAndRefusedByRestore() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("a.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    try store.write { tx in _ = try tx.createTree(named: "data") }
    let full = dir.file("full.vault")
    _ = try Backup.copy(store, to: full)
    try store.write { tx in
      let tree = try tx.tree(named: "data")!
      for key in 0..<100 {
        try tree.insert([UInt8](repeating: 9, count: 500), forKey: [UInt8(key)])
      }
    }
    let increment = dir.file("inc.svinc")
    _ = try Backup.copyIncremental(store, from: full, to: increment)
    #expect(Backup.verifyIncremental(at: increment).isEmpty)
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: increment)))
    bytes[bytes.count - 5000] ^= 0x40
    try Data(bytes).write(to: URL(fileURLWithPath: increment))
    #expect(!Backup.verifyIncremental(at: increment).isEmpty)
    #expect(throws: VaultError.self) {
      try Backup.restore(base: full, increments: [increment], to: dir.file("r.vault"))
    }
    // Cut short, and with a damaged table.
    try Data(bytes.prefix(bytes.count - 100)).write(to: URL(fileURLWithPath: increment))
    #expect(vault("restore", full, increment, dir.file("r.vault")).status == 65)
    bytes[200] ^= 1
    try Data(bytes).write(to: URL(fileURLWithPath: increment))
    #expect(vault("restore", full, increment, dir.file("r.vault")).status == 65)
    #expect(!FileManager.default.fileExists(atPath: dir.file("r.vault")))
  }

  /// Forged heads: counts that would overflow, runs over meta pages, a bad checksum.
  @Test func forgedIncrementalHeadsAreRefused() throws {
    let good = IncrementalBackup(
      pageSize: 4096, vaultID: [UInt8](repeating: 4, count: 16),
      base: .init(transaction: TransactionID(3), metaChecksum: Checksum(low: 1, high: 2)),
      state: .init(transaction: TransactionID(5), metaChecksum: Checksum(low: 3, high: 4)),
      pageCount: 40,
      runs: [
        .init(first: PageNumber(0), pages: 1, transaction: TransactionID(5), checksum: .zero),
        .init(first: PageNumber(1), pages: 1, transaction: TransactionID(5), checksum: .zero),
        .init(first: PageNumber(11), pages: 1, transaction: TransactionID(5), checksum: .zero),
        .init(first: PageNumber(25), pages: 3, transaction: TransactionID(4), checksum: .zero),
      ],
      references: [
        PageLink(page: PageNumber(30), transaction: TransactionID(2), checksum: .zero)
      ])
    let encoded = good.encodeHead()
    #expect(try IncrementalBackup(decoding: encoded) == good)
    func reencoded(_ change: (inout IncrementalBackup) -> Void) -> [UInt8] {
      var head = good
      change(&head)
      return head.encodeHead()
    }
    // A run over the other meta slot, an extent across it, a run past the end.
    for forged in [
      reencoded {
        $0.runs.insert(
          .init(first: PageNumber(2), pages: 1, transaction: TransactionID(5), checksum: .zero),
          at: 2)
      },
      reencoded {
        $0.runs[3] = .init(
          first: PageNumber(9), pages: 4, transaction: TransactionID(4), checksum: .zero)
      },
      reencoded { $0.runs[3].pages = 100 },
      reencoded { $0.references[0].transaction = TransactionID(4) },
    ] {
      #expect(throws: VaultError.self) { try IncrementalBackup(decoding: forged) }
    }
    // Counts whose products overflow, in a head of the right length otherwise.
    var huge = encoded
    huge.replaceSubrange(
      96..<104, with: withUnsafeBytes(of: UInt64(1 << 59).littleEndian) { Array($0) })
    #expect(throws: VaultError.self) { try IncrementalBackup(decoding: huge) }
    #expect(throws: VaultError.self) {
      try IncrementalBackup.headLength(header: Array(huge.prefix(128)), fileSize: 1 << 40)
    }
    var flipped = encoded
    flipped[150] ^= 1
    #expect(throws: VaultError.self) { try IncrementalBackup(decoding: flipped) }
  }
}
