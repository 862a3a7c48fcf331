import VaultCore
import VaultCrypto

/// A record's data key (DEK) as stored: sealed under one key-encryption key (KEK).
///
/// Layout (76 bytes, little-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | KEK id |
/// | 4 | 24 | nonce |
/// | 28 | 32 | the DEK, encrypted |
/// | 60 | 16 | tag |
///
/// Associated data: `"SV-DEK" ‖ vaultID ‖ kekID (u32) ‖ u16 length ‖ collection ‖
/// u16 length ‖ record id`: a wrapped key moved to another record, collection or
/// vault, or relabelled with another KEK id, fails to open.
public struct WrappedDataKey: Sendable, Equatable {
  public static let byteCount = 4 + XChaCha20Poly1305.overhead + SymmetricKey.byteCount
  public var kekID: UInt32
  /// Nonce ‖ ciphertext ‖ tag.
  public var sealed: [UInt8]

  /// Wraps `dataKey` under `kek` (whose id is `kekID`) for one record.
  public static func wrap(
    _ dataKey: SymmetricKey, kek: SymmetricKey, kekID: UInt32, binding: RecordBinding
  ) -> WrappedDataKey {
    let associatedData = binding.dataKeyAssociatedData(kekID: kekID)
    let sealed = dataKey.withUnsafeBytes { key in
      associatedData.withUnsafeBytes {
        XChaCha20Poly1305.seal(key, key: kek, associatedData: $0)
      }
    }
    return WrappedDataKey(kekID: kekID, sealed: sealed)
  }

  public init(kekID: UInt32, sealed: [UInt8]) {
    self.kekID = kekID
    self.sealed = sealed
  }

  /// The data key, if `kek` (the key with id ``kekID``) wrapped it for this record.
  ///
  /// - Throws: `.authenticationFailed` otherwise.
  public func unwrap(kek: SymmetricKey, binding: RecordBinding) throws(VaultError)
    -> SymmetricKey
  {
    var key = try XChaCha20Poly1305.open(
      sealed, key: kek, associatedData: binding.dataKeyAssociatedData(kekID: kekID))
    defer { SecretBytes.wipe(&key) }
    return try SymmetricKey(copying: key)
  }

  public func encode() -> [UInt8] {
    var writer = ByteWriter(capacity: Self.byteCount)
    writer.write(kekID)
    writer.write(sealed)
    return writer.bytes
  }

  /// - Throws: `.corrupt` for bytes of the wrong length.
  public init(decoding bytes: [UInt8]) throws(VaultError) {
    guard bytes.count == Self.byteCount else {
      throw VaultError(
        .corrupt, "a wrapped data key is \(bytes.count) bytes, not \(Self.byteCount)")
    }
    var reader = ByteReader(bytes, page: 0)
    kekID = try reader.readUInt32("key-encryption key id")
    sealed = Array(bytes[4...])
  }
}

/// What a sealed record is bound to: the vault, the collection and the record id.
public struct RecordBinding: Sendable, Hashable {
  public var vaultID: [UInt8]
  public var collection: String
  public var recordID: [UInt8]

  public init(vaultID: [UInt8], collection: String, recordID: [UInt8]) {
    self.vaultID = vaultID
    self.collection = collection
    self.recordID = recordID
  }

  /// `label ‖ vaultID ‖ middle ‖ u16 length ‖ collection ‖ u16 length ‖ record id ‖
  /// trailer`, built in one allocation (it is made for every record sealed or opened).
  private func associatedData(
    label: StaticString, middle: UInt32?, trailer: (UInt64, UInt64, UInt8)?
  )
    -> [UInt8]
  {
    var name = collection
    return name.withUTF8 { nameBytes in
      let count =
        label.utf8CodeUnitCount + vaultID.count + (middle == nil ? 0 : 4) + 2 + nameBytes.count
        + 2 + recordID.count + (trailer == nil ? 0 : 17)
      return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        var writer = RawWriter(UnsafeMutableRawBufferPointer(buffer))
        writer.write(UnsafeRawBufferPointer(start: label.utf8Start, count: label.utf8CodeUnitCount))
        vaultID.withUnsafeBytes { writer.write($0) }
        if let middle { writer.write(middle) }
        writer.write(UInt16(truncatingIfNeeded: nameBytes.count))
        writer.write(UnsafeRawBufferPointer(nameBytes))
        writer.write(UInt16(truncatingIfNeeded: recordID.count))
        recordID.withUnsafeBytes { writer.write($0) }
        if let (version, reference, flags) = trailer {
          writer.write(version)
          writer.write(reference)
          writer.write(flags)
        }
        initialized = count
      }
    }
  }

  func dataKeyAssociatedData(kekID: UInt32) -> [UInt8] {
    associatedData(label: "SV-DEK", middle: kekID, trailer: nil)
  }

  package func recordAssociatedData(version: UInt64, keyReference: UInt64, flags: UInt8)
    -> [UInt8]
  {
    associatedData(label: "SV-REC", middle: nil, trailer: (version, keyReference, flags))
  }
}

