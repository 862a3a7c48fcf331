import Foundation
import Glibc

// vault-bench [--quick] [--json] [--samples N] [--records N] [--bookings N] [--entries N]
//             [--only W1,W8] [--vault-only]
// vault-bench --report RESULTS.json BENCHMARKS.md CHART.svg   (Report.swift)
//
// Runs each workload for StudioVault and its peers (SQLite, SQLCipher), alternating
// engines sample by sample after a warm-up, and prints medians, spreads and the
// vault/peer ratios against the targets of ../shared/spec/benchmarks.md.
// The child of W4's memory figure: store one upload, exit.
if CommandLine.arguments.count == 5, CommandLine.arguments[1] == "--report" {
  do {
    try Report.render(
      results: CommandLine.arguments[2], markdown: CommandLine.arguments[3],
      chart: CommandLine.arguments[4])
    exit(0)
  } catch {
    FileHandle.standardError.write("vault-bench --report: \(error)\n".data(using: .utf8)!)
    exit(1)
  }
}
if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "--child-upload" {
  do {
    try UploadMemory.child(
      directory: CommandLine.arguments[2], size: Int(CommandLine.arguments[3]) ?? 1)
    exit(0)
  } catch {
    FileHandle.standardError.write("child upload failed: \(error)\n".data(using: .utf8)!)
    exit(1)
  }
}

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
    settings.largeRecords = 200
    settings.bookings = 4_000
    settings.auditEntries = 20_000
    settings.uploads = UploadSet(size: 1 << 20, count: 4)
    settings.bigUpload = 16 << 20
    settings.samples = 1
    settings.withPeers = false
  case "--json": json = true
  // For profiling: the vault's side alone, no peers.
  case "--vault-only": settings.withPeers = false
  case "--samples": settings.samples = Int(arguments.removeFirst()) ?? settings.samples
  case "--records": settings.records = Int(arguments.removeFirst()) ?? settings.records
  case "--bookings": settings.bookings = Int(arguments.removeFirst()) ?? settings.bookings
  case "--entries": settings.auditEntries = Int(arguments.removeFirst()) ?? settings.auditEntries
  case "--only": only = Set(arguments.removeFirst().split(separator: ",").map(String.init))
  default:
    FileHandle.standardError.write(
      ("usage: vault-bench [--quick] [--json] [--samples N] [--records N] [--bookings N]"
        + " [--entries N] [--only W1,W8] [--vault-only]\n").data(using: .utf8)!)
    exit(64)
  }
}
try FileManager.default.createDirectory(
  atPath: settings.directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: settings.directory) }

let data = Dataset(count: max(settings.records, settings.singleCommits), seed: 2026)
let large = Dataset(count: settings.largeRecords, seed: 2027, bodyBytes: 4096)
let bookings = BookingSet(count: settings.bookings, seed: 2028)
/// W4's uploads, made only when W4 runs (a gigabyte).
nonisolated(unsafe) var uploadContents: [[UInt8]] = []
if only.map({ !$0.filter { $0.hasPrefix("W4") }.isEmpty }) ?? true {
  uploadContents = settings.uploads.all.map(settings.uploads.content)
}
/// W5-verify's limit input: the entries of a log like the vault's, as stored, made
/// once so that the bare hashing can be sampled beside each of the vault's samples.
nonisolated(unsafe) var bareAuditEntries: [[UInt8]] = []
if settings.withPeers, only?.contains(Workload.auditVerify.rawValue) ?? true {
  bareAuditEntries = try Workload.auditVerify.limitInput(settings)
}

struct Result {
  var workload: Workload
  var vault: Figures
  var peers: [(name: String, figures: Figures, target: Double?)]
  var limit: Double?
}

