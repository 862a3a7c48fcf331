internal import CSodium

/// SHA-256 (FIPS 180-4), for digests others must be able to check with common tools:
/// integrity receipts, test-vector manifests.
public enum SHA256 {
  /// The 32-byte digest of `bytes`.
  public static func hash(_ bytes: [UInt8]) -> [UInt8] {
    ensureSodium()
    var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
    digest.withUnsafeMutableBufferPointer { out in
      bytes.withUnsafeBufferPointer { input in
        _ = crypto_hash_sha256(out.baseAddress!, input.baseAddress, UInt64(input.count))
      }
    }
    return digest
  }
}

extension SHA256 {
  /// The digest of `domain` followed by `first` and `second`, without concatenating
  /// them first: the Merkle tree's leaf and node hashes, one per audit entry, are hot.
  public static func hash(
    domain: UInt8, _ first: UnsafeRawBufferPointer,
    _ second: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
  ) -> [UInt8] {
    ensureSodium()
    var state = crypto_hash_sha256_state()
    var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
    _ = crypto_hash_sha256_init(&state)
    var prefix = domain
    _ = crypto_hash_sha256_update(&state, &prefix, 1)
    for part in [first, second] where part.count > 0 {
      _ = crypto_hash_sha256_update(
        &state, part.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(part.count))
    }
    _ = crypto_hash_sha256_final(&state, &digest)
    return digest
  }
}
