import Foundation
import Testing
import VaultCLI
import VaultCore

@testable import VaultStorage

/// `vault demo`, the main job of `make demo`: it builds the sample studio, shows each
/// role's view and refusals, and checks the file; run again, it rebuilds.
@Suite struct DemoTests {
  @Test func theDemoShowsEachRoleAndRebuildsWhenRunAgain() throws {
    let dir = TemporaryDirectory()
    let target = dir.file("demo")
    for run in 0..<2 {
      let result = vault(environment: [:], "demo", target)
      #expect(result.status == 0, "run \(run): \(result.errors)")
      let lines = result.output.split(separator: "\n").map(String.init)
      // The first line starting with `start`, past the client's view heading.
      let view = lines.firstIndex { $0.hasPrefix("== the client") } ?? 0
      func line(_ start: String) -> String? {
        lines[view...].first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(start) }
      }
      #expect(result.output.contains("50 clients, 30 bookings"))
      // Each role's view of the same client: staff and the vendor see less, the other
      // branch nothing.
      #expect(line("olivia  owner")?.hasSuffix("everything") == true)
      #expect(line("sam     Downtown staff")?.contains("hidden: leadSource, lifetimeValue") == true)
      #expect(line("maya    Harbor manager")?.contains("not visible") == true)
      #expect(line("vic     vendor")?.contains("hidden: emails") == true)
      // Every attempt of the refusal section was refused.
      let refusals = lines.filter { $0.contains(") ") && $0.contains("refused: ") }
      #expect(refusals.count == 5, "\(refusals)")
      #expect(!result.output.contains("ALLOWED"))
      #expect(result.output.contains("approved and executed by dana"))
      // The keyless checks at the end pass.
      #expect(line("ok: ")?.contains("entries") == true)
      #expect(result.output.contains("pages checked, no problems"))
      #expect(Checker.check(path: target + "/studio.vault").ok)
    }
    // A directory holding a vault the demo did not make is refused, and left alone.
    let other = dir.file("studio")
    try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
    #expect(
      vault("init", other + "/studio.vault", "--owner", "owner", "--kdf", "interactive").status == 0
    )
    let before = try Data(contentsOf: URL(fileURLWithPath: other + "/studio.vault"))
    #expect(vault(environment: [:], "demo", other).status == 64)
    #expect(try Data(contentsOf: URL(fileURLWithPath: other + "/studio.vault")) == before)
    // Unexpected arguments are a usage error.
    #expect(vault("demo", target, "extra").status == 64)
  }
}
