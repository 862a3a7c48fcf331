import Foundation
import Testing
import VaultCLI
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage
@testable import vault_test_helper

/// The vault files in Format/vectors must stay readable, exactly as their manifests say.
@Suite struct VectorTests {
  static let directory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Format/vectors").path

  static func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
  }

  @Test(
    arguments: [
      "v1-4k", "v2-16k", "v3-records", "v4-studio", "v4-studio-kind5", "v5-blobs", "v6-chain",
      "v7-blobs",
    ])
  func vectorHoldsExactlyItsManifest(name: String) throws {
    let dir = TemporaryDirectory()
    let path = dir.file("\(name).vault")
    try FileManager.default.copyItem(atPath: "\(Self.directory)/\(name).vault", toPath: path)
    try Self.expectHolds(path, exactly: "\(Self.directory)/\(name).contents", name: name)
  }

  /// The backup chain of v6 restores to exactly `v6-chain.restored.contents`, and the
  /// increments' heads decode as FORMAT.md 25 says.
  @Test func v6ChainRestoresToItsManifest() throws {
    let dir = TemporaryDirectory()
    let increments = ["1", "2"].map { "\(Self.directory)/v6-chain.\($0).svinc" }
    for path in increments { #expect(Backup.verifyIncremental(at: path).isEmpty) }
    let restored = dir.file("restored.vault")
    let report = try Backup.restore(
      base: "\(Self.directory)/v6-chain.vault", increments: increments, to: restored)
    #expect(report.transaction == TransactionID(5))
    try Self.expectHolds(
      restored, exactly: "\(Self.directory)/v6-chain.restored.contents", name: "v6 restored")
    // Out of order, or missing a link: refused.
    #expect(throws: VaultError.self) {
      try Backup.restore(
        base: "\(Self.directory)/v6-chain.vault", increments: increments.reversed(),
        to: dir.file("wrong.vault"))
    }
  }

  /// Opens `path` with the vectors' passphrase (not with a wrong one) and expects
  /// exactly the trees and values the `.contents` file at `contents` lists, and a clean
  /// `check`.
  static func expectHolds(_ path: String, exactly contents: String, name: String) throws {
    let manifest = try String(contentsOfFile: contents, encoding: .utf8)

    var expectedTrees = [String: UInt64]()
    var expectedEntries = [String: [String: (length: Int, sha256: String)]]()
    for line in manifest.split(separator: "\n") where !line.hasPrefix("#") {
      let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
      switch fields.first {
      case "tree":
        expectedTrees[fields[1]] = UInt64(fields[2])
      case "entry":
        expectedEntries[fields[1], default: [:]][fields[2]] = (Int(fields[3])!, fields[4])
      default:
        Issue.record("unexpected manifest line: \(line)")
      }
    }
    #expect(!expectedTrees.isEmpty)

    // The vectors' passphrase (Format/vectors/README.md).
    let credential = VaultCredential.passphrase("correct horse battery staple")
    #expect(throws: VaultError.self) {
      try VaultStore.open(
        at: path, credential: .passphrase("wrong"), options: .init(readOnly: true))
    }
    let store = try VaultStore.open(
      at: path, credential: credential, options: .init(readOnly: true))
    try store.read { snapshot in
      #expect(Set(try snapshot.allTreeNames()) == Set(expectedTrees.keys))
      for (treeName, keys) in expectedTrees {
        let tree = try #require(try snapshot.anyTree(named: treeName))
        #expect(tree.count == keys, "\(name): tree \(treeName) count")
        var seen = 0
        try tree.scan { key, value in
          seen += 1
          let expected = expectedEntries[treeName]?[Self.hex(key)]
          #expect(expected?.length == value.count, "\(name): \(treeName) \(Self.hex(key))")
          #expect(expected?.sha256 == Self.hex(SHA256.hash(value)))
          return true
        }
        #expect(seen == expectedEntries[treeName, default: [:]].count)
      }
    }
    let report = Checker.check(path: path, credential: credential)
    #expect(report.ok, "\(report.problems)")
    let console = CapturedConsole()
    #expect(CommandLineTool.run(["check", path], console: console) == 0)
  }

  /// The blobs of v5 (blob manifests of version 1) and v7 (version 2) read back (every
  /// chunk authenticated) to exactly the sizes, chunk counts and SHA-256 digests their
  /// `.blobs` files list, with content addresses as their version computes them; the
  /// deleted one and the unfinished upload are not visible, and the upload resumes
  /// where it stopped.
  @Test(arguments: [("v5-blobs", UInt8(1)), ("v7-blobs", UInt8(2))])
  func blobsReadBackAsListed(name: String, manifestVersion: UInt8) throws {
    let dir = TemporaryDirectory()
    let path = dir.file("\(name).vault")
    try FileManager.default.copyItem(atPath: "\(Self.directory)/\(name).vault", toPath: path)
    let listing = try String(contentsOfFile: "\(Self.directory)/\(name).blobs", encoding: .utf8)
    let store = try RecordStore.open(
      at: path, credential: .passphrase("correct horse battery staple"))
    let (owner, _) = try store.login(
      user: "owner", password: SecretBytes(utf8: "owner password of the vectors"))
    var checked = 0
    for line in listing.split(separator: "\n") where !line.hasPrefix("#") {
      let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
      let id = try RecordID(fields[1])
      switch fields[0] {
      case "blob":
        let reader = try owner.openBlob(id)
        #expect(reader.size == UInt64(fields[2]) && reader.chunkCount == UInt64(fields[3]))
        let bytes = try reader.read(at: 0, count: Int(reader.size))
        #expect(Self.hex(SHA256.hash(bytes)) == fields[4] && reader.info.sha256 == fields[4])
        #expect(reader.info.name == fields[5])
        // Version 1: the address is keyed BLAKE2b of the bytes; 2: of their SHA-256.
        #expect(reader.manifest.version == manifestVersion)
        let addressed = manifestVersion == 1 ? bytes : SHA256.hash(bytes)
        #expect(
          reader.manifest.contentAddress
            == store.sealed.blobAddressKey.keyedHash(addressed, byteCount: 32))
      case "deleted":
        #expect(throws: VaultError.self) { _ = try owner.openBlob(id) }
      case "unfinished":
        #expect(throws: VaultError.self) { _ = try owner.openBlob(id) }
        #expect(try owner.resumeUpload(id).bytesCommitted == UInt64(fields[2]))
      default:
        Issue.record("unexpected line: \(line)")
      }
      checked += 1
    }
    #expect(checked == 5)
  }

  /// The sealed records of v3 open to exactly what `v3-records.records` lists, and the
  /// erased one reports itself erased.
  @Test func sealedRecordVectorOpensAsListed() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v3.vault")
    try FileManager.default.copyItem(atPath: "\(Self.directory)/v3-records.vault", toPath: path)
    let listing = try String(
      contentsOfFile: "\(Self.directory)/v3-records.records", encoding: .utf8)
    let store = try SealedStore.open(
      at: path, credential: .passphrase("correct horse battery staple"),
      options: .init(readOnly: true))
    var checked = (records: 0, erased: 0)
    for line in listing.split(separator: "\n") where !line.hasPrefix("#") {
      let fields = line.split(separator: "\t").map(String.init)
      let id = hexBytes(fields[2])
      let collection = fields[1]
      let opened = Result { () throws(VaultError) -> [UInt8]? in
        try store.read { s throws(VaultError) in try s.get(id, in: collection) }
      }
      switch (fields[0], opened) {
      case ("record", .success(let body?)):
        #expect(body.count == Int(fields[3]) && Self.hex(SHA256.hash(body)) == fields[4])
        checked.records += 1
      case ("erased", .failure(let error)):
        #expect(error.code == .erased)
        checked.erased += 1
      default:
        Issue.record("\(line): \(opened)")
      }
    }
    #expect(checked.records == 59 && checked.erased == 1)
  }

  /// The studio records of v4 read back exactly as `v4-studio.jsonl` lists them, their
  /// indexes agree with them, and the owner's password still opens a session. The
  /// same holds for v4 as an earlier writer made it, with its search entries as kind-5
  /// index keys instead of runs (FORMAT.md 19.3).
  @Test(arguments: ["v4-studio", "v4-studio-kind5"])
  func studioVectorReadsAsListed(name: String) throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v4.vault")
    try FileManager.default.copyItem(atPath: "\(Self.directory)/\(name).vault", toPath: path)
    let listing = try String(contentsOfFile: "\(Self.directory)/\(name).jsonl", encoding: .utf8)
    let store = try RecordStore.open(
      at: path, credential: .passphrase("correct horse battery staple"),
      options: .init(readOnly: true))
    #expect(try Vectors.studioListing(of: store) == listing)
    #expect(listing.contains("\nerased\tclients\t") && listing.contains("\"projectDeleted\":true"))
    #expect(try store.indexProblems() == [])
    let owner = try store.authenticate(
      user: "owner", password: SecretBytes(utf8: "owner password of the vectors"))
    #expect(owner.role == "owner")
    let found = try store.read { snapshot throws(VaultError) in
      try snapshot.search(.clients, "zoe", scope: .organization).records.count
    }
    #expect(found == 2)
  }

  /// FORMAT.md's field tables (section 19.2) are the schemas the engine runs.
  @Test func formatSpecificationListsTheSchemasAsTheyAre() throws {
    let specification = try String(
      contentsOfFile: "\(Self.directory)/../FORMAT.md", encoding: .utf8)
    #expect(
      specification.contains(SchemaDocumentation.markdown()),
      "regenerate with `.build/debug/vault-test-helper schema-doc` into FORMAT.md 19.2")
  }

  /// v4's audit log verifies without the key against its saved checkpoint, holds the
  /// entries its `.audit` file lists, and an owner reads those actions.
  @Test func studioVectorAuditLogVerifies() throws {
    let path = "\(Self.directory)/v4-studio.vault"
    let note = try String(contentsOfFile: "\(Self.directory)/v4-studio.checkpoint", encoding: .utf8)
    let listed = try String(contentsOfFile: "\(Self.directory)/v4-studio.audit", encoding: .utf8)
      .split(separator: "\n").dropFirst().map { $0.split(separator: " ").map(String.init) }
    let store = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    let report = try AuditVerification.verify(store, against: note)
    #expect(report.ok, "\(report.problems)")
    #expect(report.entries == UInt64(listed.count) && report.treeSize == report.entries)
    let snapshot = try store.makeSnapshot()
    defer { snapshot.close() }
    var leaves = [String]()
    try snapshot.clearTree(.auditLog)?.scan { _, value in
      leaves.append(Self.hex(MerkleTree.leafHash(value)))
      return true
    }
    #expect(leaves == listed.map { $0[3] })
    // With the key (on a copy: reading the log writes to it).
    let dir = TemporaryDirectory()
    let copy = dir.file("v4.vault")
    try FileManager.default.copyItem(atPath: path, toPath: copy)
    let records = try RecordStore.open(at: copy, credential: .passphrase(Vectors.passphrase))
    let read = try records.readAudit(scope: .all, actor: .system)
    #expect(read.entries.prefix(listed.count).map { "\($0.event.action)" } == listed.map { $0[1] })
  }

  /// FORMAT.md's table of audit actions (section 20.3) is the vocabulary in the code.
  @Test func formatSpecificationListsTheAuditActionsAsTheyAre() throws {
    let specification = try String(
      contentsOfFile: "\(Self.directory)/../FORMAT.md", encoding: .utf8)
    let table = AuditAction.allCases.map { "| \($0.rawValue) | `\($0)` |" }
      .joined(separator: "\n")
    #expect(specification.contains("| code | action |\n|---|---|\n" + table + "\n"))
    for action in AuditAction.allCases {
      #expect(AuditAction(name: action.description) == action)
    }
    #expect(AuditAction(rawValue: 0) == nil && AuditAction(name: "nothing") == nil)
  }
}
