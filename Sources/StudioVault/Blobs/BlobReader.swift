import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// What a reader learns of a stored blob.
public struct BlobInfo: Sendable, Equatable {
  public let blob: RecordID
  public let project: RecordID
  public let branch: RecordID
  public let uploader: RecordID
  /// Uploaded by a vendor into the project's inbox.
  public let isVendorUpload: Bool
  public let media: RecordID?
  public let name: String
  public let size: UInt64
  /// SHA-256 of the content, lowercase hex: the integrity receipt given to clients.
  public let sha256: String
  public let createdAt: Timestamp
  /// The blob's own retention and hold.
  public let retention: Retention
  public let legalHold: Bool
}

/// A stored blob, read as a stream or at any byte offset (video scrubbing, thumbnails).
/// Every chunk read is authenticated under the blob's key, bound to its place: a
/// damaged, swapped or missing chunk is an error, never wrong bytes.
///
/// Each read sees the newest commit: a blob never changes, but it may be deleted (then
/// reads fail with `.noSuchRecord`).
public final class BlobReader: Sendable {
  public let info: BlobInfo
  let sealed: SealedStore
  let id: RecordID
  let manifest: BlobManifest
  let key: SymmetricKey

  /// Chunks readable: all of a stored blob's; those committed so far of an upload.
  let chunkLimit: UInt64

  /// A reader of `blob`; of the first `visibleChunks` chunks of an unfinished upload.
  init(sealed: SealedStore, blob: OpenedBlob, visibleChunks: UInt64? = nil) throws(VaultError) {
    let manifest = blob.manifest
    chunkLimit = visibleChunks ?? manifest.chunkCount
    self.sealed = sealed
    id = blob.id
    self.manifest = manifest
    key = blob.key
    info = BlobInfo(
      blob: blob.id, project: try RecordID(bytes: manifest.project),
      branch: try RecordID(bytes: manifest.branch),
      uploader: try RecordID(bytes: manifest.uploader),
      isVendorUpload: manifest.isVendorUpload,
      media: manifest.media.allSatisfy { $0 == 0 } ? nil : try RecordID(bytes: manifest.media),
      name: manifest.name, size: manifest.size, sha256: Hex.encode(manifest.sha256),
      createdAt: Timestamp(milliseconds: manifest.createdAt), retention: manifest.retention,
      legalHold: manifest.legalHold)
  }

  /// The blob's size in bytes.
  public var size: UInt64 { manifest.size }
  /// The number of chunks.
  public var chunkCount: UInt64 { manifest.chunkCount }

  /// Up to `count` bytes from byte `offset` on (fewer at the end of the blob).
  ///
  /// - Throws: `.invalidArgument` for an offset past the end; `.authenticationFailed`
  ///   or `.corruptPage` for a damaged chunk.
  public func read(at offset: UInt64, count: Int) throws(VaultError) -> [UInt8] {
    guard offset <= size, count >= 0 else {
      throw VaultError(.invalidArgument, "offset \(offset) lies past the blob's \(size) bytes")
    }
    let end = offset + min(UInt64(count), size - offset)
    var result = [UInt8]()
    // Trust the size only as far as memory goes: reserve at most two chunks ahead.
    result.reserveCapacity(Int(min(end - offset, 2 * UInt64(manifest.chunkSize))))
    var position = offset
    let chunkSize = UInt64(manifest.chunkSize)
    while position < end {
      let index = position / chunkSize
      let chunk = try self.chunk(index)
      let start = Int(position - index * chunkSize)
      let stop = Int(min(end - index * chunkSize, UInt64(chunk.count)))
      result += chunk[start..<stop]
      position = index * chunkSize + UInt64(stop)
    }
    return result
  }

  /// Calls `body` with each chunk's bytes in order: the whole blob, one chunk in memory
  /// at a time.
  public func forEachChunk(_ body: ([UInt8]) throws(VaultError) -> Void) throws(VaultError) {
    for index in 0..<manifest.chunkCount { try body(try chunk(index)) }
  }

  /// Chunk `index`, authenticated and decompressed.
  public func chunk(_ index: UInt64) throws(VaultError) -> [UInt8] {
    guard index < chunkLimit else {
      throw VaultError(.invalidArgument, "the blob has \(chunkLimit) chunks, not \(index + 1)")
    }
    var body = try sealed.read { snapshot throws(VaultError) in
      guard
        let chunks = try snapshot.snapshot.anyTree(named: BlobKeys.chunkTree),
        let location = try chunks.extent(forKey: BlobKeys.chunk(id.bytes, UInt32(index)))
      else {
        throw VaultError(
          .noSuchRecord, "chunk \(index) of blob \(id) is missing: the blob was deleted or damaged")
      }
      // The seal authenticates the body, so its checksum need not be computed too.
      return try chunks.readExtent(location, checksum: false)
    }
    return try BlobReader.openChunk(
      &body, index: index, of: manifest, blob: id, vaultID: sealed.vaultID, key: key)
  }

  /// Opens a chunk's extent body: authenticates it as chunk `index` of the blob (final
  /// when it is the last), decompresses it, checks its length.
  static func openChunk(
    _ body: inout [UInt8], index: UInt64, of manifest: BlobManifest, blob: RecordID,
    vaultID: [UInt8], key: SymmetricKey
  ) throws(VaultError) -> [UInt8] {
    let isFinal = index + 1 == manifest.chunkCount
    let (encoding, payload) = try BlobChunk.openInPlace(
      &body, key: key,
      associatedData: BlobChunk.associatedData(
        vaultID: vaultID, blob: blob.bytes, index: index, final: isFinal))
    let expected =
      isFinal && manifest.state == .complete
      ? manifest.plaintextLength(ofChunk: index) : Int(manifest.chunkSize)
    if encoding == BlobChunk.stored {
      guard payload.count == expected else {
        throw VaultError(
          .corrupt, "chunk \(index) holds \(payload.count) bytes, expected \(expected)")
      }
      return Array(body[payload])
    }
    var plaintext = [UInt8](repeating: 0, count: expected)
    var failure: VaultError?
    body.withUnsafeBytes { raw in
      plaintext.withUnsafeMutableBytes { output in
        do throws(VaultError) {
          try Zstd.decompress(UnsafeRawBufferPointer(rebasing: raw[payload]), into: output)
        } catch {
          failure = error
        }
      }
    }
    if let failure { throw failure }
    return plaintext
  }
}
