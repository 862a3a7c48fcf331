import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

extension SealedStore {
  /// What a KEK rotation did.
  package struct RotationReport: Sendable, Equatable {
    /// The KEK that is now primary and wraps every data key.
    package var kekID: UInt32
    /// Data keys re-wrapped by this call.
    package var rewrapped: Int
    /// KEKs retired (deleted) because nothing refers to them any more.
    package var retired: [UInt32]
    /// Transactions committed.
    package var batches: Int
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
  package func rotateKeyEncryptionKey(
    batchSize: Int = 10_000, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
  ) throws(VaultError) -> RotationReport {
    precondition(batchSize > 0, "a rotation batch must hold at least one key")
    // Start a rotation, unless one is under way (a crash interrupted it).
    var cursor: [UInt8] = []
    let target: UInt32 = try write { tx throws(VaultError) in
      let keyring = try tx.keyring()
      if let saved = try keyring.value(forKey: Keyring.rotationKey) {
        cursor = Array(saved.dropFirst(4))
        return try Keyring.decodeID(saved)
      }
      _ = try tx.primaryKEK()
      let (id, _) = try tx.addKEK(makePrimary: true)
      try keyring.insert(Self.rotationState(target: id, after: []), forKey: Keyring.rotationKey)
      return id
    }
    var report = RotationReport(kekID: target, rewrapped: 0, retired: [], batches: 1)
    let total = try read { snapshot throws(VaultError) in
      Int(try snapshot.snapshot.tree(named: Self.dataKeyTree)?.count ?? 0)
    }
    var done = 0
    var finished = false
    while !finished {
      try write { tx throws(VaultError) in
        let keys = try tx.dataKeys()
        let keyring = try tx.keyring()
        let newKEK = try kek(target, in: keyring)
        // Collect a batch first: the tree must not change under a scan.
        var batch = [([UInt8], [UInt8])]()
        try keys.scanTyped(from: cursor.isEmpty ? nil : cursor + [0]) { key, value in
          batch.append((key, value))
          return batch.count < batchSize
        }
        for (key, value) in batch {
          let wrapped = try WrappedDataKey(decoding: value)
          guard wrapped.kekID != target else { continue }
          let binding = try bindingOfDataKeyEntry(key)
          let dataKey = try wrapped.unwrap(
            kek: try kek(wrapped.kekID, in: keyring), binding: binding)
          let rewrapped = WrappedDataKey.wrap(dataKey, kek: newKEK, kekID: target, binding: binding)
          try keys.insert(rewrapped.encode(), forKey: key)
          report.rewrapped += 1
        }
        done += batch.count
        if let last = batch.last?.0, batch.count == batchSize {
          cursor = last
          try keyring.insert(
            Self.rotationState(target: target, after: last), forKey: Keyring.rotationKey)
        } else {
          // Every key is under the target: retire the rest.
          finished = true
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
        }
      }
      report.batches += 1
      progress(min(done, total), total)
    }
    keks.withLock { cache in for id in report.retired { cache[id] = nil } }
    return report
  }

  static func rotationState(target: UInt32, after key: [UInt8]) -> [UInt8] {
    withUnsafeBytes(of: target.littleEndian) { Array($0) } + key
  }

  /// The record a data-key entry belongs to, from its key (`u8 length ‖ collection ‖
  /// record id`).
  func bindingOfDataKeyEntry(_ key: [UInt8]) throws(VaultError) -> RecordBinding {
    guard let length = key.first.map(Int.init), key.count >= 1 + length else {
      throw VaultError(.corrupt, "malformed data-key entry")
    }
    guard let collection = String(validating: key[1..<1 + length], as: UTF8.self) else {
      throw VaultError(.corrupt, "data-key entry names a collection that is not UTF-8")
    }
    return binding(collection, Array(key[(1 + length)...]))
  }

  /// Whether a KEK rotation was interrupted and awaits ``rotateKeyEncryptionKey``.
  package var isRotationPending: Bool {
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
  package func eraseRecords(
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
  package func changeCredential(
    to credential: VaultCredential, keyDerivation: PasswordKDF.Parameters = .moderate
  ) throws(VaultError) {
    try store.changeCredential(to: credential, keyDerivation: keyDerivation)
  }
}
