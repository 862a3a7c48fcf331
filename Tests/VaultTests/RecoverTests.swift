import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// `vault recover`: with the key, every entry that still authenticates, copied into a
/// new vault with the same keys; what a damaged page held is lost and listed, nothing
/// else.
@Suite struct RecoverTests {
  /// Every leaf and overflow page, damaged in turn: the copy holds every entry of every
  /// tree except those that page (and what lay below it) held, each with its value.
  @Test func aDamagedPageLosesOnlyWhatItHeld() throws {
    let vault = try PopulatedVault()
    // Some of each kind: leaves and overflow pages of several trees, and the catalog.
    let targets = vault.pagesInUse.filter { ["leaf", "overflow", "catalog"].contains($0.type) }
      .enumerated().filter { $0.offset % 3 == 0 }.map(\.element)
    #expect(targets.count > 5)
    for (page, type) in targets {
      let copy = try vault.damagedCopy(page: page, offset: 2050, name: "d\(page).vault")
      defer { vault.remove(copy) }
      let source = try VaultStore.open(
        at: copy, credential: testCredential, options: .init(readOnly: true))
      let destination = vault.directory.file("recovered-\(page).vault")
      let report = try Salvage.recover(source, credential: testCredential, to: destination)
      // One damaged page; a value whose chain ran through it is counted too.
      #expect(report.damage.count == 1, "page \(page) (\(type))")
      #expect(report.unreadableValues == (type == "overflow" ? 1 : 0))
      #expect(report.damage.allSatisfy { $0.problem.page == page })
      #expect(report.lostAnything && !report.olderThanDurable)
      #expect(Checker.check(path: destination, credential: testCredential).ok)
      let recovered = try contents(
        of: VaultStore.open(at: destination, credential: testCredential))
      var lost = 0
      for (name, entries) in vault.contents {
        for (key, value) in entries {
          if let found = recovered[name]?[key] {
            #expect(found == value, "page \(page): \(name) holds a wrong value")
          } else {
            lost += 1
          }
        }
      }
      // Nothing appears that the source did not hold.
      for (name, entries) in recovered {
        for key in entries.keys { #expect(vault.contents[name]?[key] != nil, "\(name)") }
      }
      #expect(lost > 0, "page \(page) (\(type)) held nothing?")
      #expect(lost < 400, "page \(page) (\(type)): \(lost) entries lost")
    }
  }

  /// On an intact studio vault, recover is a compacting copy: records, uploads and the
  /// audit log all there, opened with the same key, the log still verifying.
  @Test func anIntactStudioIsCopiedWhole() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let bytes = BlobTests.content(3 * BlobTests.chunk + 11, compressible: true, seed: 5)
    let receipt = try BlobTests.upload(bytes, by: studio.owner, into: studio.project)
    let target = dir.file("recovered.vault")
    let report = try Salvage.recover(
      studio.store.sealed.store, credential: testCredential, to: target)
    #expect(!report.lostAnything)
    #expect(report.entries["$blobs:chunks"] == 4)

    let copy = try RecordStore.open(at: target, credential: testCredential)
    let (owner, _) = try copy.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: studio.clock.read)
    #expect(try owner.get(.projects, studio.project)?.text("title") == "Lima wedding")
    #expect(try BlobTests.readAll(owner.openBlob(receipt.blob)) == bytes)
    let audit = try AuditVerification.verify(copy.sealed.store)
    #expect(audit.ok, "\(audit.problems)")
    let names = { (store: VaultStore) throws -> [String] in
      try store.read { try $0.allTreeNames().sorted() }
    }
    #expect(try names(copy.sealed.store) == names(studio.store.sealed.store))
  }

  /// The command: the passphrase from the environment, a report, and the contract's
  /// exit codes.
  @Test func theCommandRecoversWithThePassphrase() throws {
    let dir = TemporaryDirectory()
    let (path, ids) = try initWithClients(dir, count: 20)
    let target = dir.file("recovered.vault")
    #expect(
      vault(environment: ["VAULT_PASSPHRASE": "not the passphrase"], "recover", path, target)
        .status == 77)
    let result = vault("recover", path, target, "--json")
    #expect(result.status == 0, "\(result.errors)")
    let report = try parseJSON(result.output)
    #expect((report["damage"] as? [Any])?.isEmpty == true)
    let listed = vault("list", target, "--user", "owner", "--collection", "clients")
    #expect(listed.status == 0, "\(listed.errors)")
    #expect(
      Set(listed.output.split(separator: "\n").map { String($0.prefix(36)) })
        == Set(ids.map(\.description)))
    #expect(vault("recover", path, target).status == 64)
    #expect(vault("recover", dir.file("missing.vault"), dir.file("x.vault")).status == 66)
  }

  /// Damage that leaves no commit intact (the newest meta page, and a page the commit
  /// before wrote): opening refuses, as it must; recovery reads the older commit anyway
  /// and saves everything but what lay below the damaged page.
  @Test func recoveryReadsAroundDamageWhenNoCommitIsIntact() throws {
    let vault = try PopulatedVault()
    let pristine = try VaultStore.open(
      at: vault.path, credential: testCredential, options: .init(readOnly: true))
    let newest = try pristine.newestMeta()
    let olderSlot = FileFormat.metaPage(for: TransactionID(newest.transaction.rawValue - 1))
    let older = try pristine.reader.readMeta(olderSlot, vaultID: pristine.header.vaultID).meta
    var written = [UInt64]()
    StructureWalker(reader: pristine.reader, meta: older).walk(
      follow: { $0.transaction == older.transaction },
      visited: { visit, page, _ in
        if page != nil { written.append(visit.link.page.rawValue) }
      },
      problem: { _, _ in true })
    let victim = try #require(written.last, "the older commit wrote no page")
    let copy = try vault.damagedCopy(page: victim, offset: 2050, name: "both.vault")
    defer { vault.remove(copy) }
    var image = try Data(contentsOf: URL(fileURLWithPath: copy))
    image[Int(vault.newestMetaPage) * 4096 + 100] ^= 0x01
    try image.write(to: URL(fileURLWithPath: copy))
    try? FileManager.default.removeItem(atPath: copy + "-lock")

    #expect(throws: VaultError.self) {
      try VaultStore.open(at: copy, credential: testCredential, options: .init(readOnly: true))
    }
    var options = VaultStore.Options(readOnly: true)
    options.salvaging = true
    let destination = vault.directory.file("recovered-both.vault")
    let report = try {
      let source = try VaultStore.open(at: copy, credential: testCredential, options: options)
      #expect(try source.newestMeta().transaction == older.transaction)
      return try Salvage.recover(source, credential: testCredential, to: destination)
    }()
    #expect(report.lostAnything && report.damage.contains { $0.problem.page == victim })
    #expect(Checker.check(path: destination, credential: testCredential).ok)
    let recovered = try contents(of: VaultStore.open(at: destination, credential: testCredential))
    // The older commit held the three big trees (the newest added only small ones):
    // all of them but a leaf's worth, each value as it was.
    #expect(recovered.values.reduce(0) { $0 + $1.count } > 250)
    for (name, entries) in recovered {
      for (key, value) in entries { #expect(vault.contents[name]?[key] == value, "\(name)") }
    }
    // The salvage store is gone: a writable first opener does not take the damaged
    // state for a durable one (the salvage published nothing).
    do {
      _ = try VaultStore.open(at: copy, credential: testCredential)
      Issue.record("a damaged state was opened for writing")
    } catch {
      #expect(error.code == .corruptPage && error.message.contains("no committed state"))
    }
    // Salvage is read-only, always.
    options.readOnly = false
    #expect(throws: VaultError.self) {
      try VaultStore.open(at: copy, credential: testCredential, options: options)
    }
  }
}
