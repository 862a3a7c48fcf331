import Dispatch
import Glibc
import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// Verifies a vault's audit log without its key (FORMAT.md 20.6): what a backup tool
/// or an auditor runs. Recomputes the hash chain and the Merkle tree over the stored
/// entries (ciphertext and all), checks every checkpoint's signature with the public
/// key in the file header and its root against the tree at its size, and, given a
/// checkpoint saved earlier, that the log still extends it.
///
/// Every problem names the first entry it puts in doubt; ``firstBadEntry`` is the
/// earliest of them.
public struct AuditVerification: Sendable {
  /// What is wrong, and from which entry on (nil: not tied to an entry).
  public struct Problem: Sendable, Equatable, CustomStringConvertible {
    public var entry: UInt64?
    /// `page`, `missing`, `sequence`, `malformed`, `chain`, `rewritten`,
    /// `checkpointSignature`, `checkpointChain`, `checkpointRoot`, `unsigned`,
    /// `truncated`, `savedCheckpoint`, `rollback`, `fork` (and `key`, from the CLI).
    public var kind: String
    public var detail: String

    public init(entry: UInt64?, kind: String, detail: String) {
      self.entry = entry
      self.kind = kind
      self.detail = detail
    }

    public var description: String {
      (entry.map { "entry \($0): " } ?? "") + detail
    }
  }

  /// Entries found in the log.
  public var entries: UInt64 = 0
  /// The tree size of the newest checkpoint whose signature verifies (0: none).
  public var treeSize: UInt64 = 0
  /// The Merkle tree hash recomputed over every entry found.
  public var rootHash: [UInt8] = MerkleTree.emptyRoot
  /// Checkpoints found (signed or not).
  public var checkpoints = 0
  /// The newest checkpoint note whose signature verifies.
  public var newestCheckpoint: String?
  public var problems: [Problem] = []

  public var ok: Bool { problems.isEmpty }

  /// The earliest entry any problem puts in doubt.
  public var firstBadEntry: UInt64? { problems.compactMap(\.entry).min() }

  /// Verifies the log of the newest commit of `store` (opened with or without its key).
  ///
  /// - Parameter saved: a checkpoint note saved earlier (`vault audit checkpoint`):
  ///   the log must extend it.
  /// - Throws: only when the vault cannot be read at all; damage is a ``Problem``.
  public static func verify(
    _ store: VaultStore, against saved: String? = nil,
    progress: (_ entries: UInt64, _ claimed: UInt64) -> Void = { _, _ in }
  ) throws(VaultError) -> AuditVerification {
    let snapshot = try store.makeSnapshot()
    defer { snapshot.close() }
    var run = Run(store.header)
    try run.readCheckpoints(snapshot)
    if let saved { run.readSaved(saved) }
    try run.readEntries(snapshot, progress: progress)
    run.finish()
    return run.result
  }

  /// The newest checkpoint note of `store`'s log whose signature verifies, or nil when
  /// the log has none.
  public static func newestCheckpoint(_ store: VaultStore) throws(VaultError) -> String? {
    let snapshot = try store.makeSnapshot()
    defer { snapshot.close() }
    var run = Run(store.header)
    try run.readCheckpoints(snapshot)
    return run.result.newestCheckpoint
  }

  /// Calls `body` with each stored entry (sequence number and bytes, as the leaf hash
  /// covers them) in order, until it returns false: for tools that export the log or
  /// check it their own way. Needs no key; damaged pages end the walk with an error.
  public static func forEachStoredEntry(
    _ store: VaultStore, _ body: (_ sequence: UInt64, _ entry: [UInt8]) -> Bool
  ) throws(VaultError) {
    let snapshot = try store.makeSnapshot()
    defer { snapshot.close() }
    var failure: VaultError?
    _ = try snapshot.walkClearTree(
      .auditLog,
      leaf: { leaf in
        if let damage = leaf.damage {
          failure = damage
          return false
        }
        for index in leaf.cells.indices {
          guard let sequence = AuditLog.sequence(fromKey: leaf.key(index)) else {
            failure = VaultError(.corruptPage, "a key of the audit log is not a sequence number")
            return false
          }
          if !body(sequence, Array(leaf.value(index))) { return false }
        }
        return true
      },
      problem: { page, _, error in
        failure = error.onPage(page.rawValue)
        return false
      })
    if let failure { throw failure }
  }

