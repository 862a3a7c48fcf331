import Foundation
import Synchronization
import Testing
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault

/// A clock tests move by hand.
final class TestClock: Sendable {
  let milliseconds: Mutex<Int64>
  init(_ start: Int64) { milliseconds = Mutex(start) }
  func advance(by delta: Int64) { milliseconds.withLock { $0 += delta } }
  var read: @Sendable () -> Int64 { { [self] in milliseconds.withLock { $0 } } }
}

/// Capability handles: made only by login or from a live session, narrowing only,
/// checked against their session at every operation.
@Suite struct HandleTests {
  static let start = SessionTests.start

  @Test func handlesSeeTheirScopeAndOnlyNarrow() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try SessionTests.studio(dir)
    let clock = TestClock(Self.start)
    let (ownerHandle, _) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: clock.read)
    let (staffHandle, token) = try store.login(
      user: "clerk", password: SecretBytes(utf8: ThrottlingTests.password), clock: clock.read)
    #expect(!ownerHandle.description.contains("svs_") && !staffHandle.description.contains(token))
    let downtown = try #require(staff.branch)
    let harbor = try #require(
      try store.read { snapshot throws(VaultError) in
        try snapshot.id(named: "Harbor", in: .branches)
      })
    // Clients in both branches; the staff handle sees its own branch only.
    let ids = try ownerHandle.write { records, scope throws(VaultError) -> [RecordID] in
      var result = [RecordID]()
      for (name, branch) in [("Ana Lima", downtown), ("Bo Chen", harbor)] {
        var client = Record(.clients, branch: branch)
        client["displayName"] = .string(name)
        result.append(try records.insert(client, scope: scope).id!)
      }
      return result
    }
    #expect(try staffHandle.get(.clients, ids[0])?.text("displayName") == "Ana Lima")
    #expect(try staffHandle.get(.clients, ids[1]) == nil)
    #expect(try staffHandle.list(.clients).records.count == 1)
    #expect(try ownerHandle.list(.clients).records.count == 2)
    // The owner's handle narrows to a branch; the staff handle cannot widen.
    let narrowed = try ownerHandle.narrowed(toBranch: harbor)
    #expect(try narrowed.list(.clients).records.map(\.id) == [ids[1]])
    #expect(throws: VaultError.self) { _ = try staffHandle.narrowed(toBranch: harbor) }
    #expect(try narrowed.narrowed(toBranch: harbor).scope == .branch(harbor))
    #expect(throws: VaultError.self) { _ = try narrowed.narrowed(toBranch: downtown) }
    // Read-only refuses writes, and stays read-only when narrowed.
    let reader = ownerHandle.readOnly()
    #expect(throws: VaultError.self) {
      try reader.write { _, _ throws(VaultError) in }
    }
    #expect(throws: VaultError.self) {
      try reader.narrowed(toBranch: harbor).write { _, _ throws(VaultError) in }
    }
    #expect(try reader.get(.clients, ids[1]) != nil)
    // Narrowed to a branch, the owner's handle reads that branch's audit entries only.
    let entries = try narrowed.readAudit().entries
    #expect(entries.allSatisfy { $0.event.branch == harbor.bytes })
    #expect(try ownerHandle.readAudit().entries.count > entries.count + 5)
    _ = owner
  }

  @Test func revokedOrExpiredSessionsKillTheirHandles() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try SessionTests.studio(dir)
    let clock = TestClock(Self.start)
    let (handle, token) = try store.login(
      user: "clerk", password: SecretBytes(utf8: ThrottlingTests.password), clock: clock.read)
    _ = try handle.list(.clients)
    // A handle made again from the token works; after revocation neither does.
    let again = try store.handle(session: token, clock: clock.read)
    _ = try again.list(.clients)
    try store.revokeSessions(of: staff.user, actor: .system)
    #expect(throws: VaultError.self) { _ = try handle.list(.clients) }
    #expect(throws: VaultError.self) { _ = try again.get(.clients, RecordID.random()) }
    #expect(throws: VaultError.self) { _ = try store.handle(session: token, clock: clock.read) }
    // Expiry: thirty idle days end the session, and the handle with it.
    let (fresh, _) = try store.login(
      user: "clerk", password: SecretBytes(utf8: ThrottlingTests.password), clock: clock.read)
    clock.advance(by: 29 * SessionLimits.day)
    _ = try fresh.list(.clients)
    clock.advance(by: 30 * SessionLimits.day)
    #expect(throws: VaultError.self) { _ = try fresh.list(.clients) }
  }

  /// A handle narrows in time too: an expiry of its own, never later than its parent's,
  /// kept by further narrowing; the session itself lives on.
  @Test func handlesNarrowInTime() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try SessionTests.studio(dir)
    let clock = TestClock(Self.start)
    let (handle, _) = try store.login(
      user: "clerk", password: SecretBytes(utf8: ThrottlingTests.password), clock: clock.read)
    let task = handle.expiring(at: Self.start + 60_000)
    let later = task.expiring(at: Self.start + 3_600_000)
    let narrowed = try task.narrowed(toBranch: try #require(staff.branch)).readOnly()
    #expect(later.notAfter == Self.start + 60_000 && narrowed.notAfter == Self.start + 60_000)
    #expect(task.sessionID == handle.sessionID && !task.sessionID.isEmpty)
    _ = try task.list(.clients)
    clock.advance(by: 59_999)
    _ = try narrowed.list(.clients)
    clock.advance(by: 1)
    for expired in [task, later, narrowed] {
      #expect(throws: VaultError.self) { _ = try expired.list(.clients) }
    }
    _ = try handle.list(.clients)
  }
}
