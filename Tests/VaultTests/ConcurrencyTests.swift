import Foundation
import Synchronization
import Testing
import VaultCore

@testable import VaultStorage

/// Writes generation `generation` into every key of tree "data" (see Tests/Helper).
func writeGeneration(_ generation: UInt64, to store: VaultStore, keys: Int = 2000) throws {
  try store.write { tx in
    let tree = try tx.openTree(named: "data")
    for key in 0..<keys {
      let value = withUnsafeBytes(of: generation) { Array($0) } + [UInt8](repeating: 9, count: 100)
      try tree.insert(value, forKey: Array("key-\(key)".utf8))
    }
  }
}

func generationsSeen(_ snapshot: Snapshot) throws -> Set<UInt64> {
  var seen = Set<UInt64>()
  try snapshot.tree(named: "data")?.scan { _, value in
    seen.insert(value.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    return true
  }
  return seen
}

/// The helper executable built beside the test bundle.
func helperPath() throws -> String {
  let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  let path = directory.appendingPathComponent("vault-test-helper").path
  try #require(FileManager.default.isExecutableFile(atPath: path), "helper not built at \(path)")
  return path
}

/// A child process whose standard output the test reads line by line.
// SAFETY: used from the test's thread only.
final class Child: @unchecked Sendable {
  let process = Process()
  private let pipe = Pipe()
  private var buffer = Data()

  init(_ arguments: [String]) throws {
    process.executableURL = URL(fileURLWithPath: try helperPath())
    process.arguments = arguments
    process.standardOutput = pipe
    try process.run()
  }

  func readLine() -> String? {
    while true {
      if let newline = buffer.firstIndex(of: 10) {
        let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
        buffer.removeSubrange(buffer.startIndex...newline)
        return line
      }
      let chunk = pipe.fileHandleForReading.availableData
      if chunk.isEmpty { return nil }
      buffer += chunk
    }
  }

  func wait() -> Int32 {
    process.waitUntilExit()
    return process.terminationStatus
  }
}

@Suite struct ConcurrencyTests {
  @Test func readerThreadsSeeConsistentSnapshotsWhileAWriterCommits() throws {
    let dir = TemporaryDirectory()
    let store = try VaultStore.create(at: dir.file("v.vault"), credential: testCredential)
    try writeGeneration(0, to: store, keys: 300)
    let failures = Mutex<[String]>([])
    let reads = Atomic<Int>(0)
    let done = Atomic<Bool>(false)
    let readers = (0..<4).map { index in
      Thread {
        // Each reader also keeps one snapshot open across many commits.
        do {
          let held = try store.makeSnapshot()
          let heldGeneration = try generationsSeen(held)
          while !done.load(ordering: .relaxed) {
            let seen = try store.read { try generationsSeen($0) }
            if seen.count != 1 { failures.withLock { $0.append("reader \(index) saw \(seen)") } }
            if try generationsSeen(held) != heldGeneration {
              failures.withLock { $0.append("reader \(index): held snapshot changed") }
            }
            reads.add(1, ordering: .relaxed)
          }
          held.close()
        } catch {
          failures.withLock { $0.append("reader \(index): \(error)") }
        }
      }
    }
    for reader in readers { reader.start() }
    for generation in 1...150 { try writeGeneration(UInt64(generation), to: store, keys: 300) }
    done.store(true, ordering: .relaxed)
    while readers.contains(where: { !$0.isFinished }) { usleep(1000) }
    #expect(failures.withLock { $0 } == [])
    #expect(reads.load(ordering: .relaxed) > 0)
    #expect(try store.read { try generationsSeen($0) } == [150])
  }

  @Test func aReaderInAnotherProcessKeepsItsSnapshotWhileTheWriterFreesPages() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    try writeGeneration(7, to: store)
    let child = try Child(["hold-snapshot", path, "3"])
    #expect(child.readLine() == "ready 7")
    // Every commit rewrites every page of "data" and frees the old ones; without the
    // reader table the writer would reuse them under the other process's feet.
    // Two seconds of commits, and at least a dozen whatever the speed (sanitizers are
    // slow): the reader holds its snapshot for three.
    var generation: UInt64 = 8
    let deadline = Date().addingTimeInterval(2)
    while Date() < deadline || generation <= 20 {
      try writeGeneration(generation, to: store)
      generation += 1
    }
    let verdict = child.readLine() ?? "no answer"
    #expect(verdict.hasPrefix("ok"), "\(verdict)")
    #expect(child.wait() == 0)
    #expect(generation > 20)
    // Once the reader is gone, its pages are reused: after a few commits (the newest
    // freed pages become reusable one commit later, and a bulk commit grows the file by
    // exactly what it writes), the file stops growing.
    for _ in 0..<3 {
      try writeGeneration(generation, to: store)
      generation += 1
    }
    let sizeBefore = try store.fileSize()
    for _ in 0..<50 {
      try writeGeneration(generation, to: store)
      generation += 1
    }
    #expect(try store.fileSize() == sizeBefore)
    #expect(Checker.check(path: path, credential: testCredential).ok)
  }

  @Test func aReaderInThisProcessSeesCommitsOfAWriterInAnother() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let store = try VaultStore.create(at: path, credential: testCredential)
    try writeGeneration(0, to: store)
    let child = try Child(["write", path, "40"])
    var observed = Set<UInt64>()
    while child.process.isRunning {
      let seen = try store.read { try generationsSeen($0) }
      #expect(seen.count == 1)
      observed.formUnion(seen)
    }
    #expect(child.readLine() == "ok")
    #expect(child.wait() == 0)
    #expect(try store.read { try generationsSeen($0) } == [40])
    try writeGeneration(41, to: store)
    #expect(Checker.check(path: path, credential: testCredential).ok)
  }

  @Test func aSecondWriterWaitsThenFailsWithLocked() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    _ = try VaultStore.create(at: path, credential: testCredential)
    let child = try Child(["hold-write-lock", path, "2"])
    #expect(child.readLine() == "ready")
    let store = try VaultStore.open(
      at: path, credential: testCredential, options: .init(lockTimeout: 0.3))
    let started = Date()
    #expect {
      try store.write { tx in try tx.openTree(named: "mine").insert([2], forKey: [2]) }
    } throws: { ($0 as? VaultError)?.code == .locked }
    #expect(Date().timeIntervalSince(started) >= 0.25)
    // Readers are not blocked by the writer.
    #expect(try store.read { try $0.treeNames() } == [])
    #expect(child.readLine() == "ok")
    #expect(child.wait() == 0)
    // Once the other writer is done, writing works, on top of its commit.
    try store.write { tx in try tx.openTree(named: "mine").insert([2], forKey: [2]) }
    #expect(try store.read { try $0.treeNames() } == ["lock-holder", "mine"])
  }

  @Test func twoStoresInOneProcessExcludeEachOthersWriters() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    let first = try VaultStore.create(at: path, credential: testCredential)
    let second = try VaultStore.open(
      at: path, credential: testCredential, options: .init(lockTimeout: 0.2))
    try first.write { tx in
      try tx.openTree(named: "first").insert([1], forKey: [1])
      #expect {
        try second.write { tx in try tx.openTree(named: "x").insert([1], forKey: [1]) }
      } throws: { ($0 as? VaultError)?.code == .locked }
    }
    try second.write { tx in try tx.openTree(named: "second").insert([1], forKey: [1]) }
    #expect(try first.read { try $0.treeNames() } == ["first", "second"])
  }
}
