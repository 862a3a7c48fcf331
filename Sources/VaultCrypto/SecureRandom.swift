internal import CSodium

/// Random bytes from the operating system's cryptographic generator (libsodium's
/// `randombytes_buf`), for identifiers, nonces and keys.
public enum SecureRandom {
  /// `count` random bytes.
  public static func bytes(_ count: Int) -> [UInt8] {
    ensureSodium()
    var result = [UInt8](repeating: 0, count: count)
    result.withUnsafeMutableBytes { buffer in
      if let base = buffer.baseAddress { randombytes_buf(base, buffer.count) }
    }
    return result
  }

  /// A random 64-bit value.
  public static func uint64() -> UInt64 {
    ensureSodium()
    var value: UInt64 = 0
    withUnsafeMutableBytes(of: &value) { randombytes_buf($0.baseAddress!, 8) }
    return value
  }
}