var results = [Result]()
for workload in Workload.allCases where only?.contains(workload.rawValue) ?? true {
  let peers = settings.withPeers ? workload.comparisons : []
  var vault = Figures()
  var peerFigures = peers.map { _ in Figures() }
  func run(_ engine: any Engine.Type, _ label: String) throws -> (Double, ResultChecksum) {
    try workload.sample(
      engine, data: data, large: large, bookings: bookings, settings: settings, label: label)
  }
  // Warm-up: one unmeasured sample of each (page cache, allocator, file system).
  if workload != .uploadMemory { _ = try run(workload.vaultEngine, "warm") }
  for comparison in peers { _ = try run(comparison.peer, "warm") }
  // One large upload says what memory a stream takes; more samples only repeat it.
  var limitFigures = Figures()
  if settings.withPeers, workload.limitAlternates { _ = try workload.limitSample(settings) }
  for index in 0..<(workload == .uploadMemory ? 1 : settings.samples) {
    let (rate, checksum) = try run(workload.vaultEngine, "s\(index)")
    vault.samples.append(rate)
    vault.checksum = checksum
    if settings.withPeers, workload.limitAlternates {
      limitFigures.samples.append(try workload.limitSample(settings))
    }
    for (position, comparison) in peers.enumerated() {
      let (peerRate, peerChecksum) = try run(comparison.peer, "s\(index)")
      peerFigures[position].samples.append(peerRate)
      if workload.comparesData, peerChecksum != checksum {
        FileHandle.standardError.write(
          "\(workload.rawValue): vault and \(comparison.peer.name) returned different data\n"
            .data(using: .utf8)!)
        exit(1)
      }
    }
  }
  if ProcessInfo.processInfo.environment["VAULT_BENCH_SAMPLES"] != nil {
    FileHandle.standardError.write(
      "\(workload.rawValue) vault \(vault.samples.map(format)) limit \(limitFigures.samples.map(format))\n"
        .data(using: .utf8)!)
  }
  let limit =
    !settings.withPeers
    ? nil
    : workload.limitAlternates
      ? limitFigures.median : try workload.limit(settings)
  let result = Result(
    workload: workload, vault: vault,
    peers: zip(peers, peerFigures).map { ($0.peer.name, $1, $0.target) }, limit: limit)
  results.append(result)
  if !json {
    var text = "\(workload.rawValue)  \(workload.title)\n"
    text +=
      "    vault      \(format(vault.median)) \(workload.unit) (spread \(Int(vault.spread * 100))%)\n"
    for peer in result.peers {
      let ratio = vault.median / peer.figures.median
      text +=
        "    \(peer.name.padding(toLength: 10, withPad: " ", startingAt: 0)) "
        + "\(format(peer.figures.median)) \(workload.unit) (spread \(Int(peer.figures.spread * 100))%)"
        + "  ratio \(String(format: "%.2f", ratio))"
        + (peer.target.map { " (target ≥ \($0)) " + (ratio >= $0 ? "met" : "NOT met") } ?? "")
        + "\n"
    }
    if workload == .uploadMemory {
      let met = vault.median < 64
      text += "    target < 64 MiB above the baseline: \(met ? "met" : "NOT met")\n"
    }
    if workload == .open, let limit {
      text +=
        "    tiny vault \(format(limit)) ms; target ≤ 10 ms, and not growing with the vault: "
        + (openMet(vault.median, tiny: limit) ? "met" : "NOT met") + "\n"
    }
    if let limit, let target = workload.limitTarget {
      let ratio = vault.median / limit
      let spread =
        limitFigures.samples.isEmpty ? "" : " (spread \(Int(limitFigures.spread * 100))%)"
      text +=
        "    limit      \(format(limit)) \(workload.unit)\(spread)  ratio \(String(format: "%.2f", ratio))"
        + " (target ≥ \(target)) \(ratio >= target ? "met" : "NOT met")\n"
    }
    print(text)
  }
}

/// W6's target: at most 10 ms, and no more than twice a tiny vault's time (plus a
/// millisecond of noise): an open that does not grow with the vault.
func openMet(_ milliseconds: Double, tiny: Double) -> Bool {
  milliseconds <= 10 && milliseconds <= 2 * tiny + 1
}

func format(_ value: Double) -> String {
  value >= 100 ? String(Int(value)) : String(format: "%.3g", value)
}

if json {
  var list = [[String: Any]]()
  for result in results {
    var entry: [String: Any] = [
      "id": result.workload.rawValue, "title": result.workload.title,
      "unit": result.workload.unit,
      "vault": [
        "median": result.vault.median, "spread": result.vault.spread,
        "samples": result.vault.samples,
      ],
    ]
    var comparisons = [[String: Any]]()
    var met = true
    for peer in result.peers {
      let ratio = result.vault.median / peer.figures.median
      entry[peer.name] = [
        "median": peer.figures.median, "spread": peer.figures.spread,
        "samples": peer.figures.samples,
      ]
      var comparison: [String: Any] = ["peer": peer.name, "ratio": ratio]
      if let target = peer.target {
        comparison["target"] = target
        comparison["met"] = ratio >= target
        met = met && ratio >= target
      }
      comparisons.append(comparison)
    }
    if let limit = result.limit, let target = result.workload.limitTarget {
      let ratio = result.vault.median / limit
      entry["limit"] = ["median": limit]
      comparisons.append([
        "peer": "limit", "ratio": ratio, "target": target, "met": ratio >= target,
      ])
      met = met && ratio >= target
    }
    if let first = comparisons.first(where: { $0["target"] != nil }) {
      entry["ratio"] = first["ratio"]
      entry["target"] = first["target"]
    }
    entry["comparisons"] = comparisons
    if !comparisons.isEmpty { entry["met"] = met }
    if result.workload == .uploadMemory {
      entry["ceiling"] = 64
      entry["met"] = result.vault.median < 64
    }
    if result.workload == .open {
      entry["ceiling"] = 10
      entry["limit"] = result.limit.map { ["median": $0] }
      // Without the tiny vault's figure (--quick), only the ceiling is judged.
      entry["met"] = openMet(result.vault.median, tiny: result.limit ?? result.vault.median)
    }
    list.append(entry)
  }
  let document = try JSONSerialization.data(
    withJSONObject: ["workloads": list, "machine": machineDescription()],
    options: [.sortedKeys, .prettyPrinted])
  print(String(decoding: document, as: UTF8.self))
}
