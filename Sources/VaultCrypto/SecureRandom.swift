internal import CSodium
import Glibc
import Synchronization
import VaultCore

/// Random bytes for identifiers, nonces and keys.
///
/// A ChaCha20 generator with fast key erasure (the design of OpenBSD's arc4random and
/// libsodium's internal generator): its key comes from the operating system
/// (`randombytes_buf`, i.e. `getrandom`), it produces a block of keystream at a time,
/// and the first 32 bytes of every block become the next key, so earlier output
/// cannot be recomputed from a later state. Records need several random values each
/// (a data key, nonces); a system call for each would cost more than the cryptography.
/// The state lives in guarded memory and is reseeded from the system after `fork`, so
/// a child never repeats its parent's output. (Detected with a `pthread_atfork` handler:
/// a child made by a raw `clone` system call, which runs no handler, would repeat it;
/// such a child must not use the engine.)
public enum SecureRandom {
  /// `count` random bytes.
  public static func bytes(_ count: Int) -> [UInt8] {
    var result = [UInt8](repeating: 0, count: count)
    result.withUnsafeMutableBytes { fill($0) }
    return result
  }

  /// A random 64-bit value.
  public static func uint64() -> UInt64 {
    var value: UInt64 = 0
    withUnsafeMutableBytes(of: &value) { fill($0) }
    return value
  }

  /// Fills `buffer` with random bytes.
  public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    guard buffer.count > 0 else { return }
    if buffer.count > Generator.blockSize / 2 {
      // Large requests (rare) go to the system directly.
      ensureSodium()
      randombytes_buf(buffer.baseAddress!, buffer.count)
      return
    }
    Generator.shared.fill(buffer)
  }

  /// The generator's state: key, unused keystream, and the process it belongs to.
  final class Generator: Sendable {
    static let shared = Generator()
    static let blockSize = 1024
    static let keySize = 32

    private struct State {
      /// Guarded memory: the key (32 bytes), then a block of keystream.
      var memory: UInt
      /// Bytes of the block already handed out (the key's 32 included).
      var used: Int
      /// ``forks`` when the key was last drawn from the system.
      var forksSeen: UInt64
    }
    /// Bumped in every child process right after `fork` (a `pthread_atfork` handler):
    /// cheaper than asking for the process id at every call, which is a system call.
    static let forks = Atomic<UInt64>(0)
    private let state: Locked<State>

    private init() {
      ensureSodium()
      guard let memory = sodium_malloc(Self.keySize + Self.blockSize) else {
        fatalError("sodium_malloc failed for the random generator")
      }
      randombytes_buf(memory, Self.keySize)
      // The state is locked across a fork (so a child never inherits the lock held by
      // another thread), and a child knows it must draw a new key.
      pthread_atfork(
        { Generator.shared.state.lockBeforeFork() },
        { Generator.shared.state.unlockAfterFork() },
        {
          Generator.shared.state.unlockAfterFork()
          Generator.forks.add(1, ordering: .relaxed)
        })
      state = Locked(
        State(
          memory: UInt(bitPattern: memory), used: Self.blockSize,
          forksSeen: Self.forks.load(ordering: .relaxed)))
    }

    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
      state.withLock { state in
        let base = UnsafeMutableRawPointer(bitPattern: state.memory)!
        let key = base
        let block = base + Self.keySize
        let forks = Self.forks.load(ordering: .relaxed)
        if forks != state.forksSeen {
          // A forked child: never continue the parent's sequence.
          randombytes_buf(key, Self.keySize)
          state.used = Self.blockSize
          state.forksSeen = forks
        }
        var written = 0
        while written < buffer.count {
          if state.used == Self.blockSize {
            // Refill: a block of ChaCha20 keystream; its first 32 bytes are the next key.
            let nonce = [UInt8](repeating: 0, count: Int(crypto_stream_chacha20_ietf_NONCEBYTES))
            nonce.withUnsafeBufferPointer {
              _ = crypto_stream_chacha20_ietf(
                block.assumingMemoryBound(to: UInt8.self), UInt64(Self.blockSize),
                $0.baseAddress!, key.assumingMemoryBound(to: UInt8.self))
            }
            key.copyMemory(from: block, byteCount: Self.keySize)
            sodium_memzero(block, Self.keySize)
            state.used = Self.keySize
          }
          let take = min(buffer.count - written, Self.blockSize - state.used)
          (buffer.baseAddress! + written).copyMemory(from: block + state.used, byteCount: take)
          // Output handed out is erased from the state.
          sodium_memzero(block + state.used, take)
          state.used += take
          written += take
        }
      }
    }
  }
}
