import Foundation
import StudioVault
import Testing
import VaultCore
import VaultCrypto

/// What an application sees: `import StudioVault` without the engine's SPI. This file
/// compiles only against the public surface, so it proves a studio application can do
/// its work (create, log in, read and write, high-risk actions with step-up, the audit
/// log) through `Vault` and handles alone, and that nothing else is there to bypass
/// them.
@Suite struct PublicAPITests {
  static let password = SecretBytes(utf8: "an owner's password, long enough")

  @Test func anApplicationWorksThroughVaultAndHandles() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "public-api-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("studio.vault").path
    let credential = VaultCredential.rawKey(
      try SymmetricKey(copying: [UInt8](repeating: 7, count: 32)))
    let interactive = try #require(PasswordKDF.Parameters(levelName: "interactive"))
    _ = try Vault.create(
      at: path, credential: credential, ownerName: "owner", ownerPassword: Self.password,
      currency: try Currency("USD"), keyDerivation: interactive)
    let vault = try Vault.open(at: path, credential: credential)
    #expect(throws: VaultError.self) {
      _ = try vault.login(user: "owner", password: SecretBytes(utf8: "not the password"))
    }
    let (owner, token) = try vault.login(user: "owner", password: Self.password)
    #expect(owner.role == "owner" && owner.scope == .organization)
    let project = try owner.write { records, scope throws(VaultError) -> RecordID in
      var branch = Record(.branches)
      branch["name"] = .string("Downtown")
      let branchID = try records.insert(branch, scope: scope).id!
      var client = Record(.clients, branch: branchID)
      client["displayName"] = .string("Ana Lima")
      let clientID = try records.insert(client, scope: scope).id!
      var project = Record(.projects, branch: branchID)
      project["title"] = .string("Wedding")
      project["client"] = .bytes(clientID.bytes)
      return try records.insert(project, scope: scope).id!
    }
    // The typed structs, as the README shows them.
    let zoe = try owner.write { tx, scope throws(VaultError) -> Client in
      let downtown = try tx.insert(Branch(name: "Uptown"), scope: scope).meta.id!
      var client = Client(displayName: "Zoë Ångström", branch: downtown)
      client.emails = ["zoe@example.com"]
      return try tx.insert(client, scope: scope)
    }
    #expect(try owner.search(.clients, "zoe ang").records.map(\.id) == [zoe.meta.id])
    #expect(try owner.list(.clients).records.count == 2)
    #expect(try owner.get(Project.self, project)?.title == "Wedding")
    // A high-risk action wants a proof, bound to this session, action and project.
    #expect(throws: VaultError.self) { _ = try owner.deleteProject(project, proof: "svp_00") }
    let proof = try vault.stepUp(
      session: token, password: Self.password, action: .projectDeletion, resource: project)
    let report = try owner.deleteProject(project, proof: proof)
    #expect(report.sessionsRemoved == 0)
    #expect(try owner.readAudit().entries.contains { $0.event.action == .projectDeleted })
    // A session's token makes the same handle again; ending it ends them all.
    let again = try vault.handle(session: token)
    try again.endSession()
    #expect(throws: VaultError.self) { _ = try owner.list(.clients) }
  }
}
