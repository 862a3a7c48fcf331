import Foundation
import Testing
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault

/// TOTP as a second factor: enrolment confirmed by a first code, codes accepted once
/// within a step, recovery codes used once, sessions revoked on every change.
@Suite struct SecondFactorTests {
  static let start = SessionTests.start

  static func base32Decode(_ text: String) -> [UInt8] {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    var buffer: UInt32 = 0
    var bits = 0
    var output = [UInt8]()
    for character in text {
      guard let value = alphabet.firstIndex(of: character) else { continue }
      buffer = buffer << 5 | UInt32(value)
      bits += 5
      if bits >= 8 {
        output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits - 8)))
        bits -= 8
      }
    }
    return output
  }

  func code(_ secret: String, at now: Int64) -> String {
    OneTimePassword.TOTP.standard.code(
      secret: SecretBytes(copying: Self.base32Decode(secret)), at: now / 1000) ?? ""
  }

  /// An organization requiring a second factor for a role: its members without one
  /// lose their sessions, may log in only to enroll, cannot remove it; with one, a
  /// password may be as short as 8 characters.
  @Test func aRequiredSecondFactorIsEnforced() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try SessionTests.studio(dir)
    let password = SecretBytes(utf8: ThrottlingTests.password)
    let (_, token) = try store.openSession(
      for: staff, rememberMe: false, label: "a", now: Self.start)
    let (ownerHandle, ownerToken) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword))
    // Settings change only with a step-up.
    #expect(throws: VaultError.self) {
      try ownerHandle.write { records, _ throws(VaultError) in
        var settings = try records.settings()
        settings["requireTwoFactor"] = .list([.string("staff")])
        _ = try records.update(settings, scope: .organization)
      }
    }
    let proof = try store.stepUp(
      session: ownerToken, password: SecretBytes(utf8: ownerPassword),
      action: .securityPolicyChange, now: Timestamp.now().milliseconds)
    try ownerHandle.changeSettings(proof: proof) { settings throws(VaultError) in
      settings["requireTwoFactor"] = .list([.string("staff")])
    }
    // The staff member's session ended with the change; a plain login is refused and
    // says what to do; the owner's role is not concerned.
    #expect(throws: VaultError.self) { _ = try store.resumeSession(token: token, now: Self.start) }
    do {
      _ = try store.authenticate(user: "clerk", password: password, now: Self.start)
      Issue.record("a login without the required second factor went through")
    } catch {
      #expect(error.code == .policyViolation && error.message.contains("totp enroll"))
    }
    _ = try store.authenticate(user: "owner", password: SecretBytes(utf8: ownerPassword))
    // Not 8 characters yet: no second factor.
    #expect(throws: VaultError.self) {
      try store.changePassword(of: staff, to: SecretBytes(utf8: "short pw"))
    }
    // Logging in to enroll works; once enrolled, logins with the code do.
    let enrolling = try store.authenticate(
      user: "clerk", password: password, now: Self.start, forEnrollment: true)
    let enrolment = try store.beginTOTPEnrollment(for: enrolling.user)
    _ = try store.confirmTOTPEnrollment(
      for: staff.user, code: code(enrolment.secret, at: Self.start), now: Self.start,
      actor: staff.auditActor)
    let later = Self.start + 30_000
    _ = try store.authenticate(
      user: "clerk", password: password, totp: code(enrolment.secret, at: later), now: later)
    // It cannot be removed while required, and the refusal is logged.
    #expect(throws: VaultError.self) {
      try store.disableTOTP(for: staff.user, actor: staff.auditActor)
    }
    let denials = try store.readAudit(scope: .all, actor: owner.auditActor).entries.filter {
      $0.event.action == .accessDenied
    }
    #expect(denials.count == 2)
    // With a second factor, 8 characters are enough, 7 are not.
    #expect(throws: VaultError.self) {
      try store.changePassword(of: staff, to: SecretBytes(utf8: "seven c"))
    }
    try store.changePassword(of: staff, to: SecretBytes(utf8: "eight ch"))
  }

  @Test func enrolmentLoginsRecoveryAndRemoval() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try SessionTests.studio(dir)
    let password = SecretBytes(utf8: ThrottlingTests.password)
    let (_, token) = try store.openSession(
      for: staff, rememberMe: false, label: "a", now: Self.start)
    let enrolment = try store.beginTOTPEnrollment(for: staff.user)
    #expect(
      enrolment.secret.count == 52
        && enrolment.uri.hasPrefix("otpauth://totp/StudioVault:clerk?secret="))
    #expect(throws: VaultError.self) {
      _ = try store.confirmTOTPEnrollment(
        for: staff.user, code: "000000", now: Self.start, actor: staff.auditActor)
    }
    var now = Self.start
    let recovery = try store.confirmTOTPEnrollment(
      for: staff.user, code: code(enrolment.secret, at: now), now: now, actor: staff.auditActor)
    #expect(recovery.count == 10 && Set(recovery).count == 10)
    // Enrolling ended the user's sessions.
    #expect(throws: VaultError.self) { _ = try store.resumeSession(token: token, now: now + 1) }
    // Now a login needs the code; the step used to confirm is spent.
    now += 30_000
    #expect(throws: VaultError.self) {
      _ = try store.authenticate(user: "clerk", password: password, now: now)
    }
    let current = code(enrolment.secret, at: now)
    _ = try store.authenticate(user: "clerk", password: password, totp: current, now: now)
    #expect(throws: VaultError.self) {
      _ = try store.authenticate(user: "clerk", password: password, totp: current, now: now + 1)
    }
    // A recovery code works once, in any format the user types it.
    _ = try store.authenticate(
      user: "clerk", password: password, totp: recovery[3].uppercased(), now: now + 2)
    #expect(throws: VaultError.self) {
      _ = try store.authenticate(user: "clerk", password: password, totp: recovery[3], now: now + 3)
    }
    // The seed survives a KEK rotation (it is a wrapped data key).
    try store.sealed.rotateKeyEncryptionKey()
    now += 60_000
    _ = try store.authenticate(
      user: "clerk", password: password, totp: code(enrolment.secret, at: now), now: now)
    // Removed: the password alone suffices again.
    try store.disableTOTP(for: staff.user, actor: owner.auditActor)
    _ = try store.authenticate(user: "clerk", password: password, now: now + 60_000)
    let actions = try store.readAudit(scope: .all, actor: .system).entries.map(\.event.action)
    #expect(actions.contains(.totpEnrolled) && actions.contains(.totpDisabled))
  }

  /// Wrong codes are throttled apart from passwords.
  @Test func wrongCodesAreThrottled() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try SessionTests.studio(dir)
    let password = SecretBytes(utf8: ThrottlingTests.password)
    let enrolment = try store.beginTOTPEnrollment(for: staff.user)
    _ = try store.confirmTOTPEnrollment(
      for: staff.user, code: code(enrolment.secret, at: Self.start), now: Self.start,
      actor: staff.auditActor)
    var errors = [VaultError.Code]()
    for offset in 0..<6 {
      do {
        _ = try store.authenticate(
          user: "clerk", password: password, totp: "123456", now: Self.start + Int64(offset))
      } catch {
        errors.append(error.code)
      }
    }
    #expect(errors.prefix(4) == [.wrongPassword, .wrongPassword, .wrongPassword, .wrongPassword])
    #expect(errors.last == .throttled)
  }
}
