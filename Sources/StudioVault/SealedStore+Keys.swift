import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

extension SealedStore {
  /// What a KEK rotation did.
  @_spi(Engine) public struct RotationReport: Sendable, Equatable {
    /// The KEK that is now primary and wraps every data key.
    @_spi(Engine) public var kekID: UInt32
    /// Data keys re-wrapped by this call.
    @_spi(Engine) public var rewrapped: Int
    /// KEKs retired (deleted) because nothing refers to them any more.
    @_spi(Engine) public var retired: [UInt32]
    /// Transactions committed.
    @_spi(Engine) public var batches: Int
  }

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
    batchSize: Int = 10_000, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
  ) throws(VaultError) -> RotationReport {
    precondition(batchSize > 0, "a rotation batch must hold at least one key")
    // Start a rotation, unless one is under way (a crash interrupted it).
    var position = RotationPosition(tree: "", after: [])
    let target: UInt32 = try write { tx throws(VaultError) in
      let keyring = try tx.keyring()
      if let saved = try keyring.value(forKey: Keyring.rotationKey) {
        let (id, resumed) = try RotationPosition.decode(saved)
        position = resumed
        return id
      }
      _ = try tx.primaryKEK()
      let (id, _) = try tx.addKEK(makePrimary: true)
      try keyring.insert(position.encode(target: id), forKey: Keyring.rotationKey)
      return id
    }
    var report = RotationReport(kekID: target, rewrapped: 0, retired: [], batches: 1)
    let (trees, total) = try read { snapshot throws(VaultError) in
      let names = try snapshot.snapshot.treeNames().filter {
        $0.hasPrefix(Self.dataKeyTreePrefix)
      }
      var count = 0
      for name in names { count += Int(try snapshot.snapshot.tree(named: name)?.count ?? 0) }
      return (names, count)
    }
    var done = 0
    var remaining = trees.filter { $0 >= position.tree }
    while true {
      let finished: Bool = try write { tx throws(VaultError) in
        let keyring = try tx.keyring()
        let newKEK = try kek(target, in: keyring)
        var budget = batchSize
        while budget > 0, let name = remaining.first {
          let collection = String(name.dropFirst(Self.dataKeyTreePrefix.count))
          let after = name == position.tree ? position.after : []
          var oldKEKs = [UInt32: SymmetricKey]()
          let pass = try tx.transaction.tree(named: name)?.rewriteValues(
            from: after.isEmpty ? nil : after + [0], limit: budget
          ) { _, value throws(VaultError) -> [UInt8]? in
            let oldID = try DataKeyEntry.kekID(of: value)
            guard oldID != target else { return nil }
            let oldKEK: SymmetricKey
            if let known = oldKEKs[oldID] {
              oldKEK = known
            } else {
              oldKEK = try kek(oldID, in: keyring)
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
            position = RotationPosition(tree: name, after: last)
          } else {
            // This tree is done (or empty): on to the next.
            remaining.removeFirst()
            position = RotationPosition(tree: remaining.first ?? "", after: [])
          }
        }
        guard remaining.isEmpty else {
          try keyring.insert(position.encode(target: target), forKey: Keyring.rotationKey)
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
        return true
      }
      report.batches += 1
      progress(min(done, total), total)
      if finished { break }
    }
    keks.withLock { cache in for id in report.retired { cache[id] = nil } }
    return report
  }

  /// Where a rotation stands: the data-key tree it is in and the last key re-wrapped
  /// there. Stored in the keyring as target KEK id (u32) ‖ u8 name length ‖ name ‖ key.
  struct RotationPosition {
    var tree: String
    var after: [UInt8]

    func encode(target: UInt32) -> [UInt8] {
      let name = Array(tree.utf8)
      return withUnsafeBytes(of: target.littleEndian) { Array($0) }
        + [UInt8(truncatingIfNeeded: name.count)] + name + after
    }

    static func decode(_ bytes: [UInt8]) throws(VaultError) -> (UInt32, RotationPosition) {
      let target = try Keyring.decodeID(bytes)
      guard bytes.count >= 5, bytes.count >= 5 + Int(bytes[4]) else {
        throw VaultError(.corrupt, "the keyring's rotation entry is truncated")
      }
      let length = Int(bytes[4])
      guard let tree = String(validating: bytes[5..<5 + length], as: UTF8.self) else {
        throw VaultError(.corrupt, "the keyring's rotation entry names no tree")
      }
      return (target, RotationPosition(tree: tree, after: Array(bytes[(5 + length)...])))
    }
  }

  /// Whether a KEK rotation was interrupted and awaits ``rotateKeyEncryptionKey``.
  @_spi(Engine) public var isRotationPending: Bool {
    get throws(VaultError) {
      try read { snapshot throws(VaultError) in
        try snapshot.snapshot.tree(named: Self.keyringTree)?.value(forKey: Keyring.rotationKey)
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
    try write { tx throws(VaultError) in
      for (collection, id) in records {
        if keepBodies {
          try tx.destroyKey(of: id, in: collection)
        } else {
          try tx.remove(id, in: collection)
        }
      }
    }
    return try store.scrubFreePages()
  }

  /// Replaces the credential that unlocks the vault (O(1): see
  /// ``VaultStore/changeCredential(to:keyDerivation:)``).
  @_spi(Engine) public func changeCredential(
    to credential: VaultCredential, keyDerivation: PasswordKDF.Parameters = .moderate
  ) throws(VaultError) {
    try store.changeCredential(to: credential, keyDerivation: keyDerivation)
  }
}
