import VaultCore
import VaultCrypto
import VaultFormat

/// Upload blobs through a handle (../shared/spec/access.md): who stores, reads, retains,
/// holds and deletes them. Blobs are write-once: nothing changes a stored blob's bytes;
/// a new version is a new blob. Every refused overwrite or early deletion fails with
/// `.worm` and is logged (`wormRefused`).
///
/// - Store: owners, hq, branch managers and staff into a live project of their scope;
///   vendors into the inbox of a project they are actively engaged on (write-only:
///   they cannot list, read, replace or delete blobs).
/// - Read: owners, hq, branch managers and staff, in their scope.
/// - Retention (set, extend): owners, hq, branch managers (their branch). Shortening or
///   removing governance retention before it ends is an owner's, with a step-up;
///   compliance retention is only ever extended.
/// - Legal hold (place, release): owners and hq, with a step-up.
/// - Delete: owners, hq, branch managers, once no retention or hold protects the blob;
///   under governance retention, an owner with a step-up.
extension VaultHandle {
  /// The roles that store and read blobs.
  static let blobUsers = ["owner", "hq", "branchManager", "staff"]

  // MARK: Storing

  /// Starts an upload of a file into project `project`: write its bytes to the upload,
  /// then ``BlobUpload/finish()``, which stores the blob, its media record (file name,
  /// kind, size, content hash) and the audit entry in one commit.
  ///
  /// - Throws: `.policyViolation` (logged) outside the rules above: one message for a
  ///   vendor whether or not the project exists.
  public func beginUpload(into project: RecordID, fileName: String, kind: MediaKind? = nil)
    throws(VaultError) -> BlobUpload
  {
    try beginUpload(
      into: project, fileName: fileName, kind: kind, chunkSize: BlobStorage.defaultChunkSize)
  }

  /// ``beginUpload(into:fileName:kind:)`` with a chunk size of its own (64 KiB to
  /// 4 MiB; tests use small ones).
  @_spi(Engine) public func beginUpload(
    into project: RecordID, fileName: String, kind: MediaKind?, chunkSize: Int
  ) throws(VaultError) -> BlobUpload {
    try requireLive()
    guard let size = UInt32(exactly: chunkSize), BlobManifest.chunkSizes.contains(size) else {
      throw VaultError(.invalidArgument, "a chunk is 64 KiB to 4 MiB")
    }
    guard !fileName.isEmpty, fileName.utf8.count <= BlobManifest.maximumNameLength else {
      throw VaultError(.invalidRecord, "fileName: 1 to 255 bytes")
    }
    // Checked now (a transaction that writes nothing commits nothing); stored with the
    // upload's first commit, and checked again as it completes.
    let manifest = try workflowWrite(.uploadStored, on: project) {
      records, scope throws(VaultError) in
      let branch = try uploadBranch(project, records: records, scope: scope)
      return BlobManifest(
        project: project.bytes, branch: branch.bytes, uploader: principal.user.bytes,
        isVendorUpload: isVendor, createdAt: records.now.milliseconds,
        chunkSize: UInt32(chunkSize), name: fileName)
    }
    let opened = OpenedBlob(id: RecordID.random(), manifest: manifest, key: SymmetricKey.random())
    return upload(
      opened, resumedChunks: 0, isStored: false,
      hasher: ChunkHasher(addressKey: store.sealed.blobAddressKey), kind: kind)
  }

  /// Continues an upload that stopped (a crash, a failed commit) from its last
  /// committed chunk: write the rest of the file from ``BlobUpload/bytesCommitted`` on.
  /// Only the user who began it resumes it.
  ///
  /// - Throws: `.worm` (logged) for a blob already stored: blobs are never rewritten.
  public func resumeUpload(_ blob: RecordID, kind: MediaKind? = nil) throws(VaultError)
    -> BlobUpload
  {
    try requireLive()
    let (opened, chunks) = try workflowWrite(.uploadStored, on: blob) {
      records, scope throws(VaultError) in
      guard let opened = try records.source.sealed.blob(blob),
        opened.manifest.uploader == principal.user.bytes
      else { throw VaultError(.noSuchRecord, "no upload \(blob) of this user") }
      guard opened.manifest.state == .uploading else {
        throw VaultError(.worm, "blob \(blob) is stored: a blob is never rewritten")
      }
      _ = try uploadBranch(
        try RecordID(bytes: opened.manifest.project), records: records, scope: scope)
      return (opened, UInt64(try records.source.sealed.chunkKeys(of: blob).count))
    }
    // Hash what is committed again, reading it back (verified): the hashes' state is
    // never stored.
    let hasher = ChunkHasher(addressKey: store.sealed.blobAddressKey)
    let reader = try BlobReader(sealed: store.sealed, blob: opened, visibleChunks: chunks)
    for index in 0..<chunks {
      let chunk = try reader.chunk(index)
      if index == 0 {
        hasher.skipsCompression = chunk.withUnsafeBytes {
          ChunkCompression.isCompressedMedia(UnsafeRawBufferPointer(rebasing: $0.prefix(32)))
        }
      }
      chunk.withUnsafeBytes { hasher.update($0) }
    }
    return upload(opened, resumedChunks: chunks, isStored: true, hasher: hasher, kind: kind)
  }

