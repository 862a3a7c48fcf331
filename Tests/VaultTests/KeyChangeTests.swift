import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@testable import VaultStorage

/// Cheap Argon2id parameters (within the accepted range) so tests derive keys fast.
let cheapKeyDerivation = PasswordKDF.Parameters(opsLimit: 1, memLimitBytes: 8 << 20)

@Suite struct KeyChangeTests {
  @Test func changingThePassphraseRewritesOnlyTheHeader() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try VaultStore.create(
      at: path, credential: .passphrase("old one"), keyDerivation: cheapKeyDerivation)
    try store.write { tx in
      let tree = try tx.openTree(named: "clients")
      for index in 0..<500 { try tree.insert(bytes("client \(index)"), forKey: bytes("\(index)")) }
    }
    let before = try fileBytes(path)
    try store.changeCredential(to: .passphrase("new one"), keyDerivation: cheapKeyDerivation)
    let after = try fileBytes(path)
    // Only pages 0 and 1 changed: the change is O(1) in the vault's size.
    let pageSize = store.pageSize
    #expect(before.count == after.count)
    let changedPages = Set(
      (0..<before.count).filter { before[$0] != after[$0] }.map { $0 / pageSize })
    #expect(changedPages == [0, 1])
    // The store keeps working, and the vault opens with the new passphrase only.
    try store.write { try $0.openTree(named: "clients").insert(bytes("x"), forKey: bytes("x")) }
    #expect(throws: VaultError.self) {
      try VaultStore.open(at: path, credential: .passphrase("old one"))
    }
    let reopened = try VaultStore.open(at: path, credential: .passphrase("new one"))
    #expect(try reopened.read { try $0.tree(named: "clients")?.count } == 501)
    // A raw key can replace a passphrase too (an application moving it to a keychain).
    let rawKey = VaultCredential.rawKey(SymmetricKey.random())
    try reopened.changeCredential(to: rawKey)
    #expect(throws: VaultError.self) {
      try VaultStore.open(at: path, credential: .passphrase("new one"))
    }
    #expect(
      try VaultStore.open(at: path, credential: rawKey).read { try $0.treeNames() } == [
        "clients"
      ])
    // Without the current key there is nothing to re-wrap.
    let keyless = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    #expect(throws: VaultError.self) { try keyless.changeCredential(to: .passphrase("x")) }
  }

  /// A crash at any write or sync of a passphrase change leaves the vault opening with
  /// the old or the new passphrase, every record readable; the next writable open
  /// repairs the stale header copy so the old passphrase stops working once the new
  /// one is in force.
  @Test func aCrashDuringAPassphraseChangeLosesNothing() throws {
    let seed = testSeed(77)
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    var model = VaultContents()
    do {
      let store = try VaultStore.create(
        at: path, credential: .passphrase("old"), keyDerivation: cheapKeyDerivation)
      try store.write { tx in
        let tree = try tx.openTree(named: "t")
        for index in 0..<300 {
          try tree.insert(bytes("value \(index)"), forKey: bytes("k\(index)"))
          model["t", default: [:]][bytes("k\(index)")] = bytes("value \(index)")
        }
      }
    }
    let initial = try fileBytes(path)
    var random = SeededGenerator(seed: seed)
    var outcomes = (old: 0, new: 0)
    for crashAt in 1...6 {
      let disk = SimulatedDisk(image: initial)
      let store = try VaultStore(
        path: dir.file("run\(crashAt).vault"), file: disk, options: .init(),
        credential: .passphrase("old"))
      disk.crashAtOperation = disk.operations + crashAt
      var finished = true
      do {
        try store.changeCredential(to: .passphrase("new"), keyDerivation: cheapKeyDerivation)
      } catch {
        finished = false
      }
      for variant in 0..<4 {
        let image = dir.file("crash\(crashAt)-\(variant).vault")
        try Data(disk.imageAfterPowerLoss(using: &random)).write(to: URL(fileURLWithPath: image))
        var opened: VaultStore?
        var which = ""
        for (name, passphrase) in [("new", "new"), ("old", "old")] where opened == nil {
          opened = try? VaultStore.open(at: image, credential: .passphrase(passphrase))
          which = name
        }
        let store = try #require(opened, "seed \(seed), crash at \(crashAt): opens with neither")
        if which == "old" { outcomes.old += 1 } else { outcomes.new += 1 }
        if finished { #expect(which == "new", "a completed change was lost") }
        #expect(try contents(of: store) == model, "seed \(seed), crash at \(crashAt)")
        // The writable open repaired the header: only the passphrase in force opens it.
        let other = which == "new" ? "old" : "new"
        let probe = dir.file("probe\(crashAt)-\(variant).vault")
        try FileManager.default.copyItem(atPath: image, toPath: probe)
        #expect(throws: VaultError.self) {
          try VaultStore.open(at: probe, credential: .passphrase(other))
        }
        let headerCopies = try fileBytes(image)
        #expect(
          headerCopies[64..<(64 + 170)]
            == headerCopies[store.pageSize + 64..<(store.pageSize + 64 + 170)],
          "seed \(seed), crash at \(crashAt): header copies still differ")
      }
    }
    #expect(outcomes.old > 0 && outcomes.new > 0)
  }
}
