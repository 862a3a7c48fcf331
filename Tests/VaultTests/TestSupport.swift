import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@testable import VaultStorage

/// A fresh directory under the system temporary directory, removed when dropped.
// SAFETY: immutable after init.
final class TemporaryDirectory: @unchecked Sendable {
  let path: String

  init(_ label: String = #function) {
    let name = label.filter { $0.isLetter || $0.isNumber }
    path = NSTemporaryDirectory() + "studiovault-\(name)-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  func file(_ name: String) -> String { path + "/" + name }
}

/// A small deterministic generator (SplitMix64) so randomized tests replay from a seed.
struct SeededGenerator: RandomNumberGenerator {
  private var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

extension RandomNumberGenerator {
  mutating func bytes(_ count: Int) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
  }
}

/// The seed for a randomized test: `VAULT_TEST_SEED` when set, else `fixed`.
func testSeed(_ fixed: UInt64) -> UInt64 {
  if let text = ProcessInfo.processInfo.environment["VAULT_TEST_SEED"], let seed = UInt64(text) {
    return seed
  }
  return fixed
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The raw key the suite's vaults open with (a raw key skips Argon2id, keeping tests
/// fast; the helper process uses the same one).
let testCredential: VaultCredential = {
  let key = try? SymmetricKey(copying: [UInt8](repeating: 0x5A, count: 32))
  return .rawKey(key ?? SymmetricKey.random())
}()

/// Recomputes the checksum of a whole page in place, as a forger without the key can.
func fixChecksum(_ page: inout [UInt8]) {
  let checksum = Page.computeChecksum(of: page)
  page.withUnsafeMutableBytes {
    $0.storeBytes(of: checksum.low.littleEndian, toByteOffset: 0, as: UInt64.self)
    $0.storeBytes(of: checksum.high.littleEndian, toByteOffset: 8, as: UInt64.self)
  }
}

/// `image` with one bit of meta page `slot`'s sealed body flipped and the checksum
/// fixed: a forgery only the seal can catch.
func forgingSealedMetaBit(_ image: [UInt8], slot: UInt64, pageSize: Int, bodyByte: Int = 1)
  throws -> [UInt8]
{
  let base = Int(slot) * pageSize
  var page = Array(image[base..<base + pageSize])
  let parsed = try Page(page, location: PageNumber(slot))
  page[parsed.header.bodyOffset + MetaPage.fieldsLength + bodyByte] ^= 0x01
  fixChecksum(&page)
  var forged = image
  forged.replaceSubrange(base..<base + pageSize, with: page)
  return forged
}
