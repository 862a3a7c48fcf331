import Dispatch
import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// What an upload returns once stored: the same fields whether or not identical content
/// was stored before (nothing is looked up by content), so a vendor learns nothing from
/// it (../shared/spec/access.md, Vendors).
public struct UploadReceipt: Sendable, Equatable {
  /// The new blob.
  public let blob: RecordID
  /// The media record that describes it.
  public let media: RecordID
  /// Bytes received.
  public let size: UInt64
  /// SHA-256 of the bytes received, lowercase hex: what the uploader can check.
  public let sha256: String
}

/// An upload in progress: bytes go in as a stream, in constant memory, and every full
/// chunk is committed (durably) once the next bytes come, so an interrupted upload
/// resumes from its last committed chunk (``VaultHandle/resumeUpload(_:)``). Nothing is visible until
/// ``finish()`` commits the final chunk, the manifest and the media record together.
///
/// The work overlaps on two cores: a worker hashes each chunk (SHA-256) while the
/// caller seals it, and a committing thread writes and syncs it while the caller fills
/// and seals the next one. A chunk's commit is awaited before the next one starts, so
/// commits stay in order; a `write` may return before its chunk is durable, and a
/// commit's failure then surfaces at the next call (``finish()`` at the latest), while
/// ``bytesCommitted`` waits for the commit in flight. The chunk is sealed before the
/// write lock is taken, so other writers wait only for the extent's write and the
/// sync. Memory stays at two chunks of plaintext, one of compressed bytes and two
/// sealed extents, whatever the blob's size.
///
/// Use an upload from one thread at a time. After a failed write or commit the upload
/// stops; resume it from a new handle call. Read ``bytesCommitted`` before resuming or
/// aborting the blob elsewhere while this upload lives: a chunk still committing would
/// race them (and the loser fails cleanly, as two sessions of one upload do).
public final class BlobUpload {
  /// The blob's id (not visible to readers until the upload finishes).
  public var blob: RecordID { opened.id }
  /// Bytes committed durably: a resumed upload continues from here. Reading it waits
  /// for the chunk commit in flight, if any (a failed one stops the upload).
  public var bytesCommitted: UInt64 {
    if inFlight != nil {
      do throws(VaultError) { try awaitCommit() } catch { _ = stop(error) }
    }
    return committedBytes
  }
  private var committedBytes: UInt64
  /// The chunk size of this blob.
  public let chunkSize: Int

  let store: RecordStore
  /// The uploading user: the final commit acts (and is logged) as them.
  let actor: RecordID
  private let opened: OpenedBlob
  private var chunksCommitted: UInt64
  /// Chunks sealed and handed to the committing thread (committed, or in flight).
  private var chunksSealed: UInt64
  /// The commit of the last chunk sealed, while it runs on `committer`.
  private var inFlight: ChunkCommit?
  private let committer = DispatchQueue(label: "StudioVault.BlobUpload.commit")
  /// Plaintext of the chunk being filled and of the one before it (still being hashed),
  /// and room for a chunk's compressed form, each after one byte for the encoding.
  private let buffers: [UnsafeMutableRawBufferPointer]
  private var current = 0
  private let compressed: UnsafeMutableRawBufferPointer
  /// The run of the last chunk committed, which the next chunk is sealed into.
  private var spareRun: [UInt8] = []
  private var buffered = 0
  private let hasher: ChunkHasher
  private var skipsCompression: Bool?
  /// Whether the blob's key, manifest and index entry are stored: they go with the
  /// first commit (a chunk, or the whole blob), which saves a sync per upload.
  private var isStored: Bool
  private var failure: VaultError?
  /// Whether the refusal that stopped the upload was logged already (by the
  /// committing thread, which met it).
  private var refusalLogged = false
  private var isFinished = false
  /// Checks, before each commit, that the upload may go on (the session is live).
  private let authorize: () throws(VaultError) -> Void
  /// The uploading handle's clock (milliseconds since the epoch).
  private let clock: () -> Int64
  /// Completes the blob in the final chunk's transaction: checks the policy again,
  /// creates the media record, writes the audit entry; returns the media record's id.
  private let complete: (RecordTransaction, inout BlobManifest) throws(VaultError) -> RecordID
  /// Checks, in each chunk's transaction, that the uploader may still upload into the
  /// project (an engagement or the project may end while the bytes come in).
  private let permit: (RecordTransaction) throws(VaultError) -> Void
  /// Logs a refusal (by policy, or by the write-once rules) after its transaction
  /// rolled back, and returns the error to throw.
  private let refused: (VaultError) throws(VaultError) -> VaultError

