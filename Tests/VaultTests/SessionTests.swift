import Foundation
import Testing
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault

/// Sessions driven through time (../shared/spec/access.md, Sessions): rolling expiry,
/// the absolute cap, remember-me by role, revocation, each at its boundary.
@Suite struct SessionTests {
  static let day = SessionLimits.day
  static let start: Int64 = 1_796_400_000_000

  /// A studio with the owner and a staff member, both logged in.
  static func studio(_ dir: TemporaryDirectory) throws -> (
    RecordStore, owner: RecordStore.Principal, staff: RecordStore.Principal
  ) {
    let (store, _, downtown, _) = try studioStore(dir)
    let owner = try store.authenticate(user: "owner", password: SecretBytes(utf8: ownerPassword))
    let password = "a password long enough for staff"
    try store.write(actor: owner.user) { tx throws(VaultError) in
      var user = Record(.users, branch: downtown)
      user["name"] = .string("clerk")
      user["role"] = .string("staff")
      user["status"] = .string("active")
      user["passwordHash"] = .string(
        try PasswordHash.hash(SecretBytes(utf8: password), parameters: cheapKeyDerivation))
      _ = try tx.insertTrusted(user, scope: .organization)
    }
    let staff = try store.authenticate(user: "clerk", password: SecretBytes(utf8: password))
    return (store, owner, staff)
  }

  @Test func aStandardSessionRollsForThirtyDaysUpToNinety() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try Self.studio(dir)
    let (opened, token) = try store.openSession(
      for: staff, rememberMe: false, label: "laptop", now: Self.start)
    #expect(opened.expiresAt == Self.start + 30 * Self.day)
    #expect(opened.capAt == Self.start + 90 * Self.day)
    // Idle: good one millisecond before 30 days, then each use pushes expiry on.
    var now = Self.start + 30 * Self.day - 1
    let (principal, session) = try store.resumeSession(token: token, now: now)
    #expect(principal.user == staff.user && principal.role == "staff")
    #expect(session.expiresAt == now + 30 * Self.day)
    // Used every 29 days, it lives until the cap, and not a millisecond more.
    now += 29 * Self.day
    _ = try store.resumeSession(token: token, now: now)
    now += 29 * Self.day
    #expect(
      try store.resumeSession(token: token, now: now).session.expiresAt
        == Self.start + 90 * Self.day)
    _ = try store.resumeSession(token: token, now: Self.start + 90 * Self.day - 1)
    #expect(throws: VaultError.self) {
      _ = try store.resumeSession(token: token, now: Self.start + 90 * Self.day)
    }
    // Expired sessions are gone, not just refused.
    #expect(try store.sessions(of: staff.user, now: Self.start).isEmpty)

    // Idle expiry: exactly 30 days after the last use is too late.
    let (_, idle) = try store.openSession(
      for: staff, rememberMe: false, label: "phone", now: Self.start)
    #expect(throws: VaultError.self) {
      _ = try store.resumeSession(token: idle, now: Self.start + 30 * Self.day)
    }
  }

  @Test func rememberMeIsNinetyAndAYearExceptForOwnersAndHQ() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try Self.studio(dir)
    let (remembered, token) = try store.openSession(
      for: staff, rememberMe: true, label: "studio mac", now: Self.start)
    #expect(remembered.expiresAt == Self.start + 90 * Self.day)
    #expect(remembered.capAt == Self.start + 365 * Self.day)
    var now = Self.start
    for _ in 0..<4 {
      now += 89 * Self.day
      _ = try store.resumeSession(token: token, now: now)
    }
    #expect(throws: VaultError.self) {
      _ = try store.resumeSession(token: token, now: Self.start + 365 * Self.day)
    }
    // An owner asking to be remembered gets the standard session.
    let (ownerSession, _) = try store.openSession(
      for: owner, rememberMe: true, label: "owner laptop", now: Self.start)
    #expect(ownerSession.capAt == Self.start + 90 * Self.day)
    #expect(ownerSession.expiresAt == Self.start + 30 * Self.day)
  }

  /// A command's login is one commit: the login, its session and its step-up proof,
  /// logged in the order they happened.
  @Test func aCommandLoginLogsTheLoginThenItsStepUp() throws {
    let dir = TemporaryDirectory()
    let (store, _, _) = try Self.studio(dir)
    let before = try AuditVerification.verify(store.sealed.store).entries
    let (_, proof) = try store.loginForCommand(
      user: "owner", password: SecretBytes(utf8: ownerPassword),
      stepUp: (.securityPolicyChange, { _, _ throws(VaultError) in nil }))
    #expect(proof != nil)
    let entries = try store.readAudit(scope: .all, actor: .system, from: before).entries
    #expect(
      entries.map(\.event.action).prefix(2) == [.loginSucceeded, .stepUpSucceeded],
      "\(entries.map(\.event.action))")
  }

  @Test func revokedSessionsAndBadTokensAreRefusedAlike() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try Self.studio(dir)
    let (first, firstToken) = try store.openSession(
      for: staff, rememberMe: false, label: "a", now: Self.start)
    let (_, secondToken) = try store.openSession(
      for: staff, rememberMe: false, label: "b", now: Self.start + 1)
    let (third, thirdToken) = try store.openSession(
      for: staff, rememberMe: false, label: "c", now: Self.start + 2)
    #expect(
      try store.sessions(of: staff.user, now: Self.start + 3).map(\.label) == ["a", "b", "c"])
    // Revoke one by its id; then all but the current one (by an admin).
    #expect(try store.revokeSessions(of: staff.user, id: first.id, actor: staff.auditActor) == 1)
    #expect(
      try store.revokeSessions(of: staff.user, keeping: third.id, actor: owner.auditActor) == 1)
    for token in [firstToken, secondToken] {
      #expect(throws: VaultError.self) {
        _ = try store.resumeSession(token: token, now: Self.start + 10)
      }
    }
    #expect(
      try store.resumeSession(token: thirdToken, now: Self.start + 10).principal.user
        == staff.user)
    // Not tokens at all, and a well-formed one nobody issued: the same refusal.
    for bogus in ["", "svs_", "svs_zz", "svs_" + String(repeating: "ab", count: 32)] {
      do {
        _ = try store.resumeSession(token: bogus, now: Self.start)
        Issue.record("token \(bogus) accepted")
      } catch {
        #expect(error.code == .wrongPassword && error.message.contains("log in again"))
      }
    }
    let revoked = try store.readAudit(scope: .all, actor: .system).entries.filter {
      $0.event.action == .sessionRevoked
    }
    #expect(revoked.count == 2 && revoked.allSatisfy { $0.event.targets == [staff.user.bytes] })
    // Tokens never reach a description or the stored session.
    #expect(!String(describing: third).contains(thirdToken.dropFirst(4)))
  }

  /// A role change or a disabled account ends every session of the user at once.
  @Test func roleChangesAndDisablingRevokeSessions() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try Self.studio(dir)
    let (_, token) = try store.openSession(
      for: staff, rememberMe: true, label: "a", now: Self.start)
    let (_, ownerToken) = try store.openSession(
      for: owner, rememberMe: false, label: "b", now: Self.start)
    try store.write(actor: owner.user) { tx throws(VaultError) in
      guard var user = try tx.get(.users, staff.user, scope: .organization) else {
        throw VaultError(.noSuchRecord, "the staff member vanished")
      }
      user["role"] = .string("branchManager")
      _ = try tx.update(user, scope: .organization)
    }
    #expect(throws: VaultError.self) {
      _ = try store.resumeSession(token: token, now: Self.start + 1)
    }
    #expect(try store.sessions(of: staff.user, now: Self.start + 1).isEmpty)
    // Other users' sessions are untouched; the revocation is on the record.
    _ = try store.resumeSession(token: ownerToken, now: Self.start + 1)
    let entries = try store.readAudit(scope: .all, actor: .system).entries
    #expect(
      entries.contains {
        $0.event.action == .sessionRevoked && $0.event.targets == [staff.user.bytes]
      })
  }

  /// Expiry is not decided on a clock that went back: refused, and on the record.
  @Test func aClockGoneBackIsRefusedForExpiry() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try Self.studio(dir)
    let (_, token) = try store.openSession(
      for: staff, rememberMe: false, label: "a", now: Self.start)
    _ = try store.resumeSession(token: token, now: Self.start + Self.day)
    // Within the tolerance (five minutes back) it is still fine.
    _ = try store.resumeSession(token: token, now: Self.start + Self.day - 4 * 60_000)
    #expect(throws: VaultError.self) {
      _ = try store.resumeSession(token: token, now: Self.start + Self.day - 6 * 60_000)
    }
    let entries = try store.readAudit(scope: .all, actor: .system).entries
    #expect(entries.contains { $0.event.action == .clockRollback && $0.event.outcome == .denied })
    // The session survives a bad clock.
    _ = try store.resumeSession(token: token, now: Self.start + Self.day + 1)
  }
}

