import Foundation
import Testing
import VaultCLI
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault

/// The ways around the access rules an independent review tried: each is closed.
@Suite struct AccessBypassTests {
  static let password = ThrottlingTests.password

  @Test func aHandleCannotWidenItsScopeInsideAWrite() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try SessionTests.studio(dir)
    let booked = try bookedProject(store, owner: owner.user)
    let (handle, _) = try store.login(user: "clerk", password: SecretBytes(utf8: Self.password))
    // Naming the organization's scope inside the handle's transaction: refused.
    #expect(throws: VaultError.self) {
      try handle.write { records, _ throws(VaultError) in
        _ = try records.get(.clients, booked.client, scope: .organization)
      }
    }
    #expect(throws: VaultError.self) {
      try handle.write { records, _ throws(VaultError) in
        _ = try records.list(.invoices, scope: .organization)
      }
    }
    // Reads inside it are projected for the role; high-risk workflows are refused.
    try handle.write { records, scope throws(VaultError) in
      let invoices = try records.list(.invoices, scope: scope).records
      #expect(!invoices.isEmpty && invoices.allSatisfy { $0["discounts"] == nil })
      #expect(try records.settings()["branchRefundLimit"] == nil)
    }
    #expect(throws: VaultError.self) {
      try handle.write { records, scope throws(VaultError) in
        _ = try records.deleteProject(booked.project, scope: scope)
      }
    }
    // Filtering on a hidden field would reveal it: refused.
    #expect(throws: VaultError.self) {
      _ = try handle.list(.users, filter: .choice(field: "role", "owner"))
    }
    // Engagements staff may only read; media they may remove.
    #expect(
      try handle.write { records, scope throws(VaultError) in
        try records.remove(.media, booked.media, scope: scope)
      })
    _ = staff
  }

  @Test func rolesChangeOnlyThroughTheGrantingRules() throws {
    let dir = TemporaryDirectory()
    let (store, owner, _) = try SessionTests.studio(dir)
    try store.addUser(
      name: "central", role: "hq", branch: nil, email: nil,
      password: SecretBytes(utf8: Self.password), by: owner)
    let (hq, _) = try store.login(user: "central", password: SecretBytes(utf8: Self.password))
    // hq cannot make itself owner by a generic update, nor through the workflow.
    #expect(throws: VaultError.self) {
      try hq.write { records, scope throws(VaultError) in
        var me = try records.get(.users, hq.principal.user, scope: scope)!
        me["role"] = .string("owner")
        _ = try records.update(me, scope: scope)
      }
    }
    #expect(throws: VaultError.self) {
      try store.changeRole(of: "central", to: "owner", by: hq.principal)
    }
    #expect(throws: VaultError.self) {
      try store.changeRole(of: "owner", to: "staff", by: hq.principal)
    }
    // A role that needs a branch cannot be given to someone without one.
    #expect(throws: VaultError.self) { try store.changeRole(of: "central", to: "staff", by: owner) }
    // Reads never carry a password hash, whoever reads.
    let (ownerHandle, _) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword))
    let users = try ownerHandle.list(.users).records
    #expect(users.count >= 3 && users.allSatisfy { $0["passwordHash"] == nil })
    // Only someone who may manage a user unlocks them.
    let clerk = try store.authenticate(user: "clerk", password: SecretBytes(utf8: Self.password))
    #expect(throws: VaultError.self) { try store.unlockLogins(of: "owner", by: clerk) }
    #expect(throws: VaultError.self) { try store.unlockLogins(of: "owner", by: hq.principal) }
    try store.unlockLogins(of: "clerk", by: hq.principal)
  }

  @Test func everySpellingOfANameSharesItsThrottle() throws {
    let dir = TemporaryDirectory()
    let (store, _, _) = try SessionTests.studio(dir)
    let now = SessionTests.start
    var last: VaultError?
    for (index, spelling) in ["clerk", "CLERK", " clerk", "Clérk", "clerk  "].enumerated() {
      do {
        _ = try store.authenticate(
          user: spelling, password: SecretBytes(utf8: "wrong password!!"), now: now + Int64(index))
      } catch {
        last = error
      }
    }
    #expect(last?.code == .throttled)
  }

  @Test func aSecondFactorIsNotReplacedBehindItsOwnersBack() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try SessionTests.studio(dir)
    let enrolment = try store.beginTOTPEnrollment(for: staff.user)
    _ = try store.confirmTOTPEnrollment(
      for: staff.user,
      code: OneTimePassword.TOTP.standard.code(
        secret: SecretBytes(copying: SecondFactorTests.base32Decode(enrolment.secret)),
        at: SessionTests.start / 1000) ?? "",
      now: SessionTests.start, actor: staff.auditActor)
    #expect(throws: VaultError.self) { _ = try store.beginTOTPEnrollment(for: staff.user) }
  }

  @Test func aSessionAloneIsNotStepUpOnTheCommandLine() throws {
    let dir = TemporaryDirectory()
    let (path, _) = try initWithClients(dir, count: 1)
    let token = vault("login", path, "--user", "owner").output.trimmingCharacters(
      in: .whitespacesAndNewlines)
    var session = ["VAULT_PASSPHRASE": cliPassphrase, "VAULT_SESSION": token]
    session["VAULT_NEW_USER_PASSWORD"] = "an intruder's password!!"
    for arguments in [
      ["export", path, "--collection", "clients"], ["key", "rotate", path],
      ["user", "add", path, "--name", "mallory", "--role", "owner"],
      ["totp", "enroll", path], ["settings", "set", path, "billingEnforcement=false"],
    ] {
      let run = CommandLineTool.run(arguments, console: CapturedConsole(environment: session))
      #expect(run == 77, "\(arguments)")
    }
    // The same with the password works.
    #expect(vault("export", path, "--user", "owner", "--collection", "clients").status == 0)
  }
}