  init(
    store: RecordStore, actor: RecordID, opened: OpenedBlob, resumedChunks: UInt64,
    isStoredAlready: Bool, hasher: ChunkHasher,
    authorize: @escaping () throws(VaultError) -> Void, clock: @escaping () -> Int64,
    complete: @escaping (RecordTransaction, inout BlobManifest) throws(VaultError) -> RecordID,
    permit: @escaping (RecordTransaction) throws(VaultError) -> Void,
    refused: @escaping (VaultError) throws(VaultError) -> VaultError
  ) {
    self.store = store
    self.actor = actor
    self.opened = opened
    chunkSize = Int(opened.manifest.chunkSize)
    chunksCommitted = resumedChunks
    chunksSealed = resumedChunks
    committedBytes = resumedChunks * UInt64(opened.manifest.chunkSize)
    self.hasher = hasher
    isStored = isStoredAlready
    self.authorize = authorize
    self.clock = clock
    self.complete = complete
    self.permit = permit
    self.refused = refused
    // One byte in front of each for the chunk's encoding (see ``seal(index:final:)``).
    buffers = (0..<2).map { _ in
      .allocate(byteCount: 1 + Int(opened.manifest.chunkSize), alignment: 16)
    }
    compressed = .allocate(byteCount: 1 + chunkSize, alignment: 16)
    if resumedChunks > 0 { skipsCompression = hasher.skipsCompression }
  }

  deinit {
    // The hashing workers may still read a buffer; a commit may still run, and a
    // refusal it met is logged even though no call follows.
    hasher.wait()
    _ = bytesCommitted
    for buffer in buffers { buffer.deallocate() }
    compressed.deallocate()
  }

  /// Adds `bytes` to the upload; full chunks are committed as they fill.
  public func write(_ bytes: [UInt8]) throws(VaultError) {
    var failure: VaultError?
    bytes.withUnsafeBytes { raw in
      do throws(VaultError) { try write(raw) } catch { failure = error }
    }
    if let failure { throw failure }
  }

