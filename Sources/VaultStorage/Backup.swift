import Glibc
import VaultCore
import VaultCrypto
import VaultFormat

/// What ``Backup/copy(_:to:progress:)`` copied.
package struct BackupReport: Sendable {
  /// The commit the copy holds.
  package var transaction: TransactionID
  /// Pages copied (headers, the meta page, every reachable page); free pages are left
  /// as zeros.
  package var pagesCopied = 0
  package var pageCount: UInt64 = 0
}

/// `vault backup`: a consistent copy of one committed state, made without the key while
/// other processes go on writing (FORMAT.md 10, 11).
///
/// A snapshot pins the state, so no writer reuses its pages while they are copied.
/// Every page keeps its number, so links, checksums and seals stay valid. The copy
/// holds:
/// - the two header pages;
/// - the state's meta page, in its slot, and zeros in the other slot;
/// - every page reachable from the meta page, blob extents included;
/// - zeros for every free page.
/// It is itself a vault, which opens on that one state.
package enum Backup {
  /// Copies the newest committed state of `store` to a new file at `destination`
  /// (written beside it as `destination.partial`, synced, then renamed into place).
  ///
  /// - Throws: `.alreadyExists` when `destination` exists; the walk's error when the
  ///   source is damaged (a backup of a damaged state would not open).
  package static func copy(
    _ store: VaultStore, to destination: String, progress: (Int, UInt64) -> Void = { _, _ in }
  ) throws(VaultError) -> BackupReport {
    guard access(destination, F_OK) != 0 else {
      throw VaultError(.alreadyExists, "\(destination) exists; back up to a new path")
    }
    // A lock file left by a deleted vault at that path would vouch for its commits.
    guard access(destination + "-lock", F_OK) != 0 else {
      throw VaultError(
        .alreadyExists, "\(destination)-lock exists; remove it (no process may use it) first")
    }
    guard !store.readsBelowDurableCommit else {
      throw VaultError(
        .corruptPage,
        "the newest durable commit of the source is damaged: a copy would silently hold an"
          + " older one; run `vault check` on it")
    }
    let pageSize = UInt64(store.pageSize)
    // The meta page is read from its slot after the snapshot is taken; a writer may
    // have reused that slot (two commits later) in between: then take a newer snapshot.
    for _ in 0..<100 {
      let snapshot = try store.makeSnapshot()
      defer { snapshot.close() }
      let meta = snapshot.meta
      let slot = FileFormat.metaPage(for: meta.transaction)
      let metaBytes = try store.rawBytes(ofPage: slot)
      guard
        metaBytes.count == store.pageSize,
        metaBytes.withUnsafeBytes({ $0.loadUnaligned(fromByteOffset: 32, as: UInt64.self) })
          == meta.transaction.rawValue.littleEndian,
        Page.computeChecksum(of: metaBytes) == Page.storedChecksum(of: metaBytes)
      else { continue }

      var runs = [(first: UInt64, count: Int)]()
      var failure: VaultError?
      // A page is linked once (FORMAT.md 6.4): following a repeat could go round a
      // forged cycle, or multiply the work of forged fan-ins.
      var followed = Set<UInt64>()
      StructureWalker(reader: snapshot.reader, meta: meta).walk(
        follow: { link in
          guard followed.insert(link.page.rawValue).inserted else {
            failure =
              failure
              ?? VaultError(
                .corruptPage, "page is linked from two places", page: link.page.rawValue)
            return false
          }
          return true
        },
        visited: { visit, page, content in
          if case .extent(_, let pages) = content {
            runs.append((visit.link.page.rawValue, pages))
          } else if page != nil {
            runs.append((visit.link.page.rawValue, 1))
          }
        },
        problem: { _, error in
          failure = error
          return false
        })
      if let failure { throw failure }
      // Runs of pages never overlap (an extent's pages are linked from nowhere else).
      let sorted = runs.sorted(by: { $0.first < $1.first })
      for (previous, next) in zip(sorted, sorted.dropFirst())
      where previous.first + UInt64(previous.count) > next.first {
        throw VaultError(.corruptPage, "page is part of two structures", page: next.first)
      }

      // A name of its own beside the target; linked into place only if the target is
      // still free (never over a file that appeared meanwhile).
      let temporary = destination + ".partial-" + Hex.encode(SecureRandom.bytes(6))
      let file = try PosixFile(creatingNew: temporary)
      var finished = false
      defer { if !finished { unlink(temporary) } }
      var report = BackupReport(transaction: meta.transaction, pageCount: meta.pageCount)
      // The whole length first, as zeros (a sparse file: free pages cost nothing).
      guard ftruncate(file.descriptor, off_t(meta.pageCount * pageSize)) == 0 else {
        throw VaultError(errno == ENOSPC ? .noSpace : .io, "cannot size \(temporary)", errno: errno)
      }
      // Both header copies from the one the store found intact.
      for page in FileFormat.headerPages {
        try file.write(
          [store.header.encodePage(page, transaction: meta.transaction)],
          at: page.rawValue * pageSize)
      }
      try file.write([metaBytes], at: slot.rawValue * pageSize)
      report.pagesCopied = 3
      for (index, run) in sorted.enumerated() {
        // Extents are read in pieces of at most 1 MiB: memory stays flat.
        var offset = 0
        while offset < run.count {
          let count = min(run.count - offset, max(1, (1 << 20) / store.pageSize))
          let page = PageNumber(run.first + UInt64(offset))
          try file.write(
            [try store.rawBytes(ofPages: page, count: count)], at: page.rawValue * pageSize)
          offset += count
        }
        report.pagesCopied += run.count
        if index % 256 == 0 { progress(report.pagesCopied, meta.pageCount) }
      }
      try file.fullSync()
      guard link(temporary, destination) == 0 else {
        throw VaultError(
          errno == EEXIST ? .alreadyExists : .io, "cannot create \(destination)", errno: errno)
      }
      finished = true
      unlink(temporary)
      try PosixFile.syncDirectory(of: destination)
      return report
    }
    throw VaultError(.locked, "writers kept replacing the state being copied; retry")
  }
}
