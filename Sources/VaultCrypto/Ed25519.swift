internal import CSodium
import VaultCore

/// Ed25519 signatures (RFC 8032, libsodium `crypto_sign`): what signs the audit log's
/// checkpoints, so anyone holding the public key can check them without the vault's key.
public enum Ed25519 {
  public static let seedByteCount = 32
  public static let publicKeyByteCount = 32
  public static let signatureByteCount = 64

  /// A signing key, kept in guarded memory, made from a 32-byte seed (deterministic:
  /// the same seed gives the same key pair, as the vault derives it from its master key).
  public struct SigningKey: Sendable {
    private let secret: SecretBytes
    public let publicKey: [UInt8]

    /// - Throws: `.invalidArgument` for a seed that is not 32 bytes.
    public init(seed: SecretBytes) throws(VaultError) {
      guard seed.count == Ed25519.seedByteCount else {
        throw VaultError(.invalidArgument, "an Ed25519 seed is \(Ed25519.seedByteCount) bytes")
      }
      ensureSodium()
      var publicKey = [UInt8](repeating: 0, count: Ed25519.publicKeyByteCount)
      secret = SecretBytes(count: Int(crypto_sign_SECRETKEYBYTES)) { out in
        seed.withUnsafeBytes { seedBytes in
          _ = crypto_sign_seed_keypair(
            &publicKey, out.baseAddress!.assumingMemoryBound(to: UInt8.self),
            seedBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
      }
      self.publicKey = publicKey
    }

    /// The 64-byte signature of `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
      var signature = [UInt8](repeating: 0, count: Ed25519.signatureByteCount)
      // SecretBytes always has an address, even when empty.
      secret.withUnsafeBytes { key in
        _ = crypto_sign_detached(
          &signature, nil, message, UInt64(message.count),
          key.baseAddress!.assumingMemoryBound(to: UInt8.self))
      }
      return signature
    }
  }

  /// Whether `signature` is `publicKey`'s signature of `message`. Malformed keys and
  /// signatures are simply invalid.
  public static func isValid(signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
    guard signature.count == signatureByteCount, publicKey.count == publicKeyByteCount else {
      return false
    }
    ensureSodium()
    return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
  }
}