  /// Adds the bytes of `raw` to the upload.
  public func write(_ raw: UnsafeRawBufferPointer) throws(VaultError) {
    try requireOpen()
    var offset = 0
    while offset < raw.count {
      // A full chunk is committed only once more bytes come: the last chunk must be
      // sealed as final, and only finish() knows which one that is.
      if buffered == chunkSize { try commitChunk() }
      let count = min(chunkSize - buffered, raw.count - offset)
      let buffer = buffers[current]
      UnsafeMutableRawBufferPointer(rebasing: buffer[1 + buffered..<1 + buffered + count])
        .copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + count]))
      buffered += count
      offset += count
    }
  }

  /// Seals the last chunk as final and commits it with the completed manifest and the
  /// media record.
  public func finish() throws(VaultError) -> UploadReceipt {
    try requireOpen()
    let chunk = currentChunk
    decideCompression(chunk)
    // The last chunk is hashed while it is sealed; the manifest waits for both.
    hasher.wait()
    hasher.start(chunk)
    defer { hasher.wait() }
    let index = chunksSealed
    do throws(VaultError) {
      // Sealed while the chunk before it may still be committing, as in commitChunk().
      let sealed = try seal(index: index, final: true)
      try awaitCommit()
      let size = committedBytes + UInt64(buffered)
      try authorize()
      let media = try store.write(actor: actor, now: Timestamp(milliseconds: clock())) {
        records throws(VaultError) in
        let tx = records.source.sealed
        try tx.requireUpload(opened, stored: isStored, nextChunk: index)
        if !isStored { try tx.createBlob(opened) }
        try tx.storeChunk(sealed, of: opened)
        let (sha256, address) = hasher.finalize()
        var manifest = opened.manifest
        manifest.state = .complete
        manifest.updatedAt = records.now.milliseconds
        manifest.size = size
        manifest.chunkCount = index + 1
        manifest.version = BlobManifest.currentVersion
        manifest.sha256 = sha256
        manifest.contentAddress = address
        let completed = OpenedBlob(id: opened.id, manifest: manifest, key: opened.key)
        // Complete before the media record refers to it, which checks that it is.
        try tx.storeManifest(completed)
        var finished = completed.manifest
        let media = try complete(records, &finished)
        finished.media = media.bytes
        try tx.storeManifest(OpenedBlob(id: completed.id, manifest: finished, key: completed.key))
        return media
      }
      isFinished = true
      isStored = true
      chunksCommitted = index + 1
      committedBytes = size
      return UploadReceipt(
        blob: opened.id, media: media, size: size, sha256: Hex.encode(hasher.sha256 ?? []))
    } catch {
      throw stop(error)
    }
  }

  /// Stops the upload after `error` (the hashers may be finalized: nothing may be
  /// added any more) and logs it if it is a refusal; returns the error to throw.
  private func stop(_ error: VaultError) -> VaultError {
    // A chunk still committing counts if it succeeds (``bytesCommitted`` says where to
    // resume); the first failure is the one reported.
    var error = error
    do throws(VaultError) { try awaitCommit() } catch let earlier { error = earlier }
    failure = error
    guard error.code == .policyViolation || error.code == .worm, !refusalLogged else {
      return error
    }
    // A refusal rolled its transaction back; it is logged in a commit of its own.
    do {
      let logged = try refused(error)
      failure = logged
      return logged
    } catch {
      return failure ?? error
    }
  }

  private func requireOpen() throws(VaultError) {
    if let failure {
      throw VaultError(
        failure.code,
        "the upload stopped (\(failure.message)); resume it from its last committed chunk")
    }
    guard !isFinished else {
      throw VaultError(
        .misuse, "the upload is finished: a blob never changes (a new version is a new upload)")
    }
  }

  /// Seals the full buffer as a chunk that is not the last and starts committing it
  /// (durably, in its own transaction, on the committing thread; the first also stores
  /// the blob's key, manifest and index entry) once the previous chunk's commit is
  /// done, and switches to the other buffer.
  private func commitChunk() throws(VaultError) {
    let chunk = currentChunk
    decideCompression(chunk)
    do throws(VaultError) {
      // The previous chunk's hashes are done before this one's start (each hash is
      // one sequential stream), which also frees the other buffer for what comes next.
      hasher.wait()
      hasher.start(chunk)
      let sealed = try seal(index: chunksSealed, final: false)
      try awaitCommit()
      try authorize()
      let commit = ChunkCommit(
        length: buffered, chunk: sealed,
        work: UncheckedCommitWork(
          store: store, actor: actor, opened: opened, permit: permit, refused: refused,
          sealed: sealed, index: chunksSealed, stored: isStored, now: clock()))
      committer.async { commit.run() }
      inFlight = commit
    } catch {
      throw stop(error)
    }
    // A failed commit stops the upload: no later chunk relies on this one's.
    isStored = true
    chunksSealed += 1
    current = 1 - current
    buffered = 0
  }

  /// Waits for the chunk commit in flight, if any, and counts it, or throws its error.
  private func awaitCommit() throws(VaultError) {
    guard let commit = inFlight else { return }
    commit.done.wait()
    inFlight = nil
    spareRun = commit.chunk.takeRun()
    if let error = commit.error {
      refusalLogged = commit.refusalLogged
      throw error
    }
    chunksCommitted += 1
    committedBytes += UInt64(commit.length)
  }

  /// The bytes of the chunk being filled (after its buffer's encoding byte).
  private var currentChunk: UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: buffers[current][1..<1 + buffered])
  }

  /// Compresses the current chunk when that pays, and seals it into its extent's run.
  /// The message sealed is the encoding byte and the payload, which lie side by side in
  /// their buffer: sealing reads them without a copy, and without changing the bytes
  /// the hasher may still be reading.
  private func seal(index: UInt64, final: Bool) throws(VaultError) -> SealedChunk {
    let length =
      skipsCompression == true
      ? nil
      : ChunkCompression.compress(
        currentChunk, into: UnsafeMutableRawBufferPointer(rebasing: compressed[1...]))
    let (buffer, count, encoding) =
      length.map { (compressed, $0, BlobChunk.zstd) }
      ?? (buffers[current], buffered, BlobChunk.stored)
    buffer[0] = encoding
    return try SealedChunk.seal(
      UnsafeRawBufferPointer(rebasing: buffer[0..<1 + count]), index: index, final: final,
      of: opened, vaultID: store.sealed.vaultID, pageSize: store.sealed.store.pageSize,
      reusing: &spareRun)
  }

  /// The first chunk's first bytes decide for the whole blob whether compression is
  /// worth trying at all.
  private func decideCompression(_ chunk: UnsafeRawBufferPointer) {
    guard skipsCompression == nil else { return }
    let media = ChunkCompression.isCompressedMedia(
      UnsafeRawBufferPointer(rebasing: chunk[0..<min(chunk.count, 32)]))
    skipsCompression = media
    hasher.skipsCompression = media
  }
}

