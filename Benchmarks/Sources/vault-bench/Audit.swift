import Foundation
@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// W5: an audit log of realistic entries (a staff member recording a financial
/// record in their branch, with a detail sealed under the branch's key).
final class AuditBench {
  let path: String
  let store: SealedStore
  private let user = RecordID.random()
  private let branch = RecordID.random()
  private let targets = (0..<64).map { _ in RecordID.random() }

  init(path: String) throws {
    self.path = path
    store = try SealedStore.create(at: path, credential: .rawKey(SymmetricKey.random()))
  }

  /// Appends `count` entries, `batch` per durable commit (each signs a checkpoint).
  func append(_ count: Int, batch: Int) throws {
    var done = 0
    while done < count {
      let size = min(batch, count - done)
      try store.write { tx throws(VaultError) in
        for index in done..<done + size {
          try tx.audit(
            AuditDraft(
              .recordCreated, actor: .user(id: user.bytes, role: .staff), branch: branch,
              targets: [targets[index % targets.count]],
              counts: (.branch(branch), ["version": 1, "amount": Int64(index)])))
        }
      }
      done += size
    }
  }

  /// Verifies the log as a backup tool does: a keyless open, then every hash and
  /// signature.
  func verify(expecting count: Int) throws {
    let reader = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    let report = try AuditVerification.verify(reader)
    guard report.ok, report.entries == UInt64(count) else {
      throw VaultError(.corrupt, "the benchmark's log does not verify: \(report.problems)")
    }
  }

  /// The stored entries, in order.
  func storedEntries() throws -> [[UInt8]] {
    let reader = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    var entries = [[UInt8]]()
    try AuditVerification.forEachStoredEntry(reader) { _, entry in
      entries.append(entry)
      return true
    }
    return entries
  }

  /// The bare SHA-256 work of verifying `entries`: one leaf hash each and the tree's
  /// node hashes, in memory, on one core.
  static func bareHashing(_ entries: [[UInt8]]) {
    var frontier = MerkleTree.Frontier()
    for entry in entries { try? frontier.append(MerkleTree.leafHash(entry)) }
    precondition(frontier.root.count == 32)
  }
}