/// A record body as stored: compressed when that pays, then sealed under the record's
/// own data key.
///
/// Layout (little-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | format: 1 |
/// | 1 | 1 | flags: bit 0, the plaintext is zstd-compressed |
/// | 2 | 8 | version: grows with every write of the record |
/// | 10 | 8 | key reference: where the record's wrapped data key is (``DataKeyEntry``) |
/// | 18 | 24 | nonce |
/// | 42 | n | ciphertext |
/// | 42 + n | 16 | tag |
///
/// Associated data: `"SV-REC" ‖ vaultID ‖ u16 length ‖ collection ‖ u16 length ‖
/// record id ‖ version (u64) ‖ key reference (u64) ‖ flags`: a sealed body moved to
/// another record, collection, version or vault fails to open.
public struct SealedRecord: Sendable, Equatable {
  public static let format: UInt8 = 1
  public static let compressedFlag: UInt8 = 0x01
  /// Bodies at least this long are tried with zstd; the compressed form is kept when
  /// it saves at least an eighth.
  public static let compressionThreshold = 512
  static let headerLength = 18

  public var flags: UInt8
  public var version: UInt64
  public var keyReference: UInt64
  /// Nonce ‖ ciphertext ‖ tag.
  public var sealed: [UInt8]

  /// Seals `body` (compressing it first when that pays).
  public static func seal(
    _ body: [UInt8], version: UInt64, keyReference: UInt64, dataKey: SymmetricKey,
    binding: RecordBinding
  ) -> SealedRecord {
    var flags: UInt8 = 0
    var plaintext = body
    if body.count >= compressionThreshold, let compressed = try? Zstd.compress(body),
      compressed.count + compressed.count / 7 < body.count
    {
      plaintext = compressed
      flags |= compressedFlag
    }
    let sealed = XChaCha20Poly1305.seal(
      plaintext, key: dataKey,
      associatedData: binding.recordAssociatedData(
        version: version, keyReference: keyReference, flags: flags))
    return SealedRecord(flags: flags, version: version, keyReference: keyReference, sealed: sealed)
  }

  public init(flags: UInt8, version: UInt64, keyReference: UInt64, sealed: [UInt8]) {
    self.flags = flags
    self.version = version
    self.keyReference = keyReference
    self.sealed = sealed
  }

  /// The body, if `dataKey` sealed it for this record.
  ///
  /// - Parameter maximumSize: the most a decompressed body may hold (a forged length
  ///   must not make us allocate it).
  /// - Throws: `.authenticationFailed`; `.corrupt` for a body that does not decompress.
  public func open(dataKey: SymmetricKey, binding: RecordBinding, maximumSize: Int = 1 << 30)
    throws(VaultError) -> [UInt8]
  {
    let plaintext = try XChaCha20Poly1305.open(
      sealed, key: dataKey,
      associatedData: binding.recordAssociatedData(
        version: version, keyReference: keyReference, flags: flags))
    guard flags & Self.compressedFlag != 0 else { return plaintext }
    return try Zstd.decompress(plaintext, maximumSize: maximumSize)
  }

  public func encode() -> [UInt8] {
    var writer = ByteWriter(capacity: Self.headerLength + sealed.count)
    writer.write(Self.format)
    writer.write(flags)
    writer.write(version)
    writer.write(keyReference)
    writer.write(sealed)
    return writer.bytes
  }

  /// The key reference of an encoded record, without decoding the rest.
  public static func keyReference(of bytes: [UInt8]) throws(VaultError) -> UInt64 {
    var reader = ByteReader(bytes, from: 10, page: 0)
    return try reader.readUInt64("key reference")
  }

  /// - Throws: `.corrupt` for an unknown format, unknown flags or a truncated seal.
  public init(decoding bytes: [UInt8]) throws(VaultError) {
    var reader = ByteReader(bytes, page: 0)
    let format = try reader.readUInt8("record format")
    guard format == Self.format else {
      throw VaultError(.corrupt, "unknown sealed record format \(format)")
    }
    flags = try reader.readUInt8("record flags")
    guard flags & ~Self.compressedFlag == 0 else {
      throw VaultError(.corrupt, "unknown sealed record flags \(flags)")
    }
    version = try reader.readUInt64("record version")
    keyReference = try reader.readUInt64("key reference")
    guard bytes.count >= Self.headerLength + XChaCha20Poly1305.overhead else {
      throw VaultError(.corrupt, "sealed record is shorter than its nonce and tag")
    }
    sealed = Array(bytes[Self.headerLength...])
  }
}

/// One entry of a collection's data-key tree: the wrapped key and the record it
/// belongs to. The tree's key is the record's key reference (u64 big-endian), handed
/// out in increasing order, so new records append at the tree's right edge instead of
/// touching a random page each.
///
/// Layout: ``WrappedDataKey`` (76 bytes) ‖ record id.
public struct DataKeyEntry: Sendable, Equatable {
  public var wrapped: WrappedDataKey
  public var recordID: [UInt8]

