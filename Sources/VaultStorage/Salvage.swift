import Glibc
import VaultCore
import VaultCrypto
import VaultFormat

/// What ``Salvage/recover(_:to:progress:)`` copied, and what it could not.
package struct SalvageReport: Sendable {
  /// The commit the entries were read from.
  package var transaction: TransactionID
  /// Entries copied, by tree name.
  package var entries: [String: Int] = [:]
  /// Pages (with the trees they belong to) that did not authenticate: what lay below
  /// them is lost.
  package var damage: [(tree: String, problem: CheckProblem)] = []
  /// Entries whose value could not be read (a damaged overflow chain or extent).
  package var unreadableValues = 0
  /// The newest commit known durable could not be read, so an older one was: the later
  /// commits' changes are lost, including revocations and disabled accounts.
  package var olderThanDurable = false

  /// Whether anything the source held was left behind.
  package var lostAnything: Bool { !damage.isEmpty || unreadableValues > 0 || olderThanDurable }
}

/// `vault recover`: with the key, copies every entry that still authenticates in the
/// newest intact commit of a damaged vault into a new vault with the same keys.
///
/// The walk goes on past every page that fails (checksum, seal, decoding), skipping what
/// lies below it; every other page's entries are copied, tree by tree, into a fresh
/// file holding the same header (same vault id, same key slot), so the same passphrase
/// opens it and every sealed record and audit entry stays valid. Older versions of
/// entries, left in free pages, are never used: they could bring back a revoked
/// session, a disabled user's old rights, or a key that an erasure destroyed.
package enum Salvage {
  /// Bytes of entries gathered before they are written, in one commit.
  private static let batchBytes = 8 << 20

  /// Recovers `source`, opened with `credential`, into a new vault at `destination`.
  ///
  /// - Throws: `.keyRequired` when `source` was opened without its key;
  ///   `.alreadyExists` when `destination` exists; what writing the copy throws.
  package static func recover(
    _ source: VaultStore, credential: VaultCredential, to destination: String,
    progress: (Int, UInt64) -> Void = { _, _ in }
  ) throws(VaultError) -> SalvageReport {
    guard let cipher = source.reader.cipher else {
      throw VaultError(.keyRequired, "recovering a vault needs its passphrase or key")
    }
    try Backup.requireFreePath(destination)
    let temporary = destination + ".partial-" + Hex.encode(SecureRandom.bytes(6))
    defer {
      unlink(temporary)
      unlink(temporary + "-lock")
    }
    do {
      let file = try PosixFile(creatingNew: temporary)
      try file.write(VaultStore.initialPages(source.header, cipher: cipher), at: 0)
      try file.fullSync()
    }
    let target = try VaultStore.open(at: temporary, credential: credential)
    let snapshot = try source.makeSnapshot()
    defer { snapshot.close() }
    var copier = Copier(source: snapshot, target: target)
    copier.report.transaction = snapshot.meta.transaction
    copier.report.olderThanDurable = source.readsBelowDurableCommit
    var followed = Set<UInt64>()
    var visitedPages = 0
    StructureWalker(reader: snapshot.reader, meta: snapshot.meta).walk(
      follow: { followed.insert($0.page.rawValue).inserted },
      visited: { visit, _, content in
        visitedPages += 1
        if visitedPages % 256 == 0 { progress(visitedPages, snapshot.meta.pageCount) }
        guard copier.failure == nil, case .leaf(let node) = content, let tree = visit.tree
        else { return }
        copier.take(node, of: tree)
      },
      problem: { visit, error in
        copier.damaged(visit.tree, error)
        return copier.failure == nil
      })
    try copier.finish()
    // The copy is a new vault: it must check clean (with the key) before it is named.
    let check = Checker.check(path: temporary, credential: credential)
    if let problem = check.problems.first {
      throw VaultError(.corrupt, "the recovered copy does not check: \(problem.detail)")
    }
    guard link(temporary, destination) == 0 else {
      throw VaultError(
        errno == EEXIST ? .alreadyExists : .io, "cannot create \(destination)", errno: errno)
    }
    try PosixFile.syncDirectory(of: destination)
    return copier.report
  }

  /// Gathers entries from the source's leaves and writes them to the target in batches.
  private struct Copier {
    let source: Snapshot
    let target: VaultStore
    var report = SalvageReport(transaction: TransactionID(0))
    /// Tree names by id, from the catalog entries read so far.
    var names: [TreeID: String] = [.system: "(system)"]
    /// Trees made in the target so far.
    var made = Set<String>()
    var pending = [(tree: TreeID, key: [UInt8], value: Value)]()
    var pendingBytes = 0
    /// A write to the target failed: the walk stops and this is thrown.
    var failure: VaultError?

    enum Value {
      case bytes([UInt8])
      case extent([UInt8])
    }

    init(source: Snapshot, target: VaultStore) {
      self.source = source
      self.target = target
    }

    mutating func take(_ node: LeafNode, of tree: TreeID) {
      let meta = source.meta
      for index in node.cells.indices {
        let key = Array(node.key(index))
        let value: Value
        switch node.cells[index].value {
        case .inline(let range):
          value = .bytes(Array(node.bytes[range]))
        case .tree(let root):
          // The catalog: a tree and its name (the tree's pages follow in the walk).
          if tree == .system, let name = SystemTree.treeName(fromKey: key) {
            names[root.id] = name
            report.entries[name, default: 0] += 0
          }
          continue
        case .overflow(let length, let head):
          do throws(VaultError) {
            value = .bytes(
              try source.reader.overflowValue(head: head, length: length, tree: tree, in: meta))
          } catch {
            report.unreadableValues += 1
            continue
          }
        case .extent(let pages, let head):
          do throws(VaultError) {
            let run = try source.reader.extentRun(head, pages: pages, in: meta)
            let header = try BlobExtent.verify(
              run, against: head, tree: tree, pages: Int(pages), pageSize: source.store.pageSize)
            value = .extent(
              Array(run[FileFormat.pageHeaderSize..<FileFormat.pageHeaderSize + header.bodyLength]))
          } catch {
            report.unreadableValues += 1
            continue
          }
        }
        // The system tree's free list describes the source's pages, not the copy's.
        guard tree != .system else { continue }
        switch value {
        case .bytes(let bytes): pendingBytes += key.count + bytes.count
        case .extent(let body): pendingBytes += key.count + body.count
        }
        pending.append((tree, key, value))
        if pendingBytes >= Salvage.batchBytes { flush() }
      }
    }

    mutating func damaged(_ tree: TreeID?, _ error: VaultError) {
      let name = tree.map { names[$0] ?? "tree \($0)" } ?? "(unknown tree)"
      report.damage.append((name, CheckProblem(error)))
    }

    /// Writes what is pending, and creates the catalog's trees that have no entries.
    mutating func finish() throws(VaultError) {
      flush()
      if let failure { throw failure }
      let missing = names.filter { $0.key != .system && !made.contains($0.value) }
      if !missing.isEmpty {
        var made = self.made
        try Self.write(target) { (tx) throws(VaultError) in
          for (id, name) in missing { _ = try Self.tree(name, id: id, in: tx, made: &made) }
        }
        self.made = made
      }
    }

    mutating func flush() {
      guard failure == nil, !pending.isEmpty else { return }
      let batch = pending
      pending = []
      pendingBytes = 0
      var made = self.made
      var counts = [String: Int]()
      let names = self.names
      do throws(VaultError) {
        try Self.write(target) { (tx) throws(VaultError) in
          var trees = [TreeID: WriteTree]()
          for entry in batch {
            let name = names[entry.tree] ?? "$recovered:tree \(entry.tree)"
            let tree: WriteTree
            if let open = trees[entry.tree] {
              tree = open
            } else {
              tree = try Self.tree(name, id: entry.tree, in: tx, made: &made)
              trees[entry.tree] = tree
            }
            switch entry.value {
            case .bytes(let bytes):
              try tree.insert(bytes, forKey: entry.key)
            case .extent(let body):
              try tree.insertExtent(bodyLength: body.count, forKey: entry.key) { buffer in
                buffer.copyBytes(from: body)
              }
            }
            counts[name, default: 0] += 1
          }
        }
        self.made = made
        for (name, count) in counts { report.entries[name, default: 0] += count }
      } catch {
        failure = error
      }
    }

    /// One commit to `target`, its failure as a `VaultError`.
    static func write(
      _ target: VaultStore, _ body: (WriteTransaction) throws(VaultError) -> Void
    ) throws(VaultError) {
      do {
        try target.write { tx in try body(tx) }
      } catch let error as VaultError {
        throw error
      } catch {
        throw VaultError(.io, "writing the recovered vault failed: \(error)")
      }
    }

    /// The target's tree `name`: made on first use (a clear tree keeps its fixed id).
    static func tree(_ name: String, id: TreeID, in tx: WriteTransaction, made: inout Set<String>)
      throws(VaultError) -> WriteTree
    {
      if made.contains(name) { return try tx.openAnyTree(named: name) }
      made.insert(name)
      return FileFormat.isSealed(id)
        ? try tx.createAnyTree(named: name) : try tx.createClearTree(named: name, id: id)
    }
  }
}