/// The organization's session caps (FORMAT.md 21): tighter than the policy, never
/// looser, for sessions opened after they are set.
@Suite struct SessionCapTests {
  @Test func theOrganizationCapsSessionsTighterThanThePolicy() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try SessionTests.studio(dir)
    let day = SessionLimits.day
    let start = SessionTests.start
    let (before, _) = try store.openSession(
      for: staff, rememberMe: false, label: "before", now: start)
    #expect(before.capAt == start + 90 * day)
    try store.write(actor: owner.user) { tx throws(VaultError) in
      var settings = try tx.settings()
      settings["sessionCapDays"] = .integer(7)
      settings["rememberedSessionCapDays"] = .integer(30)
      _ = try tx.update(settings, scope: .organization)
    }
    let (standard, _) = try store.openSession(
      for: staff, rememberMe: false, label: "laptop", now: start)
    #expect(standard.capAt == start + 7 * day && standard.expiresAt == start + 7 * day)
    let (remembered, token) = try store.openSession(
      for: staff, rememberMe: true, label: "phone", now: start)
    #expect(remembered.capAt == start + 30 * day && remembered.expiresAt == start + 30 * day)
    // Owners always get the standard limits: the standard cap applies to them, with
    // remember-me or not.
    let (ownerSession, _) = try store.openSession(
      for: owner, rememberMe: true, label: "owner", now: start)
    #expect(ownerSession.capAt == start + 7 * day)
    // Use does not push it past the cap.
    let (_, resumed) = try store.resumeSession(token: token, now: start + 29 * day)
    #expect(resumed.expiresAt == start + 30 * day)
    #expect(throws: VaultError.self) {
      _ = try store.resumeSession(token: token, now: start + 30 * day)
    }
    // A cap looser than the policy is refused.
    #expect(throws: VaultError.self) {
      try store.write(actor: owner.user) { tx throws(VaultError) in
        var settings = try tx.settings()
        settings["sessionCapDays"] = .integer(91)
        _ = try tx.update(settings, scope: .organization)
      }
    }
  }
}
