internal import CSodium
import VaultCore

/// Bytes that must stay secret (passphrases, keys), kept in memory that libsodium
/// guards: allocated with `sodium_malloc` (guard pages, never swapped where the system
/// allows locking), wiped when released, and never printed.
///
/// The bytes cannot be read back as an array: callers borrow them for the length of a
/// closure, so copies do not spread through the heap.
///
/// Thread safety: the buffer is written only during init, then read-only; it is
/// released once, in deinit, when no other reference exists.
// SAFETY: immutable after init (see above); released only in deinit.
public final class SecretBytes: @unchecked Sendable, CustomStringConvertible,
  CustomDebugStringConvertible
{
  private let base: UnsafeMutableRawPointer
  /// Whether `base` is a slot of ``SecretSlab`` (small secrets) rather than its own
  /// `sodium_malloc` allocation.
  private let isSlot: Bool
  /// The number of secret bytes.
  public let count: Int

  /// Guarded memory of `count` bytes, filled by `initialize`.
  public init(count: Int, initialize: (UnsafeMutableRawBufferPointer) -> Void) {
    ensureSodium()
    if count <= SecretSlab.slotSize {
      // Keys are made and dropped per record: a sodium_malloc each (mmap, mprotect,
      // mlock) would cost more than the cryptography. Small secrets share slabs.
      base = SecretSlab.shared.allocate()
      isSlot = true
    } else {
      guard let memory = sodium_malloc(count) else {
        // Out of memory for key material: nothing sensible can continue.
        fatalError("sodium_malloc failed for \(count) bytes")
      }
      base = memory
      isSlot = false
    }
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
      SecureRandom.fill(out)
    }
  }

  deinit {
    if isSlot {
      SecretSlab.shared.release(base)
    } else {
      sodium_free(base)
    }
  }

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

/// Guarded memory for small secrets: slots of ``slotSize`` bytes carved from
/// `sodium_malloc`ed slabs (locked in memory, guard pages around each slab), handed out
/// and taken back under a mutex. A released slot is wiped before it is reused.
final class SecretSlab: Sendable {
  static let slotSize = 64
  static let slabSize = 16_384
  static let shared = SecretSlab()

  /// Addresses as integers, so the state is plain Sendable data.
  private struct State {
    var free: [UInt] = []
  }
  private let state = Locked(State())

  func allocate() -> UnsafeMutableRawPointer {
    let address = state.withLock { state -> UInt in
      if state.free.isEmpty {
        guard let slab = sodium_malloc(Self.slabSize) else {
          fatalError("sodium_malloc failed for a slab of secrets")
        }
        let start = UInt(bitPattern: slab)
        for index in stride(from: Self.slabSize / Self.slotSize - 1, through: 0, by: -1) {
          state.free.append(start + UInt(index * Self.slotSize))
        }
      }
      return state.free.removeLast()
    }
    // Slabs are never freed, so the address stays valid.
    return UnsafeMutableRawPointer(bitPattern: address)!
  }

  func release(_ pointer: UnsafeMutableRawPointer) {
    sodium_memzero(pointer, Self.slotSize)
    state.withLock { $0.free.append(UInt(bitPattern: pointer)) }
  }
}
