import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// Write-once upload blobs (FORMAT.md 24): streaming round trips, random access,
/// chunk tampering, what `check` sees, and interrupted uploads.
@Suite struct BlobTests {
  static let chunk = 64 << 10

  /// Bytes that do not compress (seeded), or text-like bytes that do.
  static func content(_ count: Int, compressible: Bool, seed: UInt64) -> [UInt8] {
    if compressible {
      let line = Array("a studio's shot list: first look, ceremony, golden hour\n".utf8)
      return (0..<count).map { line[$0 % line.count] &+ UInt8(($0 / 4096) % 3) }
    }
    var random = SeededGenerator(seed: seed)
    return random.bytes(count)
  }

  static func upload(
    _ bytes: [UInt8], by handle: VaultHandle, into project: RecordID, pieces: Int = 7
  ) throws -> UploadReceipt {
    let upload = try handle.beginUpload(
      into: project, fileName: "file.bin", kind: .document, chunkSize: chunk)
    // Odd-sized writes, so chunk boundaries fall inside them.
    var offset = 0
    let step = max(1, bytes.count / pieces + 13)
    while offset < bytes.count {
      let end = min(bytes.count, offset + step)
      try upload.write(Array(bytes[offset..<end]))
      offset = end
    }
    return try upload.finish()
  }

