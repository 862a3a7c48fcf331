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

  /// Every high-risk action a handle offers outside record workflows wants its own
  /// proof: none, another action's or a spent one is refused and logged; its own works
  /// once. Issuing a proof sweeps the expired ones.
  @Test func everyHighRiskHandleActionWantsItsOwnProof() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try SessionTests.studio(dir)
    let clock = TestClock(Self.start)
    let (owner, token) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: clock.read)
    func proof(_ action: HighRiskAction, _ resource: RecordID?) throws -> String {
      try store.stepUp(
        session: token, password: SecretBytes(utf8: ownerPassword), action: action,
        resource: resource, now: clock.read())
    }
    func denials() throws -> Int {
      try owner.readAudit().entries.filter { $0.event.action == .accessDenied }.count
    }
    let actions: [(HighRiskAction, RecordID?, (String) throws -> Void)] = [
      (.clientExport, nil, { _ = try owner.exportRecords(.clients, proof: $0) }),
      (
        .roleChange, staff.user,
        { try owner.changeRole(of: "clerk", to: "branchManager", proof: $0) }
      ),
      (.sessionTermination, staff.user, { try owner.endSessions(of: staff.user, proof: $0) }),
      (
        .roleChange, nil,
        {
          try owner.addUser(
            name: "new clerk", role: "staff", branch: staff.branch,
            password: SecretBytes(utf8: "a new clerk's long password"), proof: $0)
        }
      ),
      (.roleChange, staff.user, { try owner.setDisabled(false, user: "clerk", proof: $0) }),
      (.roleChange, staff.user, { try owner.unlockLogins(of: "clerk", proof: $0) }),
      (.secondFactorReset, staff.user, { try owner.removeSecondFactor(of: staff.user, proof: $0) }),
      (.keyRotation, nil, { try owner.rotateKeyEncryptionKey(proof: $0) }),
      (
        .passphraseChange, nil,
        {
          try owner.changeCredential(
            to: testCredential, keyDerivation: cheapKeyDerivation, proof: $0)
        }
      ),
    ]
    for (action, resource, perform) in actions {
      let before = try denials()
      #expect(throws: VaultError.self, "\(action) without a proof") { try perform("svp_00") }
      let wrong = try proof(action == .keyRotation ? .clientExport : .keyRotation, nil)
      #expect(throws: VaultError.self, "\(action) with another action's proof") {
        try perform(wrong)
      }
      #expect(try denials() == before + 2, "\(action)")
      let right = try proof(action, resource)
      try perform(right)
      #expect(throws: VaultError.self, "\(action) with a spent proof") { try perform(right) }
    }
    // Staff export nothing, with or without a proof.
    let (clerk, clerkToken) = try store.login(
      user: "clerk", password: SecretBytes(utf8: Self.password), clock: clock.read)
    _ = clerkToken
    #expect(throws: VaultError.self) { _ = try clerk.exportRecords(.clients, proof: "svp_00") }
    // Unused proofs lapse, and the next proof issued sweeps them.
    let stale = try proof(.clientExport, nil)
    clock.advance(by: 6 * 60_000)
    _ = try proof(.clientExport, nil)
    #expect(try Self.storedProofs(store) == 1)
    #expect(throws: VaultError.self) { _ = try owner.exportRecords(.clients, proof: stale) }
  }

  /// How many step-up proofs the vault holds (FORMAT.md 21: keys `04` ‖ …).
  static func storedProofs(_ store: RecordStore) throws -> Int {
    try store.sealed.read { snapshot throws(VaultError) -> Int in
      var count = 0
      try snapshot.snapshot.anyTree(named: SessionStore.tree)?.scanTyped(
        from: [0x04], to: [0x05]
      ) { _, _ throws(VaultError) in
        count += 1
        return true
      }
      return count
    }
  }
}
