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
    // Never over an existing file, nor beside a lock file left by another vault there;
    // incremental backups are refused for now.
    #expect(vault("backup", source, target).status == 64)
    FileManager.default.createFile(atPath: dir.file("b1.vault-lock"), contents: Data())
    #expect(vault("backup", source, dir.file("b1.vault")).status == 64)
    #expect(
      vault("backup", source, dir.file("b2.vault"), "--incremental-from", target).status == 64)
    #expect(vault("backup", dir.file("missing.vault"), dir.file("b3.vault")).status == 66)
  }

  /// Backups taken while a writer rewrites every value of a tree with a new generation,
  /// commit after commit: each opens on one commit, whole.
  @Test func backupsWhileAWriterCommitsHoldOneCommitEach() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("busy.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    try store.write { tx in
      let tree = try tx.createTree(named: "data")
      for key in 0..<200 {
        try tree.insert(withUnsafeBytes(of: UInt64(0)) { Array($0) }, forKey: [UInt8(key)])
      }
    }
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
            for key in 0..<200 { try tree.insert(value, forKey: [UInt8(key)]) }
          }
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
    let reader = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    var transactions = Set<TransactionID>()
    for round in 0..<5 {
      // Let the writer commit between backups.
      let before = try reader.newestMeta().transaction
      var waited = 0
      while try reader.newestMeta().transaction < before.next.next, waited < 10_000 {
        usleep(1_000)
        waited += 1
      }
      let target = dir.file("copy-\(round).vault")
      let report = try Backup.copy(reader, to: target)
      transactions.insert(report.transaction)
      #expect(Checker.check(path: target).ok, "round \(round)")
      let copy = try VaultStore.open(
        at: target, credential: testCredential, options: .init(readOnly: true))
      let seen = try copy.read { snapshot in
        var generations = Set<UInt64>()
        try snapshot.tree(named: "data")?.scan { _, value in
          generations.insert(value.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
          return true
        }
        return generations
      }
      #expect(seen.count == 1, "round \(round): a backup mixes commits \(seen)")
      #expect(try copy.newestMeta().transaction == report.transaction)
    }
    #expect(transactions.count >= 2)
  }
}
