import Foundation
import Testing

/// `vault-torture` (make torture): a short round of kills survives, and its checker
/// notices an acknowledged operation that is not in the vault; a short bit-rot campaign
/// finds every flip; a short concurrency soak holds its invariants.
@Suite struct TortureTests {
  static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let process = Process()
    process.executableURL = directory.appendingPathComponent("vault-torture")
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.filter {
      $0.key.hasSuffix("SAN_OPTIONS")
    }
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationReason == .exit)
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
  }

  @Test func killsAreSurvivedAndALostOperationIsCaught() throws {
    let dir = TemporaryDirectory()
    let seed = testSeed(0x70_27)
    let round = try Self.run(["--kills", "5", "--seed", "\(seed)", "--dir", dir.path])
    #expect(round.status == 0, "seed \(seed): \(round.output)")
    #expect(round.output.contains("all 5 kills survived"))
    #expect(try Self.run(["--verify", dir.path]).status == 0)
    // An operation acknowledged but absent (as a lost commit would be) fails the check.
    let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file("acks.log")))
    try log.seekToEnd()
    try log.write(contentsOf: Data("client 00000000-0000-4000-8000-000000000009\n".utf8))
    try log.close()
    let caught = try Self.run(["--verify", dir.path])
    #expect(caught.status == 1 && caught.output.contains("is missing"), "\(caught.output)")
  }

  @Test func aBitRotCampaignDetectsEveryFlip() throws {
    let dir = TemporaryDirectory()
    let seed = testSeed(0xB17)
    let run = try Self.run(["--bit-rot", "8", "--seed", "\(seed)", "--dir", dir.path])
    #expect(run.status == 0, "seed \(seed): \(run.output)")
    // "N of N flips detected", N > 0.
    let figures = run.output.split(separator: "\n").last { $0.contains("flips detected") } ?? ""
    let words = figures.split(separator: " ")
    let of = try #require(words.firstIndex(of: "of"), "\(run.output)")
    #expect(words[of - 1] == words[of + 1] && Int(words[of + 1]) ?? 0 >= 8, "\(figures)")
  }

  /// A few seconds of the concurrency soak (minutes, under the thread sanitizer, for
  /// the figures): readers and backups find every invariant intact.
  @Test func theConcurrencySoakHoldsItsInvariants() throws {
    let dir = TemporaryDirectory()
    let run = try Self.run(["--concurrency", "3", "--seed", "7", "--dir", dir.path])
    #expect(run.status == 0, "\(run.output)")
    #expect(run.output.contains("every invariant held"), "\(run.output)")
  }
}