  /// One verification's working state.
  private struct Run {
    let origin: String
    let publicKey: [UInt8]
    var result = AuditVerification()
    /// Roots checkpoints claim, by tree size, for those whose signature verifies.
    var signedRoots: [UInt64: [UInt8]] = [:]
    /// The largest size any checkpoint claims, signed or not.
    var claimedSize: UInt64 = 0
    var saved: AuditCheckpoint?
    var savedRootFound: [UInt8]?
    /// The tree size up to which every entry is proven by a signed checkpoint.
    var provenSize: UInt64 = 0
    /// Whether the tree can still be recomputed (no entry is missing before here).
    var treeIntact = true
    /// Whether a signed root disagreed with the entries (proofs stop there).
    var rootMismatch = false
    var chainBreaks: [UInt64] = []

    /// A run against the checkpoint origin and signing key named in `header`.
    init(_ header: FileHeader) {
      origin = AuditCheckpoint.origin(vaultID: header.vaultID)
      publicKey = header.auditPublicKey
    }

    mutating func problem(_ entry: UInt64?, _ kind: String, _ detail: String) {
      result.problems.append(Problem(entry: entry, kind: kind, detail: detail))
    }

    mutating func readCheckpoints(_ snapshot: Snapshot) throws(VaultError) {
      var previousHash = [UInt8](repeating: 0, count: MerkleTree.hashSize)
      var previousSize: UInt64?
      var found = [(key: [UInt8], value: [UInt8], damage: VaultError?)]()
      _ = try snapshot.walkClearTree(
        .auditCheckpoints,
        leaf: { leaf in
          for index in leaf.cells.indices {
            found.append((Array(leaf.key(index)), Array(leaf.value(index)), leaf.damage))
          }
          return true
        },
        problem: { page, _, error in
          found.append(([], [], error.onPage(page.rawValue)))
          return true
        })
      for (key, value, damage) in found {
        result.checkpoints += 1
        guard let size = AuditLog.sequence(fromKey: key) else {
          problem(nil, "page", "checkpoints: \(damage?.description ?? "a key is not a tree size")")
          continue
        }
        if let damage { problem(nil, "page", "checkpoint of size \(size): \(damage)") }
        let note = String(decoding: value, as: UTF8.self)
        let checkpoint: AuditCheckpoint
        do throws(VaultError) {
          checkpoint = try AuditCheckpoint.open(note, origin: origin, publicKey: publicKey)
        } catch {
          problem(
            nil, "checkpointSignature",
            "the checkpoint of size \(size) does not verify with the vault's audit key: "
              + error.message)
          claimedSize = max(claimedSize, (try? AuditCheckpoint.parse(textOf(note)).size) ?? size)
          previousHash = AuditCheckpoint.hash(ofNote: note)
          continue
        }
        claimedSize = max(claimedSize, checkpoint.size)
        if checkpoint.size != size {
          problem(
            nil, "checkpointChain",
            "the checkpoint stored under size \(size) states \(checkpoint.size)")
        }
        if let previousSize, checkpoint.size <= previousSize {
          problem(
            nil, "checkpointChain",
            "checkpoint sizes do not grow (\(previousSize), then \(checkpoint.size))")
        }
        if checkpoint.previous != previousHash {
          problem(
            nil, "checkpointChain",
            "the checkpoint of size \(checkpoint.size) does not follow the one before it"
              + " (a checkpoint was removed, replaced or reordered)")
        }
        previousHash = AuditCheckpoint.hash(ofNote: note)
        previousSize = checkpoint.size
        signedRoots[checkpoint.size] = checkpoint.root
        if checkpoint.size >= result.treeSize {
          result.treeSize = checkpoint.size
          result.newestCheckpoint = note
        }
      }
    }

