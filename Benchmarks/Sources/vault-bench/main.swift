import Foundation
import Glibc

// vault-bench [--quick] [--json] [--samples N] [--records N]
//
// Runs every workload for StudioVault and SQLite, alternating engines sample by
// sample after a warm-up, and prints medians, spreads and the vault/SQLite ratios.
var settings = RunSettings()
var json = false
var only: Set<String>?
var arguments = Array(CommandLine.arguments.dropFirst())
while let argument = arguments.first {
  arguments.removeFirst()
  switch argument {
  case "--quick":
    settings.records = 2_000
    settings.reads = 2_000
    settings.singleCommits = 50
    settings.samples = 1
    settings.withPeers = false
  case "--json": json = true
  case "--samples": settings.samples = Int(arguments.removeFirst()) ?? settings.samples
  case "--records": settings.records = Int(arguments.removeFirst()) ?? settings.records
  case "--only": only = Set(arguments.removeFirst().split(separator: ",").map(String.init))
  default:
    FileHandle.standardError.write("usage: vault-bench [--quick] [--json] [--samples N] [--records N] [--only W1,W8]\n".data(using: .utf8)!)
    exit(64)
  }
}
try FileManager.default.createDirectory(atPath: settings.directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: settings.directory) }

let data = Dataset(count: max(settings.records, settings.singleCommits), seed: 2026)
var results: [(Workload, Figures, Figures?)] = []
for workload in Workload.allCases where only?.contains(workload.rawValue) ?? true {
  var vault = Figures()
  var sqlite = Figures()
  // Warm-up: one unmeasured sample of each (page cache, allocator, file system).
  _ = try workload.sample(VaultEngine.self, data: data, settings: settings, label: "warm")
  if settings.withPeers {
    _ = try workload.sample(SQLiteEngine.self, data: data, settings: settings, label: "warm")
  }
  for index in 0..<settings.samples {
    let (rate, checksum) = try workload.sample(VaultEngine.self, data: data, settings: settings, label: "s\(index)")
    vault.samples.append(rate)
    vault.checksum = checksum
    if settings.withPeers {
      let (peerRate, peerChecksum) = try workload.sample(SQLiteEngine.self, data: data, settings: settings, label: "s\(index)")
      sqlite.samples.append(peerRate)
      sqlite.checksum = peerChecksum
      if peerChecksum != checksum {
        FileHandle.standardError.write("\(workload.rawValue): vault and SQLite returned different data\n".data(using: .utf8)!)
        exit(1)
      }
    }
  }
  results.append((workload, vault, settings.withPeers ? sqlite : nil))
  if !json {
    let ratio = settings.withPeers ? vault.median / sqlite.median : .nan
    print(
      "\(workload.rawValue)  \(workload.title)\n"
        + "    vault  \(Int(vault.median)) \(workload.unit) (spread \(Int(vault.spread * 100))%)\n"
        + (settings.withPeers
          ? "    sqlite \(Int(sqlite.median)) \(workload.unit) (spread \(Int(sqlite.spread * 100))%)\n"
            + "    ratio  \(String(format: "%.2f", ratio)) (target ≥ \(workload.target)) \(ratio >= workload.target ? "met" : "NOT met")\n"
          : ""))
  }
}
if json {
  var list = [[String: Any]]()
  for (workload, vault, sqlite) in results {
    var entry: [String: Any] = [
      "id": workload.rawValue, "title": workload.title, "unit": workload.unit,
      "vault": ["median": vault.median, "spread": vault.spread, "samples": vault.samples],
      "target": workload.target,
    ]
    if let sqlite {
      let ratio = vault.median / sqlite.median
      entry["sqlite"] = ["median": sqlite.median, "spread": sqlite.spread, "samples": sqlite.samples]
      entry["ratio"] = ratio
      entry["met"] = ratio >= workload.target
    }
    list.append(entry)
  }
  let document = try JSONSerialization.data(withJSONObject: ["workloads": list], options: [.sortedKeys])
  print(String(decoding: document, as: UTF8.self))
}
