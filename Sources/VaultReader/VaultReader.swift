import VaultCore
import VaultFormat
import VaultStorage

/// Read-only access to a vault file without its key, for backup tools.
///
/// A reader never decrypts, never takes the write lock and never writes the vault: it
/// opens beside a live writer (in this or another process), pins one commit, lists and
/// reads the pages of that commit, verifies them (checksums, links, page accounting,
/// blob extents) and copies them, as full or incremental backups (FORMAT.md 25).
///
/// ```swift
/// let reader = try VaultReader(path: "studio.vault")
/// let commit = try reader.newestCommit()
/// defer { commit.close() }
/// guard try commit.verify().isEmpty else { /* report, keep the last good backup */ }
/// for run in try commit.pages() {
///   let bytes = try commit.read(run)  // sealed bytes, as stored: ship them anywhere
/// }
/// try commit.backUp(to: "backups/monday.vault")
/// try reader.newestCommit().backUp(to: "backups/tuesday.svinc",
///                                  since: "backups/monday.vault")
/// try VaultReader.restore(full: "backups/monday.vault",
///                         increments: ["backups/tuesday.svinc"], to: "restored.vault")
/// ```
public final class VaultReader: Sendable {
  let store: VaultStore

  /// Opens the vault at `path` for reading, without its key.
  ///
  /// - Throws: `.notFound`, `.permissionDenied`, `.notAVault`, `.unsupportedVersion`,
  ///   `.corruptPage` (no intact commit), `.io`.
  public init(path: String) throws(VaultError) {
    store = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
  }

  /// The page size, in bytes (a power of two, 4096 to 65536).
  public var pageSize: Int { store.pageSize }

  /// The vault's random 16-byte id, as 32 hex digits.
  public var vaultID: String { Hex.encode(store.header.vaultID) }

  /// Pins the newest committed state: writers go on, but cannot reuse its pages until
  /// it is closed.
  ///
  /// - Throws: `.corruptPage` when the newest commit known to be durable is damaged
  ///   (copying would silently give an older one); `.locked` when writers keep
  ///   replacing it faster than it can be pinned; `.tooManyReaders`.
  public func newestCommit() throws(VaultError) -> Commit {
    Commit(try PinnedState.newest(of: store))
  }

  /// Restores a chain of backups into a new vault file at `destination`: the full
  /// backup `full`, then each incremental backup in the order they were made. The
  /// result is verified before it gets its name, and is exactly the full backup of the
  /// newest commit of the chain.
  ///
  /// - Throws: `.invalidArgument` when the files do not form a chain; `.corrupt` or
  ///   `.corruptPage` when one is damaged; `.alreadyExists` when `destination` exists.
  @discardableResult
  public static func restore(full: String, increments: [String], to destination: String)
    throws(VaultError) -> Copied
  {
    Copied(try Backup.restore(base: full, increments: increments, to: destination))
  }
}

extension VaultReader {
  /// A committed state, pinned until ``close()``.
  public final class Commit: Sendable {
    let state: PinnedState

    init(_ state: PinnedState) { self.state = state }

    deinit { state.close() }

    /// The commit's transaction id (commits are numbered from 1, one by one).
    public var transaction: UInt64 { state.meta.transaction.rawValue }

    /// The vault's length in pages as of this commit.
    public var pageCount: UInt64 { state.meta.pageCount }

    /// Releases the commit; writers may then reuse the pages only it held.
    public func close() { state.close() }

    /// Every page of this commit that a copy needs, in page order: both header pages,
    /// the meta page, and every page reachable from it (tree nodes, overflow pages, and
    /// blob extents as one run each), each verified against the link that leads to it.
    ///
    /// - Throws: `.corruptPage` at the first page that does not verify (``verify()``
    ///   lists them all).
    public func pages() throws(VaultError) -> [PageRun] {
      try state.requireOpen()
      var runs = FileFormat.headerPages.map {
        PageRun(first: $0.rawValue, count: 1, transaction: transaction, kind: .header)
      }
      runs.append(
        PageRun(first: state.metaPage.rawValue, count: 1, transaction: transaction, kind: .meta))
      for run in try state.reachableRuns(prune: { _ in false }).runs {
        runs.append(
          PageRun(
            first: run.link.page.rawValue, count: run.pages,
            transaction: run.link.transaction.rawValue, kind: PageRun.Kind(run.type)))
      }
      return runs.sorted { $0.first < $1.first }
    }

