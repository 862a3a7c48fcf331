import Foundation
import StudioVault
import Testing
import VaultCore
import VaultCrypto

// README.md, "Embedding StudioVault in an app", shows this code: a test checks that it
// still does, and runs it.

// BEGIN EXAMPLE
/// A studio app's storage, from first launch to a refused cross-branch read.
func studioAppExample(path: String, key: SymmetricKey, ownerPassword: SecretBytes) throws {
  // First launch: the vault, its organization and first owner. The key comes from the
  // app's keychain (or use `.passphrase(...)`); the owner's password is hashed.
  _ = try Vault.create(
    at: path, credential: .rawKey(key), ownerName: "olivia", ownerPassword: ownerPassword,
    currency: try Currency("USD"))
  let vault = try Vault.open(at: path, credential: .rawKey(key))

  // Every read and write goes through a logged-in user's handle.
  let (owner, ownerSession) = try vault.login(user: "olivia", password: ownerPassword)
  let (downtown, harbor) = try owner.write { tx, scope throws(VaultError) in
    (
      try tx.insert(Branch(name: "Downtown"), scope: scope).meta.id!,
      try tx.insert(Branch(name: "Harbor"), scope: scope).meta.id!
    )
  }
  // High-risk actions take a step-up proof: the password again, for one action.
  let staffPassword = SecretBytes(utf8: "sam's own password, long enough")
  try owner.addUser(
    name: "sam", role: "staff", branch: downtown, password: staffPassword,
    proof: try vault.stepUp(session: ownerSession, password: ownerPassword, action: .roleChange))

  // Records are typed structs, sealed one by one under keys of their own.
  let (client, booking) = try owner.write { tx, scope throws(VaultError) in
    var client = Client(displayName: "Zoë Ångström", branch: downtown)
    client.emails = ["zoe@example.com"]
    client.notes = "prefers natural light"
    let clientID = try tx.insert(client, scope: scope).meta.id!
    var project = Project(title: "Zoë's wedding", client: clientID, branch: downtown)
    project.kind = .wedding
    return (clientID, try tx.insert(project, scope: scope).meta.id!)
  }

  // Staff see their branch, with the fields their role may see.
  let (sam, _) = try vault.login(user: "sam", password: staffPassword)
  let found = try sam.search(.clients, "zoe ang").records  // prefixes, accents folded
  precondition(found.map(\.id) == [client])
  let zoe = try sam.get(Client.self, client)
  precondition(zoe?.emails == ["zoe@example.com"] && zoe?.displayName == "Zoë Ångström")

  // Uploads stream in, in constant memory, and are never rewritten.
  let upload = try sam.beginUpload(into: booking, fileName: "IMG_0001.JPG", kind: .photo)
  try upload.write([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 0x42, count: 100_000))
  let receipt = try upload.finish()  // blob id, media record, size, SHA-256
  let firstBytes = try sam.openBlob(receipt.blob).read(at: 0, count: 4)  // authenticated
  precondition(firstBytes == [0xFF, 0xD8, 0xFF, 0xE0] && receipt.size == 100_004)

  // A handle narrowed to another branch cannot exist for sam; the owner's can, and it
  // does not see Downtown's client.
  let harborOnly = try owner.narrowed(toBranch: harbor)
  let seenFromHarbor = try harborOnly.get(.clients, client)
  precondition(seenFromHarbor == nil)
  do {
    _ = try sam.narrowed(toBranch: harbor)
    preconditionFailure("a staff member's handle only narrows")
  } catch let error as VaultError {
    precondition(error.code == .policyViolation)
  }

  // Everything that mattered is in the audit log, which anyone can verify keylessly.
  let log = try owner.readAudit()
  precondition(log.entries.contains { $0.event.action == .uploadStored })
}
// END EXAMPLE

@Suite struct EmbeddingExampleTests {
  @Test func theReadmeExampleRuns() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "embedding-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("studio.vault").path
    try studioAppExample(
      path: path, key: try SymmetricKey(copying: [UInt8](repeating: 3, count: 32)),
      ownerPassword: PublicAPITests.password)
    #expect(FileManager.default.fileExists(atPath: path))
  }

  /// README.md shows the examples of this target line for line.
  @Test(arguments: ["EmbeddingExampleTests.swift", "BackupToolExampleTests.swift"])
  func theReadmeShowsTheExample(file: String) throws {
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    let source = try String(
      contentsOf: here.appendingPathComponent(file), encoding: .utf8)
    let example = try #require(
      source.components(separatedBy: "// BEGIN EXAMPLE\n").dropFirst().first?.components(
        separatedBy: "// END EXAMPLE"
      ).first)
    let readme = try String(
      contentsOf: here.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("README.md"), encoding: .utf8)
    #expect(readme.contains(example), "README.md's copy of \(file)'s example differs")
  }
}
