import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@testable import VaultStorage

/// A populated vault on disk, with its expected contents and its pages in use.
struct PopulatedVault {
  let directory = TemporaryDirectory("corruption")
  var path: String { directory.file("pristine.vault") }
  var contents = VaultContents()
  /// Pages reachable from the newest commit, by type name, plus headers and metas.
  var pagesInUse: [(page: UInt64, type: String)] = []
  var newestMetaPage: UInt64 = 0

  init(pageSize: Int = 4096) throws {
    let store = try VaultStore.create(at: path, credential: testCredential, pageSize: pageSize)
    var random = SeededGenerator(seed: 42)
    for round in 0..<6 {
      try store.write { tx in
        for name in ["clients", "projects", "payments"] {
          let tree = try tx.openTree(named: name)
          for index in 0..<120 {
            let key = bytes("\(name)-\(index * 7 % 120)")
            let size = index % 40 == 1 ? 9_000 : 120
            let value = random.bytes(size)
            try tree.insert(value, forKey: key)
            contents[name, default: [:]][key] = value
            if round > 3 && index % 5 == 0 {
              try tree.removeValue(forKey: key)
              contents[name]![key] = nil
            }
          }
        }
      }
    }
    // Enough trees that the system tree outgrows the meta page and gets pages of its own.
    try store.write { tx in
      for index in 0..<90 {
        let name = "tree-with-a-longish-name-\(index)"
        try tx.openTree(named: name).insert([UInt8(index)], forKey: [1])
        contents[name] = [[1]: [UInt8(index)]]
      }
    }
    let inspection = try store.read { Inspection(snapshot: $0) }
    pagesInUse =
      [(0, "header"), (1, "header"), (2, "meta"), (11, "meta")]
      + inspection.reachable.keys.sorted().map { ($0, inspection.typeName(of: $0)) }
    newestMetaPage = FileFormat.metaPage(for: inspection.meta.transaction).rawValue
  }

  /// A copy of the vault (and its lock file) with one byte of `page` flipped.
  func damagedCopy(page: UInt64, offset: Int, pageSize: Int = 4096, name: String) throws -> String {
    let target = directory.file(name)
    var image = try Data(contentsOf: URL(fileURLWithPath: path))
    let position = Int(page) * pageSize + offset
    image[position] ^= 0x5A
    try image.write(to: URL(fileURLWithPath: target))
    let lock = try Data(contentsOf: URL(fileURLWithPath: path + "-lock"))
    try lock.write(to: URL(fileURLWithPath: target + "-lock"))
    return target
  }

  func remove(_ copy: String) {
    try? FileManager.default.removeItem(atPath: copy)
    try? FileManager.default.removeItem(atPath: copy + "-lock")
  }
}

@Suite struct CorruptionTests {
  static let offsets = [
    0, 15, 16, 17, 18, 20, 24, 32, 40, 48, 63, 64, 65, 80, 100, 1000, 2050, 4055, 4095,
  ]

