import Glibc
import VaultCore
import VaultCrypto
import VaultFormat

/// What a backup or a restore wrote.
package struct BackupReport: Sendable {
  /// The commit the copy holds.
  package var transaction: TransactionID
  /// For an incremental backup: the commit it continues.
  package var base: TransactionID?
  /// Pages written (headers, the meta page, every reachable page, or for an incremental
  /// backup every page changed since its base); free pages are left as zeros.
  package var pagesCopied = 0
  /// The page count of the commit (the length of a restored vault, in pages).
  package var pageCount: UInt64 = 0
}

/// `vault backup` and `vault restore`: consistent copies of one committed state, made
/// without the key while other processes go on writing (FORMAT.md 10, 11, 25).
///
/// A snapshot pins the state, so no writer reuses its pages while they are copied.
/// Every page keeps its number, so links, checksums and seals stay valid.
///
/// A **full backup** is itself a vault, which opens on that one state. It holds the two
/// header pages; the state's meta page, in its slot, and zeros in the other slot; every
/// page reachable from the meta page, blob extents included; zeros for every free page.
///
/// An **incremental backup** holds only what changed since an earlier backup (its
/// base): the pages written by later commits, found by pruning the walk at every link
/// whose transaction is not newer than the base's (copy-on-write rewrites every
/// ancestor of a changed page, so such a link's whole subtree is unchanged). Restoring
/// a full backup and the incremental backups made after it, in order, gives exactly
/// the full backup of the newest one's commit, byte for byte.
package enum Backup {
  /// Reachable pages that are stored together: one tree or overflow page, or a whole
  /// blob extent, with the link that leads to it.
  package struct Run: Sendable {
    package var link: PageLink
    package var pages: Int
    /// The type of its (first) page.
    package var type: PageType
  }

  /// Largest piece read or written at once: memory stays flat over large extents.
  private static let pieceBytes = 1 << 20

  // MARK: Full backups

  /// Copies the newest committed state of `store` to a new file at `destination`
  /// (written beside it under a temporary name, synced, then linked into place).
  ///
  /// - Throws: `.alreadyExists` when `destination` exists; the walk's error when the
  ///   source is damaged (a backup of a damaged state would not open).
  package static func copy(
    _ store: VaultStore, to destination: String, progress: (Int, UInt64) -> Void = { _, _ in }
  ) throws(VaultError) -> BackupReport {
    try requireFreePath(destination)
    let state = try PinnedState.newest(of: store)
    defer { state.close() }
    return try copy(state, to: destination, progress: progress)
  }

  /// Copies the pinned state `state` to a new file at `destination`.
  package static func copy(
    _ state: PinnedState, to destination: String, progress: (Int, UInt64) -> Void = { _, _ in }
  ) throws(VaultError) -> BackupReport {
    try state.requireOpen()
    try requireFreePath(destination)
    let store = state.store
    let meta = state.meta
    let (runs, _) = try state.reachableRuns { _ in false }
    var report = BackupReport(transaction: meta.transaction, pageCount: meta.pageCount)
    let pageSize = UInt64(store.pageSize)
    try writeNewFile(at: destination) { (file) throws(VaultError) in
      // The whole length first, as zeros (a sparse file: free pages cost nothing).
      try file.setSize(meta.pageCount * pageSize)
      for page in FileFormat.headerPages {
        try file.write(
          [store.header.encodePage(page, transaction: meta.transaction)],
          at: page.rawValue * pageSize)
      }
      try file.write([state.metaBytes], at: state.metaPage.rawValue * pageSize)
      report.pagesCopied = 3
      for (index, run) in runs.enumerated() {
        try copyPages(of: run, from: store) { (bytes, page) throws(VaultError) in
          try file.write([bytes], at: page.rawValue * pageSize)
        }
        report.pagesCopied += run.pages
        if index % 256 == 0 { progress(report.pagesCopied, meta.pageCount) }
      }
    }
    return report
  }

  // MARK: Incremental backups

  /// Writes to a new file at `destination` the pages of `store`'s newest commit that
  /// are not in the commit the backup at `basePath` holds (a full backup, or an
  /// incremental one), with the tables that say where they go (FORMAT.md 25).
  ///
  /// - Throws: `.invalidArgument` when the base is not a backup of this vault's history
  ///   (another vault, a newer or diverged commit, a page the source still uses that
  ///   the base holds differently); `.alreadyExists` when `destination` exists.
  package static func copyIncremental(
    _ store: VaultStore, from basePath: String, to destination: String,
    progress: (Int, UInt64) -> Void = { _, _ in }
  ) throws(VaultError) -> BackupReport {
    try requireFreePath(destination)
    let state = try PinnedState.newest(of: store)
    defer { state.close() }
    return try copyIncremental(state, from: basePath, to: destination, progress: progress)
  }

  /// Writes the incremental backup of the pinned state `state` since `basePath`.
  package static func copyIncremental(
    _ state: PinnedState, from basePath: String, to destination: String,
    progress: (Int, UInt64) -> Void = { _, _ in }
  ) throws(VaultError) -> BackupReport {
    try state.requireOpen()
    try requireFreePath(destination)
    let store = state.store
    let base = try BackupBase(
      path: basePath, vaultID: store.header.vaultID, pageSize: store.pageSize)
    let meta = state.meta
    let commit = IncrementalBackup.State(
      transaction: meta.transaction, metaChecksum: Page.storedChecksum(of: state.metaBytes))
    guard meta.transaction > base.state.transaction || commit == base.state else {
      throw VaultError(
        .invalidArgument,
        "\(basePath) holds commit \(base.state.transaction), which is not in the history of"
          + " the source (at commit \(meta.transaction)): make a full backup")
    }
    let (runs, pruned) = try state.reachableRuns { $0.transaction <= base.state.transaction }
    for link in pruned { try base.requireHolds(link, basePath: basePath) }

    // The header pages and the meta page travel as runs of their own.
    var entries = [(entry: IncrementalBackup.Run, stored: [UInt8]?, run: Run?)]()
    for page in FileFormat.headerPages {
      let bytes = store.header.encodePage(page, transaction: meta.transaction)
      entries.append((self.run(of: bytes, at: page), bytes, nil))
    }
    entries.append((self.run(of: state.metaBytes, at: state.metaPage), state.metaBytes, nil))
    for run in runs {
      let entry = IncrementalBackup.Run(
        first: run.link.page, pages: UInt64(run.pages), transaction: run.link.transaction,
        checksum: run.link.checksum)
      entries.append((entry, nil, run))
    }
    entries.sort { $0.entry.first < $1.entry.first }
    let head = IncrementalBackup(
      pageSize: store.pageSize, vaultID: store.header.vaultID, base: base.state, state: commit,
      pageCount: meta.pageCount, runs: entries.map(\.entry), references: pruned)
    var report = BackupReport(
      transaction: meta.transaction, base: base.state.transaction, pageCount: meta.pageCount)
    try writeNewFile(at: destination) { (file) throws(VaultError) in
      var offset = UInt64(0)
      func append(_ bytes: [UInt8]) throws(VaultError) {
        try file.write([bytes], at: offset)
        offset += UInt64(bytes.count)
      }
      try append(head.encodeHead())
      for (index, entry) in entries.enumerated() {
        if let stored = entry.stored {
          try append(stored)
        } else if let run = entry.run {
          try copyPages(of: run, from: store) { (bytes, _) throws(VaultError) in
            try append(bytes)
          }
        }
        report.pagesCopied += Int(entry.entry.pages)
        if index % 256 == 0 { progress(report.pagesCopied, meta.pageCount) }
      }
    }
    return report
  }

  /// Checks an incremental backup by itself: its head, its length, and every page it
  /// stores against its table (checksum, page number, transaction). Whether it applies
  /// to a chain is checked when the chain is restored.
  package static func verifyIncremental(at path: String) -> [CheckProblem] {
    var problems = [CheckProblem]()
    do throws(VaultError) {
      let (file, head) = try openIncremental(at: path)
      var offset = UInt64(head.headLength)
      for run in head.runs {
        let length = run.pages * UInt64(head.pageSize)
        defer { offset += length }
        do throws(VaultError) {
          // A run is read whole to check its checksum; one longer than any extent the
          // format allows is damage (the file's exact length already bounds it).
          guard length <= UInt64(BlobExtent.maximumBodyLength) + UInt64(head.pageSize) else {
            throw VaultError(
              .corrupt, "run at page \(run.first) is longer than any extent",
              page: run.first.rawValue)
          }
          let bytes = try file.read(at: offset, count: Int(length))
          try verifyStoredRun(bytes, run, pageSize: head.pageSize)
        } catch {
          problems.append(CheckProblem(error))
        }
      }
    } catch {
      problems.append(CheckProblem(error))
    }
    return problems
  }

  // MARK: Restoring

  /// Builds at `destination` the vault that a full backup `basePath` and the
  /// incremental backups `increments` (in the order they were made) hold together:
  /// exactly the full backup of the newest commit.
  ///
  /// The chain is applied in a scratch file beside `destination`: a copy of the base,
  /// then each increment's pages written at their places, each checked to continue the
  /// commit the chain so far ends with (transaction and meta checksum). The result is
  /// then walked and verified like any vault while its reachable pages are copied to
  /// `destination`, so a chain that does not fit together never yields a vault.
  ///
  /// - Throws: `.invalidArgument` when an increment does not continue the chain before
  ///   it; `.corrupt`/`.corruptPage` when a file of the chain is damaged.
  package static func restore(
    base basePath: String, increments: [String], to destination: String,
    progress: (Int, UInt64) -> Void = { _, _ in }
  ) throws(VaultError) -> BackupReport {
    try requireFreePath(destination)
    let scratch = destination + ".restoring-" + Hex.encode(SecureRandom.bytes(6))
    defer {
      unlink(scratch)
      unlink(scratch + "-lock")
    }
    // The commit the chain so far ends with: each increment must continue exactly it.
    var current: IncrementalBackup.State
    do {
      let file = try PosixFile(creatingNew: scratch)
      let (pageSize, baseState) = try copyBase(basePath, into: file)
      current = baseState
      for path in increments {
        let (source, head) = try openIncremental(at: path)
        guard head.pageSize == pageSize else {
          throw VaultError(
            .invalidArgument, "\(path) has \(head.pageSize)-byte pages, the base \(pageSize)")
        }
        guard head.base == current, head.state.transaction >= current.transaction else {
          throw VaultError(
            .invalidArgument,
            "\(path) continues commit \(head.base.transaction), but the backups before it end"
              + " with commit \(current.transaction): give the full backup it was made from,"
              + " then each incremental one in the order they were made")
        }
        try file.setSize(head.pageCount * UInt64(pageSize))
        var offset = UInt64(head.headLength)
        for run in head.runs {
          var done: UInt64 = 0
          while done < run.pages {
            let count = min(run.pages - done, UInt64(max(1, pieceBytes / pageSize)))
            let bytes = try source.read(at: offset, count: Int(count) * pageSize)
            guard bytes.count == Int(count) * pageSize else {
              throw VaultError(.truncated, "\(path) ends inside its pages")
            }
            if done == 0, Page.storedChecksum(of: bytes) != run.checksum {
              throw VaultError(
                .corrupt, "\(path): the page stored for page \(run.first) is damaged",
                page: run.first.rawValue)
            }
            try file.write([bytes], at: (run.first.rawValue + done) * UInt64(pageSize))
            offset += UInt64(bytes.count)
            done += count
          }
        }
        current = head.state
      }
    }
    let store = try VaultStore.open(at: scratch, credential: nil, options: .init(readOnly: true))
    let state = try PinnedState.newest(of: store)
    defer { state.close() }
    // Opening picks the newest intact commit: a chain whose last commit did not fit
    // together would open on an older one, silently.
    guard state.meta.transaction == current.transaction,
      Page.storedChecksum(of: state.metaBytes) == current.metaChecksum
    else {
      throw VaultError(
        .corrupt,
        "the chain does not restore commit \(current.transaction): its pages do not verify")
    }
    return try copy(state, to: destination, progress: progress)
  }

  // MARK: Pieces

  /// Refuses to write over a file, or beside a lock file left by a deleted vault at
  /// that path (it would vouch for commits the new file does not have).
  package static func requireFreePath(_ destination: String) throws(VaultError) {
    guard access(destination, F_OK) != 0 else {
      throw VaultError(.alreadyExists, "\(destination) exists; back up to a new path")
    }
    guard access(destination + "-lock", F_OK) != 0 else {
      throw VaultError(
        .alreadyExists, "\(destination)-lock exists; remove it (no process may use it) first")
    }
  }

  /// Reads a run's pages from the store in pieces and hands each to `sink` with the
  /// number of its first page.
  private static func copyPages(
    of run: Run, from store: VaultStore,
    to sink: ([UInt8], PageNumber) throws(VaultError) -> Void
  ) throws(VaultError) {
    var offset = 0
    while offset < run.pages {
      let count = min(run.pages - offset, max(1, pieceBytes / store.pageSize))
      let page = PageNumber(run.link.page.rawValue + UInt64(offset))
      let bytes = try store.rawBytes(ofPages: page, count: count)
      guard bytes.count == count * store.pageSize else {
        throw VaultError(.truncated, "the source ends inside page \(page)", page: page.rawValue)
      }
      try sink(bytes, page)
      offset += count
    }
  }

  /// Creates `destination` under a temporary name of its own beside it, lets `fill`
  /// write it, syncs it, and links it into place only if the target is still free
  /// (never over a file that appeared meanwhile).
  private static func writeNewFile(
    at destination: String, _ fill: (PosixFile) throws(VaultError) -> Void
  ) throws(VaultError) {
    let temporary = destination + ".partial-" + Hex.encode(SecureRandom.bytes(6))
    let file = try PosixFile(creatingNew: temporary)
    var finished = false
    defer { if !finished { unlink(temporary) } }
    try fill(file)
    try file.fullSync()
    guard link(temporary, destination) == 0 else {
      throw VaultError(
        errno == EEXIST ? .alreadyExists : .io, "cannot create \(destination)", errno: errno)
    }
    finished = true
    unlink(temporary)
    try PosixFile.syncDirectory(of: destination)
  }

  /// A one-page run of an incremental backup, from the page's own header.
  private static func run(of bytes: [UInt8], at page: PageNumber) -> IncrementalBackup.Run {
    let transaction = bytes.withUnsafeBytes {
      UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
    }
    return IncrementalBackup.Run(
      first: page, pages: 1, transaction: TransactionID(transaction),
      checksum: Page.storedChecksum(of: bytes))
  }

  /// An incremental backup file, opened, with its head decoded and its length checked.
  private static func openIncremental(at path: String) throws(VaultError) -> (
    PosixFile, IncrementalBackup
  ) {
    let file = try PosixFile(openingExisting: path, readOnly: true)
    let size = try file.size()
    guard try file.read(at: 0, count: 8).starts(with: IncrementalBackup.magic) else {
      throw VaultError(.notAVault, "\(path) is not an incremental backup")
    }
    let head = try readHead(of: file, size: size, path: path)
    let length = head.headLength
    let (pageBytes, overflow) = head.dataPages.multipliedReportingOverflow(
      by: UInt64(head.pageSize))
    guard !overflow, UInt64(length) + pageBytes == size else {
      throw VaultError(
        .truncated,
        "\(path) has \(size) bytes; its tables say \(UInt64(length) &+ pageBytes)"
          + " (cut short, or bytes added)")
    }
    return (file, head)
  }

  /// The head of the incremental backup `file` (`size` bytes), its tables' length
  /// checked against the size before they are read.
  static func readHead(of file: PosixFile, size: UInt64, path: String) throws(VaultError)
    -> IncrementalBackup
  {
    let header = try file.read(at: 0, count: IncrementalBackup.headerLength)
    guard header.count == IncrementalBackup.headerLength else {
      throw VaultError(.truncated, "\(path) ends inside its header")
    }
    let length = try IncrementalBackup.headLength(header: header, fileSize: size)
    return try IncrementalBackup(decoding: try file.read(at: 0, count: length))
  }

  /// Checks the bytes an incremental backup stores for one run.
  private static func verifyStoredRun(
    _ bytes: [UInt8], _ run: IncrementalBackup.Run, pageSize: Int
  ) throws(VaultError) {
    let link = PageLink(page: run.first, transaction: run.transaction, checksum: run.checksum)
    if bytes.count > 16, bytes[16] == PageType.blob.rawValue {
      let header = try BlobExtent.decodeHeader(bytes[...], location: run.first)
      _ = try BlobExtent.verify(
        bytes, against: link, tree: header.tree, pages: Int(run.pages), pageSize: pageSize)
    } else {
      guard run.pages == 1 else {
        throw VaultError(
          .corrupt, "run of \(run.pages) pages at page \(run.first) is not an extent",
          page: run.first.rawValue)
      }
      try Page(bytes, location: run.first).verify(against: link)
    }
  }

  /// Copies the full backup at `path` into `file` (which is empty), skipping blocks of
  /// zeros; returns its page size and the newest commit it holds.
  private static func copyBase(_ path: String, into file: PosixFile) throws(VaultError) -> (
    Int, IncrementalBackup.State
  ) {
    let source = try PosixFile(openingExisting: path, readOnly: true)
    let prefix = try source.read(at: 0, count: 1 << 16)
    if prefix.starts(with: IncrementalBackup.magic) {
      throw VaultError(
        .invalidArgument,
        "\(path) is an incremental backup: a chain starts with a full backup, then the"
          + " incremental ones in the order they were made")
    }
    let pageSize = try FileHeader.peekPageSize(prefix, page: PageNumber(0))
    guard let (state, _) = try newestIntactState(in: source, pageSize: pageSize, vaultID: nil)
    else {
      throw VaultError(.corrupt, "\(path) holds no intact commit: it cannot start a chain")
    }
    let size = try source.size()
    try file.setSize(size)
    var offset: UInt64 = 0
    while offset < size {
      let bytes = try source.read(at: offset, count: Int(min(UInt64(pieceBytes), size - offset)))
      guard !bytes.isEmpty else { break }
      if bytes.contains(where: { $0 != 0 }) { try file.write([bytes], at: offset) }
      offset += UInt64(bytes.count)
    }
    return (pageSize, state)
  }

  /// The newest commit whose meta page is intact in `file` (of `vaultID`, when given),
  /// with its vault id; nil when neither slot holds one.
  static func newestIntactState(in file: PosixFile, pageSize: Int, vaultID: [UInt8]?)
    throws(VaultError) -> (IncrementalBackup.State, vaultID: [UInt8])?
  {
    var newest: (IncrementalBackup.State, vaultID: [UInt8])?
    for slot in FileFormat.metaPages {
      let bytes = try file.read(at: slot.rawValue * UInt64(pageSize), count: pageSize)
      guard bytes.count == pageSize, let page = try? Page(bytes, location: slot),
        page.hasValidChecksum, page.header.type == .meta,
        let meta = try? MetaPage(page: page), vaultID == nil || meta.vaultID == vaultID
      else { continue }
      if meta.transaction > newest?.0.transaction ?? TransactionID(0) {
        newest = (
          IncrementalBackup.State(transaction: meta.transaction, metaChecksum: page.storedChecksum),
          meta.vaultID
        )
      }
    }
    return newest
  }
}

