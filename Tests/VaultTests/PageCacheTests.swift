import Testing
import VaultCore
import VaultFormat

@testable import VaultStorage

@Suite struct PageCacheTests {
  /// The open-addressing index behaves exactly like a dictionary under random inserts,
  /// replacements and removals (removal re-places probe runs, the tricky part).
  @Test func pageIndexMatchesADictionary() {
    let seed = testSeed(31)
    var random = SeededGenerator(seed: seed)
    var index = PageIndex(minimumCapacity: 4)
    var model = [UInt64: Int]()
    for step in 0..<50_000 {
      // A small key space makes collisions, long probe runs and reuse common.
      let key = UInt64.random(in: 1...600, using: &random)
      if Bool.random(using: &random) {
        index.set(step, for: key)
        model[key] = step
      } else {
        #expect(index.remove(key) == model.removeValue(forKey: key), "seed \(seed)")
      }
      if step % 97 == 0 {
        for probe in 1...UInt64(600) where index.value(for: probe) != model[probe] {
          Issue.record("seed \(seed), step \(step): key \(probe) differs")
          return
        }
        #expect(index.count == model.count)
      }
    }
  }

  /// Tree names are bytes: two spellings of "café" that Swift's String calls equal
  /// are two trees, in the catalog and in the cache of its entries that reads use.
  @Test func canonicallyEquivalentTreeNamesStayDistinct() throws {
    let dir = TemporaryDirectory()
    let store = try VaultStore.create(at: dir.file("v.vault"), credential: testCredential)
    let composed = "caf\u{E9}"
    let decomposed = "cafe\u{301}"
    #expect(composed == decomposed)
    try store.write { tx in
      try tx.openTree(named: composed).insert([1], forKey: [0])
      try tx.openTree(named: decomposed).insert([2], forKey: [0])
    }
    // Twice: the first read fills the catalog cache, the second reads from it.
    for _ in 0..<2 {
      let snapshot = try store.makeSnapshot()
      defer { snapshot.close() }
      let first = try snapshot.tree(named: composed)?.value(forKey: [0])
      let second = try snapshot.tree(named: decomposed)?.value(forKey: [0])
      #expect(first == [1])
      #expect(second == [2])
    }
  }

  @Test func cacheMissesWhenTheLinkNoLongerMatches() throws {
    let dir = TemporaryDirectory()
    let store = try VaultStore.create(
      at: dir.file("v.vault"), credential: testCredential, options: .init(cacheBytes: 0))
    try store.write { tx in try tx.openTree(named: "t").insert([1], forKey: [1]) }
    let before = store.cacheStatistics
    // Many commits rewrite the same page numbers with new content: a cached node whose
    // checksum no longer matches the parent's link must never be returned.
    for round in 0..<50 {
      try store.write { tx in try tx.openTree(named: "t").insert([UInt8(round)], forKey: [1]) }
      #expect(try store.read { try $0.tree(named: "t")?.value(forKey: [1]) } == [UInt8(round)])
    }
    #expect(store.cacheStatistics.hits + store.cacheStatistics.misses > before.hits + before.misses)
  }
}
