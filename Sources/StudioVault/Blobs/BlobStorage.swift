import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// Write-once upload blobs over the sealed store (FORMAT.md 24): manifests sealed under
/// each blob's own key, chunks in extents, the key wrapped like a record's data key so
/// that KEK rotation re-wraps it and destroying it shreds the blob. Policy (who may
/// store, read, retain, hold, delete) is the access layer's (Access/Blobs.swift).
enum BlobStorage {
  /// The collection name blob keys are wrapped under (tree `$keys:$blobs`).
  static let keyCollection = "$blobs"
  /// Plaintext bytes per chunk unless a caller picks another size (any of
  /// ``BlobManifest/chunkSizes``; tests use small ones).
  static let defaultChunkSize = 4 << 20
  /// Uploads left unfinished this long are abandoned: purging removes them.
  static let abandonedAfter: Int64 = 7 * 24 * 3600 * 1000
}

/// A blob's manifest with the key that opened it.
struct OpenedBlob {
  let id: RecordID
  var manifest: BlobManifest
  let key: SymmetricKey
}

extension OpenedBlob {
  /// Opens the stored manifest of blob `id` with its key.
  init(id: RecordID, stored: [UInt8], key: SymmetricKey, vaultID: [UInt8]) throws(VaultError) {
    self.id = id
    manifest = try BlobManifest(opening: stored, blob: id.bytes, vaultID: vaultID, key: key)
    self.key = key
  }

  /// The blob ids of a scan of a project's index entries (``BlobKeys/projectIndex(_:_:)``).
  static func ids(inProjectIndex keys: [[UInt8]]) throws(VaultError) -> [RecordID] {
    var ids = [RecordID]()
    for key in keys where key.count == 33 { ids.append(try RecordID(bytes: Array(key[17...]))) }
    return ids
  }
}

extension BlobKeys {
  /// The range of `project`'s index entries.
  static func projectIndexRange(_ project: RecordID) -> (start: [UInt8], end: [UInt8]?) {
    let prefix = [projectIndexPrefix] + project.bytes
    return (prefix, successor(of: prefix))
  }

  /// The first key after every key that starts with `prefix`, or nil when there is
  /// none (all 0xFF): the end of a prefix range (nil: unbounded).
  static func successor(of prefix: [UInt8]) -> [UInt8]? {
    var end = prefix
    for index in end.indices.reversed() {
      if end[index] < 0xFF {
        end[index] += 1
        return Array(end[...index])
      }
      end[index] = 0
    }
    return nil
  }
}

extension SealedTransaction {
  /// The blob's manifest, opened, or nil when there is no such blob (or its key is gone).
  func blob(_ id: RecordID) throws(VaultError) -> OpenedBlob? {
    guard let stored = try tree(BlobKeys.tree).value(forKey: BlobKeys.manifest(id.bytes)),
      let key = try loadWrappedKey(id.bytes, collection: BlobStorage.keyCollection)
    else { return nil }
    return try OpenedBlob(id: id, stored: stored, key: key, vaultID: store.vaultID)
  }

  /// Stores the manifest of `blob` (sealed afresh under its key).
  func storeManifest(_ blob: OpenedBlob) throws(VaultError) {
    try tree(BlobKeys.tree).insert(
      blob.manifest.seal(blob: blob.id.bytes, vaultID: store.vaultID, key: blob.key),
      forKey: BlobKeys.manifest(blob.id.bytes))
  }

  /// Stores a new upload: its key (wrapped), its uploading manifest, its project index
  /// entry.
  func createBlob(_ blob: OpenedBlob) throws(VaultError) {
    try storeWrappedKey(blob.key, forKey: blob.id.bytes, collection: BlobStorage.keyCollection)
    try storeManifest(blob)
    try tree(BlobKeys.tree).insert(
      [], forKey: BlobKeys.projectIndex(blob.manifest.project, blob.id.bytes))
  }

  /// Stores chunk `index` of `blob`, sealed beforehand by ``SealedChunk/seal(_:index:final:of:vaultID:pageSize:reusing:)``,
  /// in a new extent.
  func storeChunk(_ chunk: SealedChunk, of blob: OpenedBlob) throws(VaultError) {
    var run = chunk.takeRun()
    try tree(BlobKeys.chunkTree).insertExtent(
      run: &run, bodyLength: chunk.bodyLength,
      forKey: BlobKeys.chunk(blob.id.bytes, UInt32(chunk.index)))
    chunk.giveBack(run)
  }

