import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// Files crafted to mislead the engine: every one must fail with a typed error, and
/// recovery must never mistake a failed read for damage.
@Suite struct HostileFileTests {
  /// Rewrites both meta pages of the vault at `path` through `change`, sealed and with
  /// valid checksums, as a forger holding the key (or a bug) would.
  func forgeMetaPages(at path: String, _ change: (inout MetaPage) -> Void) throws {
    let store = try VaultStore.open(
      at: path, credential: testCredential, options: .init(readOnly: true))
    let pageSize = store.pageSize
    let cipher = try #require(store.reader.cipher)
    var nonces = PageNonce.Sequence()
    var replacements = [(UInt64, [UInt8])]()
    for slot in FileFormat.metaPages {
      var meta = try MetaPage(page: cipher.open(store.rawPage(slot)))
      change(&meta)
      replacements.append(
        (
          slot.rawValue,
          cipher.seal(meta.encode(pageSize: pageSize, sealed: true), nonce: nonces.next())
        ))
    }
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    for (page, bytes) in replacements {
      try handle.seek(toOffset: page * UInt64(pageSize))
      try handle.write(contentsOf: Data(bytes))
    }
    try handle.close()
    try? FileManager.default.removeItem(atPath: path + "-lock")
  }

  @Test(arguments: [UInt64(5), 1 << 40, UInt64.max / 4096 - 1])
  func impossiblePageCountsAreDamageNotATrap(pageCount: UInt64) throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    do {
      let store = try VaultStore.create(at: path, credential: testCredential)
      try store.write { tx in try tx.openTree(named: "t").insert([1], forKey: [1]) }
    }
    try forgeMetaPages(at: path) { $0.pageCount = pageCount }
    #expect {
      try VaultStore.open(at: path, credential: testCredential)
    } throws: { ($0 as? VaultError)?.code == .corruptPage }
    let report = Checker.check(path: path, credential: testCredential)
    #expect(!report.ok)
    for command in ["info", "check", "pages", "stats"] {
      #expect([1, 65].contains(vault(command, path).status), "vault \(command)")
    }
  }

  @Test func forgedOverflowLengthFailsWithoutAllocatingIt() throws {
    let dir = TemporaryDirectory()
    let store = try VaultStore.create(at: dir.file("v.vault"), credential: testCredential)
    let meta = try store.newestMeta()
    let head = PageLink(page: PageNumber(12), transaction: TransactionID(1), checksum: .zero)
    for length in [UInt64.max, UInt64.max / 2, 1 << 50] {
      #expect(throws: VaultError.self) {
        _ = try store.reader.overflowValue(head: head, length: length, tree: TreeID(16), in: meta)
      }
      #expect(throws: VaultError.self) {
        _ = try store.reader.overflowPages(head: head, length: length, tree: TreeID(16), in: meta)
      }
    }
  }

  /// A read error while verifying an unvouched commit must fail the open, not make
  /// recovery pass over the commit (and blank its meta page for good).
  @Test func aReadErrorDuringRecoveryDoesNotLoseTheNewestCommit() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    do {
      let store = try VaultStore.create(at: path, credential: testCredential)
      for round in 0..<3 {
        try store.write { tx in
          let tree = try tx.openTree(named: "t")
          for key in 0..<200 { try tree.insert([UInt8(round)], forKey: bytes("k\(key)")) }
        }
      }
    }
    // Without the lock file, the newest commit must be verified page by page.
    try FileManager.default.removeItem(atPath: path + "-lock")
    let image = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
    var opened = 0
    for failAt in 1...12 {
      let disk = SimulatedDisk(image: image)
      disk.failReads = (failAt, 1)
      do {
        let store = try VaultStore(
          path: dir.file("run-\(failAt).vault"), file: disk, options: .init(),
          credential: testCredential)
        opened += 1
        #expect(try store.read { try $0.tree(named: "t")?.value(forKey: bytes("k7")) } == [2])
      } catch {
        #expect((error as? VaultError)?.code == .io, "read failure \(failAt): \(error)")
      }
      // Whatever happened, the newest commit is still on the disk.
      let after = dir.file("after-\(failAt).vault")
      try Data(disk.imageWithEverything).write(to: URL(fileURLWithPath: after))
      let reopened = try VaultStore.open(at: after, credential: testCredential)
      #expect(try reopened.lastCommittedTransaction == TransactionID(4))
      #expect(try reopened.read { try $0.tree(named: "t")?.value(forKey: bytes("k7")) } == [2])
    }
    #expect(opened < 12, "some read failures should have hit recovery")
  }
}

/// The decoders of the encryption layer take bytes from the file: random and mutated
/// inputs must give typed errors, never a trap.
@Suite struct HostileKeyMaterialTests {
  @Test func randomBytesNeverTrapTheKeyDecoders() throws {
    let seed = testSeed(0xD0D0)
    var random = SeededGenerator(seed: seed)
    let vaultID = [UInt8](repeating: 1, count: 16)
    let binding = RecordBinding(vaultID: vaultID, collection: "clients", recordID: [1])
    let key = SymmetricKey.random()
    // Valid encodings to mutate, and random ones.
    let slot = try KeySlot.wrapping(
      key, under: .rawKey(key), parameters: .interactive, vaultID: vaultID
    ).encode()
    let record = SealedRecord.seal(
      [1, 2, 3], version: 1, keyReference: 2, dataKey: key, binding: binding
    ).encode()
    let entry = DataKeyEntry(
      wrapped: .wrap(key, kek: key, kekID: 1, binding: binding), recordID: [1]
    ).encode()
    var decoded = 0
    for round in 0..<3_000 {
      var bytes: [UInt8]
      switch round % 4 {
      case 0: bytes = random.bytes(Int.random(in: 0...200, using: &random))
      case 1: bytes = slot
      case 2: bytes = record
      default: bytes = entry
      }
      if round % 4 != 0 {
        // Flip, cut or extend.
        switch Int.random(in: 0..<3, using: &random) {
        case 0 where !bytes.isEmpty:
          bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8.random(
            in: 1...255, using: &random)
        case 1: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random)))
        default: bytes += random.bytes(Int.random(in: 1...20, using: &random))
        }
      }
      if let slot = try? KeySlot(decoding: bytes) {
        decoded += 1
        #expect(throws: VaultError.self, "seed \(seed)") {
          try slot.unlock(with: .rawKey(SymmetricKey.random()), vaultID: vaultID)
        }
      }
      if let sealed = try? SealedRecord(decoding: bytes) {
        decoded += 1
        _ = try? sealed.open(dataKey: key, binding: binding, maximumSize: 1 << 20)
      }
      if let found = try? DataKeyEntry(decoding: bytes) {
        decoded += 1
        _ = try? found.wrapped.unwrap(kek: key, binding: binding)
      }
      _ = try? SealedRecord.keyReference(of: bytes)
      _ = try? DataKeyEntry.kekID(of: bytes[...])
      _ = try? DataKeyEntry.rewrapped(
        bytes[...], from: key, to: key, newID: 2, vaultID: vaultID, collection: "clients")
      _ = try? SealedStore.RotationPosition.decode(bytes)
    }
    #expect(decoded > 100, "seed \(seed): the mutations never decoded")
  }
}
