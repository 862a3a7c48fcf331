import Foundation
import StudioVault
import Testing
import VaultCore
import VaultCrypto
import VaultReader

// README.md, "Backup tools", shows this code: a test checks that it still does.

// BEGIN EXAMPLE
/// A nightly backup job: a full backup on the first night, then one incremental
/// backup a night, each made from the night before; the vault is never closed.
struct NightlyBackup {
  let vault: String
  let directory: String

  func file(night: Int) -> String {
    night == 0 ? "\(directory)/full.vault" : "\(directory)/night-\(night).svinc"
  }

  func run(night: Int) throws -> VaultReader.Copied {
    let reader = try VaultReader(path: vault)  // no key: pages stay sealed
    let commit = try reader.newestCommit()  // pinned until closed; writers go on
    defer { commit.close() }
    let problems = try commit.verify()
    guard problems.isEmpty else {
      throw VaultError(.corruptPage, "not backing up a damaged vault: \(problems[0])")
    }
    if night == 0 { return try commit.backUp(to: file(night: 0)) }
    return try commit.backUp(to: file(night: night), since: file(night: night - 1))
  }

  /// The vault as of `night`, rebuilt from the chain into `destination`.
  func restore(night: Int, to destination: String) throws {
    try VaultReader.restore(
      full: file(night: 0), increments: (0..<night).map { file(night: $0 + 1) }, to: destination)
  }

  /// Ships every page of the newest commit elsewhere (here: counts its bytes).
  func shipPages() throws -> Int {
    let commit = try VaultReader(path: vault).newestCommit()
    defer { commit.close() }
    var shipped = 0
    for run in try commit.pages() {
      shipped += try commit.read(run).count  // sealed as stored
    }
    return shipped
  }
}
// END EXAMPLE

@Suite struct BackupToolExampleTests {
  @Test func theNightlyJobBacksUpAndRestoresWhileTheStudioWorks() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "backup-tool-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("studio.vault").path
    let credential = VaultCredential.rawKey(
      try SymmetricKey(copying: [UInt8](repeating: 9, count: 32)))
    let interactive = try #require(PasswordKDF.Parameters(levelName: "interactive"))
    _ = try Vault.create(
      at: path, credential: credential, ownerName: "owner", ownerPassword: PublicAPITests.password,
      currency: try Currency("USD"), keyDerivation: interactive)
    let vault = try Vault.open(at: path, credential: credential)
    let (owner, _) = try vault.login(user: "owner", password: PublicAPITests.password)
    let branch = try owner.write { tx, scope throws(VaultError) in
      try tx.insert(Branch(name: "Downtown"), scope: scope).meta.id!
    }
    func addClient(_ name: String) throws -> RecordID {
      try owner.write { tx, scope throws(VaultError) in
        try tx.insert(Client(displayName: name, branch: branch), scope: scope).meta.id!
      }
    }

    let job = NightlyBackup(vault: path, directory: directory.path)
    var ids = [try addClient("Night zero client")]
    #expect(try job.run(night: 0).base == nil)
    for night in 1...3 {
      ids.append(try addClient("Night \(night) client"))
      let copied = try job.run(night: night)
      #expect(copied.base != nil && copied.pagesCopied < Int(copied.pageCount))
    }
    #expect(try job.shipPages() > 0)

    for night in [0, 2, 3] {
      let restored = directory.appendingPathComponent("restored-\(night).vault").path
      try job.restore(night: night, to: restored)
      let copy = try Vault.open(at: restored, credential: credential)
      let (reader, _) = try copy.login(user: "owner", password: PublicAPITests.password)
      for (index, id) in ids.enumerated() {
        #expect((try reader.get(Client.self, id) != nil) == (index <= night), "night \(night)")
      }
    }
  }
}