  @Test(arguments: [false, true])
  func roundTripsAtEverySizeAroundAChunk(compressible: Bool) throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let seed = testSeed(0xB10B)
    var random = SeededGenerator(seed: seed)
    let sizes = [0, 1, Self.chunk - 1, Self.chunk, Self.chunk + 1, 5 * Self.chunk + 17]
    for size in sizes {
      let bytes = Self.content(size, compressible: compressible, seed: seed &+ UInt64(size))
      let receipt = try Self.upload(bytes, by: studio.owner, into: studio.project)
      #expect(receipt.size == UInt64(size))
      #expect(receipt.sha256 == Hex.encode(SHA256.hash(bytes)), "size \(size)")
      let reader = try studio.owner.openBlob(receipt.blob)
      #expect(reader.size == UInt64(size))
      #expect(reader.info.sha256 == receipt.sha256 && reader.info.media == receipt.media)
      // The content address: keyed BLAKE2b of the SHA-256 (manifest version 2).
      #expect(reader.manifest.version == 2)
      #expect(
        reader.manifest.contentAddress
          == studio.store.sealed.blobAddressKey.keyedHash(SHA256.hash(bytes), byteCount: 32))
      var streamed = [UInt8]()
      try reader.forEachChunk { streamed += $0 }
      #expect(streamed == bytes, "size \(size), compressible \(compressible), seed \(seed)")
      // Random access: any offset and length, against the original.
      for _ in 0..<20 where size > 0 {
        let offset = Int.random(in: 0..<size, using: &random)
        let count = Int.random(in: 0...(2 * Self.chunk), using: &random)
        let expected = Array(bytes[offset..<min(size, offset + count)])
        #expect(try reader.read(at: UInt64(offset), count: count) == expected, "seed \(seed)")
      }
      #expect(try reader.read(at: UInt64(size), count: 10).isEmpty)
      #expect(throws: VaultError.self) { _ = try reader.read(at: UInt64(size) + 1, count: 1) }
      // The media record points at it.
      let media = try #require(try studio.owner.get(.media, receipt.media))
      #expect(media.text("blob") == receipt.blob.description)
      #expect(media.text("contentHash") == "sha256:" + receipt.sha256)
    }
    let path = studio.store.sealed.store.path
    for credential in [nil, testCredential] {
      let report = Checker.check(path: path, credential: credential)
      #expect(report.ok, "\(report.problems)")
    }
  }

  @Test func compressibleChunksAreStoredSmallerAndMediaIsNotCompressed() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let text = Self.content(4 * Self.chunk, compressible: true, seed: 1)
    let receipt = try Self.upload(text, by: studio.owner, into: studio.project)
    // A JPEG header makes even compressible bytes go in as they are.
    let jpeg = [0xFF, 0xD8, 0xFF, 0xE0] + text
    let photo = try Self.upload(jpeg, by: studio.owner, into: studio.project)
    let sizes = try studio.store.sealed.read { snapshot throws(VaultError) -> [RecordID: Int] in
      guard let chunks = try snapshot.snapshot.anyTree(named: BlobKeys.chunkTree) else {
        throw VaultError(.internal, "no chunk tree")
      }
      var sizes = [RecordID: Int]()
      for id in [receipt.blob, photo.blob] {
        for key in try chunks.keys(
          from: BlobKeys.chunk(id.bytes, 0), to: BlobKeys.chunk(id.bytes, 1000))
        {
          guard let location = try chunks.extent(forKey: key) else { continue }
          sizes[id, default: 0] += try chunks.readExtent(location).count
        }
      }
      return sizes
    }
    #expect(try #require(sizes[receipt.blob]) < text.count / 4)
    #expect(try #require(sizes[photo.blob]) > jpeg.count)
    #expect(try studio.owner.openBlob(photo.blob).read(at: 0, count: jpeg.count) == jpeg)
  }

  /// Chunks moved, swapped, cut off or replayed: every read that touches them fails,
  /// none returns wrong bytes.
  @Test func swappedTruncatedAndReplayedChunksAreDetected() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let first = Self.content(3 * Self.chunk + 5, compressible: false, seed: 2)
    let second = Self.content(3 * Self.chunk + 5, compressible: false, seed: 3)
    let a = try Self.upload(first, by: studio.owner, into: studio.project)
    let b = try Self.upload(second, by: studio.owner, into: studio.project)

    /// Rewrites cells of `$blobs:chunks` (what an attacker with write access to the file
    /// and the page key could do), then reads `blob` chunk by chunk.
    func tamper(_ change: (WriteTree) throws -> Void) throws {
      try studio.store.sealed.store.write { tx in
        try change(try #require(try tx.anyTree(named: BlobKeys.chunkTree)))
      }
    }
    func chunkValue(_ blob: RecordID, _ index: UInt32) throws -> (pages: UInt32, head: PageLink) {
      try studio.store.sealed.read { snapshot throws(VaultError) in
        let tree = try snapshot.snapshot.anyTree(named: BlobKeys.chunkTree)!
        let location = try tree.extent(forKey: BlobKeys.chunk(blob.bytes, index))!
        return (location.pages, location.head)
      }
    }
    func readsFail(_ blob: RecordID, chunk index: UInt64) -> Bool {
      do {
        _ = try studio.owner.openBlob(blob).chunk(index)
        return false
      } catch { return true }
    }
    #expect(!readsFail(a.blob, chunk: 1))
    // Swap: chunk 1 of b placed as chunk 1 of a.
    let b1 = try chunkValue(b.blob, 1)
    let a1 = try chunkValue(a.blob, 1)
    try tamper { tree in
      try tree.transaction.insert(
        .extent(pages: b1.pages, head: b1.head), forKey: BlobKeys.chunk(a.blob.bytes, 1),
        in: tree.state)
      tree.state.isModified = true
    }
    #expect(readsFail(a.blob, chunk: 1))
    // Reorder within a blob: chunk 2 of a as its chunk 1.
    let a2 = try chunkValue(a.blob, 2)
    try tamper { tree in
      try tree.transaction.insert(
        .extent(pages: a2.pages, head: a2.head), forKey: BlobKeys.chunk(a.blob.bytes, 1),
        in: tree.state)
      tree.state.isModified = true
    }
    #expect(readsFail(a.blob, chunk: 1))
    // Replay: a's chunk 1 back where it belongs reads again (the original is intact).
    try tamper { tree in
      try tree.transaction.insert(
        .extent(pages: a1.pages, head: a1.head), forKey: BlobKeys.chunk(a.blob.bytes, 1),
        in: tree.state)
      tree.state.isModified = true
    }
    #expect(!readsFail(a.blob, chunk: 1))
    // Truncation: a manifest claiming one chunk fewer makes the new last chunk (not
    // sealed as final) fail.
    try studio.store.sealed.write { tx throws(VaultError) in
      var blob = try tx.blob(b.blob)!
      blob.manifest.size -= 5
      blob.manifest.chunkCount -= 1
      try tx.storeManifest(blob)
    }
    let truncated = try studio.owner.openBlob(b.blob)
    #expect(truncated.chunkCount == 3)
    #expect(throws: VaultError.self) { _ = try truncated.chunk(2) }
    #expect(!readsFail(b.blob, chunk: 0))
  }

  @Test func aFlippedBitInAnExtentIsFoundByKeylessCheckAndByReads() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let bytes = Self.content(2 * Self.chunk + 3, compressible: false, seed: 4)
    let receipt = try Self.upload(bytes, by: studio.owner, into: studio.project)
    let location = try studio.store.sealed.read { snapshot throws(VaultError) in
      try snapshot.snapshot.anyTree(named: BlobKeys.chunkTree)!.extent(
        forKey: BlobKeys.chunk(receipt.blob.bytes, 1))!
    }
    let path = studio.store.sealed.store.path
    let pageSize = studio.store.sealed.store.pageSize
    // A byte deep inside the extent, on one of its continuation pages.
    let offset = Int(location.head.page.rawValue) * pageSize + 5 * pageSize + 100
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    try handle.seek(toOffset: UInt64(offset))
    let original = try #require(try handle.read(upToCount: 1))
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: [original[0] ^ 0x10])
    try handle.close()
    let report = Checker.check(path: path, credential: nil)
    #expect(!report.ok)
    #expect(report.problems.contains { $0.page == location.head.page.rawValue })
    #expect(throws: VaultError.self) { _ = try studio.owner.openBlob(receipt.blob).chunk(1) }
    // Chunks around it still read.
    #expect(try studio.owner.openBlob(receipt.blob).chunk(0) == Array(bytes[0..<Self.chunk]))
  }

  @Test func pagesAndStatsShowExtentsAndDeletionFreesThem() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let bytes = Self.content(3 * Self.chunk, compressible: false, seed: 5)
    let receipt = try Self.upload(bytes, by: studio.owner, into: studio.project)
    let store = studio.store.sealed.store
    let before = try store.makeSnapshot()
    let survey = Inspection(snapshot: before)
    // An open snapshot would keep the deletion's free pages from being zeroed.
    before.close()
    #expect(survey.problems.isEmpty, "\(survey.problems)")
    #expect(survey.extentCount == 3)
    let blobPages = survey.reachable.values.filter { $0.type == .blob }.count
    #expect(blobPages >= 3 * Self.chunk / store.pageSize)
    let freeBefore = try store.newestMeta().freePageCount
    try studio.owner.deleteBlob(receipt.blob)
    #expect(try store.newestMeta().freePageCount >= freeBefore + UInt64(blobPages))
    #expect(throws: VaultError.self) { _ = try studio.owner.openBlob(receipt.blob) }
    #expect(try studio.owner.get(.media, receipt.media) == nil)
    let snapshot = try store.makeSnapshot()
    defer { snapshot.close() }
    let after = Inspection(snapshot: snapshot)
    #expect(after.problems.isEmpty && after.extentCount == 0)
    // Like an erasure, the deletion zeroed the free pages: no old copy of the wrapped
    // key (or of anything else) is left in them. Only the commit that cleared the
    // pending scrub has freed pages since (its keyring and roots' old versions).
    #expect(try !studio.store.sealed.isScrubPending)
    for page in after.freePageNumbers
    where try !store.rawBytes(ofPage: PageNumber(page)).allSatisfy({ $0 == 0 }) {
      #expect(after.free[page] == snapshot.meta.transaction, "page \(page)")
    }
    // Its key is gone: nothing in the file can open what is left of it.
    let key = try studio.store.sealed.read { snapshot throws(VaultError) in
      try snapshot.snapshot.anyTree(named: "$keys:$blobs")?.value(forKey: receipt.blob.bytes)
    }
    #expect(key == nil)
  }

  /// A crash at every write and sync of a multi-chunk upload: the vault opens and
  /// checks clean, the blob is there exactly when `finish` returned, no page leaks, and
  /// an unfinished upload resumes from its last committed chunk.
  @Test func aCrashAtEveryWriteOfAnUploadLosesNothingCommitted() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let path = studio.store.sealed.store.path
    let initial = try Data(contentsOf: URL(fileURLWithPath: path))
    let bytes = Self.content(3 * Self.chunk + 1000, compressible: false, seed: 6)
    let project = studio.project

    func run(crashAt: Int?) throws -> (SimulatedDisk, UploadProgress) {
      try Self.uploadOnSimulatedDisk(
        image: [UInt8](initial), crashAt: crashAt, lockPath: dir.file("run.vault"), bytes: bytes,
        project: project, clock: studio.clock)
    }
    let (clean, _) = try run(crashAt: nil)
    #expect(clean.operations > 8)
    let seed = testSeed(0xC4A5)
    var random = SeededGenerator(seed: seed)
    var resumed = 0
    for crashAt in 1...clean.operations {
      let (disk, progress) = try run(crashAt: crashAt)
      for image in [disk.imageWithNothing, disk.imageAfterPowerLoss(using: &random)] {
        let target = dir.file("image-\(crashAt).vault")
        try Data(image).write(to: URL(fileURLWithPath: target))
        if try Self.checkRecovered(
          target, progress: progress, bytes: bytes, clock: studio.clock,
          context: "crash at \(crashAt), seed \(seed)")
        {
          resumed += 1
        }
        try? FileManager.default.removeItem(atPath: target)
        try? FileManager.default.removeItem(atPath: target + "-lock")
      }
    }
    #expect(resumed > 0)
  }

  /// Opens a vault recovered after a crash during an upload and checks it: clean, the
  /// blob whole if `finish` returned, invisible otherwise, and resumable when its
  /// beginning was committed. Returns whether it was resumed.
  static func checkRecovered(
    _ path: String, progress: UploadProgress, bytes: [UInt8], clock: TestClock, context: String
  ) throws -> Bool {
    let store = try RecordStore.open(at: path, credential: testCredential)
    // Logging in commits, which clears a torn commit's slot (FORMAT.md 10.6).
    let (owner, _) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword), clock: clock.read)
    let report = Checker.check(path: path, credential: testCredential)
    #expect(report.ok, "\(context): \(report.problems)")
    if let receipt = progress.receipt {
      // Acknowledged: it must be there, whole.
      #expect(try readAll(owner.openBlob(receipt.blob)) == bytes, "\(context)")
      return false
    }
    guard let blob = progress.blob else { return false }
    // Not finished: not visible, whatever reached the disk.
    #expect(throws: VaultError.self) { _ = try owner.openBlob(blob) }
    // Begun durably or not; when it was, it resumes from what was committed.
    guard let upload = try? owner.resumeUpload(blob) else { return false }
    #expect(upload.bytesCommitted >= progress.committed, "\(context)")
    try upload.write(Array(bytes[Int(upload.bytesCommitted)...]))
    let receipt = try upload.finish()
    #expect(receipt.sha256 == Hex.encode(SHA256.hash(bytes)), "\(context)")
    #expect(try readAll(owner.openBlob(blob)) == bytes, "\(context)")
    return true
  }

  /// The whole content of a blob.
  static func readAll(_ reader: BlobReader) throws -> [UInt8] {
    try reader.read(at: 0, count: Int(reader.size))
  }

  /// How far an upload got before a simulated crash.
  struct UploadProgress {
    var blob: RecordID?
    var committed: UInt64 = 0
    var receipt: UploadReceipt?
  }

  /// Logs in as the owner on a simulated disk holding `image` and uploads `bytes`,
  /// until the disk crashes at operation `crashAt` (if given).
  static func uploadOnSimulatedDisk(
    image: [UInt8], crashAt: Int?, lockPath: String, bytes: [UInt8], project: RecordID,
    clock: TestClock
  ) throws -> (SimulatedDisk, UploadProgress) {
    let disk = SimulatedDisk(image: image)
    disk.crashAtOperation = crashAt
    var progress = UploadProgress()
    do {
      let store = try RecordStore(
        SealedStore(
          VaultStore(path: lockPath, file: disk, options: .init(), credential: testCredential)))
      let (owner, _) = try store.login(
        user: "owner", password: SecretBytes(utf8: ownerPassword), clock: clock.read)
      let upload = try owner.beginUpload(
        into: project, fileName: "crash.bin", kind: nil, chunkSize: chunk)
      progress.blob = upload.blob
      for piece in stride(from: 0, to: bytes.count, by: 40_000) {
        try upload.write(Array(bytes[piece..<min(bytes.count, piece + 40_000)]))
        progress.committed = upload.bytesCommitted
      }
      progress.receipt = try upload.finish()
    } catch {
      guard disk.hasCrashed else { throw error }
    }
    return (disk, progress)
  }

  /// Whether identical content exists already changes nothing a vendor can observe:
  /// nothing is looked up by content (there is no deduplication), so the receipt has
  /// the same fields, a new blob id and media record, and the path taken is the same.
  @Test func aVendorsReceiptSaysNothingAboutExistingContent() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let vendor = try studio.vendorHandle()
    let known = Self.content(Self.chunk + 7, compressible: true, seed: 8)
    let staffCopy = try Self.upload(known, by: studio.owner, into: studio.project)
    let fresh = Self.content(Self.chunk + 7, compressible: true, seed: 9)
    var receipts = [UploadReceipt]()
    for bytes in [known, fresh, known] {
      let upload = try vendor.beginUpload(
        into: studio.project, fileName: "v.bin", kind: nil, chunkSize: Self.chunk)
      try upload.write(bytes)
      receipts.append(try upload.finish())
    }
    #expect(
      receipts.map(\.size) == [UInt64(known.count), UInt64(fresh.count), UInt64(known.count)])
    #expect(receipts[0].sha256 == staffCopy.sha256 && receipts[2].sha256 == staffCopy.sha256)
    #expect(
      Set(receipts.map(\.blob)).count == 3 && !receipts.contains { $0.blob == staffCopy.blob })
    // Each is a blob of its own, stored whole (readable by staff), in the vendor's inbox.
    for receipt in receipts {
      let info = try studio.owner.openBlob(receipt.blob).info
      #expect(info.isVendorUpload && info.uploader == studio.vendor)
    }
    // And the vendor can read back none of them, its own included.
    for id in receipts.map(\.blob) + [staffCopy.blob] {
      #expect(VendorTests.refusal { _ = try vendor.openBlob(id) } != nil)
    }
  }

  /// Two sessions never write one blob: a resumed session makes the first one's next
  /// commit fail, a finished blob refuses the other session, and an abort stops the
  /// session it aborts. Nothing is left behind.
  @Test func oneUploadIsWrittenByOneSessionOnce() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let owner = studio.owner
    let bytes = Self.content(3 * Self.chunk + 9, compressible: false, seed: 10)
    let first = try owner.beginUpload(
      into: studio.project, fileName: "a.bin", kind: nil, chunkSize: Self.chunk)
    try first.write(Array(bytes[..<(Self.chunk + 1)]))
    // Its first chunk commits on the upload's committing thread; this waits for it.
    #expect(first.bytesCommitted == UInt64(Self.chunk))
    let second = try owner.resumeUpload(first.blob)
    #expect(second.bytesCommitted == UInt64(Self.chunk))
    try second.write(Array(bytes[Self.chunk...]))
    let receipt = try second.finish()
    // The first session's next commit finds the blob changed under it.
    #expect(throws: VaultError.self) { try first.write(Array(bytes[(Self.chunk + 1)...])) }
    #expect(throws: VaultError.self) { _ = try first.finish() }
    #expect(try Self.readAll(owner.openBlob(receipt.blob)) == bytes)
    // A session holding a stale view of a finished upload cannot add to it either.
    let third = try owner.beginUpload(
      into: studio.project, fileName: "b.bin", kind: nil, chunkSize: Self.chunk)
    try third.write(Array(bytes[..<(2 * Self.chunk + 1)]))
    #expect(third.bytesCommitted == UInt64(2 * Self.chunk))
    let resumed = try owner.resumeUpload(third.blob)
    _ = try third.finish()
    #expect(throws: VaultError.self) { _ = try resumed.finish() }
    // An abort stops the session it aborts; its chunks are gone with the blob.
    let fourth = try owner.beginUpload(
      into: studio.project, fileName: "c.bin", kind: nil, chunkSize: Self.chunk)
    try fourth.write(Array(bytes[..<(Self.chunk + 1)]))
    #expect(fourth.bytesCommitted == UInt64(Self.chunk))
    try owner.abortUpload(fourth.blob)
    #expect(throws: VaultError.self) { try fourth.write(Array(bytes[(Self.chunk + 1)...])) }
    let survey = Inspection(snapshot: try studio.store.sealed.store.makeSnapshot())
    #expect(survey.problems.isEmpty, "\(survey.problems)")
    #expect(survey.extentCount == 4 + 3)
  }

  /// A vendor whose access ends mid-upload cannot commit another chunk: each chunk's
  /// commit checks the engagement again, and the refusal is logged.
  @Test func anUploadStopsWhenTheVendorsAccessEnds() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let vendor = try studio.vendorHandle()
    let upload = try vendor.beginUpload(
      into: studio.project, fileName: "late.raw", kind: .raw, chunkSize: Self.chunk)
    try upload.write(Self.content(Self.chunk + 1, compressible: false, seed: 12))
    #expect(upload.bytesCommitted == UInt64(Self.chunk))
    _ = try studio.owner.completeProject(studio.project)
    studio.clock.advance(by: 1_000)
    // The next chunk's commit is refused on the committing thread: the write that sealed
    // it may return, but the upload stops there and nothing more is committed.
    _ = try? upload.write(Self.content(Self.chunk, compressible: false, seed: 13))
    #expect(throws: VaultError.self) { _ = try upload.finish() }
    #expect(upload.bytesCommitted == UInt64(Self.chunk))
    let denials = try studio.owner.readAudit().entries.filter {
      $0.event.action == .accessDenied && $0.event.targets == [studio.project.bytes]
    }
    #expect(denials.count == 1)
  }

  /// A forged extent header claiming gigabytes makes keyless tools report the page,
  /// not allocate what it claims.
  @Test func aForgedExtentLengthIsRefusedBeforeAnythingIsRead() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let receipt = try Self.upload(
      Self.content(Self.chunk, compressible: false, seed: 11), by: studio.owner,
      into: studio.project)
    let store = studio.store.sealed.store
    let location = try studio.store.sealed.read { snapshot throws(VaultError) in
      try snapshot.snapshot.anyTree(named: BlobKeys.chunkTree)!.extent(
        forKey: BlobKeys.chunk(receipt.blob.bytes, 0))!
    }
    let path = store.path
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    try handle.seek(toOffset: location.head.page.rawValue * UInt64(store.pageSize) + 20)
    try handle.write(contentsOf: [0xF0, 0xFF, 0xFF, 0xFF])
    try handle.close()
    let report = Checker.check(path: path, credential: nil)
    #expect(report.problems.contains { $0.page == location.head.page.rawValue })
    let page = vault("page", path, String(location.head.page.rawValue), "--json")
    #expect(page.status == 0)
    #expect(throws: VaultError.self) { _ = try studio.owner.openBlob(receipt.blob).chunk(0) }
  }

  /// Prefix ranges carry past 0xFF bytes: a project id ending in 0xFF (one in 256)
  /// still finds its blobs.
  @Test func prefixRangesCarryPastFF() throws {
    #expect(BlobKeys.successor(of: [0x02, 0x10, 0xFF]) == [0x02, 0x11])
    #expect(BlobKeys.successor(of: [0x02, 0xFF, 0xFF]) == [0x03])
    #expect(BlobKeys.successor(of: [0xFF, 0xFF]) == nil)
    let project = try RecordID(bytes: [UInt8](repeating: 0x41, count: 15) + [0xFF])
    let range = BlobKeys.projectIndexRange(project)
    let entry = BlobKeys.projectIndex(project.bytes, [UInt8](repeating: 9, count: 16))
    #expect(KeyOrder.compare(range.start[...], entry[...]) < 0)
    #expect(KeyOrder.compare(entry[...], try #require(range.end)[...]) < 0)
  }

  @Test func anAbandonedUploadLeavesNoBlobAndIsPurgedAfterAWeek() throws {
    let dir = TemporaryDirectory()
    let studio = try VendorTests.studio(dir)
    let upload = try studio.owner.beginUpload(
      into: studio.project, fileName: "half.bin", kind: nil, chunkSize: Self.chunk)
    try upload.write(Self.content(2 * Self.chunk + 1, compressible: false, seed: 7))
    #expect(upload.bytesCommitted == UInt64(2 * Self.chunk))
    #expect(throws: VaultError.self) { _ = try studio.owner.openBlob(upload.blob) }
    #expect(try studio.owner.blobs(ofProject: studio.project).isEmpty)
    #expect(try studio.owner.purgeBlobs() == BlobPurgeReport())
    studio.clock.advance(by: 8 * 24 * 3600 * 1000)
    let owner = try VendorTests().ownerSession(studio)!.handle
    #expect(try owner.purgeBlobs().abandoned == 1)
    #expect(throws: VaultError.self) { _ = try owner.resumeUpload(upload.blob) }
    let survey = Inspection(snapshot: try studio.store.sealed.store.makeSnapshot())
    #expect(survey.problems.isEmpty && survey.extentCount == 0)
  }

  /// A manifest name longer than 255 bytes is cut at a character's start, so it stays
  /// valid UTF-8 and opens again (uploads refuse such names; a cut inside a character,
  /// found by FuzzBlob, did not survive sealing and opening); bytes that are not UTF-8
  /// are refused.
  @Test func aLongMultibyteManifestNameIsCutAtACharacter() throws {
    let key = try SymmetricKey(copying: [UInt8](repeating: 4, count: 32))
    let (blob, vault) = ([UInt8](repeating: 1, count: 16), [UInt8](repeating: 2, count: 16))
    var manifest = BlobManifest(
      project: [UInt8](repeating: 3, count: 16), branch: [UInt8](repeating: 5, count: 16),
      uploader: [UInt8](repeating: 6, count: 16), isVendorUpload: false, createdAt: 0,
      chunkSize: 1 << 20, name: String(repeating: "é", count: 300))
    let opened = try BlobManifest(
      opening: manifest.seal(blob: blob, vaultID: vault, key: key), blob: blob, vaultID: vault,
      key: key)
    #expect(opened.name == String(repeating: "é", count: 127))
    // A name of 255 bytes ending in a whole character is kept whole.
    manifest.name = String(repeating: "a", count: 253) + "é"
    let whole = try BlobManifest(
      opening: manifest.seal(blob: blob, vaultID: vault, key: key), blob: blob, vaultID: vault,
      key: key)
    #expect(whole.name == manifest.name)
  }

  /// A blob with a fresh key and a manifest of 1 MiB chunks, for sealing chunks
  /// outside any vault.
  static func detachedBlob(name: String) -> OpenedBlob {
    OpenedBlob(
      id: RecordID.random(),
      manifest: BlobManifest(
        project: RecordID.random().bytes, branch: RecordID.random().bytes,
        uploader: RecordID.random().bytes, isVendorUpload: false, createdAt: 0,
        chunkSize: 1 << 20, name: name),
      key: SymmetricKey.random())
  }

  /// An upload seals each chunk into the run of a chunk already written: whatever that
  /// run held outside the new body (a longer body, the old header) must be zero again,
  /// exactly as in a fresh run, and the chunk must open.
  @Test func aReusedRunIsSealedExactlyLikeAFreshOne() throws {
    let pageSize = 4096
    let vault = [UInt8](repeating: 7, count: 16)
    let blob = Self.detachedBlob(name: "reuse.bin")
    // Two payloads whose runs have the same page count, the second body shorter.
    let long = Self.content(3 * pageSize - 200, compressible: false, seed: 1)
    let short = Array(long.prefix(2 * pageSize + 100))
    #expect(
      BlobExtent.pageCount(
        bodyLength: BlobChunk.bodyLength(payload: long.count), pageSize: pageSize)
        == BlobExtent.pageCount(
          bodyLength: BlobChunk.bodyLength(payload: short.count), pageSize: pageSize))
    func seal(_ payload: [UInt8], reusing spare: [UInt8]) throws -> SealedChunk {
      var spare = spare
      return try ([BlobChunk.stored] + payload).withUnsafeBytes { message in
        try SealedChunk.seal(
          message, index: 0, final: true, of: blob, vaultID: vault, pageSize: pageSize,
          reusing: &spare)
      }
    }
    var used = try seal(long, reusing: []).takeRun()
    // As a written run comes back: with its header filled in.
    _ = BlobExtent.finish(
      &used, bodyLength: BlobChunk.bodyLength(payload: long.count), page: PageNumber(40),
      transaction: TransactionID(9), tree: TreeID(5))
    let reused = try seal(short, reusing: used)
    let fresh = try seal(short, reusing: [])
    #expect(reused.bodyLength == fresh.bodyLength)
    let reusedRun = reused.takeRun()
    let freshRun = fresh.takeRun()
    #expect(reusedRun.count == freshRun.count)
    let bodyEnd = FileFormat.pageHeaderSize + reused.bodyLength
    #expect(reusedRun[..<FileFormat.pageHeaderSize].allSatisfy { $0 == 0 })
    #expect(reusedRun[bodyEnd...].allSatisfy { $0 == 0 })
    #expect(Array(reusedRun[bodyEnd...]) == Array(freshRun[bodyEnd...]))
    var body = Array(reusedRun[FileFormat.pageHeaderSize..<bodyEnd])
    let opened = try BlobChunk.openInPlace(
      &body, key: blob.key,
      associatedData: BlobChunk.associatedData(
        vaultID: vault, blob: blob.id.bytes, index: 0, final: true))
    #expect(Array(body[opened.payload]) == short)
  }

  /// A spare run of another size is resized within its capacity (a final chunk is
  /// shorter than the others; the next upload's first chunk longer again), and a run
  /// too small is replaced: each time the run holds exactly what a fresh one would.
  @Test func aSpareRunIsResizedWithinItsCapacity() throws {
    let pageSize = 4096
    let vault = [UInt8](repeating: 3, count: 16)
    let blob = Self.detachedBlob(name: "resize.bin")
    func seal(_ payload: [UInt8], reusing spare: inout [UInt8]) throws -> [UInt8] {
      let chunk = try ([BlobChunk.stored] + payload).withUnsafeBytes { message in
        try SealedChunk.seal(
          message, index: 0, final: true, of: blob, vaultID: vault, pageSize: pageSize,
          reusing: &spare)
      }
      var run = chunk.takeRun()
      let bodyLength = BlobChunk.bodyLength(payload: payload.count)
      #expect(chunk.bodyLength == bodyLength)
      #expect(
        run.count == BlobExtent.pageCount(bodyLength: bodyLength, pageSize: pageSize) * pageSize)
      let bodyEnd = FileFormat.pageHeaderSize + bodyLength
      #expect(run[..<FileFormat.pageHeaderSize].allSatisfy { $0 == 0 })
      #expect(run[bodyEnd...].allSatisfy { $0 == 0 })
      var body = Array(run[FileFormat.pageHeaderSize..<bodyEnd])
      let opened = try BlobChunk.openInPlace(
        &body, key: blob.key,
        associatedData: BlobChunk.associatedData(
          vaultID: vault, blob: blob.id.bytes, index: 0, final: true))
      #expect(Array(body[opened.payload]) == payload)
      // As a written run comes back: its header filled in.
      _ = BlobExtent.finish(
        &run, bodyLength: bodyLength, page: PageNumber(40), transaction: TransactionID(9),
        tree: TreeID(5))
      return run
    }
    func address(_ run: [UInt8]) -> UnsafeRawPointer? {
      run.withUnsafeBytes { UnsafeRawPointer($0.baseAddress) }
    }
    let long = Self.content(5 * pageSize - 300, compressible: false, seed: 2)
    let short = Array(long.prefix(pageSize / 2))
    var spare = [UInt8]()
    var first = try seal(long, reusing: &spare)
    let storage = address(first)
    // Shrunk in place: the padding after the shorter body is zero again.
    var second = try seal(short, reusing: &first)
    #expect(second.count == pageSize)
    #expect(address(second) == storage)
    // Grown back within its capacity: the pages added are zero, not stale bytes.
    let third = try seal(long, reusing: &second)
    #expect(third.count == 5 * pageSize)
    #expect(address(third) == storage)
    // A run too small for the next body is replaced by a new one.
    var small = try seal(short, reusing: &spare)
    let replaced = try seal(long, reusing: &small)
    #expect(replaced.count == 5 * pageSize)
  }
}