  /// Abandons an unfinished upload: its chunks and key are removed. The user who began
  /// it, or a manager in its scope, may.
  public func abortUpload(_ blob: RecordID) throws(VaultError) {
    try workflowWrite(.blobDeleted, on: blob) { records, scope throws(VaultError) in
      guard let opened = try records.source.sealed.blob(blob), opened.manifest.state == .uploading,
        opened.manifest.uploader == principal.user.bytes
          || (Self.managers.contains(principal.role)
            && scope.contains(branch: opened.manifest.branch))
      else { throw VaultError(.noSuchRecord, "no unfinished upload \(blob) here") }
      try records.deleteBlob(opened, reason: "upload aborted")
    }
    try store.sealed.finishScrubIfPending()
  }

  /// Stores `bytes` as a new blob in one call (small files; stream large ones).
  public func storeBlob(
    _ bytes: [UInt8], into project: RecordID, fileName: String, kind: MediaKind? = nil
  ) throws(VaultError) -> UploadReceipt {
    let upload = try beginUpload(into: project, fileName: fileName, kind: kind)
    try upload.write(bytes)
    return try upload.finish()
  }

  /// The branch of `project` if this handle may upload into it, else a policy refusal.
  private func uploadBranch(_ project: RecordID, records: RecordTransaction, scope: Scope)
    throws(VaultError) -> RecordID
  {
    if isVendor {
      let view = try vendorView(records.source)
      guard view.projects.contains(project),
        let branch = try records.source.load(.projects, project.bytes)?.branch
      else {
        throw VaultError(
          .policyViolation, "uploads go only into a project this vendor is actively engaged on")
      }
      return branch
    }
    guard Self.blobUsers.contains(principal.role) else {
      throw VaultError(.policyViolation, "a \(principal.role) does not store uploads")
    }
    guard let stored = try records.source.get(.projects, project, scope: scope),
      stored.deletedAt == nil, let branch = stored.branch
    else { throw VaultError(.noSuchRecord, "no project \(project) in this scope") }
    return branch
  }

  private func upload(
    _ opened: OpenedBlob, resumedChunks: UInt64, isStored: Bool, hasher: ChunkHasher,
    kind: MediaKind?
  ) -> BlobUpload {
    let project = (try? RecordID(bytes: opened.manifest.project)) ?? opened.id
    return BlobUpload(
      store: store, actor: principal.user, opened: opened, resumedChunks: resumedChunks,
      isStoredAlready: isStored, hasher: hasher,
      authorize: { () throws(VaultError) in try self.requireLive() }, clock: { self.now() },
      complete: { records, manifest throws(VaultError) in
        // The rules are checked again as the blob becomes visible: an engagement or a
        // project may have ended while the bytes came in.
        let branch = try self.uploadBranch(project, records: records, scope: self.scope)
        var media = Record(.media, branch: branch)
        media["project"] = .bytes(project.bytes)
        media["fileName"] = .string(manifest.name)
        if let kind { media["kind"] = .string(kind.rawValue) }
        media["size"] = .integer(Int64(clamping: manifest.size))
        media["blob"] = .string(opened.id.description)
        media["contentHash"] = .string("sha256:" + Hex.encode(manifest.sha256))
        media["uploader"] = .bytes(self.principal.user.bytes)
        let stored = try records.insertTrusted(media, scope: .branch(branch))
        guard let id = stored.id else {
          throw VaultError(.internal, "a stored media record without id")
        }
        try records.audit(
          .uploadStored, about: stored,
          detail: [
            "size": .int(Int64(clamping: manifest.size)), "blob": .string(opened.id.description),
          ])
        return id
      },
      permit: { records throws(VaultError) in
        _ = try self.uploadBranch(project, records: records, scope: self.scope)
      },
      refused: { (error) throws(VaultError) in
        error.code == .worm
          ? try self.refusedByWORM(.uploadStored, opened.id, error.message)
          : try self.denied(.uploadStored, project, error.message)
      })
  }

  // MARK: Reading

  /// Opens blob `id` for reading: streaming, or at any offset.
  ///
  /// - Throws: `.policyViolation` (logged) for vendors and roles that do not read
  ///   blobs; `.noSuchRecord` for a blob outside the handle's scope, unfinished, or
  ///   deleted.
  public func openBlob(_ id: RecordID) throws(VaultError) -> BlobReader {
    try requireLive()
    guard Self.blobUsers.contains(principal.role) else {
      throw try denied(.uploadStored, id, "only staff and above read uploads")
    }
    let opened = try store.sealed.read { snapshot throws(VaultError) in
      try snapshot.blob(id)
    }
    guard let opened, opened.manifest.state == .complete,
      scope.contains(branch: opened.manifest.branch)
    else { throw VaultError(.noSuchRecord, "no blob \(id) in this scope") }
    return try BlobReader(sealed: store.sealed, blob: opened)
  }

  /// The stored blobs of project `project`, as readers see them.
  public func blobs(ofProject project: RecordID) throws(VaultError) -> [BlobInfo] {
    try requireLive()
    guard Self.blobUsers.contains(principal.role) else {
      throw try denied(.uploadStored, project, "only staff and above list uploads")
    }
    return try store.sealed.read { snapshot throws(VaultError) in
      var found = [BlobInfo]()
      for id in try snapshot.blobs(ofProject: project) {
        guard let opened = try snapshot.blob(id), opened.manifest.state == .complete,
          scope.contains(branch: opened.manifest.branch)
        else { continue }
        found.append(try BlobReader(sealed: store.sealed, blob: opened).info)
      }
      return found
    }
  }
}

extension Scope {
  /// Whether the scope reaches branch `branch` (16 bytes).
  func contains(branch: [UInt8]) -> Bool {
    switch self {
    case .organization: true
    case .branch(let own): own.bytes == branch
    }
  }
}
