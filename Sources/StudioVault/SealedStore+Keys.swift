import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// What a KEK rotation did.
public struct KeyRotationReport: Sendable, Equatable {
  /// The KEK that is now primary and wraps every data key.
  public var kekID: UInt32
  /// Data keys re-wrapped by this call.
  public var rewrapped: Int
  /// KEKs retired (deleted) because nothing refers to them any more.
  public var retired: [UInt32]
  /// Transactions committed.
  public var batches: Int
}

extension SealedStore {
  /// Makes a new KEK primary and re-wraps every data key under it, `batchSize` keys per
  /// transaction; then retires the KEKs nothing refers to. Record bodies are never
  /// rewritten: only the data-key entries are.
  ///
  /// Crash-safe and resumable: until the last batch commits, old and new KEKs are both
  /// in the keyring, so every record stays readable whichever KEK wraps its key; the
  /// rotation's progress is committed with each batch, and the next call (by this or
  /// any process) carries on from there instead of starting over.
  ///
  /// - Parameter progress: called after each batch with the keys done so far and the
  ///   total.
  /// - Complexity: O(records) key unwraps and wraps; O(records / keys per page) pages
  ///   written.
  @discardableResult
  @_spi(Engine) public func rotateKeyEncryptionKey(
    batchSize: Int = 10_000, actor: AuditActor = .system,
    progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
  ) throws(VaultError) -> KeyRotationReport {
    precondition(batchSize > 0, "a rotation batch must hold at least one key")
    // Start a rotation, unless one is under way (a crash interrupted it).
    let target: UInt32 = try write { tx throws(VaultError) in
      let keyring = try tx.keyring()
      if let saved = try keyring.value(forKey: Keyring.rotationKey) {
        return try RotationPosition.decode(saved).target
      }
      _ = try tx.primaryKEK()
      let (id, _) = try tx.addKEK(makePrimary: true)
      try keyring.insert(
        RotationPosition(tree: [], after: []).encode(target: id), forKey: Keyring.rotationKey)
      return id
    }
    var report = KeyRotationReport(kekID: target, rewrapped: 0, retired: [], batches: 1)
    let prefix = Array(Self.dataKeyTreePrefix.utf8)
    // Data-key trees by name bytes, in byte order (the order the position refers to).
    let (trees, total) = try read { snapshot throws(VaultError) in
      let names = try snapshot.snapshot.allTreeNames().filter { $0.utf8.starts(with: prefix) }
      var count = 0
      for name in names { count += Int(try snapshot.snapshot.anyTree(named: name)?.count ?? 0) }
      return (names.map { Array($0.utf8) }.sorted(by: KeyOrder.less), count)
    }
    var done = 0
    while true {
      let finished: Bool = try write { tx throws(VaultError) in
        let keyring = try tx.keyring()
        // The stored position is the truth: another process may have moved it on, or
        // finished this rotation, since our last batch.
        guard let saved = try keyring.value(forKey: Keyring.rotationKey) else { return true }
        let (storedTarget, position) = try RotationPosition.decode(saved)
        guard storedTarget == target else {
          throw VaultError(
            .locked, "another rotation (to key-encryption key \(storedTarget)) took over")
        }
        let newKEK = try tx.kek(target)
        var remaining = trees.filter { !KeyOrder.less($0, position.tree) }
        var next = position
        var budget = batchSize
        var oldKEKs = [UInt32: SymmetricKey]()
        while budget > 0, let name = remaining.first {
          let collection = String(decoding: name.dropFirst(prefix.count), as: UTF8.self)
          let after = name == next.tree ? next.after : []
          let pass = try tx.transaction.anyTree(named: String(decoding: name, as: UTF8.self))?
            .rewriteValues(from: after.isEmpty ? nil : after + [0], limit: budget) {
              _, value throws(VaultError) -> [UInt8]? in
              let oldID = try DataKeyEntry.kekID(of: value)
              guard oldID != target else { return nil }
              let oldKEK: SymmetricKey
              if let known = oldKEKs[oldID] {
                oldKEK = known
              } else {
                oldKEK = try tx.kek(oldID)
                oldKEKs[oldID] = oldKEK
              }
              return try DataKeyEntry.rewrapped(
                value, from: oldKEK, to: newKEK, newID: target, vaultID: vaultID,
                collection: collection)
            }
          let visited = pass?.visited ?? 0
          report.rewrapped += pass?.rewritten ?? 0
          done += visited
          budget -= visited
          if budget == 0, let last = pass?.lastKey {
            next = RotationPosition(tree: name, after: last)
          } else {
            // This tree is done (or empty): on to the next.
            remaining.removeFirst()
            next = RotationPosition(tree: remaining.first ?? [], after: [])
          }
        }
        guard remaining.isEmpty else {
          try keyring.insert(next.encode(target: target), forKey: Keyring.rotationKey)
          return false
        }
        // Every key is under the target: retire the rest.
        try keyring.removeValue(forKey: Keyring.rotationKey)
        var retired = [UInt32]()
        try keyring.scanTyped(from: Keyring.kekRange.start, to: Keyring.kekRange.end) {
          key, _ throws(VaultError) in
          let id = try Keyring.kekID(fromKey: key)
          if id != target { retired.append(id) }
          return true
        }
        for id in retired { try keyring.removeValue(forKey: Keyring.kekKey(id)) }
        report.retired = retired
        try tx.auditIfLogged(
          AuditDraft(
            .keyRotated, actor: actor,
            detail: (
              .organization,
              ["kekId": .int(Int64(target)), "retired": .int(Int64(retired.count))]
            )))
        return true
      }
      report.batches += 1
      progress(min(done, total), total)
      if finished { break }
    }
    keks.withLock { cache in for id in report.retired { cache.retire(id) } }
    return report
  }

