import Foundation
import Synchronization
import Testing
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault

/// Failed logins over a driven clock: escalating delays that say when to retry, the
/// same for unknown names, a lock at 100 until an admin unlocks, and spikes logged.
@Suite struct ThrottlingTests {
  static let start: Int64 = 1_796_400_000_000
  static let password = "a password long enough for staff"

  func attempt(
    _ store: RecordStore, _ name: String, _ password: String, at now: Int64
  ) -> VaultError? {
    do {
      _ = try store.authenticate(user: name, password: SecretBytes(utf8: password), now: now)
      return nil
    } catch {
      return error
    }
  }

  @Test func delaysEscalateAndSayWhenToRetry() throws {
    let dir = TemporaryDirectory()
    let (store, _, _) = try SessionTests.studio(dir)
    var now = Self.start
    // Three failures cost nothing but the failure.
    for _ in 0..<3 {
      #expect(attempt(store, "clerk", "wrong password!!", at: now)?.code == .wrongPassword)
      now += 10
    }
    #expect(attempt(store, "clerk", "wrong password!!", at: now)?.code == .wrongPassword)
    // Fourth failure: one second to wait, and the error says so; even the right
    // password is not checked until then.
    let early = attempt(store, "clerk", Self.password, at: now + 400)
    #expect(early?.code == .throttled && early?.message.contains("retry in 1 s") == true)
    #expect(attempt(store, "clerk", "wrong password!!", at: now + 1000)?.code == .wrongPassword)
    now += 1000
    #expect(
      attempt(store, "clerk", Self.password, at: now + 1999)?.message.contains("retry in 1 s")
        == true)
    // The right password after the wait logs in and clears the count.
    #expect(attempt(store, "clerk", Self.password, at: now + 2000) == nil)
    #expect(attempt(store, "clerk", "wrong password!!", at: now + 2001)?.code == .wrongPassword)
    #expect(attempt(store, "clerk", Self.password, at: now + 2002) == nil)
  }

  @Test func unknownNamesAreThrottledTheSameWay() throws {
    let dir = TemporaryDirectory()
    let (store, _, _) = try SessionTests.studio(dir)
    var known = [String]()
    var unknown = [String]()
    for index in 0..<5 {
      let now = Self.start + Int64(index) * 10
      known.append(attempt(store, "clerk", "wrong password!!", at: now)?.message ?? "")
      unknown.append(attempt(store, "nobody", "wrong password!!", at: now)?.message ?? "")
    }
    #expect(known == unknown, "\(known) vs \(unknown)")
    #expect(known.last?.contains("retry in") == true)
  }

  /// Attempts racing on one name each see the ones before: once the free failures are
  /// spent, of several simultaneous guesses only one is checked.
  @Test func concurrentAttemptsCannotAllPassTheSameCheck() throws {
    let dir = TemporaryDirectory()
    let (store, _, _) = try SessionTests.studio(dir)
    for index in 0..<3 {
      #expect(
        attempt(store, "clerk", "wrong password!!", at: Self.start + Int64(index))?.code
          == .wrongPassword)
    }
    let now = Self.start + 60_000
    let outcomes = Mutex<[VaultError.Code]>([])
    DispatchQueue.concurrentPerform(iterations: 4) { _ in
      let code = attempt(store, "clerk", "wrong password!!", at: now)?.code
      outcomes.withLock { $0.append(code ?? .internal) }
    }
    let codes = outcomes.withLock { $0 }
    #expect(codes.filter { $0 == .wrongPassword }.count == 1, "\(codes)")
    #expect(codes.filter { $0 == .throttled }.count == 3, "\(codes)")
  }

  @Test func aHundredFailuresLockUntilAnAdminUnlocks() throws {
    let dir = TemporaryDirectory()
    let (store, owner, _) = try SessionTests.studio(dir)
    var now = Self.start
    for _ in 0..<100 {
      #expect(attempt(store, "clerk", "wrong password!!", at: now)?.code == .wrongPassword)
      now += 16 * 60_000  // past the longest delay
    }
    let locked = attempt(store, "clerk", Self.password, at: now)
    #expect(locked?.code == .throttled && locked?.message.contains("admin") == true)
    try store.unlockLogins(of: "clerk", by: owner)
    #expect(attempt(store, "clerk", Self.password, at: now) == nil)
    let actions = try store.readAudit(scope: .all, actor: .system).entries.map(\.event.action)
    #expect(actions.contains(.userUnlocked))
    #expect(actions.filter { $0 == .loginFailed }.count >= 101)
  }

  /// Twenty failures within five minutes, over any names, is a spike: logged once for
  /// the branch and once for the organization per window.
  @Test func spikesOfFailuresAreLogged() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try SessionTests.studio(dir)
    for index in 0..<25 {
      // Spread over names so that no single name is throttled.
      _ = attempt(store, "clerk", "wrong password!!", at: Self.start + Int64(index) * 10_000)
      if index % 3 == 2 {
        _ = attempt(store, "clerk", Self.password, at: Self.start + Int64(index) * 10_000 + 1)
      }
    }
    let spikes = try store.readAudit(scope: .all, actor: .system).entries.filter {
      $0.event.action == .failedLoginSpike
    }
    #expect(spikes.count == 2, "\(spikes.map(\.event))")
    #expect(Set(spikes.map(\.event.branch)) == [nil, staff.branch?.bytes])
  }
}
