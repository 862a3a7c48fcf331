import Foundation
import Testing
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault

/// Step-up proofs: bound to a session, an action and a resource, five minutes, once.
@Suite struct StepUpTests {
  static let start = SessionTests.start
  static let password = ThrottlingTests.password

  @Test func aProofServesOneActionOfItsSessionOnce() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try SessionTests.studio(dir)
    let (_, session) = try store.openSession(
      for: staff, rememberMe: false, label: "a", now: Self.start)
    let (_, otherSession) = try store.openSession(
      for: staff, rememberMe: false, label: "b", now: Self.start)
    let target = RecordID.random()
    func proof(at now: Int64) throws -> String {
      try store.stepUp(
        session: session, password: SecretBytes(utf8: Self.password), action: .refundRequest,
        resource: target, now: now)
    }
    func consume(
      _ proof: String, session: String, action: HighRiskAction = .refundRequest,
      resource: RecordID?, at now: Int64
    ) -> Bool {
      do {
        try store.sealed.write { tx throws(VaultError) in
          try tx.consumeStepUp(
            proof, session: session, action: action, resource: resource, now: now)
        }
        return true
      } catch {
        #expect(error.code == .policyViolation && error.message.contains("step-up"))
        return false
      }
    }
    // Good once, then never again.
    let first = try proof(at: Self.start)
    #expect(consume(first, session: session, resource: target, at: Self.start + 1))
    #expect(!consume(first, session: session, resource: target, at: Self.start + 2))
    // Bound to its session, action and resource; nothing is consumed on refusal.
    let second = try proof(at: Self.start)
    #expect(!consume(second, session: otherSession, resource: target, at: Self.start + 1))
    #expect(
      !consume(
        second, session: session, action: .clientExport, resource: target, at: Self.start + 1))
    #expect(!consume(second, session: session, resource: RecordID.random(), at: Self.start + 1))
    #expect(!consume(second, session: session, resource: nil, at: Self.start + 1))
    // Five minutes: good a millisecond before, refused at the limit.
    #expect(consume(second, session: session, resource: target, at: Self.start + 5 * 60_000 - 1))
    let third = try proof(at: Self.start)
    #expect(!consume(third, session: session, resource: target, at: Self.start + 5 * 60_000))
    // Malformed proofs are refused alike.
    for bogus in ["", "svp_", "svp_00", "svs_" + String(repeating: "0", count: 64)] {
      #expect(!consume(bogus, session: session, resource: target, at: Self.start))
    }
  }

  /// The organization's `stepUpMinutes` sets how long proofs last.
  @Test func theOrganizationSetsTheProofLifetime() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try SessionTests.studio(dir)
    try store.write(actor: owner.user) { tx throws(VaultError) in
      var settings = try tx.settings()
      settings["stepUpMinutes"] = .integer(10)
      _ = try tx.update(settings, scope: .organization)
    }
    let (_, session) = try store.openSession(
      for: staff, rememberMe: false, label: "a", now: Self.start)
    func proof() throws -> String {
      try store.stepUp(
        session: session, password: SecretBytes(utf8: Self.password), action: .clientExport,
        now: Self.start)
    }
    func consume(_ proof: String, at now: Int64) throws(VaultError) {
      try store.sealed.write { tx throws(VaultError) in
        try tx.consumeStepUp(
          proof, session: session, action: .clientExport, resource: nil, now: now)
      }
    }
    try consume(try proof(), at: Self.start + 10 * 60_000 - 1)
    let late = try proof()
    #expect(throws: VaultError.self) { try consume(late, at: Self.start + 10 * 60_000) }
  }

  /// A proof consumed by an action that then fails is not spent.
  @Test func aFailedActionKeepsItsProof() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try SessionTests.studio(dir)
    let (_, session) = try store.openSession(
      for: staff, rememberMe: false, label: "a", now: Self.start)
    let proof = try store.stepUp(
      session: session, password: SecretBytes(utf8: Self.password), action: .clientExport,
      now: Self.start)
    #expect(throws: VaultError.self) {
      try store.sealed.write { tx throws(VaultError) in
        try tx.consumeStepUp(
          proof, session: session, action: .clientExport, resource: nil, now: Self.start)
        throw VaultError(.invalidArgument, "the action failed")
      }
    }
    try store.sealed.write { tx throws(VaultError) in
      try tx.consumeStepUp(
        proof, session: session, action: .clientExport, resource: nil, now: Self.start)
    }
  }

  /// A wrong password gives no proof, is logged, and counts toward throttling; an
  /// expired session cannot step up at all.
  @Test func aWrongPasswordGivesNoProof() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try SessionTests.studio(dir)
    let (_, session) = try store.openSession(
      for: staff, rememberMe: false, label: "a", now: Self.start)
    for offset in 0..<4 {
      #expect(throws: VaultError.self) {
        _ = try store.stepUp(
          session: session, password: SecretBytes(utf8: "not the password!"),
          action: .projectDeletion, now: Self.start + Int64(offset))
      }
    }
    do {
      _ = try store.stepUp(
        session: session, password: SecretBytes(utf8: Self.password), action: .projectDeletion,
        now: Self.start + 10)
      Issue.record("a throttled name stepped up")
    } catch {
      #expect(error.code == .throttled)
    }
    let entries = try store.readAudit(scope: .all, actor: .system).entries
    #expect(entries.filter { $0.event.action == .stepUpFailed }.count == 5)
    #expect(!entries.contains { $0.event.action == .stepUpSucceeded })
    #expect(throws: VaultError.self) {
      _ = try store.stepUp(
        session: session, password: SecretBytes(utf8: Self.password), action: .projectDeletion,
        now: Self.start + 31 * SessionLimits.day)
    }
  }
}
