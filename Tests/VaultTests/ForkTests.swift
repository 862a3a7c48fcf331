import Foundation
import Glibc
import Synchronization
import Testing
import VaultCrypto

/// The random generator across `fork`: a child forked while other threads draw random
/// bytes draws its own at once (it does not inherit the generator's lock held by a
/// thread it does not have), and never the parent's next bytes.
@Suite struct ForkTests {
  /// The thread sanitizer's own runtime is not fork-safe with other threads running: a
  /// child can hang inside it whatever the engine does, so this runs without it.
  static let underThreadSanitizer =
    dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

  @Test(.enabled(if: !underThreadSanitizer, "TSan's runtime is not fork-safe"))
  func aForkedChildDrawsItsOwnRandomBytes() throws {
    let stop = Atomic<Bool>(false)
    let draws = Atomic<Int>(0)
    // Draws back to back (small ones: large ones bypass the generator), so that its
    // lock is held much of the time.
    let drawer = Thread {
      while !stop.load(ordering: .relaxed) {
        for _ in 0..<1000 { _ = SecureRandom.bytes(512) }
        draws.add(1, ordering: .relaxed)
      }
    }
    drawer.start()
    defer { stop.store(true, ordering: .relaxed) }
    while draws.load(ordering: .relaxed) == 0 { usleep(100) }
    for round in 0..<40 {
      usleep(300)
      var fds: [Int32] = [0, 0]
      #expect(pipe(&fds) == 0)
      let child = fork()
      if child == 0 {
        var drawn = SecureRandom.bytes(16)
        _ = write(fds[1], &drawn, 16)
        _exit(0)
      }
      close(fds[1])
      defer { close(fds[0]) }
      // A deadlocked child never writes: five seconds is plenty.
      var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
      let ready = poll(&poller, 1, 5_000)
      if ready != 1 { kill(child, SIGKILL) }
      var status: Int32 = 0
      waitpid(child, &status, 0)
      #expect(ready == 1, "round \(round): the forked child hung drawing random bytes")
      var received = [UInt8](repeating: 0, count: 16)
      if ready == 1 { #expect(read(fds[0], &received, 16) == 16) }
    }
  }
}