    /// The text part of a note (before the blank line), for a size to blame.
    private func textOf(_ note: String) -> String {
      guard let range = note.range(of: "\n\n") else { return note }
      return String(note[..<range.lowerBound]) + "\n"
    }

    mutating func readSaved(_ note: String) {
      do throws(VaultError) {
        saved = try AuditCheckpoint.open(note, origin: origin, publicKey: publicKey)
      } catch {
        problem(
          nil, "savedCheckpoint",
          "the saved checkpoint does not verify with this vault's audit key (a checkpoint"
            + " of another vault, or the file header's key was replaced): " + error.message)
      }
    }

    /// Walks the entries in order: this thread reads the pages and checks keys and
    /// sequence numbers while an ``EntryHasher`` hashes the previous batch (leaf
    /// hashes, the chain's links, the Merkle tree) on a thread of its own.
    mutating func readEntries(
      _ snapshot: Snapshot, progress: (UInt64, UInt64) -> Void = { _, _ in }
    ) throws(VaultError) {
      var watched = Set(signedRoots.keys)
      if let size = saved?.size, size > 0 { watched.insert(size) }
      let hasher = EntryHasher(watching: watched)
      var expected: UInt64 = 0
      var previousPage: (page: PageNumber, transaction: TransactionID, first: UInt64)?
      if saved?.size == 0 { savedRootFound = MerkleTree.emptyRoot }
      var pending = [EntryHasher.Entry]()
      func flush() {
        hasher.hash(pending)
        pending.removeAll(keepingCapacity: true)
        progress(expected, claimedSize)
      }
      let walked = Result { () throws(VaultError) in
        try snapshot.walkClearTree(
          .auditLog,
          leaf: { leaf in
            let first =
              leaf.cells.isEmpty ? expected : AuditLog.sequence(fromKey: leaf.key(0)) ?? expected
            if let damage = leaf.damage {
              // Its entries still decoded: the chain and the tree name the bad one.
              problem(nil, "page", "page \(leaf.page), holding entries from \(first): \(damage)")
            }
            if let previous = previousPage, previous.transaction > leaf.transaction {
              problem(
                previous.first, "rewritten",
                "page \(previous.page), holding entries from \(previous.first), was rewritten by"
                  + " transaction \(previous.transaction) after later entries were written"
                  + " (transaction \(leaf.transaction)): a full audit page never changes")
            }
            previousPage = (leaf.page, leaf.transaction, first)
            for index in leaf.cells.indices {
              if let entry = check(leaf.key(index), leaf.value(index), &expected) {
                pending.append(entry)
              }
            }
            if pending.count >= Self.batchSize { flush() }
            return true
          },
          problem: { page, lower, error in
            flush()
            let from = lower.flatMap(AuditLog.sequence(fromKey:)) ?? expected
            problem(from, "page", "page \(page) (entries from \(from)) cannot be read: \(error)")
            treeIntact = false
            return true
          })
      }
      flush()
      // Drained even when the walk failed: the hashing thread still reads its batches.
      let hashed = hasher.finish()
      _ = try walked.get()
      if let failure = hashed.failure { throw failure }
      chainBreaks = hashed.chainBreaks
      for (size, root) in hashed.roots {
        if let claimed = signedRoots[size] {
          if claimed == root {
            if !rootMismatch { provenSize = size }
          } else {
            rootMismatch = true
            problem(
              provenSize, "checkpointRoot",
              "the signed checkpoint of size \(size) does not match the entries: some entry from"
                + " \(provenSize) on was altered, replaced or reordered")
          }
        }
        if saved?.size == size { savedRootFound = root }
      }
      result.entries = expected
      result.rootHash = hashed.root
      attributeChainBreaks()
    }

    /// Entries hashed in one batch.
    static let batchSize = 4096

