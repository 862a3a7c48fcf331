import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@testable import VaultStorage

/// Finds byte strings in a file image quickly: every 8-byte window is indexed once, so
/// checking a thousand markers costs a set lookup each (a full comparison only on a
/// window hit).
struct ByteSearch {
  let haystack: [UInt8]
  private var windows = Set<UInt64>()

  init(_ haystack: [UInt8]) {
    self.haystack = haystack
    guard haystack.count >= 8 else { return }
    windows.reserveCapacity(haystack.count)
    haystack.withUnsafeBytes { raw in
      for offset in 0...(raw.count - 8) {
        windows.insert(raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
      }
    }
  }

  func contains(_ needle: [UInt8]) -> Bool {
    guard needle.count >= 8 else { return VaultTests.contains(haystack, needle) }
    let tail = needle.suffix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    return windows.contains(tail) && VaultTests.contains(haystack, needle)
  }
}

/// Whether `needle` occurs anywhere in `haystack` (a plain scan).
func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
  guard !needle.isEmpty, haystack.count >= needle.count else { return false }
  let first = needle[0]
  for index in 0...(haystack.count - needle.count)
  where haystack[index] == first && haystack[index..<index + needle.count].elementsEqual(needle) {
    return true
  }
  return false
}

/// Unique marker strings planted in a vault, and the check that none reaches its file.
final class PlantedMarkers {
  let path: String
  let seed: UInt64
  private var random: SeededGenerator
  private(set) var markers = [[UInt8]]()

  init(path: String, seed: UInt64) {
    self.path = path
    self.seed = seed
    random = SeededGenerator(seed: seed)
  }

  /// A new marker: `label` and a random number.
  func text(_ label: String) -> String {
    let text = "\(label)-\(UInt32.random(in: 0...UInt32.max, using: &random))"
    markers.append(Array(text.utf8))
    return text
  }

  func bytes(_ label: String) -> [UInt8] { Array(text(label).utf8) }

  /// Records an issue for every marker found anywhere in the raw file.
  func expectAbsent(_ phase: String) throws {
    let raw = ByteSearch(try fileBytes(path))
    for marker in markers {
      #expect(
        !raw.contains(marker),
        "seed \(seed): \(phase): found \(String(decoding: marker, as: UTF8.self))")
    }
  }
}

