internal import CSHA256
internal import CSodium

/// SHA-256 (FIPS 180-4), for digests others must be able to check with common tools:
/// integrity receipts, the audit log's Merkle tree, test-vector manifests.
///
/// On processors with the x86 SHA extensions the digest is computed with them (CSHA256,
/// about 3.5 times libsodium's portable C here); elsewhere with libsodium.
public enum SHA256 {
  /// Whether this process computes SHA-256 with the processor's SHA extensions.
  public static let isAccelerated = csha256_is_accelerated() != 0

  /// The 32-byte digest of `bytes`.
  public static func hash(_ bytes: [UInt8]) -> [UInt8] {
    var context = SHA256Context()
    bytes.withUnsafeBytes { context.update($0) }
    return context.finalize()
  }

  /// The digest of `domain` followed by `first` and `second`, without concatenating
  /// them first: the Merkle tree's leaf and node hashes, one per audit entry, are hot.
  public static func hash(
    domain: UInt8, _ first: UnsafeRawBufferPointer,
    _ second: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
  ) -> [UInt8] {
    var context = SHA256Context()
    withUnsafeBytes(of: domain) { context.update($0) }
    context.update(first)
    context.update(second)
    return context.finalize()
  }

  /// The digest computed by libsodium whatever the processor: what the tests compare
  /// the accelerated digest with.
  package static func portableHash(_ bytes: [UInt8]) -> [UInt8] {
    var context = SHA256Context(accelerated: false)
    bytes.withUnsafeBytes { context.update($0) }
    return context.finalize()
  }
}

/// A SHA-256 computation in progress, on the SHA extensions or in libsodium.
struct SHA256Context {
  private let accelerated: Bool
  private var extensions = csha256_context()
  private var portable = crypto_hash_sha256_state()

  init(accelerated: Bool = SHA256.isAccelerated) {
    self.accelerated = accelerated
    if accelerated {
      csha256_init(&extensions)
    } else {
      ensureSodium()
      _ = crypto_hash_sha256_init(&portable)
    }
  }

  mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0
    else { return }
    if accelerated {
      csha256_update(&extensions, base, bytes.count)
    } else {
      _ = crypto_hash_sha256_update(&portable, base, UInt64(bytes.count))
    }
  }

  /// The 32-byte digest. The context must not be used afterwards.
  mutating func finalize() -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    if accelerated {
      csha256_final(&extensions, &digest)
    } else {
      _ = crypto_hash_sha256_final(&portable, &digest)
    }
    return digest
  }
}
