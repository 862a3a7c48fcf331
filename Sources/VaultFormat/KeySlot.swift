import VaultCore
import VaultCrypto

/// The key slot of the file header: how to turn a credential into the vault's master
/// key. The master key is random; the slot holds it wrapped (XChaCha20-Poly1305) under
/// a key derived from the credential, so changing the passphrase rewrites only this.
///
/// Layout (104 bytes, little-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | method: 1 passphrase (Argon2id), 2 raw 32-byte key |
/// | 1 | 1 | algorithm: 2 (Argon2id v1.3) for method 1, 0 for method 2 |
/// | 2 | 2 | reserved, zero |
/// | 4 | 4 | Argon2id passes (`opslimit`), 0 for method 2 |
/// | 8 | 8 | Argon2id memory in bytes (`memlimit`), 0 for method 2 |
/// | 16 | 16 | salt (random) |
/// | 32 | 24 | nonce of the wrap |
/// | 56 | 48 | the master key sealed: 32 bytes of ciphertext, then the 16-byte tag |
///
/// The wrapping key is Argon2id(passphrase, salt, passes, memory) for method 1 and
/// BLAKE2b-256 keyed with the raw key over the salt for method 2. The associated data
/// of the wrap is the vault id followed by slot bytes 0 ..< 32, so no parameter can be
/// changed without the unwrap failing.
public struct KeySlot: Sendable, Equatable {
  public enum Method: UInt8, Sendable {
    case passphrase = 1
    case rawKey = 2
  }

  public var method: Method
  /// Argon2id parameters (method 1 only).
  public var parameters: PasswordKDF.Parameters?
  public var salt: [UInt8]
  /// Nonce ‖ ciphertext ‖ tag of the master key.
  public var wrappedMasterKey: [UInt8]

  public static let byteCount = 104
  static let parametersLength = 32

  public init(
    method: Method, parameters: PasswordKDF.Parameters?, salt: [UInt8], wrappedMasterKey: [UInt8]
  ) {
    self.method = method
    self.parameters = parameters
    self.salt = salt
    self.wrappedMasterKey = wrappedMasterKey
  }

  /// A slot holding `masterKey` under `credential`, with a fresh salt and nonce.
  /// Runs the key derivation once (seconds for the `sensitive` level).
  ///
  /// - Throws: `.invalidArgument` for parameters outside the accepted range,
  ///   `.outOfMemory`.
  public static func wrapping(
    _ masterKey: SymmetricKey, under credential: VaultCredential,
    parameters: PasswordKDF.Parameters, vaultID: [UInt8]
  ) throws(VaultError) -> KeySlot {
    if case .passphrase = credential {
      do throws(VaultError) {
        try parameters.validate()
      } catch {
        throw VaultError(.invalidArgument, error.message)
      }
    }
    var slot = KeySlot(
      method: .rawKey, parameters: nil, salt: SecureRandom.bytes(PasswordKDF.saltByteCount),
      wrappedMasterKey: [])
    if case .passphrase = credential {
      slot.method = .passphrase
      slot.parameters = parameters
    }
    let wrappingKey = try slot.wrappingKey(credential)
    let associatedData = vaultID + slot.encodeParameters()
    slot.wrappedMasterKey = masterKey.withUnsafeBytes { key in
      associatedData.withUnsafeBytes {
        XChaCha20Poly1305.seal(key, key: wrappingKey, associatedData: $0)
      }
    }
    return slot
  }

  /// The master key, if `credential` unlocks this slot.
  ///
  /// - Throws: `.wrongPassphrase` when it does not (or the slot was altered);
  ///   `.invalidArgument` when the credential is of the other kind (a passphrase for a
  ///   raw-key vault or the reverse); `.corrupt` for parameters outside the accepted
  ///   range, refused before any memory is allocated.
  public func unlock(with credential: VaultCredential, vaultID: [UInt8]) throws(VaultError)
    -> SymmetricKey
  {
    let wrappingKey = try wrappingKey(credential)
    do throws(VaultError) {
      var master = try XChaCha20Poly1305.open(
        wrappedMasterKey, key: wrappingKey, associatedData: vaultID + encodeParameters())
      // Wipe this array itself (a copy would leave the original buffer behind).
      defer { SecretBytes.wipe(&master) }
      return try SymmetricKey(copying: master)
    } catch {
      throw VaultError(
        .wrongPassphrase,
        method == .passphrase
          ? "the passphrase does not unlock this vault" : "the key does not unlock this vault")
    }
  }

