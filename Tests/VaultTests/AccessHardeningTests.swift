import Foundation
import Testing
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault

/// Holes an independent review of the access layer found, each closed and kept closed.
@Suite struct AccessHardeningTests {
  /// Vendor access follows statuses only their workflows may set: a project completed
  /// stays completed, and an ended engagement reopens only by an extension.
  @Test func accessDecidingStatusesChangeOnlyThroughTheirWorkflows() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let (manager, _) = try studio.store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: studio.clock.read)
    // Completing by a plain update would keep the engagements running: refused.
    #expect(throws: VaultError.self) {
      try manager.write { records, scope throws(VaultError) in
        guard var project = try records.get(.projects, studio.project, scope: scope) else { return }
        project["status"] = .string("completed")
        _ = try records.update(project, scope: scope)
      }
    }
    _ = try manager.completeProject(studio.project)
    let vendor = try studio.vendorHandle()
    #expect(try vendor.get(.projects, studio.project) == nil)
    // Neither reopening the project nor the engagement by a plain update brings the
    // vendor back.
    #expect(throws: VaultError.self) {
      try manager.write { records, scope throws(VaultError) in
        guard var project = try records.get(.projects, studio.project, scope: scope) else { return }
        project["status"] = .string("inProgress")
        _ = try records.update(project, scope: scope)
      }
    }
    #expect(throws: VaultError.self) {
      try manager.write { records, scope throws(VaultError) in
        guard var engagement = try records.get(.engagements, studio.engagement, scope: scope)
        else { return }
        engagement["status"] = .string("active")
        _ = try records.update(engagement, scope: scope)
      }
    }
    #expect(try vendor.get(.projects, studio.project) == nil)
    // A vendor's handle has no branch to narrow to.
    #expect(throws: VaultError.self) { _ = try vendor.narrowed(toBranch: studio.downtown) }
  }

  /// A proof is good only while its session lives; ending the session removes it.
  @Test func proofsDieWithTheirSession() throws {
    let dir = TemporaryDirectory()
    let (store, _, staff) = try SessionTests.studio(dir)
    let (handle, token) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword))
    let proof = try store.stepUp(
      session: token, password: SecretBytes(utf8: ownerPassword), action: .sessionTermination,
      resource: staff.user, now: Timestamp.now().milliseconds)
    try handle.endSession()
    #expect(throws: VaultError.self) {
      try store.sealed.write { tx throws(VaultError) in
        try tx.consumeStepUp(
          proof, session: token, action: .sessionTermination, resource: staff.user,
          now: Timestamp.now().milliseconds)
      }
    }
    #expect(try StepUpTests.storedProofs(store) == 0)
  }

  /// Ending a staff member's sessions or resetting their second factor is for owners
  /// and hq; a branch manager's attempt is refused and logged, and keeps its proof.
  @Test func branchManagersDoNotEndOthersSessions() throws {
    let dir = TemporaryDirectory()
    let studio = try RefundTests.studio(dir)
    let manager = try studio.handle("branchManager")
    let clerk = try studio.handle("staff")
    let proof = try studio.proof("branchManager", .sessionTermination, clerk.userID)
    #expect(throws: VaultError.self) { try manager.endSessions(of: clerk.userID, proof: proof) }
    _ = try clerk.list(.clients)
    try studio.handle("owner").endSessions(
      of: clerk.userID, proof: try studio.proof("owner", .sessionTermination, clerk.userID))
    #expect(throws: VaultError.self) { _ = try clerk.list(.clients) }
  }

  /// A password of 8 to 14 characters outliving its second factor (an admin reset it)
  /// opens nothing but enrolment.
  @Test func aShortPasswordWithoutItsSecondFactorOnlyEnrolls() throws {
    let dir = TemporaryDirectory()
    let (store, owner, staff) = try SessionTests.studio(dir)
    let now = SessionTests.start
    let enrolment = try store.beginTOTPEnrollment(for: staff.user)
    let secret = SecondFactorTests.base32Decode(enrolment.secret)
    func code(_ at: Int64) -> String {
      OneTimePassword.TOTP.standard.code(secret: SecretBytes(copying: secret), at: at / 1000) ?? ""
    }
    _ = try store.confirmTOTPEnrollment(
      for: staff.user, code: code(now), now: now, actor: staff.auditActor)
    try store.changePassword(of: staff, to: SecretBytes(utf8: "short pw"))
    _ = try store.authenticate(
      user: "clerk", password: SecretBytes(utf8: "short pw"), totp: code(now + 30_000),
      now: now + 30_000)
    try store.disableTOTP(for: staff.user, actor: owner.auditActor)
    do {
      _ = try store.authenticate(
        user: "clerk", password: SecretBytes(utf8: "short pw"), now: now + 60_000)
      Issue.record("a short password without a second factor logged in")
    } catch {
      #expect(error.code == .policyViolation && error.message.contains("second factor"))
    }
    _ = try store.authenticate(
      user: "clerk", password: SecretBytes(utf8: "short pw"), now: now + 60_000,
      forEnrollment: true)
  }

  /// Clocks an application might pass at the extremes trap nowhere.
  @Test func extremeClocksAreRefusedNotTrapped() throws {
    let dir = TemporaryDirectory()
    let (store, _, _) = try SessionTests.studio(dir)
    for reading in [Int64.min, -1, Int64.max] {
      do {
        let (handle, _) = try store.login(
          user: "owner", password: SecretBytes(utf8: ownerPassword), clock: { reading })
        _ = try handle.list(.clients)
        _ = try handle.readAudit(limit: 1)
      } catch {
        // A refusal is fine (a clock gone back); a trap is not.
        #expect(error.code == .policyViolation || error.code == .wrongPassword)
      }
    }
  }

  /// Names are looked up in the handle's scope only.
  @Test func staffFindOnlyNamesInTheirBranch() throws {
    let dir = TemporaryDirectory()
    let (store, _, _) = try SessionTests.studio(dir)
    let (clerk, _) = try store.login(
      user: "clerk", password: SecretBytes(utf8: ThrottlingTests.password))
    let found = try clerk.write { records, _ throws(VaultError) in
      (
        try records.id(named: "owner", in: .users), try records.id(named: "Harbor", in: .branches),
        try records.id(named: "clerk", in: .users)
      )
    }
    #expect(found.0 == nil && found.1 == nil && found.2 == clerk.userID)
  }
}

