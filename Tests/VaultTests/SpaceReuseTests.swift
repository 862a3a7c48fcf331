import Foundation
import Testing
import VaultCore

@testable import VaultStorage

@Suite struct SpaceReuseTests {
  /// Steady updates must not grow the file without bound: freed pages are reused.
  @Test func updatingTheSameRecordsLevelsOffTheFileSize() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    var random = SeededGenerator(seed: testSeed(7))
    var sizes = [UInt64]()
    for round in 0..<100 {
      try store.write { tx in
        let tree = try tx.openTree(named: "clients")
        for index in 0..<1000 {
          try tree.insert(random.bytes(350), forKey: bytes("client-\(index)"))
        }
      }
      sizes.append(try store.fileSize())
      _ = round
    }
    let meta = try store.newestMeta()
    // The file stops growing early and stays put.
    #expect(sizes[99] == sizes[30], "sizes: \(sizes)")
    // 1,000 records of ~370 bytes fit in ~100 pages; with one old copy kept free, the
    // file holds a few hundred pages, not 100 rounds' worth.
    #expect(meta.pageCount < 1_000, "page count \(meta.pageCount)")
    #expect(Checker.check(path: path, credential: testCredential).ok)
  }

  @Test func droppingATreeFreesItsPages() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    try store.write { tx in
      let tree = try tx.createTree(named: "big")
      for index in 0..<3000 {
        try tree.insert(
          [UInt8](repeating: 1, count: index % 100 == 0 ? 10_000 : 200), forKey: bytes("k\(index)"))
      }
    }
    let pagesBefore = try store.newestMeta().pageCount
    let dropped = try store.write { tx in try tx.dropTree(named: "big") }
    #expect(dropped)
    // Commit once more so the drop's freed pages become reusable, then refill.
    try store.write { tx in try tx.openTree(named: "tiny").insert([1], forKey: [1]) }
    try store.write { tx in
      let tree = try tx.createTree(named: "big2")
      for index in 0..<3000 {
        try tree.insert(
          [UInt8](repeating: 2, count: index % 100 == 0 ? 10_000 : 200), forKey: bytes("k\(index)"))
      }
    }
    let pagesAfter = try store.newestMeta().pageCount
    #expect(pagesAfter < pagesBefore + pagesBefore / 4, "\(pagesBefore) -> \(pagesAfter)")
    #expect(try store.read { try $0.treeNames() } == ["big2", "tiny"])
    #expect(Checker.check(path: path, credential: testCredential).ok)
  }
}
