import VaultCore
import VaultCrypto

/// How long a blob must be kept (FORMAT.md 24.2).
public enum RetentionMode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
  /// No retention: a manager may delete the blob.
  case none = 0
  /// Kept until `retainUntil`; an owner with a step-up may delete it earlier (audited).
  case governance = 1
  /// Kept until `retainUntil`, by everyone: nobody deletes it or shortens its retention.
  case compliance = 2

  public var description: String {
    switch self {
    case .none: "none"
    case .governance: "governance"
    case .compliance: "compliance"
    }
  }

  public init?(name: String) {
    guard let mode = Self.allCases.first(where: { $0.description == name }) else { return nil }
    self = mode
  }
}

/// A retention rule: a mode and the time (milliseconds since the epoch) it runs to.
public struct Retention: Equatable, Sendable {
  public var mode: RetentionMode
  public var until: Int64

  public init(mode: RetentionMode, until: Int64) {
    self.mode = mode
    self.until = mode == .none ? 0 : until
  }

  public static let none = Retention(mode: .none, until: 0)

  /// Whether the rule still protects at `now`.
  public func protects(at now: Int64) -> Bool { mode != .none && now < until }

  /// Project retention, as stored under ``BlobKeys/projectRetention(_:)``: `u8 mode,
  /// i64 until`.
  public func encode() -> [UInt8] {
    var writer = ByteWriter(capacity: 9)
    writer.write(mode.rawValue)
    writer.write(until)
    return writer.bytes
  }

  public init(decoding bytes: [UInt8]) throws(VaultError) {
    var reader = ByteReader(bytes)
    let raw = try reader.readUInt8("retention mode")
    guard let mode = RetentionMode(rawValue: raw) else {
      throw reader.corrupt("unknown retention mode \(raw)")
    }
    let until = try reader.readInt64("retain until")
    guard reader.isAtEnd else { throw reader.corrupt("bytes after a retention rule") }
    self.init(mode: mode, until: until)
  }
}

/// What the vault knows of one blob, sealed under the blob's own key (FORMAT.md 24.2).
///
/// Stored value: `u8 version ‖ u8 state ‖ nonce (24) ‖ ciphertext ‖ tag (16)`, the
/// plaintext being the fields below in order, little-endian. Associated data:
/// `"SVblob-manifest" ‖ vaultID ‖ blobID ‖ u8 state`, then `u8 version` from version 2
/// on. Versions differ only in how the content address is computed.
public struct BlobManifest: Equatable, Sendable {
  public enum State: UInt8, Sendable {
    /// Chunks are being added; the blob is not visible.
    case uploading = 0
    /// The final chunk is sealed: the blob is visible and never changes again.
    case complete = 1
  }

  /// The version writers use: the content address is keyed BLAKE2b of the SHA-256.
  public static let currentVersion: UInt8 = 2
  /// Version 1: the content address is keyed BLAKE2b of the plaintext itself.
  public static let readableVersions: ClosedRange<UInt8> = 1...2
  public static let maximumNameLength = 255
  /// Chunk sizes a manifest may declare.
  public static let chunkSizes: ClosedRange<UInt32> = 65_536...4_194_304

  /// How ``contentAddress`` was computed (``readableVersions``); what was read, else
  /// ``currentVersion``.
  public var version: UInt8
  public var state: State
  /// The project (16-byte record id) whose blob this is, its branch, and who uploaded it.
  public var project: [UInt8]
  public var branch: [UInt8]
  public var uploader: [UInt8]
  /// Uploaded by a vendor into the project's inbox.
  public var isVendorUpload: Bool
  public var createdAt: Int64
  /// When a chunk was last committed (the upload's last sign of life; purging
  /// abandoned uploads goes by it).
  public var updatedAt: Int64
  /// Plaintext bytes per chunk; every chunk but the last holds exactly this many.
  public var chunkSize: UInt32
  /// The plaintext size and chunk count (0 while uploading).
  public var size: UInt64
  public var chunkCount: UInt64
  /// SHA-256 of the plaintext (for receipts) and the content address, keyed
  /// BLAKE2b-256 of that SHA-256 (of the plaintext in version 1); zero while uploading.
  public var sha256: [UInt8]
  public var contentAddress: [UInt8]
  public var retention: Retention
  /// A legal hold on the blob itself (a project's hold covers its blobs too).
  public var legalHold: Bool
  /// The media record that describes the blob (16 bytes; zero until complete).
  public var media: [UInt8]
  /// The file name given at upload (at most 255 bytes of UTF-8).
  public var name: String

  public init(
    project: [UInt8], branch: [UInt8], uploader: [UInt8], isVendorUpload: Bool,
    createdAt: Int64, chunkSize: UInt32, name: String
  ) {
    version = Self.currentVersion
    state = .uploading
    self.project = project
    self.branch = branch
    self.uploader = uploader
    self.isVendorUpload = isVendorUpload
    self.createdAt = createdAt
    updatedAt = createdAt
    self.chunkSize = chunkSize
    size = 0
    chunkCount = 0
    sha256 = [UInt8](repeating: 0, count: 32)
    contentAddress = [UInt8](repeating: 0, count: 32)
    retention = .none
    legalHold = false
    media = [UInt8](repeating: 0, count: 16)
    self.name = name
  }

  package static func associatedData(
    vaultID: [UInt8], blob: [UInt8], state: State, version: UInt8
  ) -> [UInt8] {
    Array("SVblob-manifest".utf8) + vaultID + blob + [state.rawValue]
      + (version >= 2 ? [version] : [])
  }