  private func wrappingKey(_ credential: VaultCredential) throws(VaultError) -> SymmetricKey {
    switch (method, credential) {
    case (.passphrase, .passphrase(let text)):
      guard let parameters else { throw VaultError(.corrupt, "key slot lacks its parameters") }
      return try PasswordKDF.deriveKey(from: text, salt: salt, parameters: parameters)
    case (.rawKey, .rawKey(let key)):
      return key.keyedHash(salt)
    case (.passphrase, .rawKey):
      throw VaultError(
        .invalidArgument, "this vault opens with a passphrase, not a raw key")
    case (.rawKey, .passphrase):
      throw VaultError(
        .invalidArgument, "this vault opens with a raw key from the application, not a passphrase")
    }
  }

  /// Slot bytes 0 ..< 32: method, algorithm, parameters, salt.
  func encodeParameters() -> [UInt8] {
    var writer = ByteWriter(capacity: Self.parametersLength)
    writer.write(method.rawValue)
    writer.write(method == .passphrase ? PasswordKDF.argon2id13 : UInt8(0))
    writer.write(UInt16(0))
    writer.write(UInt32(truncatingIfNeeded: parameters?.opsLimit ?? 0))
    writer.write(parameters?.memLimitBytes ?? 0)
    writer.write(salt)
    return writer.bytes
  }

  /// The slot's bytes, for the header.
  public func encode() -> [UInt8] { encodeParameters() + wrappedMasterKey }

  /// Decodes a slot from header bytes. Parameters are checked against the accepted
  /// range here, before anything derives a key from them.
  ///
  /// - Throws: `.corrupt` naming what is wrong (an empty slot included: every vault
  ///   has one), `.unsupportedVersion` for an unknown method or algorithm.
  public init(decoding bytes: [UInt8]) throws(VaultError) {
    guard !bytes.isEmpty else {
      throw VaultError(.corrupt, "the vault header holds no key slot")
    }
    guard bytes.count == Self.byteCount else {
      throw VaultError(.corrupt, "key slot is \(bytes.count) bytes, expected \(Self.byteCount)")
    }
    var reader = ByteReader(bytes, page: 0)
    let rawMethod = try reader.readUInt8("key slot method")
    guard let method = Method(rawValue: rawMethod) else {
      throw VaultError(.unsupportedVersion, "unknown key slot method \(rawMethod)")
    }
    self.method = method
    let algorithm = try reader.readUInt8("key derivation algorithm")
    // One encoding per slot: the reserved bytes are zero (they are bound into the wrap's
    // associated data anyway, so a changed one would fail to unlock).
    guard try reader.readUInt16("reserved") == 0 else {
      throw VaultError(.corrupt, "the key slot's reserved bytes are not zero")
    }
    let ops = UInt64(try reader.readUInt32("key derivation passes"))
    let memory = try reader.readUInt64("key derivation memory")
    switch method {
    case .passphrase:
      guard algorithm == PasswordKDF.argon2id13 else {
        throw VaultError(.unsupportedVersion, "unknown key derivation algorithm \(algorithm)")
      }
      let parameters = PasswordKDF.Parameters(opsLimit: ops, memLimitBytes: memory)
      try parameters.validate()
      self.parameters = parameters
    case .rawKey:
      guard algorithm == 0, ops == 0, memory == 0 else {
        throw VaultError(.corrupt, "a raw-key slot carries key derivation parameters")
      }
      parameters = nil
    }
    salt = try reader.readBytes(PasswordKDF.saltByteCount, "salt")
    wrappedMasterKey = try reader.readBytes(
      SymmetricKey.byteCount + XChaCha20Poly1305.overhead, "wrapped master key")
  }
}