    /// Checks entry `value` stored under `key` where entry `expected` should come;
    /// returns what the hashing thread needs of it, or nil for a key that is not a
    /// sequence number (the entry is left out of the chain and the tree).
    private mutating func check(
      _ key: ArraySlice<UInt8>, _ value: ArraySlice<UInt8>, _ expected: inout UInt64
    ) -> EntryHasher.Entry? {
      // No log reaches 2^64 − 1 entries: a key that says so is forged (and would
      // overflow the arithmetic below).
      guard let sequence = AuditLog.sequence(fromKey: key), sequence < UInt64.max else {
        problem(expected, "malformed", "a key of the log is not a sequence number")
        treeIntact = false
        return nil
      }
      if sequence != expected {
        if sequence > expected {
          problem(
            expected, "missing",
            sequence == expected + 1
              ? "entry \(expected) is missing"
              : "entries \(expected) to \(sequence - 1) are missing")
        } else {
          problem(sequence, "sequence", "entry \(sequence) appears out of order")
        }
        treeIntact = false
      }
      expected = sequence + 1
      let entry = AuditEntry.clearFields(of: value)
      if let entry {
        if entry.sequence != sequence {
          problem(
            sequence, "sequence", "the entry stored as \(sequence) says it is \(entry.sequence)")
        }
      } else {
        problem(sequence, "malformed", "not an audit entry (format, or length \(value.count))")
      }
      return EntryHasher.Entry(
        value: value, sequence: sequence, previous: entry?.previous, joinsTree: treeIntact)
    }

    /// A broken link at entry `i` means entry `i − 1` was altered (its hash changed) or
    /// entry `i`'s link was; when entry `i + 1`'s link breaks too, it is entry `i`.
    private mutating func attributeChainBreaks() {
      let breaks = Set(chainBreaks)
      var skip = Set<UInt64>()
      for sequence in chainBreaks.sorted() where !skip.contains(sequence) {
        // (Sequences here are below UInt64.max: `check` refuses that key.)
        if breaks.contains(sequence + 1) || sequence == 0 {
          skip.insert(sequence + 1)
          problem(
            sequence, "chain",
            "entry \(sequence) was altered: the hash chain breaks on both sides of it")
        } else {
          problem(
            sequence - 1, "chain",
            "entry \(sequence) does not link to entry \(sequence - 1): one of them was altered")
        }
      }
    }

    mutating func finish() {
      let count = result.entries
      if count < claimedSize {
        problem(
          count, "truncated",
          "the log holds \(count) entries but a checkpoint covers \(claimedSize): entries"
            + " \(count) to \(claimedSize - 1) are gone")
      }
      let signedSize = result.treeSize
      if count > signedSize {
        problem(
          max(signedSize, provenSize), "unsigned",
          "entries \(signedSize) to \(count - 1) are covered by no checkpoint the vault's key"
            + " signed")
      }
      if let saved {
        if saved.size > count {
          problem(
            count, "rollback",
            "the saved checkpoint covers \(saved.size) entries but the log holds \(count):"
              + " the vault was rolled back or its log truncated")
        } else if let root = savedRootFound, root != saved.root {
          let agreed = signedRoots.keys.filter { $0 <= saved.size && $0 <= provenSize }.max() ?? 0
          problem(
            agreed, "fork",
            "the log does not extend the saved checkpoint of size \(saved.size): its first"
              + " \(saved.size) entries differ (from entry \(agreed) on at the latest)")
        } else if savedRootFound == nil, treeIntact {
          problem(nil, "fork", "the tree at the saved checkpoint's size could not be recomputed")
        }
      }
      result.problems.sort { ($0.entry ?? .max, $0.kind) < ($1.entry ?? .max, $1.kind) }
    }
  }
}

