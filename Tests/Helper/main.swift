// A second process for the concurrency tests: it holds a snapshot, holds the write
// lock, or writes, on a vault the test process also has open.
import Foundation
@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
@_spi(Fuzzing) import VaultFuzzing
import VaultStorage

/// The raw key the test suite's vaults open with (TestSupport.swift has the same).
let testCredential: VaultCredential = {
  let key = try? SymmetricKey(copying: [UInt8](repeating: 0x5A, count: 32))
  return .rawKey(key ?? SymmetricKey.random())
}()

/// Every value of tree "data" is the same 8-byte generation number, rewritten as a
/// whole by each commit: a consistent snapshot sees one generation throughout.
func generations(_ snapshot: Snapshot) throws -> Set<UInt64> {
  var seen = Set<UInt64>()
  try snapshot.tree(named: "data")?.scan { _, value in
    seen.insert(value.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    return true
  }
  return seen
}

func say(_ text: String) {
  FileHandle.standardOutput.write((text + "\n").data(using: .utf8)!)
}

let arguments = CommandLine.arguments
if arguments.count == 2 && arguments[1] == "schema-doc" {
  // FORMAT.md section 19.2, from the schemas (a test keeps the two equal).
  FileHandle.standardOutput.write(SchemaDocumentation.markdown().data(using: .utf8)!)
  exit(0)
}
if arguments.count == 4 && arguments[1] == "make-corpus" {
  // `make-corpus VECTORS CORPUS`: Fuzz/Corpus/TARGET/seed-N and TARGET.dict, from the
  // vectors (the fuzzers add what they find to their own working corpus).
  let corpus = arguments[3]
  for target in FuzzTarget.allCases {
    let directory = corpus + "/" + target.rawValue
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (index, seed) in target.seeds(vectors: arguments[2]).enumerated() {
      FileManager.default.createFile(atPath: directory + "/seed-\(index)", contents: Data(seed))
    }
    FileManager.default.createFile(
      atPath: corpus + "/" + target.rawValue + ".dict", contents: Data(target.dictionaryFile.utf8))
  }
  exit(0)
}
guard arguments.count >= 4 || (arguments.count == 3 && arguments[1] == "make-vectors") else {
  say(
    "usage: vault-test-helper hold-snapshot|hold-write-lock|write PATH N | make-vectors DIR [NAME]"
      + " | make-corpus VECTORS CORPUS | schema-doc")
  exit(64)
}
if (arguments.count == 3 || arguments.count == 4) && arguments[1] == "make-vectors" {
  do {
    // `make-vectors DIR NAME` remakes one vector; without NAME, all of them.
    let only = arguments.count == 4 ? arguments[3] : nil
    if only == nil { try Vectors.make(in: arguments[2]) }
    // v5 is frozen: it keeps the version-1 blob manifests an earlier writer made, which
    // today's code cannot write. v7 is the same studio written today (version 2).
    if only == "v5-blobs" {
      say("v5-blobs is frozen (blob manifests of version 1); remake v7-blobs instead")
      exit(64)
    }
    if only == nil || only == "v7-blobs" {
      let name = "v7-blobs"
      let listing = try Vectors.makeBlobs(at: arguments[2] + "/\(name).vault")
      try listing.write(toFile: arguments[2] + "/\(name).blobs", atomically: true, encoding: .utf8)
    }
    if only == nil || only == "v6-chain" {
      for name in ["v6-chain.vault", "v6-chain.1.svinc", "v6-chain.2.svinc"] {
        unlink(arguments[2] + "/" + name)
      }
      try Vectors.makeChain(in: arguments[2])
    }
    let names = [
      "v1-4k.vault", "v2-16k.vault", "v3-records.vault", "v4-studio.vault", "v5-blobs.vault",
      "v6-chain.vault", "v7-blobs.vault",
    ]
    for name in names where only == nil || name == only! + ".vault" {
      let path = arguments[2] + "/" + name
      let store = try VaultStore.open(
        at: path, credential: .passphrase(Vectors.passphrase), options: .init(readOnly: true))
      try Vectors.manifest(of: store).write(
        toFile: arguments[2] + "/" + name.replacingOccurrences(of: ".vault", with: ".contents"),
        atomically: true, encoding: .utf8)
      if name.hasPrefix("v4") {
        try Vectors.studioListing(of: RecordStore(SealedStore(store))).write(
          toFile: arguments[2] + "/v4-studio.jsonl", atomically: true, encoding: .utf8)
      }
      if name.hasPrefix("v3") {
        try Vectors.recordManifest(of: SealedStore(store)).write(
          toFile: arguments[2] + "/v3-records.records", atomically: true, encoding: .utf8)
      }
      // Drop the zeros written ahead of need: the file ends at its last page.
      let end = try store.newestMeta().pageCount * UInt64(store.pageSize)
      guard truncate(path, off_t(end)) == 0 else {
        throw VaultError(.io, "cannot truncate \(path)")
      }
      unlink(path + "-lock")
    }
    exit(0)
  } catch {
    say("fail: \(error)")
    exit(1)
  }
}
let path = arguments[2]
let amount = Double(arguments[3]) ?? 1
do {
  // A tiny page cache: every read goes to the file, where reused pages would show.
  let store = try VaultStore.open(
    at: path, credential: testCredential, options: .init(cacheBytes: 0))
  switch arguments[1] {
  case "hold-snapshot":
    let snapshot = try store.makeSnapshot()
    let first = try generations(snapshot)
    guard first.count == 1 else {
      say("fail: snapshot mixes generations \(first.sorted())")
      exit(1)
    }
    say("ready \(first.first!)")
    let deadline = Date().addingTimeInterval(amount)
    var reads = 0
    while Date() < deadline {
      let again = try generations(snapshot)
      guard again == first else {
        say("fail: snapshot changed from \(first.sorted()) to \(again.sorted())")
        exit(1)
      }
      reads += 1
    }
    say("ok \(reads)")
  case "hold-write-lock":
    try store.write { tx in
      try tx.openTree(named: "lock-holder").insert([1], forKey: [1])
      say("ready")
      Thread.sleep(forTimeInterval: amount)
    }
    say("ok")
  case "write":
    for _ in 0..<Int(amount) {
      try store.write { tx in
        let tree = try tx.openTree(named: "data")
        var generation: UInt64 = 0
        try tree.scan { _, value in
          generation = value.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
          return false
        }
        generation += 1
        for key in 0..<2000 {
          let value =
            withUnsafeBytes(of: generation) { Array($0) } + [UInt8](repeating: 9, count: 100)
          try tree.insert(value, forKey: Array("key-\(key)".utf8))
        }
      }
    }
    say("ok")
  default:
    say("unknown mode \(arguments[1])")
    exit(64)
  }
} catch {
  say("fail: \(error)")
  exit(1)
}
