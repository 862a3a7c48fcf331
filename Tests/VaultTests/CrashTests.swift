import Foundation
import Testing
import VaultCore
import VaultFormat

@testable import VaultStorage

/// The state of every tree: what a vault must contain after a commit.
typealias VaultContents = [String: [[UInt8]: [UInt8]]]

/// Reads every tree of a store completely.
func contents(of store: VaultStore) throws -> VaultContents {
  try store.read { snapshot in
    var result = VaultContents()
    for name in try snapshot.treeNames() {
      let tree = try #require(try snapshot.tree(named: name))
      var entries = [[UInt8]: [UInt8]]()
      try tree.scan { key, value in
        entries[key] = value
        return true
      }
      #expect(UInt64(entries.count) == tree.count, "tree \(name) count")
      result[name] = entries
    }
    return result
  }
}

/// A scripted workload of transactions: inserts, updates, deletes, large values that
/// spill to overflow pages, trees created and dropped, so that pages are freed and
/// reused. `apply` performs transaction `index` on a store and on the model.
struct CrashWorkload {
  let transactions: Int
  let seed: UInt64

  func apply(_ index: Int, to tx: WriteTransaction, model: inout VaultContents) throws {
    var random = SeededGenerator(seed: seed &+ UInt64(index) &* 7919)
    if index % 9 == 8 {
      let victim = "tree\(index % 3)"
      if try tx.dropTree(named: victim) { model[victim] = nil }
      return
    }
    for _ in 0..<Int.random(in: 1...40, using: &random) {
      let treeName = "tree\(Int.random(in: 0..<3, using: &random))"
      let tree = try tx.openTree(named: treeName)
      if model[treeName] == nil { model[treeName] = [:] }
      let key = bytes(String(format: "key-%04d", Int.random(in: 0..<300, using: &random)))
      switch Int.random(in: 0..<10, using: &random) {
      case 0..<2:
        try tree.removeValue(forKey: key)
        model[treeName]![key] = nil
      case 2:
        let value = random.bytes(Int.random(in: 2_000...12_000, using: &random))
        try tree.insert(value, forKey: key)
        model[treeName]![key] = value
      default:
        let value = random.bytes(Int.random(in: 1...200, using: &random))
        try tree.insert(value, forKey: key)
        model[treeName]![key] = value
      }
    }
  }
}

@Suite struct CrashTests {
  /// Runs the workload on a simulated disk that loses power at operation `crashAt`.
  /// Returns the disk, the model after each acknowledged commit, and the model of the
  /// transaction in flight when power was lost (if its writes had begun).
  func runUntilCrash(
    workload: CrashWorkload, initialImage: [UInt8], lockPath: String, crashAt: Int?
  ) throws -> (disk: SimulatedDisk, acknowledged: VaultContents, inFlight: VaultContents?) {
    let disk = SimulatedDisk(image: initialImage)
    disk.crashAtOperation = crashAt
    var acknowledged = VaultContents()
    var inFlight: VaultContents?
    do {
      let store = try VaultStore(
        path: lockPath, file: disk, options: .init(), credential: testCredential)
      for index in 0..<workload.transactions {
        var model = acknowledged
        do {
          try store.write { tx in try workload.apply(index, to: tx, model: &model) }
        } catch let error as VaultError where disk.hasCrashed {
          _ = error
          inFlight = model
          break
        }
        acknowledged = model
      }
    } catch let error as VaultError where disk.hasCrashed {
      _ = error
    }
    return (disk, acknowledged, inFlight)
  }

