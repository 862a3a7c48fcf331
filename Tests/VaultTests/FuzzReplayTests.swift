import Foundation
import Testing
@_spi(Fuzzing) import VaultFuzzing

/// Every seed of Fuzz/Corpus and every input a fuzzer once crashed on (Fuzz/FailCases),
/// through the same harnesses the fuzzers run: a regression traps here, in `swift test`,
/// without libFuzzer.
@Suite struct FuzzReplayTests {
  static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz")

  static func inputs(_ folder: String, _ target: FuzzTarget) -> [URL] {
    let directory = fuzz.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.sorted().map { directory.appendingPathComponent($0) }
  }

  @Test(arguments: FuzzTarget.allCases)
  func corpusAndFailCasesReplayCleanly(target: FuzzTarget) throws {
    let seeds = Self.inputs("Corpus", target)
    #expect(!seeds.isEmpty, "Fuzz/Corpus/\(target.rawValue) has no seeds")
    for file in seeds + Self.inputs("FailCases", target) {
      target.run([UInt8](try Data(contentsOf: file)))
    }
  }

  /// The committed seeds are what the vectors give today (`make fuzz-corpus` remakes
  /// them), so a format change that leaves them stale is caught.
  @Test(arguments: FuzzTarget.allCases)
  func seedsMatchTheVectors(target: FuzzTarget) throws {
    let vectors = Self.fuzz.deletingLastPathComponent().appendingPathComponent("Format/vectors")
    let expected = target.seeds(vectors: vectors.path)
    let committed = try Self.inputs("Corpus", target).filter {
      $0.lastPathComponent.hasPrefix("seed-")
    }.sorted {
      $0.lastPathComponent.localizedStandardCompare($1.lastPathComponent) == .orderedAscending
    }
    .map { [UInt8](try Data(contentsOf: $0)) }
    #expect(committed.count == expected.count, "\(target.rawValue): run `make fuzz-corpus`")
    #expect(committed == expected, "\(target.rawValue): run `make fuzz-corpus`")
  }
}
