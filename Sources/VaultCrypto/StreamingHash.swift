/// The SHA-256 of a stream fed piece by piece: an upload, which never sits in memory
/// whole.
///
/// The hasher owns its state; one thread uses it at a time (an upload hands it to its
/// hashing worker and waits for the worker before touching it again).
// SAFETY: one thread at a time, handed over with a happens-before edge (a group wait).
public final class StreamingSHA256: @unchecked Sendable {
  private var context = SHA256Context()

  public init() {}

  public func update(_ bytes: UnsafeRawBufferPointer) { context.update(bytes) }

  /// The 32-byte digest. The hasher must not be used afterwards.
  public func finalize() -> [UInt8] { context.finalize() }
}