  /// Checks, in the transaction about to store chunk `index` of an upload, that the
  /// upload is still what this session thinks it is: stored and unfinished (or, before
  /// its first commit, absent), with exactly `index` chunks. Another session resuming
  /// the same upload, an abort or a purge in between make this fail, so no two
  /// sessions ever write one blob and no chunk lands under a removed blob.
  func requireUpload(_ blob: OpenedBlob, stored: Bool, nextChunk index: UInt64)
    throws(VaultError)
  {
    let manifest = try tree(BlobKeys.tree).value(forKey: BlobKeys.manifest(blob.id.bytes))
    let chunks = try tree(BlobKeys.chunkTree)
    let inPlace: Bool
    if stored, let manifest {
      var previous = true
      if index > 0 {
        previous = try chunks.contains(BlobKeys.chunk(blob.id.bytes, UInt32(index - 1)))
      }
      let taken = try chunks.contains(BlobKeys.chunk(blob.id.bytes, UInt32(index)))
      inPlace = try BlobManifest.state(of: manifest) == .uploading && previous && !taken
    } else if stored {
      inPlace = false
    } else {
      inPlace = manifest == nil
    }
    guard inPlace else {
      throw VaultError(
        .worm,
        "upload \(blob.id) changed under this session (finished, resumed elsewhere, or"
          + " removed): a blob is written by one session, once")
    }
  }

  /// The keys of the chunks stored for `blob`, in order.
  func chunkKeys(of blob: RecordID) throws(VaultError) -> [[UInt8]] {
    try tree(BlobKeys.chunkTree).keys(
      from: BlobKeys.chunk(blob.bytes, 0), to: BlobKeys.successor(of: blob.bytes))
  }

  /// Removes `blob` entirely: its chunks (their extents are freed), manifest, project
  /// index entry, and its key, so that any copy of its pages left in the file is
  /// unreadable.
  func removeBlob(_ id: RecordID, project: [UInt8]) throws(VaultError) {
    // The key's old copies in free pages are wrapped under a live KEK: they are zeroed
    // once this commits (``SealedStore/finishScrubIfPending()``), as for an erasure.
    try keyring().insert([], forKey: Keyring.scrubPendingKey)
    let chunks = try tree(BlobKeys.chunkTree)
    for key in try chunkKeys(of: id) { try chunks.removeValue(forKey: key) }
    let blobs = try tree(BlobKeys.tree)
    try blobs.removeValue(forKey: BlobKeys.manifest(id.bytes))
    try blobs.removeValue(forKey: BlobKeys.projectIndex(project, id.bytes))
    try removeWrappedKey(id.bytes, collection: BlobStorage.keyCollection)
  }

  /// The blobs (complete or not) of `project`.
  func blobs(ofProject project: RecordID) throws(VaultError) -> [RecordID] {
    let range = BlobKeys.projectIndexRange(project)
    return try OpenedBlob.ids(
      inProjectIndex: try tree(BlobKeys.tree).keys(from: range.start, to: range.end))
  }

  /// The retention set on `project` as a whole.
  func projectRetention(_ project: RecordID) throws(VaultError) -> Retention {
    guard
      let stored = try tree(BlobKeys.tree).value(forKey: BlobKeys.projectRetention(project.bytes))
    else { return .none }
    return try Retention(decoding: stored)
  }

  func setProjectRetention(_ retention: Retention, of project: RecordID) throws(VaultError) {
    let key = BlobKeys.projectRetention(project.bytes)
    if retention.mode == .none {
      try tree(BlobKeys.tree).removeValue(forKey: key)
    } else {
      try tree(BlobKeys.tree).insert(retention.encode(), forKey: key)
    }
  }
}

/// A chunk sealed into the run of pages of its future extent, before any transaction:
/// only the extent's header is left to fill in (FORMAT.md 6.5, 24.3).
///
/// A class, so that storing it takes the run (megabytes) rather than copying it when
/// the header is filled in. The uploading thread seals it and hands it to one
/// committing thread, which takes the run and gives it back once written; the
/// uploading thread takes it again only after waiting for that commit.
// SAFETY: one thread at a time touches the run, handed over by the commit's semaphore.
final class SealedChunk: @unchecked Sendable {
  let index: UInt64
  let bodyLength: Int
  private var run: [UInt8]

  private init(index: UInt64, bodyLength: Int, run: [UInt8]) {
    self.index = index
    self.bodyLength = bodyLength
    self.run = run
  }

  /// The run, left empty here: the chunk is stored once.
  func takeRun() -> [UInt8] {
    defer { run = [] }
    return run
  }

  /// Hands the run back once it is written, for the upload to seal a later chunk into
  /// (a run is megabytes: allocating and zeroing one per chunk costs more than sealing).
  func giveBack(_ run: [UInt8]) { self.run = run }

