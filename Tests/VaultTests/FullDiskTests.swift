import Foundation
import Glibc
import Testing
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// A real full disk: a studio vault on a small tmpfs, filled until the file system
/// refuses, then given room again. Needs the right to mount (root, or CAP_SYS_ADMIN);
/// elsewhere it is skipped, and FaultInjectionTests' injected ENOSPC stands in.
@Suite struct FullDiskTests {
  /// A tmpfs of `megabytes` mounted at `path`, or nil when mounting is not allowed.
  static func mountTmpfs(at path: String, megabytes: Int) -> Bool {
    mkdir(path, 0o700)
    return mount("tmpfs", path, "tmpfs", 0, "size=\(megabytes)m,mode=0700") == 0
  }

  static let canMount: Bool = {
    let path = NSTemporaryDirectory() + "studiovault-mount-probe-\(getpid())"
    defer { rmdir(path) }
    guard mountTmpfs(at: path, megabytes: 1) else { return false }
    umount2(path, Int32(MNT_DETACH))
    return true
  }()

  @Test(.enabled(if: canMount, "mounting a tmpfs is not allowed here"))
  func aFullFileSystemFailsCommitsCleanlyAndWorkGoesOnOnceThereIsRoom() throws {
    let dir = TemporaryDirectory()
    let mountPoint = dir.file("small")
    try #require(Self.mountTmpfs(at: mountPoint, megabytes: 6))
    defer { umount2(mountPoint, Int32(MNT_DETACH)) }
    let (store, ownerID, downtown, _) = try studioStore(dir, name: "small/full.vault")
    let clock = TestClock(SessionTests.start)
    let (owner, _) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: clock.read)
    var random = SeededGenerator(seed: testSeed(0xD15C))
    let project = try store.write(actor: ownerID) { tx throws(VaultError) -> RecordID in
      var client = Record(.clients, branch: downtown)
      client["displayName"] = .string("Ana Lee")
      let clientID = try tx.insert(client, scope: .organization).id!
      var project = Record(.projects, branch: downtown)
      project["title"] = .string("Wedding")
      project["client"] = .bytes(clientID.bytes)
      return try tx.insert(project, scope: .organization).id!
    }

    /// Clients in batches of 20, each with 3 KiB of incompressible notes.
    var committed: [RecordID: String] = [:]
    func addClients() throws(VaultError) {
      var batch: [RecordID: String] = [:]
      try store.write(actor: ownerID) { tx throws(VaultError) in
        for _ in 0..<20 {
          let name = "Client \(random.next() % 1_000_000)"
          var client = Record(.clients, branch: downtown)
          client["displayName"] = .string(name)
          client["notes"] = .string(Hex.encode(random.bytes(1536)))
          batch[try tx.insert(client, scope: .organization).id!] = name
        }
      }
      committed.merge(batch) { $1 }
    }
    var refusal: VaultError?
    for _ in 0..<1000 {
      do throws(VaultError) {
        try addClients()
      } catch {
        refusal = error
        break
      }
    }
    let refused = try #require(refusal, "6 MiB never filled")
    #expect(refused.code == .noSpace, "\(refused)")
    #expect(committed.count > 100)
    // Full, it keeps refusing, typed (a smaller commit may still fit where the failed
    // one's growth left room: then it is committed, and counted).
    var refusals = 0
    for _ in 0..<20 {
      do throws(VaultError) {
        try addClients()
      } catch {
        #expect(error.code == .noSpace, "\(error)")
        refusals += 1
      }
    }
    #expect(refusals > 10)
    do {
      _ = try owner.storeBlob(random.bytes(4 << 20), into: project, fileName: "a.jpg")
      Issue.record("a 4 MiB upload into a full 6 MiB file system succeeded")
    } catch {
      #expect(error.code == .noSpace, "\(error)")
    }
    // Nothing committed was lost, nothing half-made is visible, the log verifies.
    func expectIntact(_ store: RecordStore, _ context: String) throws {
      for (id, name) in committed {
        let found = try store.read { snapshot throws(VaultError) in
          try snapshot.get(.clients, id, scope: .organization)
        }
        #expect(found?.text("displayName") == name, "\(context): client \(id)")
      }
      #expect(try store.all(.clients).count == committed.count + 1, "\(context)")
      let audit = try AuditVerification.verify(store.sealed.store)
      #expect(audit.ok, "\(context): \(audit.problems)")
      let report = Checker.check(path: store.sealed.store.path, credential: testCredential)
      #expect(report.ok, "\(context): \(report.problems)")
    }
    try expectIntact(store, "full")

    // Room again: the same store goes on, uploads included.
    #expect(mount("tmpfs", mountPoint, "tmpfs", UInt(MS_REMOUNT), "size=48m,mode=0700") == 0)
    for _ in 0..<5 { try addClients() }
    let bytes = random.bytes(1 << 20)
    let receipt = try owner.storeBlob(bytes, into: project, fileName: "a.jpg")
    #expect(try owner.openBlob(receipt.blob).read(at: 0, count: bytes.count + 1) == bytes)
    try expectIntact(store, "after room returned")
    let reopened = try RecordStore.open(
      at: store.sealed.store.path, credential: testCredential)
    try expectIntact(reopened, "reopened")
  }
}