func fileBytes(_ path: String) throws -> [UInt8] {
  Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Nothing stored is readable from the file without the key, and nothing sealed can be
/// altered, moved or forged without the key noticing.
@Suite struct EncryptionTests {
  /// Markers planted in tree names, keys and values (inline and overflow), through
  /// inserts, updates, deletes and a dropped tree: none may appear in the raw file, in
  /// live pages or in free ones.
  @Test func theRawFileHoldsNoPlantedPlaintext() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let planted = PlantedMarkers(path: path, seed: testSeed(0x5EA1))
    let marker = planted.bytes
    let assertClean = planted.expectAbsent
    let store = try VaultStore.create(at: path, credential: testCredential)
    let treeName = String(decoding: marker("ClientsTreeName"), as: UTF8.self)
    var keys = [[UInt8]]()
    try store.write { tx in
      let tree = try tx.openTree(named: treeName)
      for index in 0..<400 {
        let key = marker("client-key-\(index)")
        keys.append(key)
        let value =
          marker("Jane Doe \(index) <jane\(index)@example.com> amount=") + Array("98765".utf8)
        try tree.insert(value, forKey: key)
      }
      let large = marker("RAW-PORTRAIT") + [UInt8](repeating: 0x41, count: 20_000) + marker("END")
      try tree.insert(large, forKey: marker("portrait"))
    }
    try assertClean("after inserts")
    try store.write { tx in
      let tree = try tx.openTree(named: treeName)
      for (index, key) in keys.enumerated() where index % 3 == 0 {
        try tree.insert(marker("updated note \(index)"), forKey: key)
      }
      for (index, key) in keys.enumerated() where index % 5 == 0 {
        _ = try tree.removeValue(forKey: key)
      }
      let scratch = try tx.openTree(named: String(decoding: marker("scratch"), as: UTF8.self))
      for index in 0..<50 {
        try scratch.insert(marker("scratch value \(index)"), forKey: [UInt8(index)])
      }
    }
    try assertClean("after updates and deletes")
    try store.write { tx in
      for name in try tx.treeNames() where name.hasPrefix("scratch") {
        _ = try tx.dropTree(named: name)
      }
    }
    try assertClean("after a dropped tree")
    // The markers are really stored: the check above would pass on an empty file.
    let stored = try store.read { try $0.tree(named: treeName)?.count ?? 0 }
    #expect(stored == UInt64(401 - 80))
    #expect(planted.markers.count > 900)
  }

  @Test func aWrongPassphraseFailsAndOpensNothing() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    _ = try VaultStore.create(
      at: path, credential: .passphrase("right passphrase"), keyDerivation: .interactive)
    try FileManager.default.removeItem(atPath: path + "-lock")
    let before = try fileBytes(path)
    #expect(throws: VaultError(.wrongPassphrase, "the passphrase does not unlock this vault")) {
      try VaultStore.open(at: path, credential: .passphrase("wrong passphrase"))
    }
    #expect(throws: VaultError.self) { try VaultStore.open(at: path, credential: testCredential) }
    // Nothing was opened halfway: no lock file, not a byte of the vault changed.
    #expect(!FileManager.default.fileExists(atPath: path + "-lock"))
    #expect(try fileBytes(path) == before)
    let store = try VaultStore.open(at: path, credential: .passphrase("right passphrase"))
    try store.write { try $0.openTree(named: "t").insert([1], forKey: [1]) }

    // A raw-key vault refuses a passphrase and a different key.
    let rawPath = dir.file("raw.vault")
    _ = try VaultStore.create(at: rawPath, credential: testCredential)
    #expect(throws: VaultError.self) {
      try VaultStore.open(at: rawPath, credential: .passphrase("anything"))
    }
    let otherKey = VaultCredential.rawKey(SymmetricKey.random())
    #expect(throws: VaultError(.wrongPassphrase, "the key does not unlock this vault")) {
      try VaultStore.open(at: rawPath, credential: otherKey)
    }
  }

  /// Rewrites both header copies with `change` applied to the key slot bytes.
  func rewriteKeySlot(at path: String, _ change: (inout [UInt8]) -> Void) throws {
    let store = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    var header = store.header
    change(&header.keySlot)
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    for page in FileFormat.headerPages {
      try handle.seek(toOffset: page.rawValue * UInt64(store.pageSize))
      try handle.write(contentsOf: Data(header.encodePage(page, transaction: TransactionID(0))))
    }
    try handle.close()
  }

  /// Key-derivation parameters come from the file: values past the `sensitive` level
  /// are refused before anything is allocated or derived.
  @Test(arguments: [0, 1, 2, 3])
  func hostileKeyDerivationParametersAreRefused(case index: Int) throws {
    let hostile: [(ops: UInt32, memory: UInt64)] = [
      (2, 1 << 40), (UInt32.max, 64 << 20), (0, 64 << 20), (2, 0),
    ]
    let (ops, memory) = hostile[index]
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    _ = try VaultStore.create(
      at: path, credential: .passphrase("p"), keyDerivation: .interactive)
    try rewriteKeySlot(at: path) { slot in
      slot.replaceSubrange(4..<8, with: withUnsafeBytes(of: ops.littleEndian) { Array($0) })
      slot.replaceSubrange(8..<16, with: withUnsafeBytes(of: memory.littleEndian) { Array($0) })
    }
    let error = #expect(throws: VaultError.self, "parameters \(ops), \(memory)") {
      try VaultStore.open(at: path, credential: .passphrase("p"))
    }
    #expect(error?.code == .corrupt, "\(String(describing: error))")
    #expect(error?.message.contains("key derivation") == true)
    // Keyless tools still read the header and report the parameters.
    _ = try VaultStore.open(at: path, credential: nil)
  }

  @Test func tamperedKeySlotParametersFailToUnwrap() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    _ = try VaultStore.create(
      at: path, credential: .passphrase("p"), keyDerivation: .interactive)
    // Lower the cost to the minimum (an attacker hoping for a cheaper derivation): the
    // parameters are bound to the wrap, so the right passphrase no longer unwraps.
    try rewriteKeySlot(at: path) { slot in
      slot.replaceSubrange(4..<8, with: withUnsafeBytes(of: UInt32(1).littleEndian) { Array($0) })
    }
    #expect(throws: VaultError(.wrongPassphrase, "the passphrase does not unlock this vault")) {
      try VaultStore.open(at: path, credential: .passphrase("p"))
    }
  }

  /// A forger without the key who fixes every checksum is still caught: the checksum
  /// protects against accidents, the seal against forgery.
  @Test func aForgedMetaPageWithAValidChecksumFailsAuthentication() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    for round in 0..<3 {
      try store.write { tx in
        try tx.openTree(named: "t").insert([UInt8(round)], forKey: Array("k".utf8))
      }
    }
    let newest = FileFormat.metaPage(for: try store.newestMeta().transaction).rawValue
    let pageSize = store.pageSize
    // Flip a bit of the sealed root body, then recompute the checksum.
    let image = try forgingSealedMetaBit(try fileBytes(path), slot: newest, pageSize: pageSize)
    let forged = Array(image[Int(newest) * pageSize..<Int(newest + 1) * pageSize])
    let copy = dir.file("forged.vault")
    try Data(image).write(to: URL(fileURLWithPath: copy))

    // Keyless, the page looks fine: its checksum matches.
    #expect(try Page(forged, location: PageNumber(newest)).hasValidChecksum)
    // With the key, the seal fails; the older state is what remains readable.
    do {
      let reader = try VaultStore.open(
        at: copy, credential: testCredential, options: .init(readOnly: true))
      #expect(reader.recoveryProblems.contains { $0.code == .authenticationFailed })
      #expect(try reader.read { try $0.tree(named: "t")?.value(forKey: Array("k".utf8)) } == [1])
    }
    let report = Checker.check(path: copy, credential: testCredential)
    #expect(report.problems.contains { $0.page == newest })
  }

  /// A page written in the clear (flags 0) with a valid checksum is not the vault's.
  @Test func anUnsealedPageIsRefused() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    try store.write { try $0.openTree(named: "t").insert([7], forKey: [7]) }
    let meta = try store.newestMeta()
    let slot = FileFormat.metaPage(for: meta.transaction)
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    try handle.seek(toOffset: slot.rawValue * UInt64(store.pageSize))
    try handle.write(contentsOf: Data(meta.encode(pageSize: store.pageSize)))
    try handle.close()
    try FileManager.default.removeItem(atPath: path + "-lock")
    let reopened = try VaultStore.open(
      at: path, credential: testCredential, options: .init(readOnly: true))
    #expect(reopened.recoveryProblems.contains { $0.message.contains("not sealed") })
    #expect(try reopened.newestMeta().transaction < meta.transaction)
  }

  @Test func pagesMovedOrReplayedFailToOpen() throws {
    let key = SymmetricKey.random()
    let cipher = PageCipher(pageKey: key)
    var nonces = PageNonce.Sequence()
    let body = Array("a secret body".utf8)
    let header = PageHeader(
      type: .overflow, pageNumber: PageNumber(40), transaction: TransactionID(9),
      tree: TreeID(16), bodyLength: body.count, flags: FileFormat.sealedFlag)
    let sealed = cipher.seal(
      Page.build(header: header, links: [], body: body, pageSize: 4096), nonce: nonces.next())
    #expect(!contains(sealed, body))
    let opened = try cipher.open(Page(sealed, location: PageNumber(40)))
    #expect(Array(opened.bytes[opened.bodyRange]) == body)

    /// `sealed` with `change` applied and the checksum fixed, parsed at `location`.
    func altered(_ change: (inout [UInt8]) -> Void, at location: UInt64 = 40) throws -> Page {
      var bytes = sealed
      change(&bytes)
      fixChecksum(&bytes)
      return try Page(bytes, location: PageNumber(location))
    }
    let forgeries: [(String, Page)] = [
      ("ciphertext bit", try altered { $0[64] ^= 0x80 }),
      ("moved to page 41", try altered({ $0[24] = 41 }, at: 41)),
      ("replayed as transaction 10", try altered { $0[32] = 10 }),
      ("given to tree 17", try altered { $0[40] = 17 }),
      ("tag bit", try altered { $0[4095] ^= 1 }),
      ("nonce bit", try altered { $0[4056] ^= 1 }),
    ]
    for (what, page) in forgeries {
      let error = #expect(throws: VaultError.self, "\(what)") { try cipher.open(page) }
      #expect(error?.code == .authenticationFailed && error?.page != nil, "\(what)")
    }
    // Another vault's key opens nothing.
    #expect(throws: VaultError.self) {
      try PageCipher(pageKey: SymmetricKey.random()).open(Page(sealed, location: PageNumber(40)))
    }
  }

  /// Without the key, the keyless tools still verify the whole structure.
  @Test func keylessCheckVerifiesStructureAndCounts() throws {
    let vault = try PopulatedVault()
    let keyless = Checker.check(path: vault.path)
    #expect(keyless.ok, "\(keyless.problems)")
    #expect(keyless.pagesChecked > 30)
    let store = try VaultStore.open(at: vault.path, credential: nil, options: .init(readOnly: true))
    #expect(throws: VaultError.self) { try store.read { try $0.treeNames() } }
    #expect(throws: VaultError.self) { try store.write { _ in } }
    // A flipped byte is still found without the key.
    let leaf = try #require(vault.pagesInUse.first { $0.type == "leaf" }?.page)
    let copy = try vault.damagedCopy(page: leaf, offset: 300, name: "flip.vault")
    let report = Checker.check(path: copy)
    #expect(report.problems.contains { $0.page == leaf })
  }
}