  public init(wrapped: WrappedDataKey, recordID: [UInt8]) {
    self.wrapped = wrapped
    self.recordID = recordID
  }

  /// The tree key of reference `reference`.
  public static func key(_ reference: UInt64) -> [UInt8] {
    withUnsafeBytes(of: reference.bigEndian) { Array($0) }
  }

  public func encode() -> [UInt8] { wrapped.encode() + recordID }

  /// - Throws: `.corrupt` for an entry too short to hold a wrapped key.
  public init(decoding bytes: [UInt8]) throws(VaultError) {
    guard bytes.count >= WrappedDataKey.byteCount else {
      throw VaultError(.corrupt, "a data-key entry is \(bytes.count) bytes, too short")
    }
    wrapped = try WrappedDataKey(decoding: Array(bytes[..<WrappedDataKey.byteCount]))
    recordID = Array(bytes[WrappedDataKey.byteCount...])
  }

  /// The KEK id of an encoded entry, without decoding the rest.
  public static func kekID(of bytes: ArraySlice<UInt8>) throws(VaultError) -> UInt32 {
    guard bytes.count >= WrappedDataKey.byteCount else {
      throw VaultError(.corrupt, "a data-key entry is \(bytes.count) bytes, too short")
    }
    let start = bytes.startIndex
    return bytes[start..<start + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
  }

  /// An encoded entry with its key re-wrapped from `oldKEK` to `newKEK` (id `newID`),
  /// built with as few allocations as the cryptography allows: rotation does this for
  /// every record of the vault. The data key passes through guarded memory only.
  ///
  /// - Throws: `.authenticationFailed` when `oldKEK` does not open the key for this
  ///   record; `.corrupt` for a malformed entry.
  public static func rewrapped(
    _ bytes: ArraySlice<UInt8>, from oldKEK: SymmetricKey, to newKEK: SymmetricKey,
    newID: UInt32, vaultID: [UInt8], collection: String
  ) throws(VaultError) -> [UInt8] {
    let oldID = try kekID(of: bytes)
    let start = bytes.startIndex
    let recordID = Array(bytes[(start + WrappedDataKey.byteCount)...])
    let binding = RecordBinding(vaultID: vaultID, collection: collection, recordID: recordID)
    let nonceStart = start + 4
    let cipherStart = nonceStart + XChaCha20Poly1305.nonceByteCount
    let tagStart = cipherStart + SymmetricKey.byteCount
    var opened = true
    let dataKey = SecretBytes(count: SymmetricKey.byteCount) { key in
      bytes.withUnsafeBytes { entry in
        let base = entry.baseAddress!
        key.copyMemory(
          from: UnsafeRawBufferPointer(start: base + (cipherStart - start), count: key.count))
        opened = binding.dataKeyAssociatedData(kekID: oldID).withUnsafeBytes { ad in
          XChaCha20Poly1305.openInPlace(
            key,
            tag: UnsafeRawBufferPointer(
              start: base + (tagStart - start), count: XChaCha20Poly1305.tagByteCount),
            nonce: UnsafeRawBufferPointer(
              start: base + (nonceStart - start), count: XChaCha20Poly1305.nonceByteCount),
            key: oldKEK, associatedData: ad)
        }
      }
    }
    guard opened else {
      throw VaultError(.authenticationFailed, "sealed value failed authentication")
    }
    let associatedData = binding.dataKeyAssociatedData(kekID: newID)
    return [UInt8](unsafeUninitializedCapacity: bytes.count) { output, initialized in
      let raw = UnsafeMutableRawBufferPointer(output)
      raw.storeBytes(of: newID.littleEndian, toByteOffset: 0, as: UInt32.self)
      let nonce = UnsafeMutableRawBufferPointer(
        rebasing: raw[4..<4 + XChaCha20Poly1305.nonceByteCount])
      SecureRandom.fill(nonce)
      let cipher = 4 + XChaCha20Poly1305.nonceByteCount
      let text = UnsafeMutableRawBufferPointer(
        rebasing: raw[cipher..<cipher + SymmetricKey.byteCount])
      dataKey.withUnsafeBytes { text.copyMemory(from: $0) }
      let tagOffset = cipher + SymmetricKey.byteCount
      associatedData.withUnsafeBytes { ad in
        XChaCha20Poly1305.sealInPlace(
          text,
          tag: UnsafeMutableRawBufferPointer(
            rebasing: raw[tagOffset..<tagOffset + XChaCha20Poly1305.tagByteCount]),
          nonce: UnsafeRawBufferPointer(nonce), key: newKEK, associatedData: ad)
      }
      recordID.withUnsafeBytes {
        UnsafeMutableRawBufferPointer(rebasing: raw[WrappedDataKey.byteCount...]).copyMemory(
          from: $0)
      }
      initialized = bytes.count
    }
  }
}