  /// Seals `message` (the chunk's encoding byte, then its bytes, compressed when the
  /// encoding says so; left unchanged) as chunk `index` of `blob`, into `spare` (an
  /// earlier chunk's run) when its capacity suffices.
  static func seal(
    _ message: UnsafeRawBufferPointer, index: UInt64, final: Bool,
    of blob: OpenedBlob, vaultID: [UInt8], pageSize: Int, reusing spare: inout [UInt8]
  ) throws(VaultError) -> SealedChunk {
    guard !message.isEmpty else { throw VaultError(.internal, "a chunk without its encoding") }
    guard index < UInt64(UInt32.max) else {
      throw VaultError(.tooLarge, "a blob has at most 4,294,967,295 chunks")
    }
    let associatedData = BlobChunk.associatedData(
      vaultID: vaultID, blob: blob.id.bytes, index: index, final: final)
    let bodyLength = BlobChunk.bodyLength(payload: message.count - 1)
    let runLength = BlobExtent.pageCount(bodyLength: bodyLength, pageSize: pageSize) * pageSize
    // Taken, not shared: a run still referenced from `spare` would be copied whole at
    // the first write.
    var run = [UInt8]()
    swap(&run, &spare)
    if run.capacity >= runLength {
      // Resized within its capacity (a final chunk is usually shorter): no allocation.
      if run.count > runLength {
        run.removeLast(run.count - runLength)
      } else if run.count < runLength {
        run.append(contentsOf: repeatElement(0, count: runLength - run.count))
      }
    } else {
      // The body is sealed over whole below, so only the rest needs zeros: filling
      // megabytes first would cost a third of the sealing.
      run = [UInt8](unsafeUninitializedCapacity: runLength) { _, count in count = runLength }
    }
    // What the body does not cover is zero in every run: the header (its last bytes are
    // reserved) and the padding after the body.
    run.withUnsafeMutableBytes { raw in
      raw[0..<FileFormat.pageHeaderSize].initializeMemory(as: UInt8.self, repeating: 0)
      raw[(FileFormat.pageHeaderSize + bodyLength)...].initializeMemory(
        as: UInt8.self, repeating: 0)
    }
    run.withUnsafeMutableBytes { raw in
      let body = UnsafeMutableRawBufferPointer(
        rebasing: raw[FileFormat.pageHeaderSize..<FileFormat.pageHeaderSize + bodyLength])
      BlobChunk.seal(message, into: body, key: blob.key, associatedData: associatedData)
    }
    return SealedChunk(index: index, bodyLength: bodyLength, run: run)
  }
}

extension SealedSnapshot {
  /// The blob's manifest as of this snapshot, opened, or nil.
  func blob(_ id: RecordID) throws(VaultError) -> OpenedBlob? {
    guard
      let stored = try snapshot.anyTree(named: BlobKeys.tree)?.value(
        forKey: BlobKeys.manifest(id.bytes)),
      let key = try store.wrappedKey(
        id.bytes, collection: BlobStorage.keyCollection,
        keys: try snapshot.anyTree(named: SealedStore.dataKeyTree(for: BlobStorage.keyCollection)),
        kek: { (kekID) throws(VaultError) in try kek(kekID) })
    else { return nil }
    return try OpenedBlob(id: id, stored: stored, key: key, vaultID: store.vaultID)
  }

  /// The blobs (complete or not) of `project` as of this snapshot.
  func blobs(ofProject project: RecordID) throws(VaultError) -> [RecordID] {
    guard let tree = try snapshot.anyTree(named: BlobKeys.tree) else { return [] }
    let range = BlobKeys.projectIndexRange(project)
    return try OpenedBlob.ids(inProjectIndex: try tree.keys(from: range.start, to: range.end))
  }
}

/// Compression of upload chunks: worth trying only for data that is not compressed
/// already, which the first bytes of a file usually say, and a small sample of each
/// chunk confirms.
enum ChunkCompression {
  /// zstd's fastest level: uploads are streams, and media rarely compresses anyway.
  static let level: Int32 = 1
  static let sampleSize = 64 << 10

  /// Whether the file's first bytes name a format that is compressed already: JPEG,
  /// PNG, GIF, WebP, the ISO media family (HEIC, AVIF, MP4, MOV, Canon CR3), Fujifilm
  /// RAF, ZIP, gzip, zstd, xz, 7z.
  static func isCompressedMedia(_ head: UnsafeRawBufferPointer) -> Bool {
    func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
      head.count >= offset + magic.count
        && zip(magic, head[offset..<offset + magic.count]).allSatisfy { $0 == $1 }
    }
    return starts([0xFF, 0xD8, 0xFF]) || starts([0x89, 0x50, 0x4E, 0x47])
      || starts(Array("GIF8".utf8))
      || (starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8))
      || starts(Array("ftyp".utf8), at: 4) || starts(Array("FUJIFILMCCD-RAW".utf8))
      || starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x1F, 0x8B])
      || starts([0x28, 0xB5, 0x2F, 0xFD])
      || starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00])
      || starts([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C])
  }

  /// Compresses `chunk` into `output` when a sample says it pays; returns the frame's
  /// length, or nil to store the chunk as it is. `output` is smaller than the chunk by
  /// a sixteenth, so a frame that fits saves at least that much.
  static func compress(_ chunk: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
    -> Int?
  {
    guard chunk.count >= 1024 else { return nil }
    let sample = UnsafeRawBufferPointer(rebasing: chunk[0..<min(sampleSize, chunk.count)])
    let limit = sample.count - sample.count / 8
    guard
      Zstd.compress(
        sample, into: UnsafeMutableRawBufferPointer(rebasing: output[0..<limit]), level: level)
        != nil
    else { return nil }
    let budget = chunk.count - chunk.count / 16
    return Zstd.compress(
      chunk, into: UnsafeMutableRawBufferPointer(rebasing: output[0..<min(budget, output.count)]),
      level: level)
  }
}