/// What a second review found, kept closed.
@Suite struct AccessHardeningTests2 {
  @Test func changeSettingsChangesTheSettingsOnly() throws {
    let dir = TemporaryDirectory()
    let studio = try RefundTests.studio(dir)
    let hq = try studio.handle("hq")
    let owner = try studio.handle("owner")
    #expect(throws: VaultError.self) {
      let proof = try studio.store.stepUp(
        session: try #require(studio.handles["hq"]).token,
        password: SecretBytes(utf8: RefundTests.password), action: .securityPolicyChange,
        now: studio.clock.read())
      try hq.changeSettings(proof: proof) {
        settings throws(VaultError) in
        var user = Record(.users, id: hq.userID)
        user["name"] = .string("central")
        user["role"] = .string("owner")
        settings = user
      }
    }
    #expect(hq.role == "hq")
    #expect(try owner.get(.users, hq.userID)?.text("role") == "hq")
    // A handle narrowed to a branch changes no organization settings.
    let branch = try #require(try studio.handle("branchManager").principal.branch)
    #expect(throws: VaultError.self) {
      try owner.narrowed(toBranch: branch).changeSettings(proof: "svp_00") { _ throws(VaultError) in
      }
    }
  }

  @Test func writesHandBackOnlyWhatTheRoleSees() throws {
    let dir = TemporaryDirectory()
    let studio = try RefundTests.studio(dir)
    let clerk = try studio.handle("staff")
    let owner = try studio.handle("owner")
    let branch = try #require(clerk.principal.branch)
    let id = try owner.write { records, scope throws(VaultError) in
      var client = Record(.clients, branch: branch)
      client["displayName"] = .string("Ana")
      client["leadSource"] = .string("HIDDEN-LEAD")
      return try records.insert(client, scope: scope).id!
    }
    let returned = try clerk.write { records, scope throws(VaultError) -> Record? in
      guard var client = try records.get(.clients, id, scope: scope) else { return nil }
      client["phones"] = .list([.string("+1 555 0100")])
      return try records.update(client, scope: scope)
    }
    #expect(returned?["leadSource"] == nil && returned?["phones"] != nil)
  }

  @Test func onlyOwnersAndHqManageUsersAndNoOpRoleChangesAreRefused() throws {
    let dir = TemporaryDirectory()
    let studio = try RefundTests.studio(dir)
    let manager = try studio.handle("branchManager")
    let clerk = try studio.handle("staff")
    for attempt in [
      { try manager.changeRole(of: "clerk", to: "staff", proof: "svp_00") },
      { try manager.setDisabled(true, user: "clerk", proof: "svp_00") },
      { try manager.unlockLogins(of: "clerk", proof: "svp_00") },
    ] as [() throws -> Void] {
      #expect(throws: VaultError.self) { try attempt() }
    }
    _ = try clerk.list(.clients)
    let owner = try studio.handle("owner")
    #expect(throws: VaultError.self) {
      try owner.changeRole(
        of: "clerk", to: "staff", proof: try studio.proof("owner", .roleChange, clerk.userID))
    }
    _ = try clerk.list(.clients)
  }

  /// Vendors belong to no branch: a branch manager still engages them by name.
  @Test func managersEngageVendorsByName() throws {
    let dir = TemporaryDirectory()
    let studio = try ActionStudio(dir)
    let project = try studio.newProject()
    let manager = try studio.base.handle("branchManager")
    let ids = try manager.write { records, scope throws(VaultError) in
      try records.importJSONLines(
        #"{"vendor": "lens", "project": "\#(project)", "role": "editor"}"#, into: .engagements,
        branch: nil, scope: scope)
    }
    #expect(ids.count == 1)
    // Other users outside the branch stay unknown to the manager.
    #expect(throws: VaultError.self) {
      try manager.write { records, scope throws(VaultError) in
        _ = try records.importJSONLines(
          #"{"vendor": "central", "project": "\#(project)", "role": "editor"}"#,
          into: .engagements, branch: nil, scope: scope)
      }
    }
  }

  @Test func aTaskHandleCannotEndItsParentsSession() throws {
    let dir = TemporaryDirectory()
    let (store, _, _) = try SessionTests.studio(dir)
    let clock = TestClock(SessionTests.start)
    let (handle, _) = try store.login(
      user: "clerk", password: SecretBytes(utf8: ThrottlingTests.password), clock: clock.read)
    let task = handle.expiring(at: SessionTests.start + 1_000)
    clock.advance(by: 2_000)
    #expect(throws: VaultError.self) { try task.endSession() }
    #expect(throws: VaultError.self) { try handle.readOnly().endSession() }
    _ = try handle.list(.clients)
  }

  @Test func engagementsAndMediaDoNotMoveAndHeldMediaStay() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let owner = studio.owner
    #expect(throws: VaultError.self) {
      try owner.write { records, scope throws(VaultError) in
        guard var engagement = try records.get(.engagements, studio.engagement, scope: scope)
        else { return }
        engagement["project"] = .bytes(studio.otherProject.bytes)
        _ = try records.update(engagement, scope: scope)
      }
    }

    let (ownerHandle, token) = try studio.store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: studio.clock.read)
    let media = try #require(try owner.list(.media).records.first?.id)
    try ownerHandle.placeLegalHold(
      on: studio.project, reason: "claim",
      proof: try studio.store.stepUp(
        session: token, password: SecretBytes(utf8: ownerPassword), action: .legalHold,
        resource: studio.project, now: studio.clock.read()))
    #expect(throws: VaultError.self) {
      try owner.write { records, scope throws(VaultError) in
        _ = try records.remove(.media, media, scope: scope)
      }
    }
    // Nor moved to another project first, to be removed from there.
    #expect(throws: VaultError.self) {
      try owner.write { records, scope throws(VaultError) in
        guard var moved = try records.get(.media, media, scope: scope) else { return }
        moved["project"] = .bytes(studio.otherProject.bytes)
        _ = try records.update(moved, scope: scope)
      }
    }
    #expect(try owner.get(.media, media) != nil)
  }
}

