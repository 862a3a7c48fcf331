import Glibc
import Synchronization
import VaultCore
import VaultCrypto

/// The lock file beside a vault (`PATH-lock`): how processes sharing a vault coordinate.
///
/// It holds, in shared memory (`mmap`):
/// - the newest durable commit (transaction id and meta page checksum), published by the
///   writer after its `fdatasync`, so readers only ever see durable states;
/// - a reader table: one slot per open store, holding the oldest transaction any of its
///   snapshots still reads, so a writer never reuses a page that a reader, in any
///   process, can still reach.
///
/// Locks are Linux open-file-description locks (`F_OFD_SETLK`), released by the kernel
/// when a process dies: a crashed process never leaves the vault locked, and its reader
/// slot is recognized as stale. Lock bytes (not file content):
/// - byte 0: held shared by every open store; held exclusive by the first opener while
///   it recovers the vault and resets the table;
/// - byte 1: the writer lock;
/// - byte `slotsOffset + 16 × i`: ownership of reader slot `i`.
///
/// The file's content is not needed for correctness after a reboot: it only lets the
/// first opener skip re-verifying a commit it can prove was durable.
///
/// Thread safety: `descriptor`, `memory` and `slot` never change after init. The mapped
/// memory is shared with other processes and touched only through `Atomic` loads and
/// stores (the durable-commit fields and reader slots) or, for the magic and vault id,
/// only while this process holds the exclusive lock on byte 0.
// SAFETY: immutable fields; shared memory only via Atomic, or under the exclusive lock.
package final class LockFile: @unchecked Sendable {

  static let magic: [UInt8] = Array("SVLOCK01".utf8)
  static let slotCount = 1024
  static let slotsOffset = 4096
  static let slotSize = 16
  static let fileSize = slotsOffset + slotCount * slotSize

  static let livenessByte = 0
  static let writerByte = 1

  private enum Field {
    static let magic = 0
    static let vaultID = 8
    static let durableTransaction = 24
    static let durableChecksumLow = 32
    static let durableChecksumHigh = 40
    /// One past the highest reader slot ever claimed: writers scan only that far.
    static let slotHighWater = 48
  }

  let descriptor: Int32
  let path: String
  private let memory: UnsafeMutableRawPointer
  /// The reader slot this store owns.
  let slot: Int
  /// Whether this store was the first to open the vault and must recover it before
  /// calling ``finishInitialization()``.
  let isFirstOpener: Bool

  /// Opens or creates the lock file of `vaultPath` and claims a reader slot.
  init(vaultPath: String, vaultID: [UInt8]) throws(VaultError) {
    let path = vaultPath + "-lock"
    let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw PosixFile.openError(path: path, errno: errno) }
    var ok = false
    defer { if !ok { Glibc.close(fd) } }

    // Byte 0 exclusive succeeds only when no other store has the vault open.
    let first = try LockFile.lock(fd, byte: LockFile.livenessByte, exclusive: true, wait: false)
    if !first {
      // Someone has it open, or is initializing it: wait for a shared lock.
      _ = try LockFile.lock(fd, byte: LockFile.livenessByte, exclusive: false, wait: true)
    }
    if first {
      var info = stat()
      guard fstat(fd, &info) == 0 else { throw PosixFile.ioError("fstat \(path)", errno: errno) }
      if Int(info.st_size) != LockFile.fileSize {
        guard ftruncate(fd, 0) == 0, ftruncate(fd, off_t(LockFile.fileSize)) == 0 else {
          throw PosixFile.ioError("cannot size lock file \(path)", errno: errno)
        }
      }
    }
    guard
      let mapped = mmap(nil, LockFile.fileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
      mapped != MAP_FAILED
    else {
      throw PosixFile.ioError("cannot map lock file \(path)", errno: errno)
    }
    var mappedOK = false
    defer { if !mappedOK { munmap(mapped, LockFile.fileSize) } }

    let header = UnsafeMutableRawBufferPointer(start: mapped, count: 24)
    let matches =
      Array(header[Field.magic..<Field.magic + 8]) == LockFile.magic
      && Array(header[Field.vaultID..<Field.vaultID + 16]) == vaultID
    if first {
      if !matches {
        // A new vault, or a lock file of another vault that once had this path:
        // forget everything it claims.
        memset(mapped, 0, LockFile.fileSize)
        header.copyBytes(from: LockFile.magic)
        UnsafeMutableRawBufferPointer(rebasing: header[Field.vaultID..<Field.vaultID + 16])
          .copyBytes(from: vaultID)
      }
      // Every reader that filled the table is gone.
      memset(mapped + LockFile.slotsOffset, 0, LockFile.slotCount * LockFile.slotSize)
    } else if !matches {
      throw VaultError(
        .locked,
        "lock file \(path) belongs to another vault that is still open; close it first")
    }

    // Claim the first reader slot no live store owns.
    var claimed: Int?
    for index in 0..<LockFile.slotCount {
      let byte = LockFile.slotsOffset + index * LockFile.slotSize
      if try LockFile.lock(fd, byte: byte, exclusive: true, wait: false) {
        claimed = index
        break
      }
    }
    guard let claimed else {
      throw VaultError(
        .tooManyReaders, "all \(LockFile.slotCount) reader slots of \(path) are in use")
    }
    self.descriptor = fd
    self.path = path
    self.memory = mapped
    self.slot = claimed
    self.isFirstOpener = first
    let highWater = (mapped + Field.slotHighWater).assumingMemoryBound(to: Atomic<UInt64>.self)
    var seen = highWater.pointee.load(ordering: .relaxed)
    while seen < UInt64(claimed + 1) {
      let (exchanged, original) = highWater.pointee.compareExchange(
        expected: seen, desired: UInt64(claimed + 1), ordering: .sequentiallyConsistent)
      if exchanged { break }
      seen = original
    }
    let slotBase = mapped + LockFile.slotsOffset + claimed * LockFile.slotSize
    slotBase.bindMemory(to: Atomic<UInt64>.self, capacity: 2)[0].store(
      0, ordering: .sequentiallyConsistent)
    slotBase.bindMemory(to: Atomic<UInt64>.self, capacity: 2)[1].store(
      UInt64(getpid()), ordering: .relaxed)
    ok = true
    mappedOK = true
  }

  deinit {
    munmap(memory, LockFile.fileSize)
    Glibc.close(descriptor)  // releases every OFD lock this store holds
  }

  /// Ends the first opener's exclusive phase: other stores may now open the vault.
  func finishInitialization() throws(VaultError) {
    guard isFirstOpener else { return }
    // Converting the exclusive lock to shared is atomic: no one can slip in between.
    _ = try LockFile.lock(descriptor, byte: LockFile.livenessByte, exclusive: false, wait: true)
  }

  // MARK: Durable commit

  private func atomicWord(at offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
    (memory + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
  }

  /// The newest commit known to be durable, 0 when none was published.
  var durableTransaction: TransactionID {
    TransactionID(atomicWord(at: Field.durableTransaction).pointee.load(ordering: .acquiring))
  }

  /// The checksum of the durable commit's meta page.
  var durableChecksum: Checksum {
    Checksum(
      low: atomicWord(at: Field.durableChecksumLow).pointee.load(ordering: .acquiring),
      high: atomicWord(at: Field.durableChecksumHigh).pointee.load(ordering: .acquiring))
  }

  /// Publishes a commit after its `fdatasync` succeeded.
  ///
  /// The checksum is stored before the id: a crash between the two leaves an id that
  /// does not match its checksum, and the next first opener simply re-verifies.
  func publishDurable(_ transaction: TransactionID, metaChecksum: Checksum) {
    atomicWord(at: Field.durableChecksumLow).pointee.store(
      metaChecksum.low, ordering: .sequentiallyConsistent)
    atomicWord(at: Field.durableChecksumHigh).pointee.store(
      metaChecksum.high, ordering: .sequentiallyConsistent)
    atomicWord(at: Field.durableTransaction).pointee.store(
      transaction.rawValue, ordering: .sequentiallyConsistent)
  }

  // MARK: Reader table

  private func slotWord(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
    atomicWord(at: LockFile.slotsOffset + index * LockFile.slotSize)
  }

  /// Records the oldest transaction this store's snapshots read (0: none), then makes
  /// sure the store becomes visible to writers before the caller re-reads the durable
  /// transaction (the reader's half of a Dekker handshake; the writer's half is
  /// ``oldestReader(newest:)`` after ``publishDurable(_:metaChecksum:)``).
  func setReaderSlot(_ transaction: TransactionID?) {
    slotWord(slot).pointee.store(transaction?.rawValue ?? 0, ordering: .sequentiallyConsistent)
    atomicMemoryFence(ordering: .sequentiallyConsistent)
  }

  /// The oldest transaction any live reader still reads, or `newest` when no reader
  /// reads an older one. Slots left by dead processes are ignored.
  func oldestReader(newest: TransactionID) -> TransactionID {
    atomicMemoryFence(ordering: .sequentiallyConsistent)
    var oldest = newest
    let used = Int(
      min(
        atomicWord(at: Field.slotHighWater).pointee.load(ordering: .acquiring),
        UInt64(LockFile.slotCount)))
    for index in 0..<used {
      let value = slotWord(index).pointee.load(ordering: .sequentiallyConsistent)
      guard value != 0, value < oldest.rawValue else { continue }
      // A value only holds pages back while its owner lives.
      if index != slot && !isSlotOwned(index) { continue }
      oldest = TransactionID(value)
    }
    return oldest
  }

  private func isSlotOwned(_ index: Int) -> Bool {
    var request = flock()
    request.l_type = Int16(F_WRLCK)
    request.l_whence = Int16(SEEK_SET)
    request.l_start = off_t(LockFile.slotsOffset + index * LockFile.slotSize)
    request.l_len = 1
    guard fcntl(descriptor, LockFile.ofdGetLock, &request) == 0 else {
      return true  // when in doubt, keep the pages
    }
    return request.l_type != Int16(F_UNLCK)
  }

  // MARK: Writer lock

  /// Takes the writer lock, waiting up to `timeout` seconds.
  ///
  /// - Throws: `.locked` when another writer holds it for longer.
  func lockWriter(timeout: Double) throws(VaultError) {
    var delay: UInt32 = 500
    let deadline = monotonicSeconds() + max(0, timeout)
    while true {
      if try LockFile.lock(descriptor, byte: LockFile.writerByte, exclusive: true, wait: false) {
        return
      }
      if monotonicSeconds() >= deadline {
        throw VaultError(
          .locked,
          "another process is writing this vault; gave up after \(timeout) s"
            + " (wait longer with --wait SECONDS)")
      }
      usleep(delay)
      delay = min(delay * 2, 20_000)
    }
  }

  func unlockWriter() {
    var request = flock()
    request.l_type = Int16(F_UNLCK)
    request.l_whence = Int16(SEEK_SET)
    request.l_start = off_t(LockFile.writerByte)
    request.l_len = 1
    _ = fcntl(descriptor, LockFile.ofdSetLock, &request)
  }

  // MARK: fcntl

  // F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW: Linux values, which Glibc exposes only under
  // _GNU_SOURCE.
  static let ofdGetLock: Int32 = 36
  static let ofdSetLock: Int32 = 37
  static let ofdSetLockWait: Int32 = 38

  /// Locks one byte. Returns false when `wait` is false and another holder conflicts.
  static func lock(_ fd: Int32, byte: Int, exclusive: Bool, wait: Bool) throws(VaultError) -> Bool {
    var request = flock()
    request.l_type = Int16(exclusive ? F_WRLCK : F_RDLCK)
    request.l_whence = Int16(SEEK_SET)
    request.l_start = off_t(byte)
    request.l_len = 1
    while fcntl(fd, wait ? ofdSetLockWait : ofdSetLock, &request) != 0 {
      switch errno {
      case EINTR: continue
      case EAGAIN, EACCES: return false
      default: throw PosixFile.ioError("cannot lock the lock file", errno: errno)
      }
    }
    return true
  }
}

/// Seconds on a clock that never jumps.
func monotonicSeconds() -> Double {
  var now = timespec()
  clock_gettime(CLOCK_MONOTONIC, &now)
  return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