/// The SHA-256 of an upload, computed on a worker thread while the uploading thread
/// seals the same chunk, and the content address derived from it. The uploading thread
/// calls start, then wait, before touching the hasher or the chunk again; the worker
/// touches them only in between.
// SAFETY: one thread at a time, handed over by start and by wait (a dispatch group).
final class ChunkHasher: @unchecked Sendable {
  private let sha = StreamingSHA256()
  private let addressKey: SymmetricKey
  private let group = DispatchGroup()
  private var pending = false
  /// The SHA-256, once ``finalize()`` computed it.
  private(set) var sha256: [UInt8]?
  /// Whether the blob's first bytes said it is compressed media (remembered for a
  /// resumed upload, whose first chunk is not read again for this).
  var skipsCompression: Bool?

  init(addressKey: SymmetricKey) {
    self.addressKey = addressKey
  }

  /// Starts hashing `chunk`, which must stay unchanged until ``wait()`` returns.
  func start(_ chunk: UnsafeRawBufferPointer) {
    precondition(!pending, "a chunk is already being hashed")
    pending = true
    let bytes = UncheckedBuffer(bytes: chunk)
    DispatchQueue.global().async(group: group) { [self] in sha.update(bytes.bytes) }
  }

  /// Hashes `chunk` on this thread.
  func update(_ chunk: UnsafeRawBufferPointer) {
    sha.update(chunk)
  }

  /// Waits for the chunk being hashed, if any.
  func wait() {
    guard pending else { return }
    group.wait()
    pending = false
  }

  /// The SHA-256 and the content address: keyed BLAKE2b-256 of that SHA-256 (FORMAT.md
  /// 24.2; a second pass over the bytes would cost as much as sealing them).
  func finalize() -> (sha256: [UInt8], address: [UInt8]) {
    wait()
    let digest = sha.finalize()
    sha256 = digest
    return (digest, addressKey.keyedHash(digest, byteCount: 32))
  }
}

/// A chunk commit running on an upload's committing thread. `work`, `error`,
/// `refusalLogged` and the chunk's run are touched by the committing thread before it
/// signals `done`, and by the uploading thread only after waiting on it.
// SAFETY: the state changes hands once each way, through the `done` semaphore.
private final class ChunkCommit: @unchecked Sendable {
  let done = DispatchSemaphore(value: 0)
  let length: Int
  /// The chunk committed: its run comes back for the upload's next chunk.
  let chunk: SealedChunk
  private var work: UncheckedCommitWork?
  var error: VaultError?

  init(length: Int, chunk: SealedChunk, work: UncheckedCommitWork) {
    self.length = length
    self.chunk = chunk
    self.work = work
  }

  /// Whether a refusal the commit met was logged (in a commit of its own).
  private(set) var refusalLogged = false

  /// Commits the chunk (on the committing thread).
  func run() {
    do throws(VaultError) { try work?.run() } catch {
      self.error = error
      // A refusal is logged at once: the uploader may never call again to learn of it.
      if error.code == .policyViolation || error.code == .worm, let work,
        let logged = try? work.refused(error)
      {
        self.error = logged
        refusalLogged = true
      }
    }
    // Let go of the upload, and so of its store, before saying it is done: whoever
    // waits may close the vault and open it again at once.
    work = nil
    done.signal()
  }
}

/// What the committing thread needs to commit a chunk: the upload's constants, not the
/// upload (which may then end, and wait for the commit, on its own thread). The policy
/// closures read only the transaction they are given and what the handle holds.
// SAFETY: the store is thread-safe and everything else here is immutable.
private struct UncheckedCommitWork: @unchecked Sendable {
  let store: RecordStore
  let actor: RecordID
  let opened: OpenedBlob
  let permit: (RecordTransaction) throws(VaultError) -> Void
  /// Logs a refusal (after its transaction rolled back); the error to report.
  let refused: (VaultError) throws(VaultError) -> VaultError
  let sealed: SealedChunk
  let index: UInt64
  let stored: Bool
  let now: Int64

  /// Commits chunk `index`, with the manifest (created with the first chunk).
  func run() throws(VaultError) {
    try store.write(actor: actor, now: Timestamp(milliseconds: now)) {
      records throws(VaultError) in
      try permit(records)
      let tx = records.source.sealed
      try tx.requireUpload(opened, stored: stored, nextChunk: index)
      // The manifest says when the upload last moved: purging goes by it.
      var alive = opened
      alive.manifest.updatedAt = now
      if stored { try tx.storeManifest(alive) } else { try tx.createBlob(alive) }
      try tx.storeChunk(sealed, of: opened)
    }
  }
}

/// A buffer handed to the hashing worker. It is not Sendable in general: ChunkHasher
/// hands it over between start and wait only, while the uploading thread leaves it be.
// SAFETY: nobody writes the buffer while the worker reads it.
private struct UncheckedBuffer: @unchecked Sendable {
  let bytes: UnsafeRawBufferPointer
}