  @Test func everyCrashPointRecoversToACommittedState() throws {
    let seed = testSeed(20_261_204)
    let dir = TemporaryDirectory()
    let path = dir.file("crash.vault")
    let initial: [UInt8]
    do {
      _ = try VaultStore.create(at: path, credential: testCredential)
      initial = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
    }
    let workload = CrashWorkload(transactions: 24, seed: seed)
    // A clean run tells how many operations the workload performs.
    let clean = try runUntilCrash(
      workload: workload, initialImage: initial, lockPath: dir.file("clean.vault"), crashAt: nil)
    let totalOperations = clean.disk.operations
    #expect(totalOperations > 50, "the workload should perform many writes and syncs")

    var random = SeededGenerator(seed: seed)
    var outcomes = (acknowledged: 0, inFlight: 0)
    for crashAt in 1...totalOperations {
      let run = try runUntilCrash(
        workload: workload, initialImage: initial, lockPath: dir.file("run.vault"),
        crashAt: crashAt)
      let images =
        [run.disk.imageWithNothing, run.disk.imageWithEverything]
        + (0..<3).map { _ in run.disk.imageAfterPowerLoss(using: &random) }
      for (variant, image) in images.enumerated() {
        let target = dir.file("image-\(crashAt)-\(variant).vault")
        try Data(image).write(to: URL(fileURLWithPath: target))
        defer {
          try? FileManager.default.removeItem(atPath: target)
          try? FileManager.default.removeItem(atPath: target + "-lock")
        }
        let store: VaultStore
        do {
          store = try VaultStore.open(at: target, credential: testCredential)
        } catch {
          Issue.record("seed \(seed), crash at \(crashAt), image \(variant): open failed: \(error)")
          continue
        }
        let found = try contents(of: store)
        if found == run.acknowledged {
          outcomes.acknowledged += 1
        } else if let inFlight = run.inFlight, found == inFlight {
          // The transaction in flight wrote everything before power was lost, so it is
          // on disk whole: allowed (it was never acknowledged, but nothing is mixed).
          outcomes.inFlight += 1
        } else {
          let message =
            "seed \(seed), crash at \(crashAt), image \(variant): contents are neither the last"
            + " acknowledged commit nor the one in flight"
          Issue.record(Comment(rawValue: message))
        }
        let report = Checker.check(path: target, credential: testCredential)
        #expect(
          report.ok, "seed \(seed), crash at \(crashAt), image \(variant): \(report.problems)")
        // The recovered vault keeps working.
        try store.write { tx in try tx.openTree(named: "after").insert([1], forKey: [1]) }
      }
    }
    #expect(outcomes.acknowledged > 0 && outcomes.inFlight > 0)
  }

  /// A write or sync that fails (EIO, ENOSPC) fails its commit with a typed error and
  /// nothing else: the store stays usable, later commits land, and the file, as the OS
  /// shows it and after a reopen, holds exactly the commits that succeeded.
  @Test(arguments: [VaultError.Code.io, .noSpace])
  func failedWritesAndSyncsFailOnlyTheirCommit(code: VaultError.Code) throws {
    let seed = testSeed(404)
    let dir = TemporaryDirectory()
    let path = dir.file("fail.vault")
    _ = try VaultStore.create(at: path, credential: testCredential)
    let initial = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
    let workload = CrashWorkload(transactions: 12, seed: seed)
    let clean = try runUntilCrash(
      workload: workload, initialImage: initial, lockPath: dir.file("clean.vault"), crashAt: nil)
    var failures = 0
    for failAt in 1...clean.disk.operations {
      let disk = SimulatedDisk(image: initial)
      disk.failOperation = (failAt, code)
      let lockPath = dir.file("f\(failAt).vault")
      let store: VaultStore
      do {
        store = try VaultStore(
          path: lockPath, file: disk, options: .init(), credential: testCredential)
      } catch {
        // The first opener's sync failed: opening fails, typed, and nothing changed.
        #expect(error.code == code)
        failures += 1
        continue
      }
      var model = VaultContents()
      for index in 0..<workload.transactions {
        var draft = model
        do {
          try store.write { tx in try workload.apply(index, to: tx, model: &draft) }
          model = draft
        } catch let error as VaultError {
          #expect(error.code == code, "seed \(seed), failure at \(failAt): \(error)")
          failures += 1
        }
      }
      #expect(try contents(of: store) == model, "seed \(seed), failure at \(failAt)")
      let image = dir.file("f\(failAt)-image.vault")
      try Data(disk.imageWithEverything).write(to: URL(fileURLWithPath: image))
      let reopened = try VaultStore.open(at: image, credential: testCredential)
      #expect(try contents(of: reopened) == model, "seed \(seed), failure at \(failAt), reopened")
      #expect(Checker.check(path: image, credential: testCredential).ok)
    }
    #expect(failures > 0)
  }

  @Test func losingTheLockFileStillRecoversTheNewestDurableCommit() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    do {
      let store = try VaultStore.create(at: path, credential: testCredential)
      for round in 0..<5 {
        try store.write { tx in try tx.openTree(named: "t").insert([UInt8(round)], forKey: [0]) }
      }
    }
    try FileManager.default.removeItem(atPath: path + "-lock")
    let store = try VaultStore.open(at: path, credential: testCredential)
    #expect(try contents(of: store) == ["t": [[0]: [4]]])
    #expect(try store.lastCommittedTransaction == TransactionID(6))
  }
}