  @Test func checkNamesEveryDamagedPageInUse() throws {
    let vault = try PopulatedVault()
    #expect(Checker.check(path: vault.path, credential: testCredential).ok)
    #expect(vault.pagesInUse.count > 30)
    #expect(
      Set(vault.pagesInUse.map(\.type)) == [
        "header", "meta", "catalog", "interior", "leaf", "overflow",
      ])
    for (page, type) in vault.pagesInUse {
      for offset in Self.offsets {
        let copy = try vault.damagedCopy(
          page: page, offset: offset, name: "p\(page)-\(offset).vault")
        defer { vault.remove(copy) }
        let report = Checker.check(path: copy, credential: testCredential)
        #expect(!report.ok, "flip at page \(page) (\(type)) offset \(offset) went unnoticed")
        #expect(
          report.problems.contains { $0.page == page },
          "page \(page) (\(type)) offset \(offset) not named: \(report.problems)")
      }
    }
  }

  /// Damage below damage: a page and one of its children both flipped. The child is
  /// reached by no link that can be trusted, yet `check` names it, checked on its own.
  @Test func checkNamesDamageBelowDamage() throws {
    let vault = try PopulatedVault()
    let store = try VaultStore.open(
      at: vault.path, credential: testCredential, options: .init(readOnly: true))
    let interiors = vault.pagesInUse.filter { $0.type == "interior" }.map(\.page)
    #expect(!interiors.isEmpty)
    for parent in interiors {
      let page = try store.reader.readPage(PageNumber(parent))
      let child = try #require(page.links.last).page.rawValue
      let copy = try vault.damagedCopy(page: parent, offset: 2050, name: "both-\(parent).vault")
      defer { vault.remove(copy) }
      var image = try Data(contentsOf: URL(fileURLWithPath: copy))
      image[Int(child) * 4096 + 3000] ^= 0x01
      try image.write(to: URL(fileURLWithPath: copy))
      let report = Checker.check(path: copy, credential: testCredential)
      #expect(report.problems.contains { $0.page == parent }, "parent \(parent)")
      #expect(
        report.problems.contains { $0.page == child && $0.detail.contains("below the damage") },
        "child \(child) of \(parent): \(report.problems)")
    }
  }

  /// A byte flipped in a blob extent's body: with the key or without, `check` names
  /// the extent by its first page, and counts its pages as the extent's, not as lost
  /// or as damaged pages of their own.
  @Test func aDamagedExtentIsNamedWholeWithOrWithoutTheKey() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v5.vault")
    try FileManager.default.copyItem(
      atPath: "\(VectorTests.directory)/v5-blobs.vault", toPath: path)
    let credential = VaultCredential.passphrase("correct horse battery staple")
    let store = try VaultStore.open(
      at: path, credential: credential, options: .init(readOnly: true))
    let snapshot = try store.makeSnapshot()
    let inspection = Inspection(snapshot: snapshot)
    snapshot.close()
    // The longest extent, and a page in the middle of its body.
    let extents = Dictionary(
      grouping: inspection.reachable.compactMap { page, info in
        info.extentStart.map { (start: $0, page: page) }
      }
    ) { $0.start }
    let (head, pages) = try #require(extents.max { $0.value.count < $1.value.count })
    #expect(pages.count > 2)
    let victim = pages.map(\.page).sorted()[pages.count / 2]
    var image = try Data(contentsOf: URL(fileURLWithPath: path))
    image[Int(victim) * store.pageSize + 100] ^= 0x20
    let damaged = dir.file("damaged.vault")
    try image.write(to: URL(fileURLWithPath: damaged))
    for key in [credential, nil] {
      let report = Checker.check(path: damaged, credential: key)
      #expect(report.problems.contains { $0.page == head }, "\(report.problems)")
      #expect(report.problems.count == 1, "key \(key != nil): \(report.problems)")
    }
  }

  @Test func readsThroughADamagedPageFailCleanlyAndOtherPagesStayReadable() throws {
    let vault = try PopulatedVault()
    for (page, type) in vault.pagesInUse where FileFormat.isDataPage(PageNumber(page)) {
      let copy = try vault.damagedCopy(page: page, offset: 2050, name: "r\(page).vault")
      defer { vault.remove(copy) }
      let store = try VaultStore.open(
        at: copy, credential: testCredential, options: .init(readOnly: true))
      var failed = 0
      var succeeded = 0
      for (name, entries) in vault.contents {
        for (key, value) in entries {
          do {
            let found = try store.read { try $0.tree(named: name)?.value(forKey: key) }
            #expect(found == value)
            succeeded += 1
          } catch let error as VaultError {
            #expect(error.code == .corruptPage && error.page == page, "\(error)")
            failed += 1
          }
        }
      }
      // Every lookup passes through the catalog's single page; other pages spare some.
      if type != "catalog" {
        #expect(succeeded > 0, "page \(page) (\(type)): nothing else readable")
      }
      if type != "freelist" {
        #expect(failed > 0, "page \(page) (\(type)) was never needed")
      }
    }
  }

  @Test func damagedHeaderCopyIsSurvivable() throws {
    let vault = try PopulatedVault()
    for page: UInt64 in [0, 1] {
      let copy = try vault.damagedCopy(page: page, offset: 90, name: "h\(page).vault")
      defer { vault.remove(copy) }
      let store = try VaultStore.open(at: copy, credential: testCredential)
      #expect(try contents(of: store) == vault.contents)
      #expect(store.headerProblems.contains { $0.page == page })
    }
  }

  @Test func damagedNewestMetaIsNotMistakenForACrash() throws {
    let vault = try PopulatedVault()
    let copy = try vault.damagedCopy(page: vault.newestMetaPage, offset: 200, name: "m.vault")
    defer { vault.remove(copy) }
    // The lock file proves that commit was durable: writing on the older state would
    // destroy it, so a writer refuses...
    #expect {
      try VaultStore.open(at: copy, credential: testCredential)
    } throws: { ($0 as? VaultError)?.code == .corruptPage }
    // ...while a reader may look at the older, intact state.
    let store = try VaultStore.open(
      at: copy, credential: testCredential, options: .init(readOnly: true))
    #expect(try store.lastCommittedTransaction < TransactionID(8))
    #expect(try contents(of: store).keys.sorted() == ["clients", "payments", "projects"])
  }

  /// Every byte of a page is covered: by the checksum, and through the link, by the
  /// parent's record of it.
  @Test(arguments: [PageType.leaf, .interior, .overflow, .meta, .header])
  func everySingleByteFlipOfAPageIsDetected(type: PageType) throws {
    let vault = try PopulatedVault()
    let store = try VaultStore.open(
      at: vault.path, credential: testCredential, options: .init(readOnly: true))
    let target = try #require(
      vault.pagesInUse.first { (try? store.rawPage(PageNumber($0.page)).header.type) == type })
    let pristine = try store.rawBytes(ofPage: PageNumber(target.page))
    let original = try Page(pristine, location: PageNumber(target.page))
    let link = original.link
    for offset in 0..<pristine.count {
      var damaged = pristine
      damaged[offset] ^= 0x01
      let detected: Bool
      do {
        let page = try Page(damaged, location: PageNumber(target.page))
        try page.verify(against: link)
        detected = false
      } catch {
        detected = true
      }
      #expect(detected, "\(type) page: flip at offset \(offset) undetected")
    }
  }

  @Test func hostileFilesFailWithTypedErrors() throws {
    let dir = TemporaryDirectory()
    var random = SeededGenerator(seed: testSeed(99))
    let cases: [(String, [UInt8])] = [
      ("empty", []),
      ("short", bytes("hello")),
      ("random", random.bytes(20_000)),
      ("zeros", [UInt8](repeating: 0, count: 16_384)),
      (
        "magicOnly",
        [UInt8](repeating: 0, count: 64) + FileFormat.magic + [UInt8](repeating: 0xFF, count: 8000)
      ),
    ]
    for (name, content) in cases {
      let path = dir.file(name)
      try Data(content).write(to: URL(fileURLWithPath: path))
      #expect(throws: VaultError.self, "\(name)") {
        try VaultStore.open(at: path, credential: testCredential)
      }
      #expect(!Checker.check(path: path, credential: testCredential).ok)
    }
    #expect {
      try VaultStore.open(at: dir.file("missing"), credential: testCredential)
    } throws: { ($0 as? VaultError)?.code == .notFound }
  }
}
