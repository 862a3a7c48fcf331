import Foundation
import Glibc
@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto

/// W4's uploads: `count` uploads of `size` bytes, even ones incompressible (random),
/// odd ones text-like.
struct UploadSet {
  var size = 10 << 20
  var count = 100

  /// The bytes of upload `index`, deterministic.
  func content(_ index: Int) -> [UInt8] {
    var random = SplitMix(seed: 4000 + UInt64(index))
    if index % 2 == 0 { return randomBytes(size, &random) }
    let words = [
      "ceremony", "golden", "hour", "portrait", "album", "client", "venue", "first", "dance",
      "retouch", "gallery", "proof", "print", "canvas", "studio", "harbor", "downtown",
    ].map { Array($0.utf8) }
    var text = [UInt8]()
    text.reserveCapacity(size)
    while text.count < size {
      text += words[Int(random.next() % UInt64(words.count))]
      text.append(random.next() % 12 == 0 ? 10 : 32)
    }
    return Array(text.prefix(size))
  }

  var incompressible: [Int] { Array(stride(from: 0, to: count, by: 2)) }
  var all: [Int] { Array(0..<count) }
}

func randomBytes(_ count: Int, _ random: inout SplitMix) -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: count)
  bytes.withUnsafeMutableBytes { raw in
    var offset = 0
    while offset + 8 <= raw.count {
      raw.storeBytes(of: random.next(), toByteOffset: offset, as: UInt64.self)
      offset += 8
    }
    while offset < raw.count {
      raw[offset] = UInt8(truncatingIfNeeded: random.next())
      offset += 1
    }
  }
  return bytes
}

/// A vault with one project to upload into, and its owner's handle.
final class VaultUploads {
  let store: RecordStore
  let handle: VaultHandle
  let project: RecordID

  init(path: String) throws {
    let (store, owner) = try makeRecordStore(at: path)
    self.store = store
    handle = try ownerHandle(store)
    project = try store.write(actor: owner) { tx throws(VaultError) -> RecordID in
      var branch = Record(.branches)
      branch["name"] = .string("Downtown")
      let branchID = try tx.insert(branch, scope: .organization).id!
      var client = Record(.clients, branch: branchID)
      client["displayName"] = .string("Ana Lima")
      let clientID = try tx.insert(client, scope: .organization).id!
      var project = Record(.projects, branch: branchID)
      project["title"] = .string("Lima wedding")
      project["client"] = .bytes(clientID.bytes)
      return try tx.insert(project, scope: .organization).id!
    }
  }

  /// Stores `bytes`, written in pieces of 1 MiB as a file would be read.
  func upload(_ bytes: [UInt8]) throws -> UploadReceipt {
    let upload = try handle.beginUpload(into: project, fileName: "upload.bin", kind: nil)
    try bytes.withUnsafeBytes { raw in
      for start in stride(from: 0, to: raw.count, by: 1 << 20) {
        try upload.write(
          UnsafeRawBufferPointer(rebasing: raw[start..<min(raw.count, start + (1 << 20))]))
      }
    }
    return try upload.finish()
  }

  /// Reads blob `id` back whole, chunk by chunk; returns the bytes read.
  func read(_ id: RecordID, into checksum: inout ResultChecksum) throws -> Int {
    var total = 0
    let reader = try handle.openBlob(id)
    try reader.forEachChunk { chunk throws(VaultError) in
      total += chunk.count
      checksum.add(Array(chunk.prefix(64)))
    }
    return total
  }
}

/// The physical limits W4 is measured against: sealing with XChaCha20-Poly1305 in
/// 4 MiB chunks, `pwrite`, one `fdatasync` per upload; and `pread` then opening.
enum BareUploads {
  static let chunk = 4 << 20

  /// Bytes per second of the bare durable write pipeline over `uploads`.
  static func write(_ uploads: [[UInt8]], path: String) throws -> Double {
    let descriptor = try create(path)
    defer { close(descriptor) }
    var total = 0
    let seconds = try measure {
      total = try store(uploads, to: descriptor, key: SymmetricKey.random()).reduce(0, +)
    }
    return Double(total) / seconds
  }

