internal import CSodium
import VaultCore

/// A 128-bit BLAKE2b digest used to detect torn, stale, misdirected and rotten pages.
///
/// It is an unkeyed hash: anyone, without the vault key, can verify it. It protects
/// against accidents, not against an attacker who can rewrite the file; page sealing
/// (an authenticated cipher under the vault key) is what stops forgery.
///
/// On disk a checksum is its 16 digest bytes in BLAKE2b output order.
public struct Checksum: Hashable, Sendable, CustomStringConvertible {
  /// Digest bytes 0..<8, read little-endian.
  public var low: UInt64
  /// Digest bytes 8..<16, read little-endian.
  public var high: UInt64

  /// The number of bytes a checksum occupies on disk.
  public static let byteCount = 16

  /// The all-zero value, used on disk to mean "no checksum" next to a null page link.
  public static let zero = Checksum(low: 0, high: 0)

  public init(low: UInt64, high: UInt64) {
    self.low = low
    self.high = high
  }

  /// The BLAKE2b-128 digest of `bytes`.
  public init(of bytes: UnsafeRawBufferPointer) {
    ensureSodium()
    var digest = (UInt64(0), UInt64(0))
    withUnsafeMutableBytes(of: &digest) { out in
      _ = crypto_generichash(
        out.baseAddress!.assumingMemoryBound(to: UInt8.self), 16,
        bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count),
        nil, 0)
    }
    self.low = UInt64(littleEndian: digest.0)
    self.high = UInt64(littleEndian: digest.1)
  }

  /// The BLAKE2b-128 digest of `first` followed by `second`.
  public init(of first: UnsafeRawBufferPointer, then second: UnsafeRawBufferPointer) {
    ensureSodium()
    // The state is 64-byte aligned in C, so Swift sees it as opaque: give it raw memory.
    let state = UnsafeMutableRawPointer.allocate(
      byteCount: crypto_generichash_statebytes(), alignment: 64)
    defer { state.deallocate() }
    let opaque = OpaquePointer(state)
    var digest = (UInt64(0), UInt64(0))
    crypto_generichash_init(opaque, nil, 0, 16)
    for part in [first, second] where part.count > 0 {
      crypto_generichash_update(
        opaque, part.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(part.count))
    }
    withUnsafeMutableBytes(of: &digest) { out in
      _ = crypto_generichash_final(opaque, out.baseAddress!.assumingMemoryBound(to: UInt8.self), 16)
    }
    self.low = UInt64(littleEndian: digest.0)
    self.high = UInt64(littleEndian: digest.1)
  }

  /// The BLAKE2b-128 digest of `bytes`.
  public init(of bytes: [UInt8]) {
    self = bytes.withUnsafeBytes { Checksum(of: $0) }
  }

  /// The 16 digest bytes, in the order they are stored on disk.
  public var bytes: [UInt8] {
    var result = [UInt8]()
    result.reserveCapacity(16)
    withUnsafeBytes(of: low.littleEndian) { result.append(contentsOf: $0) }
    withUnsafeBytes(of: high.littleEndian) { result.append(contentsOf: $0) }
    return result
  }

  /// The digest as 32 lowercase hex digits, in on-disk byte order.
  public var description: String {
    bytes.map { byte in
      let digits = Array("0123456789abcdef")
      return String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0x0F)])
    }.joined()
  }
}
