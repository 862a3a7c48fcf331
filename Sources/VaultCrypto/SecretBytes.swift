internal import CSodium
import VaultCore

/// Bytes that must stay secret (passphrases, keys), kept in memory that libsodium
/// guards: allocated with `sodium_malloc` (guard pages, never swapped where the system
/// allows locking), wiped when released, and never printed.
///
/// The bytes cannot be read back as an array: callers borrow them for the length of a
/// closure, so copies do not spread through the heap.
// SAFETY: the buffer is written only during init; afterwards it is read-only, and
// sodium_free runs once, in deinit, when no other reference exists.
public final class SecretBytes: @unchecked Sendable, CustomStringConvertible,
  CustomDebugStringConvertible
{
  private let base: UnsafeMutableRawPointer
  /// The number of secret bytes.
  public let count: Int

  /// Guarded memory of `count` bytes, filled by `initialize`.
  public init(count: Int, initialize: (UnsafeMutableRawBufferPointer) -> Void) {
    ensureSodium()
    // sodium_malloc(0) may return NULL; keep at least one byte so `base` is valid.
    guard let memory = sodium_malloc(max(count, 1)) else {
      // Out of memory for a few bytes of key material: nothing sensible can continue.
      fatalError("sodium_malloc failed for \(count) bytes")
    }
    base = memory
    self.count = count
    initialize(UnsafeMutableRawBufferPointer(start: base, count: count))
  }

  /// A guarded copy of `bytes`.
  public convenience init(copying bytes: UnsafeRawBufferPointer) {
    self.init(count: bytes.count) { $0.copyMemory(from: bytes) }
  }

  /// A guarded copy of `bytes`. The caller should wipe its own copy (``wipe(_:)``).
  public convenience init(copying bytes: [UInt8]) {
    self.init(count: bytes.count) { out in bytes.withUnsafeBytes { out.copyMemory(from: $0) } }
  }

  /// A guarded copy of the UTF-8 bytes of `text` (a passphrase).
  public convenience init(utf8 text: String) {
    var text = text
    self.init(count: text.utf8.count) { out in
      text.withUTF8 { out.copyMemory(from: UnsafeRawBufferPointer($0)) }
    }
  }

  /// `count` random bytes.
  public static func random(count: Int) -> SecretBytes {
    SecretBytes(count: count) { out in
      if let address = out.baseAddress { randombytes_buf(address, out.count) }
    }
  }

  deinit { sodium_free(base) }

  /// Lends the bytes to `body`; they must not escape it.
  public func withUnsafeBytes<R, E: Error>(
    _ body: (UnsafeRawBufferPointer) throws(E) -> R
  ) throws(E) -> R {
    try body(UnsafeRawBufferPointer(start: base, count: count))
  }

  /// Whether `other` holds the same bytes, compared in constant time.
  public func isEqual(to other: SecretBytes) -> Bool {
    guard count == other.count else { return false }
    return sodium_memcmp(base, other.base, count) == 0
  }

  public var description: String { "SecretBytes(\(count) bytes, redacted)" }
  public var debugDescription: String { description }

  /// Overwrites `bytes` with zeros in a way the compiler cannot optimize away.
  public static func wipe(_ bytes: inout [UInt8]) {
    ensureSodium()
    bytes.withUnsafeMutableBytes { raw in
      if let address = raw.baseAddress { sodium_memzero(address, raw.count) }
    }
  }
}
