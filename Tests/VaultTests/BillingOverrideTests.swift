import Foundation
import Testing
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault

/// A branch's billing override: owners only, with step-up, until a day; deliveries
/// under it are logged; cleared, enforcement is back.
@Suite struct BillingOverrideTests {
  @Test func ownersOverrideWithStepUpAndDeliveriesAreLogged() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try SessionTests.studio(dir)
    let booked = try bookedProject(store, owner: owner.user)
    let downtown = try #require(staff.branch)
    let now = Timestamp.now().milliseconds
    let clock = TestClock(now)
    let (handle, token) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: clock.read)
    func proof() throws -> String {
      try store.stepUp(
        session: token, password: SecretBytes(utf8: ownerPassword), action: .billingOverride,
        resource: downtown, now: clock.read())
    }
    func deliver() throws(VaultError) {
      try handle.write { records, scope throws(VaultError) in
        guard var project = try records.get(.projects, booked.project, scope: scope) else {
          throw VaultError(.noSuchRecord, "project vanished")
        }
        project["status"] = .string("delivered")
        _ = try records.update(project, scope: scope)
      }
    }
    #expect(throws: VaultError.self) { try deliver() }
    let today = Timestamp.now().day
    // Without a proof, or as staff: refused.
    #expect(throws: VaultError.self) {
      try handle.setBillingOverride(
        for: downtown, until: today, reason: "wedding season", proof: "svp_00")
    }
    let (staffHandle, _) = try store.login(
      user: "clerk", password: SecretBytes(utf8: ThrottlingTests.password), clock: clock.read)
    #expect(throws: VaultError.self) {
      try staffHandle.setBillingOverride(
        for: downtown, until: today, reason: "mine", proof: try proof())
    }
    // Too far ahead.
    #expect(throws: VaultError.self) {
      try handle.setBillingOverride(
        for: downtown, until: Day(daysSince1970: today.daysSince1970 + 400),
        reason: "forever", proof: try proof())
    }
    try handle.setBillingOverride(
      for: downtown, until: today, reason: "wedding season", proof: try proof())
    try deliver()
    let actions = try store.readAudit(scope: .all, actor: .system).entries.map(\.event.action)
    #expect(actions.contains(.billingOverrideSet) && actions.contains(.deliveredUnderOverride))
    #expect(actions.contains(.accessDenied))
    // Cleared: enforcement is back for the next delivery.
    try handle.clearBillingOverride(for: downtown, proof: try proof())
    try handle.write { records, scope throws(VaultError) in
      guard var project = try records.get(.projects, booked.project, scope: scope) else { return }
      project["status"] = .string("booked")
      _ = try records.update(project, scope: scope)
    }
    #expect(throws: VaultError.self) { try deliver() }
  }
}