  /// Bytes per second of reading back what ``write(_:path:)`` writes: `pread` of each
  /// sealed chunk, then opening it.
  static func read(_ uploads: [[UInt8]], path: String) throws -> Double {
    let descriptor = try create(path)
    defer { close(descriptor) }
    let key = SymmetricKey.random()
    let lengths = try store(uploads, to: descriptor, key: key)
    var total = 0
    let seconds = try measure {
      var position: off_t = 0
      for count in lengths {
        var sealed = [UInt8](repeating: 0, count: count + 40)
        let got = sealed.withUnsafeMutableBytes {
          pread(descriptor, $0.baseAddress!, count + 40, position)
        }
        guard got == count + 40 else { throw SQLiteError(description: "pread failed") }
        let opened = sealed.withUnsafeMutableBytes { raw in
          XChaCha20Poly1305.openInPlace(
            UnsafeMutableRawBufferPointer(rebasing: raw[24..<24 + count]),
            tag: UnsafeRawBufferPointer(rebasing: raw[(24 + count)...]),
            nonce: UnsafeRawBufferPointer(rebasing: raw[0..<24]), key: key,
            associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
        }
        guard opened else { throw SQLiteError(description: "a bare chunk failed to open") }
        position += off_t(count + 40)
        total += count
      }
    }
    return Double(total) / seconds
  }

  private static func create(_ path: String) throws -> Int32 {
    let descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
    guard descriptor >= 0 else { throw SQLiteError(description: "cannot create \(path)") }
    return descriptor
  }

  /// Seals `uploads` in chunks, writes them one after the other from offset 0, and syncs
  /// after each upload; returns each chunk's plaintext length.
  private static func store(_ uploads: [[UInt8]], to descriptor: Int32, key: SymmetricKey)
    throws -> [Int]
  {
    var buffer = [UInt8](repeating: 0, count: chunk + 40)
    var lengths = [Int]()
    var offset: off_t = 0
    for upload in uploads {
      for start in stride(from: 0, to: upload.count, by: chunk) {
        let count = min(chunk, upload.count - start)
        try seal(upload[start..<start + count], into: &buffer, key: key)
        let written = buffer.withUnsafeBytes {
          pwrite(descriptor, $0.baseAddress!, count + 40, offset)
        }
        guard written == count + 40 else { throw SQLiteError(description: "pwrite failed") }
        offset += off_t(written)
        lengths.append(count)
      }
      guard fdatasync(descriptor) == 0 else { throw SQLiteError(description: "fdatasync failed") }
    }
    return lengths
  }

  private static func seal(
    _ plaintext: ArraySlice<UInt8>, into buffer: inout [UInt8], key: SymmetricKey
  )
    throws
  {
    let count = plaintext.count
    let nonce = SecureRandom.bytes(24)
    buffer.withUnsafeMutableBytes { raw in
      raw.copyBytes(from: nonce)
      plaintext.withUnsafeBytes {
        UnsafeMutableRawBufferPointer(rebasing: raw[24..<24 + count]).copyMemory(from: $0)
      }
      XChaCha20Poly1305.sealInPlace(
        UnsafeMutableRawBufferPointer(rebasing: raw[24..<24 + count]),
        tag: UnsafeMutableRawBufferPointer(rebasing: raw[(24 + count)..<(40 + count)]),
        nonce: UnsafeRawBufferPointer(rebasing: raw[0..<24]), key: key,
        associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
    }
  }
}

/// W4's memory figure: the peak RSS of a child process storing one upload of `size`
/// bytes, streamed from a generator (the child never holds the upload), minus that of
/// the same child storing 1 byte: what the upload itself costs, the process's own
/// baseline excluded. The key derivations of creating the vault and logging in come
/// first and would hide everything under their own peak (64 MiB of Argon2id), so each
/// child resets its peak (`/proc/self/clear_refs`) once they are done, and reports the
/// peak of the upload alone (`VmHWM`).
enum UploadMemory {
  /// Runs in the child (`vault-bench --child-upload DIR SIZE`).
  static func child(directory: String, size: Int) throws {
    let path = directory + "/child-\(getpid()).db"
    defer { for suffix in ["", "-lock"] { unlink(path + suffix) } }
    let vault = try VaultUploads(path: path)
    resetPeak()
    let upload = try vault.handle.beginUpload(
      into: vault.project, fileName: "big.mov", kind: .video)
    var random = SplitMix(seed: 99)
    var piece = [UInt8](repeating: 0, count: 1 << 20)
    var remaining = size
    while remaining > 0 {
      let count = min(remaining, piece.count)
      piece = randomBytes(piece.count, &random)
      try piece.withUnsafeBytes { try upload.write(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
      remaining -= count
    }
    let receipt = try upload.finish()
    guard receipt.size == UInt64(size) else { exit(2) }
    try String(peakKilobytes()).write(
      toFile: directory + "/peak-\(size)", atomically: true, encoding: .utf8)
  }

  /// Resets the process's peak RSS to its current RSS (Linux 4.0 and later).
  static func resetPeak() {
    let descriptor = open("/proc/self/clear_refs", O_WRONLY)
    guard descriptor >= 0 else { return }
    _ = write(descriptor, "5", 1)
    close(descriptor)
  }

  /// `VmHWM` of /proc/self/status: the peak RSS since the last reset, in KiB.
  static func peakKilobytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
      return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
  }

  /// The peak RSS (bytes) of a child storing `size` bytes.
  static func peak(directory: String, size: Int) throws -> Double {
    var pid: pid_t = 0
    let arguments = [CommandLine.arguments[0], "--child-upload", directory, String(size)]
    var argv = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    guard posix_spawn(&pid, arguments[0], nil, nil, &argv, environ) == 0 else {
      throw SQLiteError(description: "cannot start the upload child")
    }
    var status: Int32 = 0
    guard waitpid(pid, &status, 0) == pid, status == 0 else {
      throw SQLiteError(description: "the upload child failed (status \(status))")
    }
    let report = directory + "/peak-\(size)"
    defer { unlink(report) }
    guard let text = try? String(contentsOfFile: report, encoding: .utf8),
      let kilobytes = Double(text)
    else { throw SQLiteError(description: "the upload child reported no peak") }
    return kilobytes * 1024
  }
}
