import VaultCore
import VaultCrypto
import VaultFormat

/// Choosing the committed state to open, as the first process to open a vault.
enum Recovery {
  struct Outcome {
    var meta: MetaPage
    var checksum: Checksum
    /// Why meta pages were passed over: damaged, or a commit a crash interrupted.
    var skipped: [VaultError]
    /// Meta slots holding nothing usable: a writer may blank them.
    var unusableSlots: [PageNumber]
    /// Whether the state is known damaged (salvage only): never published, never
    /// written on.
    var isDamaged = false

    /// Whether a commit the lock file recorded as durable is among what was skipped:
    /// then the skipped meta page or pages were damaged after the commit, not torn by a
    /// crash during it, and falling back would silently lose acknowledged data.
    func losesDurableCommit(trusted: TransactionID) -> Bool {
      !unusableSlots.isEmpty && trusted > meta.transaction
    }
  }

  /// The newest meta page whose transaction's pages are all intact.
  ///
  /// A commit is trusted without reading its pages when the lock file recorded it as
  /// durable (same transaction, same meta checksum): it was published only after its
  /// `fdatasync` succeeded. Otherwise every page the commit wrote is verified: those
  /// are the pages reachable from its meta page through links carrying its transaction
  /// id (copy-on-write rewrites every ancestor of a changed page, so they form a
  /// connected region below the meta page). When one fails, the commit was torn by a
  /// crash, and the state before it, which it never overwrote, is used.
  ///
  /// - Complexity: O(pages written by the newest commit), O(1) when trusted.
  static func newestIntactState(
    reader: PageReader, vaultID: [UInt8], trusted: (TransactionID, Checksum),
    acceptingDamage: Bool = false
  ) throws(VaultError) -> Outcome {
    var candidates = [(meta: MetaPage, checksum: Checksum)]()
    var failures = [VaultError]()
    var unusable = [PageNumber]()
    for page in FileFormat.metaPages {
      do throws(VaultError) {
        if let found = try reader.readMetaSlot(page, vaultID: vaultID) { candidates.append(found) }
      } catch {
        // A failed read says nothing about the commit: give up rather than pass over
        // (and later blank) what may be the newest durable state.
        guard error.isDamage else { throw error }
        failures.append(error)
        unusable.append(page)
      }
    }
    candidates.sort { $0.meta.transaction > $1.meta.transaction }
    for candidate in candidates {
      if candidate.meta.transaction == trusted.0 && candidate.checksum == trusted.1 {
        return Outcome(
          meta: candidate.meta, checksum: candidate.checksum, skipped: failures,
          unusableSlots: unusable)
      }
      if let failure = try firstDamagedPage(of: candidate.meta, reader: reader) {
        failures.append(
          VaultError(
            .corruptPage,
            "commit \(candidate.meta.transaction) is incomplete (\(failure.message));"
              + " using the one before",
            page: failure.page))
        unusable.append(FileFormat.metaPage(for: candidate.meta.transaction))
        continue
      }
      return Outcome(
        meta: candidate.meta, checksum: candidate.checksum, skipped: failures,
        unusableSlots: unusable)
    }
    // Salvage reads what it can: the newest commit whose meta page verifies, damaged
    // pages and all (every meta slot counts as unusable: nothing may write on it).
    if acceptingDamage, let newest = candidates.first {
      return Outcome(
        meta: newest.meta, checksum: newest.checksum, skipped: failures,
        unusableSlots: FileFormat.metaPages, isDamaged: true)
    }
    let detail = failures.map(\.description).joined(separator: "; ")
    throw VaultError(
      .corruptPage,
      "no committed state of the vault is intact (\(detail)); `vault check` lists the damage")
  }

  /// The first damaged page among the pages `meta`'s own transaction wrote, or nil.
  ///
  /// - Throws: an error that is not damage (an I/O error): the pages could not be read,
  ///   so nothing is known about them.
  static func firstDamagedPage(of meta: MetaPage, reader: PageReader) throws(VaultError)
    -> VaultError?
  {
    var failure: VaultError?
    let walker = StructureWalker(reader: reader, meta: meta)
    walker.walk(
      follow: { $0.transaction == meta.transaction },
      visited: { _, _, _ in },
      problem: { _, error in
        failure = error
        return false
      })
    if let failure, !failure.isDamage { throw failure }
    return failure
  }
}
