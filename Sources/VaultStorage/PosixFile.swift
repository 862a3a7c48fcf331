import Glibc
import VaultCore
import VaultFormat

/// A vault file opened with POSIX calls: `pread`, `pwritev`, `fdatasync`.
package final class PosixFile: FileIO {
  // Positioned calls (pread, pwritev) keep no file offset, so threads may share the
  // descriptor freely.
  package let descriptor: Int32
  package let path: String

  /// Opens an existing file.
  package init(openingExisting path: String, readOnly: Bool) throws(VaultError) {
    let flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC
    let fd = Glibc.open(path, flags)
    guard fd >= 0 else { throw PosixFile.openError(path: path, errno: errno) }
    self.descriptor = fd
    self.path = path
  }

  /// Creates a new file that must not exist yet, readable and writable by the owner only.
  package init(creatingNew path: String) throws(VaultError) {
    let fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      // A missing directory is no missing input: the file to be made cannot be.
      guard errno != ENOENT else {
        throw VaultError(.io, "cannot create \(path): no such directory", errno: ENOENT)
      }
      throw PosixFile.openError(path: path, errno: errno)
    }
    self.descriptor = fd
    self.path = path
  }

  deinit { Glibc.close(descriptor) }

  package static func openError(path: String, errno code: Int32) -> VaultError {
    switch code {
    case ENOENT: VaultError(.notFound, "no such file: \(path)", errno: code)
    case EEXIST: VaultError(.alreadyExists, "file already exists: \(path)", errno: code)
    case EACCES, EPERM, EROFS:
      VaultError(.permissionDenied, "permission denied: \(path)", errno: code)
    case EISDIR: VaultError(.invalidArgument, "\(path) is a directory", errno: code)
    default: VaultError(.io, "cannot open \(path): \(String(cString: strerror(code)))", errno: code)
    }
  }

  /// Offsets come from page numbers a file may forge: keep them where `off_t` holds them.
  private static func checkRange(_ offset: UInt64, _ count: Int) throws(VaultError) {
    guard offset <= FileFormat.maximumFileSize, count >= 0,
      UInt64(count) <= FileFormat.maximumFileSize - offset
    else {
      throw VaultError(.invalidArgument, "offset \(offset) lies beyond the largest vault file")
    }
  }

  static func ioError(_ what: String, errno code: Int32) -> VaultError {
    if code == ENOSPC || code == EDQUOT {
      return VaultError(.noSpace, "\(what): no space left on device", errno: code)
    }
    return VaultError(.io, "\(what): \(String(cString: strerror(code)))", errno: code)
  }

  package func read(at offset: UInt64, count: Int) throws(VaultError) -> [UInt8] {
    try PosixFile.checkRange(offset, count)
    var buffer = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
      let result = buffer.withUnsafeMutableBytes { raw in
        pread(descriptor, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
      }
      if result < 0 {
        if errno == EINTR { continue }
        throw PosixFile.ioError("read at offset \(offset) failed", errno: errno)
      }
      if result == 0 { break }
      done += result
    }
    if done < count { buffer.removeSubrange(done...) }
    return buffer
  }

  package func write(_ buffers: [[UInt8]], at offset: UInt64) throws(VaultError) {
    try PosixFile.checkRange(offset, buffers.reduce(0) { $0 + $1.count })
    var position = offset
    var index = 0
    while index < buffers.count {
      // At most IOV_MAX (1024) buffers per call.
      let batch = Array(buffers[index..<min(index + 1024, buffers.count)])
      try writeBatch(batch, at: position)
      for buffer in batch { position += UInt64(buffer.count) }
      index += batch.count
    }
  }

  private func writeBatch(_ buffers: [[UInt8]], at offset: UInt64) throws(VaultError) {
    let total = buffers.reduce(0) { $0 + $1.count }
    var written = 0
    while written < total {
      // Rebuild the iovec list from the first unwritten byte (short writes are rare).
      var skip = written
      var pieces = [(array: Int, start: Int)]()
      for (i, buffer) in buffers.enumerated() {
        if skip >= buffer.count {
          skip -= buffer.count
          continue
        }
        pieces.append((i, skip))
        skip = 0
      }
      let result = withIOVecs(buffers, pieces) { iov, count in
        pwritev(descriptor, iov, Int32(count), off_t(offset) + off_t(written))
      }
      if result < 0 {
        if errno == EINTR { continue }
        throw PosixFile.ioError("write at offset \(offset + UInt64(written)) failed", errno: errno)
      }
      if result == 0 {
        throw VaultError(.io, "write at offset \(offset) made no progress")
      }
      written += result
    }
  }

  private func withIOVecs(
    _ buffers: [[UInt8]], _ pieces: [(array: Int, start: Int)],
    _ body: (UnsafePointer<iovec>, Int) -> Int
  ) -> Int {
    // Pin every buffer's storage for the duration of the call.
    func pin(_ index: Int, _ vecs: inout [iovec]) -> Int {
      if index == pieces.count {
        return vecs.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
      }
      let piece = pieces[index]
      return buffers[piece.array].withUnsafeBytes { raw in
        vecs.append(
          iovec(
            iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + piece.start),
            iov_len: raw.count - piece.start))
        return pin(index + 1, &vecs)
      }
    }
    var vecs = [iovec]()
    vecs.reserveCapacity(pieces.count)
    return pin(0, &vecs)
  }

  package func sync() throws(VaultError) {
    while fdatasync(descriptor) != 0 {
      if errno == EINTR { continue }
      throw PosixFile.ioError("fdatasync failed", errno: errno)
    }
  }

  /// `fsync`, which also flushes metadata such as the file's size: used after creation.
  package func fullSync() throws(VaultError) {
    while fsync(descriptor) != 0 {
      if errno == EINTR { continue }
      throw PosixFile.ioError("fsync failed", errno: errno)
    }
  }

  package func size() throws(VaultError) -> UInt64 {
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
      throw PosixFile.ioError("fstat failed", errno: errno)
    }
    return UInt64(info.st_size)
  }

  /// Makes the file exactly `bytes` long: cut, or extended with zeros (a hole where the
  /// file system supports them, so unwritten pages cost no space).
  package func setSize(_ bytes: UInt64) throws(VaultError) {
    try PosixFile.checkRange(bytes, 0)
    guard ftruncate(descriptor, off_t(bytes)) == 0 else {
      throw PosixFile.ioError("cannot size \(path)", errno: errno)
    }
  }

  /// Flushes a directory's entries, so that a file created or renamed in it survives a
  /// crash.
  package static func syncDirectory(of path: String) throws(VaultError) {
    let directory = parentDirectory(of: path)
    let fd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw openError(path: directory, errno: errno) }
    defer { Glibc.close(fd) }
    guard fsync(fd) == 0 else {
      throw ioError("fsync of directory \(directory) failed", errno: errno)
    }
  }

  package static func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    let parent = String(path[..<slash])
    return parent.isEmpty ? "/" : parent
  }
}
