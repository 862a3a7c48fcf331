import VaultCore
import VaultCrypto

/// One chunk of an upload as sealed in a blob extent's body (FORMAT.md 24.3).
///
/// Body: `nonce (24) ‖ ciphertext ‖ tag (16)`. The plaintext is `u8 encoding ‖ payload`:
/// encoding 0 stores the chunk's bytes as they are, 1 a zstd frame of them. Sealed with
/// XChaCha20-Poly1305 under the blob's own key; the associated data,
/// `"SVblob-chunk" ‖ vaultID ‖ blobID ‖ u64 index ‖ u8 final`, binds the chunk to its
/// vault, its blob and its place, and says whether it is the last: a chunk moved to
/// another blob or index, a duplicated or reordered chunk, and a blob cut short (its
/// new last chunk was not sealed as final) all fail to open.
public enum BlobChunk {
  public static let stored: UInt8 = 0
  public static let zstd: UInt8 = 1

  /// The body length for a payload of `count` bytes.
  public static func bodyLength(payload count: Int) -> Int {
    XChaCha20Poly1305.overhead + 1 + count
  }

  /// The associated data of chunk `index` of blob `blob`.
  public static func associatedData(vaultID: [UInt8], blob: [UInt8], index: UInt64, final: Bool)
    -> [UInt8]
  {
    var writer = ByteWriter(capacity: 12 + 16 + 16 + 9)
    writer.write(Array("SVblob-chunk".utf8))
    writer.write(vaultID)
    writer.write(blob)
    writer.write(index)
    writer.write(final ? UInt8(1) : 0)
    return writer.bytes
  }

  /// Seals `message`, a chunk's encoding byte and then its payload, into `body` (exactly
  /// ``bodyLength(payload:)`` bytes, apart from `message`), leaving `message` as it is.
  public static func seal(
    _ message: UnsafeRawBufferPointer, into body: UnsafeMutableRawBufferPointer,
    key: SymmetricKey, associatedData: [UInt8]
  ) {
    let nonceCount = XChaCha20Poly1305.nonceByteCount
    let tagStart = body.count - XChaCha20Poly1305.tagByteCount
    precondition(message.count >= 1 && tagStart - nonceCount == message.count)
    let nonce = SecureRandom.bytes(nonceCount)
    nonce.withUnsafeBytes {
      body.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: nonceCount)
    }
    associatedData.withUnsafeBytes { ad in
      XChaCha20Poly1305.seal(
        message, into: UnsafeMutableRawBufferPointer(rebasing: body[nonceCount..<tagStart]),
        tag: UnsafeMutableRawBufferPointer(rebasing: body[tagStart...]),
        nonce: UnsafeRawBufferPointer(rebasing: body[0..<nonceCount]), key: key,
        associatedData: ad)
    }
  }

  /// Seals a chunk into `body` (exactly ``bodyLength(payload:)`` bytes), whose bytes
  /// `25 ..< 25 + payload` already hold the payload.
  public static func sealInPlace(
    _ body: UnsafeMutableRawBufferPointer, encoding: UInt8, key: SymmetricKey,
    associatedData: [UInt8]
  ) {
    let nonceCount = XChaCha20Poly1305.nonceByteCount
    let tagStart = body.count - XChaCha20Poly1305.tagByteCount
    body[nonceCount] = encoding
    let nonce = SecureRandom.bytes(nonceCount)
    nonce.withUnsafeBytes {
      body.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: nonceCount)
    }
    associatedData.withUnsafeBytes { ad in
      XChaCha20Poly1305.sealInPlace(
        UnsafeMutableRawBufferPointer(rebasing: body[nonceCount..<tagStart]),
        tag: UnsafeMutableRawBufferPointer(rebasing: body[tagStart...]),
        nonce: UnsafeRawBufferPointer(rebasing: body[0..<nonceCount]), key: key,
        associatedData: ad)
    }
  }

  /// Opens a chunk's body in place; returns the encoding and where the payload lies in
  /// `body`.
  ///
  /// - Throws: `.authenticationFailed` for a body that does not open under this key and
  ///   place; `.corrupt` for one too short or of an unknown encoding.
  public static func openInPlace(_ body: inout [UInt8], key: SymmetricKey, associatedData: [UInt8])
    throws(VaultError) -> (encoding: UInt8, payload: Range<Int>)
  {
    let nonceCount = XChaCha20Poly1305.nonceByteCount
    guard body.count >= bodyLength(payload: 0) else {
      throw VaultError(.corrupt, "a blob chunk of \(body.count) bytes is too short")
    }
    let tagStart = body.count - XChaCha20Poly1305.tagByteCount
    let opened = body.withUnsafeMutableBytes { raw in
      associatedData.withUnsafeBytes { ad in
        XChaCha20Poly1305.openInPlace(
          UnsafeMutableRawBufferPointer(rebasing: raw[nonceCount..<tagStart]),
          tag: UnsafeRawBufferPointer(rebasing: raw[tagStart...]),
          nonce: UnsafeRawBufferPointer(rebasing: raw[0..<nonceCount]), key: key,
          associatedData: ad)
      }
    }
    guard opened else {
      throw VaultError(
        .authenticationFailed,
        "a blob chunk failed authentication: altered, moved, reordered, or the blob was cut short")
    }
    let encoding = body[nonceCount]
    guard encoding == stored || encoding == zstd else {
      throw VaultError(.corrupt, "a blob chunk has unknown encoding \(encoding)")
    }
    return (encoding, nonceCount + 1..<tagStart)
  }
}

/// The keys of the blob store's trees (FORMAT.md 24.1).
public enum BlobKeys {
  /// `$blobs`: manifests, the project index and project retention.
  public static let tree = "$blobs"
  /// `$blobs:chunks`: one extent per chunk.
  public static let chunkTree = "$blobs:chunks"
  public static let manifestPrefix: UInt8 = 0x01
  public static let projectIndexPrefix: UInt8 = 0x02
  public static let projectRetentionPrefix: UInt8 = 0x03

  public static func manifest(_ blob: [UInt8]) -> [UInt8] { [manifestPrefix] + blob }
  public static func projectIndex(_ project: [UInt8], _ blob: [UInt8]) -> [UInt8] {
    [projectIndexPrefix] + project + blob
  }
  public static func projectRetention(_ project: [UInt8]) -> [UInt8] {
    [projectRetentionPrefix] + project
  }
  /// Chunk `index` of `blob`: the index big-endian, so chunks sort in order.
  public static func chunk(_ blob: [UInt8], _ index: UInt32) -> [UInt8] {
    var writer = ByteWriter(capacity: 20)
    writer.write(blob)
    writer.writeBigEndian(index)
    return writer.bytes
  }
}
