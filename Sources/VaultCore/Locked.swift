import Glibc

/// A value guarded by a lock: the engine's one lock type.
///
/// It wraps a `pthread_mutex_t` rather than `Synchronization.Mutex`: the thread
/// sanitizer understands pthread locks, while Mutex's futex waits are invisible to it,
/// so every blocked wait showed up as a false "access race" and hid real ones.
/// The mutex itself is heap-allocated once and never moved or copied.
// SAFETY: `value` is read and written only inside `withLock`, under `mutex`.
public final class Locked<Value>: @unchecked Sendable {
  /// Allocated once, never moved (a pthread mutex must stay where it was initialized).
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private var value: Value

  public init(_ value: Value) {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
    self.value = value
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deinitialize(count: 1)
    mutex.deallocate()
  }

  /// Takes the lock before `fork`, for a `pthread_atfork` prepare handler: the child
  /// then never inherits it held by a thread it does not have.
  public func lockBeforeFork() { pthread_mutex_lock(mutex) }

  /// Releases what ``lockBeforeFork()`` took, in the parent and in the child.
  public func unlockAfterFork() { pthread_mutex_unlock(mutex) }

  /// Runs `body` with the value, holding the lock.
  public func withLock<Result, Failure: Error>(
    _ body: (inout Value) throws(Failure) -> Result
  ) throws(Failure) -> Result {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body(&value)
  }
}