/// A committed state held for copying: a snapshot (so no writer reuses its pages), and
/// its meta page's bytes, read from its slot while the snapshot held it.
package final class PinnedState: Sendable {
  package let snapshot: Snapshot
  package let metaBytes: [UInt8]

  private init(snapshot: Snapshot, metaBytes: [UInt8]) {
    self.snapshot = snapshot
    self.metaBytes = metaBytes
  }

  package var store: VaultStore { snapshot.store }
  package var meta: MetaPage { snapshot.meta }
  package var metaPage: PageNumber { FileFormat.metaPage(for: meta.transaction) }

  /// Releases the state (writers may then reuse pages only it held).
  package func close() { snapshot.close() }

  /// Fails with `.misuse` once the state was released: its pages may be reused.
  package func requireOpen() throws(VaultError) { try snapshot.requireOpen() }

  /// Pins the newest committed state of `store`.
  ///
  /// - Throws: `.corruptPage` when the newest durable commit is damaged (a copy would
  ///   silently hold an older one); `.locked` when writers keep replacing the state.
  package static func newest(of store: VaultStore) throws(VaultError) -> PinnedState {
    guard !store.readsBelowDurableCommit else {
      throw VaultError(
        .corruptPage,
        "the newest durable commit of the source is damaged: a copy would silently hold an"
          + " older one; run `vault check` on it")
    }
    // The meta page is read from its slot after the snapshot is taken; a writer may
    // have reused that slot (two commits later) in between: then take a newer snapshot.
    for _ in 0..<100 {
      let snapshot = try store.makeSnapshot()
      let metaBytes = try store.rawBytes(
        ofPage: FileFormat.metaPage(for: snapshot.meta.transaction))
      guard
        metaBytes.count == store.pageSize,
        metaBytes.withUnsafeBytes({ $0.loadUnaligned(fromByteOffset: 32, as: UInt64.self) })
          == snapshot.meta.transaction.rawValue.littleEndian,
        Page.computeChecksum(of: metaBytes) == Page.storedChecksum(of: metaBytes)
      else {
        snapshot.close()
        continue
      }
      return PinnedState(snapshot: snapshot, metaBytes: metaBytes)
    }
    throw VaultError(.locked, "writers kept replacing the state being copied; retry")
  }

  /// Every run of pages reachable from the meta page, verified, sorted by page; and the
  /// links `prune` chose not to follow.
  package func reachableRuns(
    prune: (PageLink) -> Bool
  ) throws(VaultError) -> (runs: [Backup.Run], pruned: [PageLink]) {
    try requireOpen()
    var runs = [Backup.Run]()
    var pruned = [PageLink]()
    var failure: VaultError?
    // A page is linked once (FORMAT.md 6.4): following a repeat could go round a forged
    // cycle, or multiply the work of forged fan-ins.
    var followed = Set<UInt64>()
    StructureWalker(reader: snapshot.reader, meta: meta).walk(
      follow: { link in
        guard followed.insert(link.page.rawValue).inserted else {
          failure =
            failure
            ?? VaultError(.corruptPage, "page is linked from two places", page: link.page.rawValue)
          return false
        }
        if prune(link) {
          pruned.append(link)
          return false
        }
        return true
      },
      visited: { visit, page, content in
        if case .extent(_, let pages) = content {
          runs.append(Backup.Run(link: visit.link, pages: pages, type: .blob))
        } else if let page {
          runs.append(Backup.Run(link: visit.link, pages: 1, type: page.header.type))
        }
      },
      problem: { _, error in
        failure = error
        return false
      })
    if let failure { throw failure }
    // Runs of pages never overlap (an extent's pages are linked from nowhere else).
    runs.sort { $0.link.page < $1.link.page }
    for (previous, next) in zip(runs, runs.dropFirst())
    where previous.link.page.rawValue + UInt64(previous.pages) > next.link.page.rawValue {
      throw VaultError(
        .corruptPage, "page is part of two structures", page: next.link.page.rawValue)
    }
    return (runs, pruned)
  }
}

