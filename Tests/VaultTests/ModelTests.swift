import Foundation
import Testing
import VaultCore
import VaultFormat

@testable import VaultStorage

/// Random operations on several trees, checked against an in-memory dictionary: the
/// B+tree, its copy-on-write, free-list reuse and reopening must never change what a
/// plain dictionary would hold.
@Suite struct ModelTests {
  struct Model {
    var trees: [String: [[UInt8]: [UInt8]]] = [:]
  }

  static func randomKey(_ random: inout SeededGenerator) -> [UInt8] {
    switch Int.random(in: 0..<20, using: &random) {
    case 0:
      // Long keys, near the limit, make interior pages small-fanout.
      return bytes("long-") + random.bytes(Int.random(in: 100...500, using: &random)).prefix(400)
    case 1:
      return []
    default:
      // A small key space, so updates and deletes hit existing keys often.
      let number = Int.random(in: 0..<4000, using: &random)
      return bytes(String(number, radix: 36)) + [UInt8(number % 7)]
    }
  }

  static func randomValue(_ random: inout SeededGenerator, pageSize: Int) -> [UInt8] {
    switch Int.random(in: 0..<50, using: &random) {
    case 0: return random.bytes(Int.random(in: pageSize...(pageSize * 5), using: &random))
    case 1: return []
    default: return random.bytes(Int.random(in: 1...300, using: &random))
    }
  }

  func checkScan(
    _ tree: ReadTree?, model: [[UInt8]: [UInt8]]?, random: inout SeededGenerator, seed: UInt64
  ) throws {
    let sortedKeys = (model ?? [:]).keys.sorted { KeyOrder.less($0, $1) }
    let start = Bool.random(using: &random) ? nil : Self.randomKey(&random)
    let end = Bool.random(using: &random) ? nil : Self.randomKey(&random)
    let expected = sortedKeys.filter { key in
      (start.map { !KeyOrder.less(key, $0) } ?? true)
        && (end.map { KeyOrder.less(key, $0) } ?? true)
    }
    var found = [[UInt8]]()
    try tree?.scan(from: start, to: end) { key, value in
      found.append(key)
      #expect(model?[key] == value, "seed \(seed): scanned value differs")
      return true
    }
    #expect(found == expected, "seed \(seed): range scan differs from the model")
  }

  @Test(arguments: [(4096, 100_000), (16_384, 30_000)])
  func randomOperationsMatchADictionary(pageSize: Int, operations: Int) throws {
    let seed = testSeed(0x5EED_0000 + UInt64(pageSize))
    var random = SeededGenerator(seed: seed)
    let dir = TemporaryDirectory()
    let path = dir.file("model.vault")
    var store: VaultStore? = try VaultStore.create(
      at: path, credential: testCredential, pageSize: pageSize)
    var model = Model()
    let treeNames = ["clients", "projects", "invoices", "media"]
    var done = 0
    var transactions = 0
    var appended: UInt64 = 0
    while done < operations {
      let count = Int.random(in: 1...(Bool.random(using: &random) ? 20 : 400), using: &random)
      let rollBack = Int.random(in: 0..<15, using: &random) == 0
      var draft = model
      struct RollBack: Error {}
      do {
        try store!.write { tx in
          for _ in 0..<count {
            let name = treeNames[Int.random(in: 0..<treeNames.count, using: &random)]
            switch Int.random(in: 0..<100, using: &random) {
            case 0:
              if try tx.dropTree(named: name) { draft.trees[name] = nil }
            case 1..<30:
              let key = Self.randomKey(&random)
              let removed = try tx.tree(named: name)?.removeValue(forKey: key) ?? false
              #expect(removed == (draft.trees[name]?[key] != nil), "seed \(seed): remove result")
              draft.trees[name]?[key] = nil
            case 30..<40:
              let key = Self.randomKey(&random)
              let value = try tx.tree(named: name)?.value(forKey: key)
              #expect(value == draft.trees[name]?[key], "seed \(seed): read inside transaction")
            case 40..<60:
              // Sequential keys after every random one: appends at the right edge,
              // interleaved with everything else (and now and then one removed).
              appended += 1
              let key = [0xFF] + withUnsafeBytes(of: appended.bigEndian) { Array($0) }
              let value = random.bytes(Int.random(in: 1...300, using: &random))
              try tx.openTree(named: name).insert(value, forKey: key)
              draft.trees[name, default: [:]][key] = value
              if Int.random(in: 0..<10, using: &random) == 0 {
                let victim = [0xFF] + withUnsafeBytes(of: (appended / 2).bigEndian) { Array($0) }
                try tx.tree(named: name)?.removeValue(forKey: victim)
                draft.trees[name]?[victim] = nil
              }
            default:
              let key = Self.randomKey(&random)
              let value = Self.randomValue(&random, pageSize: pageSize)
              try tx.openTree(named: name).insert(value, forKey: key)
              draft.trees[name, default: [:]][key] = value
            }
          }
          if rollBack { throw RollBack() }
        }
        model = draft
      } catch is RollBack {
        // The model keeps its state from before the transaction.
      }
      done += count
      transactions += 1

      if Int.random(in: 0..<25, using: &random) == 0 {
        store = nil
        store = try VaultStore.open(at: path, credential: testCredential)
      }
      if Int.random(in: 0..<5, using: &random) == 0 {
        try store!.read { snapshot in
          let name = treeNames[Int.random(in: 0..<treeNames.count, using: &random)]
          try checkScan(
            try snapshot.tree(named: name), model: model.trees[name], random: &random, seed: seed)
        }
      }
    }
    let final = try contents(of: store!)
    #expect(
      final == model.trees, "seed \(seed): final contents differ after \(transactions) transactions"
    )
    store = nil
    let report = Checker.check(path: path, credential: testCredential)
    #expect(report.ok, "seed \(seed): \(report.problems.prefix(5))")
  }
}
