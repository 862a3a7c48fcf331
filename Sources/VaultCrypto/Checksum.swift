internal import CSodium
import VaultCore

/// A 128-bit checksum used to detect torn, stale, misdirected and rotten pages: Poly1305
/// (RFC 8439) under a fixed, public key, ``publicKey``.
///
/// Anyone, without the vault key, can verify it: it protects against accidents, not
/// against an attacker who can rewrite the file; page sealing (an authenticated cipher
/// under the vault key) is what stops forgery. Poly1305 is a polynomial evaluated at a
/// point fixed by the key, which makes any accidental change (a bit flip, a torn or
/// stale sector, a page from elsewhere) collide with negligible probability, at a sixth
/// of the cost of a cryptographic hash such as BLAKE2b: it is computed over every page
/// written and read.
///
/// On disk a checksum is its 16 bytes in Poly1305 output order.
public struct Checksum: Hashable, Sendable, CustomStringConvertible {
  /// Bytes 0..<8, read little-endian.
  public var low: UInt64
  /// Bytes 8..<16, read little-endian.
  public var high: UInt64

  /// The number of bytes a checksum occupies on disk.
  public static let byteCount = 16

  /// The all-zero value, used on disk to mean "no checksum" next to a null page link.
  public static let zero = Checksum(low: 0, high: 0)

  /// The Poly1305 key of every checksum: the 32 ASCII bytes
  /// `StudioVault page checksum key v1`. Public on purpose: it is not a secret.
  public static let publicKey: [UInt8] = Array("StudioVault page checksum key v1".utf8)

  public init(low: UInt64, high: UInt64) {
    self.low = low
    self.high = high
  }

  /// The checksum of `bytes`.
  public init(of bytes: UnsafeRawBufferPointer) {
    self.init(of: bytes, then: UnsafeRawBufferPointer(start: nil, count: 0))
  }

  /// The checksum of `first` followed by `second`.
  public init(of first: UnsafeRawBufferPointer, then second: UnsafeRawBufferPointer) {
    ensureSodium()
    var tag = (UInt64(0), UInt64(0))
    // Every page written or read comes here: the state lives on the stack (16-byte
    // aligned, as C declares it).
    withUnsafeTemporaryAllocation(
      byteCount: crypto_onetimeauth_statebytes(), alignment: 16
    ) { raw in
      let state = raw.baseAddress!.bindMemory(to: crypto_onetimeauth_state.self, capacity: 1)
      Self.publicKey.withUnsafeBufferPointer { _ = crypto_onetimeauth_init(state, $0.baseAddress!) }
      func update(_ part: UnsafeRawBufferPointer) {
        guard part.count > 0 else { return }
        _ = crypto_onetimeauth_update(
          state, part.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(part.count))
      }
      update(first)
      update(second)
      withUnsafeMutableBytes(of: &tag) { out in
        _ = crypto_onetimeauth_final(state, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
      }
    }
    self.low = UInt64(littleEndian: tag.0)
    self.high = UInt64(littleEndian: tag.1)
  }

  /// The checksum of `bytes`.
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
  public var description: String { Hex.encode(bytes) }
}