/// The backup an incremental one is made from: the commit it holds, and a way to tell
/// that a page the source still uses is the one the base holds.
private struct BackupBase {
  enum Kind {
    /// A vault file (a full backup): its pages are at their places.
    case vault(PosixFile)
    /// An incremental backup: its tables list its pages and references.
    case incremental([PageNumber: (TransactionID, Checksum)], base: TransactionID)
  }

  let state: IncrementalBackup.State
  let pageSize: Int
  let kind: Kind

  init(path: String, vaultID: [UInt8], pageSize: Int) throws(VaultError) {
    let file = try PosixFile(openingExisting: path, readOnly: true)
    let prefix = try file.read(at: 0, count: 1 << 16)
    self.pageSize = pageSize
    if prefix.starts(with: IncrementalBackup.magic) {
      let head = try Backup.readHead(of: file, size: try file.size(), path: path)
      guard head.vaultID == vaultID, head.pageSize == pageSize else {
        throw VaultError(.invalidArgument, "\(path) is a backup of another vault")
      }
      var pages = [PageNumber: (TransactionID, Checksum)]()
      for run in head.runs { pages[run.first] = (run.transaction, run.checksum) }
      for link in head.references { pages[link.page] = (link.transaction, link.checksum) }
      state = head.state
      kind = .incremental(pages, base: head.base.transaction)
      return
    }
    guard try FileHeader.peekPageSize(prefix, page: PageNumber(0)) == pageSize else {
      throw VaultError(.invalidArgument, "\(path) is a backup of another vault (page size)")
    }
    // The newest meta page of this vault that is intact.
    guard
      let (newest, _) = try Backup.newestIntactState(in: file, pageSize: pageSize, vaultID: vaultID)
    else {
      throw VaultError(
        .invalidArgument, "\(path) holds no intact commit of this vault: make a full backup")
    }
    state = newest
    kind = .vault(file)
  }

  /// Requires the base to hold the page `link` leads to, as the source has it.
  func requireHolds(_ link: PageLink, basePath: String) throws(VaultError) {
    let holds: Bool
    switch kind {
    case .vault(let file):
      let header = try file.read(
        at: link.page.rawValue * UInt64(pageSize), count: FileFormat.pageHeaderSize)
      holds =
        header.count == FileFormat.pageHeaderSize
        && Page.storedChecksum(of: header) == link.checksum
        && header.withUnsafeBytes {
          UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            == link.page.rawValue
            && UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
              == link.transaction.rawValue
        }
    case .incremental(let pages, let base):
      if let (transaction, checksum) = pages[link.page] {
        holds = transaction == link.transaction && checksum == link.checksum
      } else {
        // Older than the base's own base: in the backups before it, which are not at
        // hand; the restore verifies it.
        holds = link.transaction <= base
      }
    }
    guard holds else {
      throw VaultError(
        .invalidArgument,
        "\(basePath) does not hold page \(link.page) as the source does: it is not a backup"
          + " of this vault's history; make a full backup")
    }
  }
}
