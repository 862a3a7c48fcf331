import Foundation
import Testing
import VaultCore
import VaultFormat

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

  /// Random inserts of small cells leave leaves about four-fifths full rather than
  /// two-thirds: an overflowing leaf first shares its cells with a neighbour that has
  /// room. A few values up to a quarter page (and past it, stored apart) also make some
  /// shared pairs split in three.
  @Test func randomInsertsShareCellsBeforeSplitting() throws {
    let seed = testSeed(11)
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    var random = SeededGenerator(seed: seed)
    var model = [[UInt8]: [UInt8]]()
    for _ in 0..<40 {
      try store.write { tx in
        let tree = try tx.openTree(named: "clients")
        for _ in 0..<500 {
          let key = random.bytes(16)
          let longest = random.next() % 16 == 0 ? 1_100 : 120
          let value = random.bytes(Int(random.next() % UInt64(longest)))
          try tree.insert(value, forKey: key)
          model[key] = value
        }
      }
    }
    let inspection = try store.read { Inspection(snapshot: $0) }
    let tree = try #require(inspection.treeNames.first { $0.value == "clients" }?.key)
    let leaves = inspection.reachable.values.filter { $0.type == .leaf && $0.tree == tree }
    let fill = Double(leaves.map(\.usedBytes).reduce(0, +)) / Double(leaves.count * 4096)
    // Splits alone leave about 0.69.
    #expect(fill > 0.76, "leaf fill \(fill), seed \(seed)")
    try store.read { snapshot in
      let stored = try #require(try snapshot.tree(named: "clients"))
      for (key, value) in model {
        #expect(try stored.value(forKey: key) == value, "seed \(seed)")
      }
    }
    #expect(Checker.check(path: path, credential: testCredential).ok, "seed \(seed)")
  }

  /// The pages next to each meta page hold only nodes the last two commits wrote, so
  /// that a small commit writes its meta page and hot nodes as one run. A tree fed by
  /// appends (data keys, the audit log) leaves its first leaf behind, full, when it
  /// grows a second: that leaf must not stay in a hot area.
  @Test func leavesLeftBehindByAppendsStayOutOfTheHotAreas() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    for index in 0..<300 {
      try store.write { tx in
        var key = [UInt8](repeating: 0, count: 8)
        for byte in 0..<8 { key[byte] = UInt8(truncatingIfNeeded: index >> (56 - 8 * byte)) }
        try tx.openTree(named: "log").insert([UInt8](repeating: 7, count: 100), forKey: key)
      }
    }
    let inspection = try store.read { Inspection(snapshot: $0) }
    let newest = inspection.meta.transaction
    let hotPages = Set(FileFormat.hotArea(for: newest)).union(FileFormat.hotArea(for: newest.next))
    for (page, info) in inspection.reachable where hotPages.contains(page) {
      #expect(
        info.transaction.rawValue + 2 >= newest.rawValue,
        "page \(page) (\(info.type), transaction \(info.transaction)) stays live in a hot area")
    }
    #expect(inspection.reachable.count > 8)
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

@Suite struct RewriteTests {
  /// Rewriting values in place, in batches resumed from the last key, reaches every
  /// entry exactly once, keeps the rest of the tree intact, and leaves a valid vault.
  @Test func batchedInPlaceRewritesVisitEveryEntryOnce() throws {
    let seed = testSeed(9)
    var random = SeededGenerator(seed: seed)
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    var model = [[UInt8]: [UInt8]]()
    try store.write { tx in
      let tree = try tx.openTree(named: "t")
      for _ in 0..<20_000 {
        let key = random.bytes(Int.random(in: 4...24, using: &random))
        let value =
          [UInt8.random(in: 0...1, using: &random)]
          + random.bytes(Int.random(in: 10...60, using: &random))
        try tree.insert(value, forKey: key)
        model[key] = value
      }
    }
    var cursor: [UInt8]?
    var batches = 0
    var rewritten = 0
    repeat {
      let limit = Int.random(in: 1...2_000, using: &random)
      try store.write { tx in
        let tree = try tx.openTree(named: "t")
        // Some batches also change the tree first, so rewrites meet dirty nodes. (Keys
        // past every other one: still ahead of the cursor, so rewritten too.)
        if batches % 3 == 1 {
          let key = [0xFF, 0xFF, 0xFF, 0xFF] + random.bytes(30)
          try tree.insert([0, 1, 2], forKey: key)
          model[key] = [0, 1, 2]
        }
        let pass = try tree.rewriteValues(from: cursor.map { $0 + [0] }, limit: limit) {
          _, value in
          // Values starting with an odd byte are left alone; the rest count one more
          // rewrite (and so become odd: a second visit would show).
          guard let first = value.first, first % 2 == 0 else { return nil }
          return [first &+ 1] + value.dropFirst()
        }
        rewritten += pass.rewritten
        cursor = pass.visited == limit ? pass.lastKey : nil
      }
      batches += 1
    } while cursor != nil
    #expect(batches > 5, "seed \(seed)")
    var expectedRewrites = 0
    for (key, value) in model where value[0] % 2 == 0 {
      model[key] = [value[0] &+ 1] + value.dropFirst()
      expectedRewrites += 1
    }
    #expect(rewritten == expectedRewrites, "seed \(seed)")
    #expect(try contents(of: store)["t"] == model, "seed \(seed)")
    #expect(Checker.check(path: path, credential: testCredential).ok)
    // A value that would change length is refused.
    #expect(throws: VaultError.self) {
      try store.write { tx in
        _ = try tx.openTree(named: "t").rewriteValues(from: nil, limit: 1) { _, _ in [1] }
      }
    }
  }

  @Test func exchangeReturnsTheReplacedValue() throws {
    let dir = TemporaryDirectory()
    let store = try VaultStore.create(at: dir.file("v.vault"), credential: testCredential)
    let large = [UInt8](repeating: 7, count: 9_000)
    try store.write { tx in
      let tree = try tx.openTree(named: "t")
      #expect(try tree.exchange([1], forKey: [1]) == nil)
      #expect(try tree.exchange([2], forKey: [1]) == [1])
      #expect(try tree.exchange(large, forKey: [2]) == nil)
      #expect(try tree.exchange([3], forKey: [2]) == large)  // new this transaction
    }
    try store.write { tx in
      let tree = try tx.openTree(named: "t")
      try tree.insert(large, forKey: [3])
    }
    try store.write { tx in
      let tree = try tx.openTree(named: "t")
      #expect(try tree.exchange([4], forKey: [3]) == large)  // committed, in overflow pages
      #expect(try tree.exchange([5], forKey: [1]) == [2])
      #expect(tree.count == 3)
    }
    #expect(Checker.check(path: dir.file("v.vault"), credential: testCredential).ok)
  }
}