  /// The manifest sealed for storage under `key`.
  public func seal(blob: [UInt8], vaultID: [UInt8], key: SymmetricKey) -> [UInt8] {
    var writer = ByteWriter(capacity: 256)
    writer.write(project)
    writer.write(branch)
    writer.write(uploader)
    writer.write(isVendorUpload ? UInt8(1) : 0)
    writer.write(createdAt)
    writer.write(updatedAt)
    writer.write(chunkSize)
    writer.write(size)
    writer.write(chunkCount)
    writer.write(sha256)
    writer.write(contentAddress)
    writer.write(retention.mode.rawValue)
    writer.write(retention.until)
    writer.write(legalHold ? UInt8(1) : 0)
    writer.write(media)
    // At most 255 bytes, cut at a character's start: the name stays valid UTF-8.
    var nameBytes = Array(name.utf8)
    if nameBytes.count > Self.maximumNameLength {
      var end = Self.maximumNameLength
      while end > 0, nameBytes[end] & 0xC0 == 0x80 { end -= 1 }
      nameBytes.removeSubrange(end...)
    }
    writer.write(UInt16(nameBytes.count))
    writer.write(nameBytes)
    var plaintext = writer.bytes
    defer { SecretBytes.wipe(&plaintext) }
    let sealed = XChaCha20Poly1305.seal(
      plaintext, key: key,
      associatedData: Self.associatedData(
        vaultID: vaultID, blob: blob, state: state, version: version))
    return [version, state.rawValue] + sealed
  }

  /// The state a stored manifest declares, read without the key.
  public static func state(of stored: [UInt8]) throws(VaultError) -> State {
    guard stored.count >= 2, readableVersions.contains(stored[0]),
      let state = State(rawValue: stored[1])
    else {
      throw VaultError(.corrupt, "a blob manifest has an unknown version or state")
    }
    return state
  }

  /// Opens a stored manifest of blob `blob`.
  ///
  /// - Throws: `.authenticationFailed` when it was not sealed for this blob, vault
  ///   and state under `key`; `.corrupt` when its fields do not decode.
  public init(opening stored: [UInt8], blob: [UInt8], vaultID: [UInt8], key: SymmetricKey)
    throws(VaultError)
  {
    let state = try Self.state(of: stored)
    var plaintext = try XChaCha20Poly1305.open(
      Array(stored[2...]), key: key,
      associatedData: Self.associatedData(
        vaultID: vaultID, blob: blob, state: state, version: stored[0]))
    defer { SecretBytes.wipe(&plaintext) }
    var reader = ByteReader(plaintext)
    version = stored[0]
    self.state = state
    project = try reader.readBytes(16, "project")
    branch = try reader.readBytes(16, "branch")
    uploader = try reader.readBytes(16, "uploader")
    isVendorUpload = try reader.readUInt8("vendor flag") != 0
    createdAt = try reader.readInt64("created at")
    updatedAt = try reader.readInt64("updated at")
    chunkSize = try reader.readUInt32("chunk size")
    size = try reader.readUInt64("size")
    chunkCount = try reader.readUInt64("chunk count")
    sha256 = try reader.readBytes(32, "sha256")
    contentAddress = try reader.readBytes(32, "content address")
    let mode = try reader.readUInt8("retention mode")
    guard let retentionMode = RetentionMode(rawValue: mode) else {
      throw reader.corrupt("unknown retention mode \(mode)")
    }
    retention = Retention(mode: retentionMode, until: try reader.readInt64("retain until"))
    legalHold = try reader.readUInt8("legal hold") != 0
    media = try reader.readBytes(16, "media")
    let nameLength = Int(try reader.readUInt16("name length"))
    guard nameLength <= Self.maximumNameLength else { throw reader.corrupt("name too long") }
    // Valid UTF-8 only: a lossy decoding would not encode back to the same bytes.
    guard let name = String(validating: try reader.readBytes(nameLength, "name"), as: UTF8.self)
    else { throw reader.corrupt("a blob manifest's name is not UTF-8") }
    self.name = name
    guard reader.isAtEnd else { throw reader.corrupt("bytes after a blob manifest") }
    guard Self.chunkSizes.contains(chunkSize) else {
      throw reader.corrupt("a blob manifest declares chunks of \(chunkSize) bytes")
    }
    guard state == .uploading || Self.isValid(size: size, chunks: chunkCount, chunkSize: chunkSize)
    else {
      throw reader.corrupt("a blob manifest's size, chunk size and chunk count disagree")
    }
  }

  /// Whether `chunks` chunks of `chunkSize` bytes hold `size` bytes as FORMAT.md 24.2
  /// says: at least one chunk, every one but the last full, the last holding the rest
  /// (empty only when the chunks before it hold everything).
  public static func isValid(size: UInt64, chunks: UInt64, chunkSize: UInt32) -> Bool {
    guard chunks >= 1, chunks <= UInt64(UInt32.max) else { return false }
    let (full, overflow) = (chunks - 1).multipliedReportingOverflow(by: UInt64(chunkSize))
    return !overflow && full <= size && size - full <= UInt64(chunkSize)
  }

  /// The plaintext length of chunk `index` of a valid manifest (``isValid(size:chunks:chunkSize:)``).
  public func plaintextLength(ofChunk index: UInt64) -> Int {
    let (start, overflow) = index.multipliedReportingOverflow(by: UInt64(chunkSize))
    guard !overflow, start < size else { return 0 }
    return Int(min(UInt64(chunkSize), size - start))
  }
}
