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
