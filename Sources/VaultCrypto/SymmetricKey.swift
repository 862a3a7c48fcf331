internal import CSodium
import VaultCore

/// A 256-bit secret key in guarded memory (see ``SecretBytes``).
///
/// Keys of the vault's hierarchy are derived from one another with ``derive(_:)``
/// (libsodium `crypto_kdf`, BLAKE2b-based), so a key used for one purpose says nothing
/// about a key used for another.
public struct SymmetricKey: Sendable, CustomStringConvertible {
  /// The number of bytes of a key.
  public static let byteCount = 32

  /// The key bytes.
  public let secret: SecretBytes

  /// A fresh random key.
  public static func random() -> SymmetricKey {
    SymmetricKey(unchecked: SecretBytes.random(count: byteCount))
  }

  /// A key made of `secret`, which must hold exactly 32 bytes.
  ///
  /// - Throws: `.invalidArgument` for any other length.
  public init(_ secret: SecretBytes) throws(VaultError) {
    guard secret.count == Self.byteCount else {
      throw VaultError(
        .invalidArgument, "a key must be \(Self.byteCount) bytes, not \(secret.count)")
    }
    self.secret = secret
  }

  private init(unchecked secret: SecretBytes) { self.secret = secret }

  /// A key copied from 32 bytes (in tests and key files); the caller wipes its copy.
  public init(copying bytes: [UInt8]) throws(VaultError) {
    try self.init(SecretBytes(copying: bytes))
  }

  /// Lends the key bytes to `body`.
  public func withUnsafeBytes<R, E: Error>(
    _ body: (UnsafeRawBufferPointer) throws(E) -> R
  ) throws(E) -> R {
    try secret.withUnsafeBytes(body)
  }

  /// The purposes a key is derived for. Each is a `crypto_kdf` subkey id under the
  /// context ``KeyPurpose/context``; the numbers are part of the file format.
  public struct KeyPurpose: Sendable, Hashable {
    /// The `crypto_kdf` subkey id.
    public let id: UInt64
    public init(id: UInt64) { self.id = id }

    /// The 8-byte `crypto_kdf` context of every StudioVault derivation.
    public static let context: [UInt8] = Array("SVault01".utf8)
    /// Seals page contents.
    public static let pageSealing = KeyPurpose(id: 1)
    /// Wraps the key-encryption keys stored in the keyring.
    public static let keyring = KeyPurpose(id: 2)
    /// Blinds index keys, so that equal values are findable without being readable.
    public static let indexBlinding = KeyPurpose(id: 3)
    /// Seeds the audit log's signing key pair.
    public static let auditSigning = KeyPurpose(id: 4)
    /// Keys the content addresses of upload blobs.
    public static let blobAddressing = KeyPurpose(id: 5)
    /// Seals the events of audit entries.
    public static let auditEntries = KeyPurpose(id: 6)
  }

  /// The subkey of this key for `purpose`.
  public func derive(_ purpose: KeyPurpose) -> SymmetricKey {
    let derived = SecretBytes(count: Self.byteCount) { out in
      secret.withUnsafeBytes { master in
        KeyPurpose.context.withUnsafeBytes { context in
          _ = crypto_kdf_derive_from_key(
            out.baseAddress!.assumingMemoryBound(to: UInt8.self), Self.byteCount, purpose.id,
            context.baseAddress!.assumingMemoryBound(to: CChar.self),
            master.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
      }
    }
    return SymmetricKey(unchecked: derived)
  }

  public var description: String { "SymmetricKey(redacted)" }
}

extension SymmetricKey {
  /// BLAKE2b keyed with this key over `message`, `byteCount` (16 to 64) bytes long: a
  /// tag that only the key holder can compute, not a secret key.
  public func keyedHash(_ message: [UInt8], byteCount: Int) -> [UInt8] {
    precondition((16...64).contains(byteCount), "a keyed hash is 16 to 64 bytes")
    var output = [UInt8](repeating: 0, count: byteCount)
    output.withUnsafeMutableBytes { keyedHash(message, into: $0) }
    return output
  }

  /// BLAKE2b-256 keyed with this key over `message`: a key bound to `message` (for
  /// example a salt), for a caller-held raw key that must not be used directly.
  public func keyedHash(_ message: [UInt8]) -> SymmetricKey {
    let derived = SecretBytes(count: Self.byteCount) { keyedHash(message, into: $0) }
    // Exactly 32 bytes by construction.
    return (try? SymmetricKey(derived)) ?? SymmetricKey.random()
  }

  /// BLAKE2b keyed with this key over `message`, as long as `output`.
  private func keyedHash(_ message: [UInt8], into output: UnsafeMutableRawBufferPointer) {
    secret.withUnsafeBytes { key in
      message.withUnsafeBytes { input in
        _ = crypto_generichash(
          output.baseAddress!.assumingMemoryBound(to: UInt8.self), output.count,
          input.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(input.count),
          key.baseAddress!.assumingMemoryBound(to: UInt8.self), Self.byteCount)
      }
    }
  }
}

/// What unlocks a vault: a passphrase (stretched with Argon2id) or a raw 256-bit key
/// the application keeps in its own keychain.
public enum VaultCredential: Sendable, CustomStringConvertible {
  case passphrase(SecretBytes)
  case rawKey(SymmetricKey)

  /// A passphrase credential from a string (copied into guarded memory).
  public static func passphrase(_ text: String) -> VaultCredential {
    .passphrase(SecretBytes(utf8: text))
  }

  public var description: String {
    switch self {
    case .passphrase: "VaultCredential.passphrase(redacted)"
    case .rawKey: "VaultCredential.rawKey(redacted)"
    }
  }
}
