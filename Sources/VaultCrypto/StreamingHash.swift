internal import CSodium

/// Digests of a stream fed piece by piece: the SHA-256 and the keyed BLAKE2b of an
/// upload, which never sits in memory whole.
///
/// Each hasher owns its C state; one thread uses it at a time (an upload hands it to
/// its hashing worker and waits for the worker before touching it again).
// SAFETY: the state is touched by one thread at a time, handed over with a
// happens-before edge (a dispatch group's wait).
public final class StreamingSHA256: @unchecked Sendable {
  private var context = SHA256Context()

  public init() {}

  public func update(_ bytes: UnsafeRawBufferPointer) { context.update(bytes) }

  /// The 32-byte digest. The hasher must not be used afterwards.
  public func finalize() -> [UInt8] { context.finalize() }
}

/// BLAKE2b-256 keyed with a ``SymmetricKey``, over a stream: a content address only the
/// key holder can compute (so it reveals nothing to anyone who guesses the content).
// SAFETY: as for StreamingSHA256: one thread at a time; the state pointer is allocated
// once and freed only in deinit.
public final class StreamingKeyedHash: @unchecked Sendable {
  /// libsodium wants the state 64-byte aligned, which a Swift stored struct is not.
  private let state: UnsafeMutableRawPointer

  public init(key: SymmetricKey) {
    ensureSodium()
    state = UnsafeMutableRawPointer.allocate(
      byteCount: crypto_generichash_statebytes(), alignment: 64)
    key.secret.withUnsafeBytes { keyBytes in
      _ = crypto_generichash_init(
        OpaquePointer(state),
        keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), keyBytes.count, 32)
    }
  }

  deinit {
    // The state holds the key, mixed: wipe it before it goes back to the allocator.
    sodium_memzero(state, crypto_generichash_statebytes())
    state.deallocate()
  }

  public func update(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    _ = crypto_generichash_update(
      OpaquePointer(state),
      base.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
  }

  /// The 32-byte digest. The hasher must not be used afterwards.
  public func finalize() -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    _ = crypto_generichash_final(
      OpaquePointer(state), &digest, 32)
    return digest
  }
}