extension EncryptionTests {
  /// Whole pages moved around in the file: two pages swapped, and a page put back to
  /// an older version of itself. Each is caught, keyless or with the key, with the
  /// page named and a typed error.
  @Test func swappedAndReplayedPagesAreDetected() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    var random = SeededGenerator(seed: testSeed(12))
    for round in 0..<3 {
      try store.write { tx in
        let tree = try tx.openTree(named: "t")
        for key in 0..<400 {
          try tree.insert(random.bytes(80 + round), forKey: bytes("key-\(key)"))
        }
      }
    }
    let older = try fileBytes(path)
    try store.write { tx in
      let tree = try tx.openTree(named: "t")
      for key in stride(from: 0, to: 400, by: 2) {
        try tree.insert([9], forKey: bytes("key-\(key)"))
      }
    }
    let current = try fileBytes(path)
    let pageSize = store.pageSize
    let inspection = try store.read { Inspection(snapshot: $0) }
    let leaves = inspection.reachable.filter { $0.value.type == .leaf && $0.value.tree != .system }
      .keys.sorted()
    try #require(leaves.count >= 2)
    func page(_ image: [UInt8], _ number: UInt64) -> ArraySlice<UInt8> {
      image[Int(number) * pageSize..<Int(number + 1) * pageSize]
    }
    func checkDamaged(_ image: [UInt8], _ name: String, pages: [UInt64]) throws {
      let copy = dir.file(name)
      try Data(image).write(to: URL(fileURLWithPath: copy))
      // With the lock file, the last commit is known durable: damage in it is reported,
      // not silently rolled back (recovery would fall back for a torn commit).
      try FileManager.default.copyItem(atPath: path + "-lock", toPath: copy + "-lock")
      for credential in [nil, testCredential] as [VaultCredential?] {
        let report = Checker.check(path: copy, credential: credential)
        for number in pages {
          #expect(report.problems.contains { $0.page == number }, "\(name): page \(number)")
        }
      }
      let reopened = try VaultStore.open(
        at: copy, credential: testCredential, options: .init(readOnly: true))
      let error = #expect(throws: VaultError.self, "\(name)") {
        try reopened.read { snapshot in
          try snapshot.tree(named: "t")?.scan { _, _ in true }
        }
      }
      #expect(error.map { $0.isDamage && $0.page != nil } == true, "\(name)")
    }
    // Two leaves swapped: each sits at the wrong page number.
    var swapped = current
    let (first, second) = (leaves[0], leaves[1])
    swapped.replaceSubrange(
      Int(first) * pageSize..<Int(first + 1) * pageSize, with: page(current, second))
    swapped.replaceSubrange(
      Int(second) * pageSize..<Int(second + 1) * pageSize, with: page(current, first))
    try checkDamaged(swapped, "swapped.vault", pages: [first, second])
    // A leaf put back as it was before the last commit (a valid, older, sealed page).
    let replayable = leaves.first {
      page(older, $0) != page(current, $0) && page(older, $0).contains { $0 != 0 }
    }
    let replayed = try #require(replayable)
    var image = current
    image.replaceSubrange(
      Int(replayed) * pageSize..<Int(replayed + 1) * pageSize, with: page(older, replayed))
    try checkDamaged(image, "replayed.vault", pages: [replayed])
  }
}
