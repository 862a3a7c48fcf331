import Foundation
import VaultCore

@testable import VaultStorage

/// A disk that models what real ones may do with writes not yet synced (the idea of
/// SQLite's test6.c): at a crash, any subset of them may be lost, they may land in any
/// order, and a write may be torn at sector boundaries. It can also crash at the k-th
/// write or sync, or fail one with `EIO` or `ENOSPC`.
// SAFETY: a test drives one disk from one thread at a time.
final class SimulatedDisk: FileIO, @unchecked Sendable {

  /// What the OS shows: every write applied.
  private(set) var current: [UInt8]
  /// What survives a power cut for certain: writes applied before the last sync.
  private(set) var durable: [UInt8]
  /// Writes since the last sync, in issue order.
  private(set) var unsynced: [(offset: Int, bytes: [UInt8])] = []
  /// Writes and syncs performed so far.
  private(set) var operations = 0
  /// The operation number at which the disk "loses power": that operation and every
  /// later one fail.
  var crashAtOperation: Int?
  /// Fail this operation number with this error (and then keep working).
  var failOperation: (number: Int, code: VaultError.Code)?
  /// A failed sync loses the writes it was to make durable while reads still show
  /// them, and the next sync succeeds without them: what Linux does after an fsync
  /// error (PostgreSQL's "fsyncgate").
  var failedSyncLosesWrites = false
  /// Called as the injected failure happens (before the engine sees it).
  var onFailure: (() -> Void)?
  /// The operation numbers that were syncs.
  private(set) var syncOperations: [Int] = []
  /// Fail this many reads with EIO, starting with the `failReadsAfter`-th (counting from 1).
  var failReads: (after: Int, count: Int)?
  private(set) var reads = 0
  private(set) var hasCrashed = false

  static let sectorSize = 512

  init(image: [UInt8]) {
    current = image
    durable = image
  }

  struct PowerLoss: Error {}

  private func step() throws(VaultError) {
    if hasCrashed { throw VaultError(.io, "simulated power loss") }
    operations += 1
    if let crash = crashAtOperation, operations >= crash {
      hasCrashed = true
      throw VaultError(.io, "simulated power loss")
    }
    if let failure = failOperation, failure.number == operations {
      onFailure?()
      throw VaultError(
        failure.code, "simulated \(failure.code) failure", errno: failure.code == .noSpace ? 28 : 5)
    }
  }

  func read(at offset: UInt64, count: Int) throws(VaultError) -> [UInt8] {
    if hasCrashed { throw VaultError(.io, "simulated power loss") }
    reads += 1
    if let failure = failReads, reads >= failure.after, reads < failure.after + failure.count {
      throw VaultError(.io, "simulated read failure", errno: 5)
    }
    let start = Int(offset)
    guard start < current.count else { return [] }
    return Array(current[start..<min(start + count, current.count)])
  }

  func write(_ buffers: [[UInt8]], at offset: UInt64) throws(VaultError) {
    try step()
    var position = Int(offset)
    let joined = buffers.flatMap { $0 }
    if position + joined.count > current.count {
      current += [UInt8](repeating: 0, count: position + joined.count - current.count)
    }
    current.replaceSubrange(position..<position + joined.count, with: joined)
    unsynced.append((position, joined))
    position += joined.count
  }

  func sync() throws(VaultError) {
    if !hasCrashed { syncOperations.append(operations + 1) }
    do {
      try step()
    } catch {
      if failedSyncLosesWrites && !hasCrashed { unsynced.removeAll() }
      throw error
    }
    for write in unsynced {
      let end = write.offset + write.bytes.count
      if end > durable.count { durable += [UInt8](repeating: 0, count: end - durable.count) }
      durable.replaceSubrange(write.offset..<end, with: write.bytes)
    }
    unsynced.removeAll()
  }

  /// Flips one bit at `offset` in what reads show and, if `onDisk`, on the disk too:
  /// damage no write made.
  func flipBit(at offset: Int, onDisk: Bool = true) {
    current[offset] ^= 0x10
    if onDisk, offset < durable.count { durable[offset] ^= 0x10 }
  }

  func size() throws(VaultError) -> UInt64 {
    if hasCrashed { throw VaultError(.io, "simulated power loss") }
    return UInt64(current.count)
  }

  /// A disk image after a power cut: the durable state plus a random selection of the
  /// unsynced writes, each lost, applied whole, or torn (a random subset of its
  /// sectors), applied in a random order.
  func imageAfterPowerLoss(using generator: inout some RandomNumberGenerator) -> [UInt8] {
    var image = durable
    for write in unsynced.shuffled(using: &generator) {
      let end = write.offset + write.bytes.count
      if end > image.count { image += [UInt8](repeating: 0, count: end - image.count) }
      switch Int.random(in: 0..<3, using: &generator) {
      case 0:
        continue
      case 1:
        image.replaceSubrange(write.offset..<end, with: write.bytes)
      default:
        for sector in stride(from: 0, to: write.bytes.count, by: SimulatedDisk.sectorSize)
        where Bool.random(using: &generator) {
          let upper = min(sector + SimulatedDisk.sectorSize, write.bytes.count)
          image.replaceSubrange(
            (write.offset + sector)..<(write.offset + upper), with: write.bytes[sector..<upper])
        }
      }
    }
    return image
  }

  /// The image if every unsynced write reached the disk in order.
  var imageWithEverything: [UInt8] { current }
  /// The image if no unsynced write reached the disk.
  var imageWithNothing: [UInt8] { durable }
}