extension AuditVerification {
  /// The leaf hashes of `entries`, computed by `workers` threads (each a stride).
  static func leafHashes(_ entries: [ArraySlice<UInt8>], workers: Int) -> [[UInt8]] {
    guard workers > 1, entries.count >= 256 else { return entries.map(MerkleTree.leafHash) }
    var hashes = [[UInt8]](repeating: [], count: entries.count)
    hashes.withUnsafeMutableBufferPointer { buffer in
      // Each worker writes only its own stride of the buffer.
      nonisolated(unsafe) let output = buffer
      DispatchQueue.concurrentPerform(iterations: workers) { worker in
        for index in stride(from: worker, to: entries.count, by: workers) {
          output[index] = MerkleTree.leafHash(entries[index])
        }
      }
    }
    return hashes
  }
}

/// The hashing half of verifying the entries, on a thread of its own while the walk
/// reads the next pages: each entry's leaf hash, the chain's links, the Merkle tree,
/// and the tree's root at each size asked for. Batches go in order; at most two wait.
/// Batches are handed over through `queue`, which alone touches the state until
/// finish() drains it; the caller reads the state only after that.
// SAFETY: the state is touched only on `queue`, then read once it is drained.
private final class EntryHasher: @unchecked Sendable {
  /// What the hasher needs of one entry.
  struct Entry: Sendable {
    let value: ArraySlice<UInt8>
    let sequence: UInt64
    /// The entry's link to its predecessor (nil when it does not decode).
    let previous: ArraySlice<UInt8>?
    /// Whether it goes into the tree (no entry is missing before it).
    let joinsTree: Bool
  }

  /// What the hashing found.
  struct Outcome {
    var root: [UInt8]
    /// Entries whose link does not match their predecessor's leaf hash.
    var chainBreaks: [UInt64]
    /// The tree's root at each watched size it reached, in order.
    var roots: [(size: UInt64, root: [UInt8])]
    var failure: VaultError?
  }

  private let queue = DispatchQueue(label: "StudioVault.AuditVerification.hashing")
  private let slots = DispatchSemaphore(value: 2)
  /// The sizes whose roots are wanted, largest first: the next one is last (a set
  /// lookup per entry cost more than the rest of the bookkeeping).
  private var watched: [UInt64]
  private var frontier = MerkleTree.Frontier()
  private var lastLeaf = [UInt8](repeating: 0, count: MerkleTree.hashSize)
  private var outcome = Outcome(root: [], chainBreaks: [], roots: [])

  /// Threads that share a batch's leaf hashes: with more than two cores, those the
  /// walk and this thread leave idle; with two, this thread alone, hashing each entry
  /// as it goes.
  private let leafWorkers = min(sysconf(Int32(_SC_NPROCESSORS_ONLN)) - 1, 8)

  init(watching sizes: Set<UInt64>) { watched = sizes.sorted(by: >) }

  /// Queues `batch` (waiting while two batches are queued already).
  func hash(_ batch: [Entry]) {
    guard !batch.isEmpty else { return }
    slots.wait()
    queue.async { [self] in
      defer { slots.signal() }
      let shared =
        leafWorkers > 1
        ? AuditVerification.leafHashes(batch.map(\.value), workers: leafWorkers) : nil
      // Entries are read in place: copying one retains and releases its two slices.
      batch.withUnsafeBufferPointer { entries in
        for position in entries.indices {
          let leaf = shared?[position] ?? MerkleTree.leafHash(entries[position].value)
          if let previous = entries[position].previous, !previous.elementsEqual(lastLeaf) {
            outcome.chainBreaks.append(entries[position].sequence)
          }
          lastLeaf = leaf
          guard entries[position].joinsTree, outcome.failure == nil else { continue }
          do throws(VaultError) { try frontier.append(leaf) } catch {
            outcome.failure = error
            continue
          }
          // The tree grows one leaf at a time, so every size comes up in order; one it
          // cannot reach (0) is dropped here.
          while let next = watched.last, next < frontier.size { watched.removeLast() }
          if watched.last == frontier.size {
            outcome.roots.append((frontier.size, frontier.root))
            watched.removeLast()
          }
        }
      }
    }
  }

  /// Waits for every batch queued; what they found.
  func finish() -> Outcome {
    queue.sync {
      outcome.root = frontier.root
      return outcome
    }
  }
}