/// Legal holds on projects: owners and hq place and release them with step-up; while
/// one holds, the project is not deleted and its client not erased.
@Suite struct LegalHoldTests {
  @Test func aHeldProjectIsNeitherDeletedNorItsClientErased() throws {
    let dir = TemporaryDirectory()
    let studio = try RefundTests.studio(dir)
    let owner = try studio.handle("owner")
    let branch = try studio.handle("branchManager").principal.branch
    let (project, client) = try owner.write { records, scope throws(VaultError) in
      var client = Record(.clients, branch: branch)
      client["displayName"] = .string("Held Client")
      let clientID = try records.insert(client, scope: scope).id!
      var project = Record(.projects, branch: client.branch)
      project["title"] = .string("Held")
      project["client"] = .bytes(clientID.bytes)
      return (try records.insert(project, scope: scope).id!, clientID)
    }
    // A branch manager may not hold; hq may.
    #expect(throws: VaultError.self) {
      try studio.handle("branchManager").placeLegalHold(
        on: project, reason: "x", proof: try studio.proof("branchManager", .legalHold, project))
    }
    try studio.handle("hq").placeLegalHold(
      on: project, reason: "subpoena 2026-17", proof: try studio.proof("hq", .legalHold, project))
    // Staff do not see the hold; owners do.
    #expect(try studio.handle("staff").get(.projects, project)?["legalHold"] == nil)
    #expect(try owner.get(.projects, project)?["legalHold"] != nil)
    #expect(throws: VaultError.self) {
      _ = try owner.deleteProject(
        project, proof: try studio.proof("owner", .projectDeletion, project))
    }
    #expect(throws: VaultError.self) {
      _ = try owner.eraseClient(client, proof: try studio.proof("owner", .clientErasure, client))
    }
    // A plain update cannot lift it.
    try owner.write { records, scope throws(VaultError) in
      guard var held = try records.get(.projects, project, scope: scope) else { return }
      held["legalHold"] = nil
      held["title"] = .string("Held, renamed")
      _ = try records.update(held, scope: scope)
    }
    #expect(try owner.get(.projects, project)?["legalHold"] != nil)
    try owner.releaseLegalHold(on: project, proof: try studio.proof("owner", .legalHold, project))
    _ = try owner.deleteProject(
      project, proof: try studio.proof("owner", .projectDeletion, project))
    let actions = try owner.readAudit().entries.map(\.event.action)
    #expect(actions.contains(.legalHoldPlaced) && actions.contains(.legalHoldReleased))
    #expect(actions.filter { $0 == .accessDenied }.count >= 3)
  }
}