  /// Where a rotation stands: the data-key tree it is in (name bytes) and the last key
  /// re-wrapped there. Stored in the keyring as target KEK id (u32) ‖ u8 name length ‖
  /// name ‖ key.
  struct RotationPosition {
    var tree: [UInt8]
    var after: [UInt8]

    func encode(target: UInt32) -> [UInt8] {
      withUnsafeBytes(of: target.littleEndian) { Array($0) }
        + [UInt8(truncatingIfNeeded: tree.count)] + tree + after
    }

    static func decode(_ bytes: [UInt8]) throws(VaultError) -> (target: UInt32, RotationPosition) {
      let target = try Keyring.decodeID(bytes)
      guard bytes.count >= 5, bytes.count >= 5 + Int(bytes[4]) else {
        throw VaultError(.corrupt, "the keyring's rotation entry is truncated")
      }
      let length = Int(bytes[4])
      return (
        target,
        RotationPosition(tree: Array(bytes[5..<5 + length]), after: Array(bytes[(5 + length)...]))
      )
    }
  }

  /// Whether a KEK rotation was interrupted and awaits ``rotateKeyEncryptionKey``.
  @_spi(Engine) public var isRotationPending: Bool {
    get throws(VaultError) {
      try read { snapshot throws(VaultError) in
        try snapshot.snapshot.anyTree(named: Self.keyringTree)?.value(forKey: Keyring.rotationKey)
          != nil
      }
    }
  }

  /// Erases records for good (crypto-shredding): destroys their data keys and removes
  /// them, commits, then zeroes every page an older version of them (or of their keys)
  /// may linger in (``VaultStore/scrubFreePages()``). Afterwards their content cannot be
  /// recovered from the file, even with the passphrase.
  ///
  /// - Parameter records: collection and id of each record to erase.
  /// - Parameter keepBodies: keep the (now unreadable) bodies in place, for records
  ///   retained by law whose personal content must go.
  /// - Returns: the number of pages zeroed.
  @discardableResult
  @_spi(Engine) public func eraseRecords(
    _ records: [(collection: String, id: [UInt8])], keepBodies: Bool = false
  )
    throws(VaultError) -> Int
  {
    try erase { tx throws(VaultError) in
      for (collection, id) in records {
        if keepBodies {
          try tx.destroyKey(of: id, in: collection)
        } else {
          try tx.remove(id, in: collection)
        }
      }
    }
  }

  /// Runs `body`, which destroys keys or removes records, in one transaction that
  /// also marks an erasure pending; once it commits, zeroes the free pages (and clears
  /// the mark). A crash in between leaves the zeroing to the next open.
  ///
  /// - Returns: the number of pages zeroed.
  func erase(_ body: (SealedTransaction) throws(VaultError) -> Void) throws(VaultError) -> Int {
    try write { tx throws(VaultError) in
      try body(tx)
      try tx.keyring().insert([], forKey: Keyring.scrubPendingKey)
    }
    return try finishPendingErasure()
  }

  /// Whether an erasure committed but has not finished zeroing free pages.
  @_spi(Engine) public var isScrubPending: Bool {
    get throws(VaultError) {
      try read { snapshot throws(VaultError) in
        try snapshot.snapshot.anyTree(named: Self.keyringTree)?.value(
          forKey: Keyring.scrubPendingKey) != nil
      }
    }
  }

  /// ``finishPendingErasure()`` when an erasure (or a blob's deletion) left free pages
  /// to zero. A reader still in the way leaves the flag for the next open or erasure:
  /// that is not an error of the operation that just committed.
  func finishScrubIfPending() throws(VaultError) {
    guard try isScrubPending else { return }
    do {
      try finishPendingErasure()
    } catch  where error.code == .locked {
      return
    }
  }

  /// Zeroes the free pages an erasure left (``VaultStore/scrubFreePages()``) and clears
  /// the pending flag.
  ///
  /// - Returns: the number of pages zeroed.
  /// - Throws: `.locked` when an older reader is still in the way (the flag stays).
  @discardableResult
  @_spi(Engine) public func finishPendingErasure() throws(VaultError) -> Int {
    let zeroed = try store.scrubFreePages()
    try write { tx throws(VaultError) in
      _ = try tx.keyring().removeValue(forKey: Keyring.scrubPendingKey)
    }
    return zeroed
  }

  /// Replaces the credential that unlocks the vault (O(1): see
  /// ``VaultStore/changeCredential(to:keyDerivation:)``).
  ///
  /// The header is rewritten outside the commit protocol (section 4 of FORMAT.md), so
  /// the `passphraseChanged` entry commits right after it. The log keeps the header
  /// generation it accounted for: a crash in between is caught at the next writable
  /// open, which records the change then (FORMAT.md 20.7).
  @_spi(Engine) public func changeCredential(
    to credential: VaultCredential, keyDerivation: PasswordKDF.Parameters = .moderate,
    actor: AuditActor = .system
  ) throws(VaultError) {
    try store.changeCredential(to: credential, keyDerivation: keyDerivation)
    let generation = try store.headerGeneration()
    try write { tx throws(VaultError) in
      try tx.auditHeaderGeneration(generation, actor: actor, recovered: false)
    }
  }
}