    /// The bytes of a run as this commit has them: `count × pageSize` bytes, sealed as
    /// stored (header pages as the copy writes them, for this commit).
    ///
    /// - Throws: `.misuse` after ``close()`` (writers may have reused the pages), or
    ///   for a run that is not one of this commit's.
    public func read(_ run: PageRun) throws(VaultError) -> [UInt8] {
      try state.requireOpen()
      let store = state.store
      let fits =
        switch run.kind {
        case .header: FileFormat.headerPages.contains(PageNumber(run.first)) && run.count == 1
        case .meta: run.first == state.metaPage.rawValue && run.count == 1
        default:
          run.count >= 1 && run.first < pageCount && UInt64(run.count) <= pageCount - run.first
        }
      guard fits else { throw VaultError(.misuse, "run at page \(run.first) is not this commit's") }
      switch run.kind {
      case .header:
        return store.header.encodePage(
          PageNumber(run.first), transaction: state.meta.transaction)
      case .meta:
        return state.metaBytes
      default:
        let bytes = try store.rawBytes(ofPages: PageNumber(run.first), count: run.count)
        guard bytes.count == run.count * store.pageSize else {
          throw VaultError(.truncated, "the vault file ends inside page \(run.first)")
        }
        return bytes
      }
    }

    /// Verifies this commit as `vault check` does without the key: every reachable page
    /// (checksum, page number, transaction, owning tree, type), blob extents, and the
    /// page accounting (no page lost or used twice). Empty when all is well.
    ///
    /// - Throws: `.misuse` after ``close()``.
    public func verify() throws(VaultError) -> [Problem] {
      try state.requireOpen()
      return Inspection(snapshot: state.snapshot).problems.map {
        Problem(page: $0.page, kind: $0.kind, detail: $0.detail)
      }
    }

    /// Writes a full backup of this commit to a new file at `destination`: a vault of
    /// its own (FORMAT.md 25.1), synced before it gets its name.
    @discardableResult
    public func backUp(to destination: String) throws(VaultError) -> Copied {
      Copied(try Backup.copy(state, to: destination))
    }

    /// Writes an incremental backup of this commit to a new file at `destination`:
    /// the pages written since the commit the backup at `base` holds (FORMAT.md 25.2).
    ///
    /// - Throws: `.invalidArgument` when `base` is not a backup of this vault's history.
    @discardableResult
    public func backUp(to destination: String, since base: String) throws(VaultError) -> Copied {
      Copied(try Backup.copyIncremental(state, from: base, to: destination))
    }
  }

  /// Consecutive pages stored together.
  public struct PageRun: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
      case header, meta, interior, leaf, overflow, blob

      init(_ type: PageType) {
        switch type {
        case .header: self = .header
        case .meta: self = .meta
        case .interior: self = .interior
        case .leaf: self = .leaf
        case .overflow: self = .overflow
        case .blob: self = .blob
        }
      }
    }

    /// The number of the first page.
    public internal(set) var first: UInt64
    /// How many pages (more than one only for a blob extent).
    public internal(set) var count: Int
    /// The transaction that wrote them.
    public internal(set) var transaction: UInt64
    public internal(set) var kind: Kind
  }

  /// A problem ``Commit/verify()`` found.
  public struct Problem: Hashable, Sendable, CustomStringConvertible {
    /// The page it concerns, when one does.
    public var page: UInt64?
    /// A short class for scripts: `checksum`, `link`, `accounting`, …
    public var kind: String
    public var detail: String

    public var description: String {
      (page.map { "page \($0): " } ?? "") + detail
    }
  }

  /// What a backup or a restore wrote.
  public struct Copied: Hashable, Sendable {
    /// The commit the file holds.
    public var transaction: UInt64
    /// For an incremental backup, the commit it continues.
    public var base: UInt64?
    /// Pages written to the file.
    public var pagesCopied: Int
    /// The commit's page count.
    public var pageCount: UInt64

    init(_ report: BackupReport) {
      transaction = report.transaction.rawValue
      base = report.base?.rawValue
      pagesCopied = report.pagesCopied
      pageCount = report.pageCount
    }
  }
}
