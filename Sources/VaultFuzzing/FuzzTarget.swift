import Glibc
@_spi(Engine) import StudioVault
import VaultCLI
import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// The fuzz targets: one harness per parser of untrusted bytes (Fuzz/ runs each under
/// libFuzzer; `swift test` replays Fuzz/Corpus and Fuzz/FailCases through the same
/// functions).
///
/// A harness feeds its input to a decoder, which must return a value or throw a
/// `VaultError`, never trap; where an encoder exists, what decodes must encode back
/// (`decode(encode(x)) == x`); verifiers must never accept what they should not. A
/// broken property is a `preconditionFailure`, which libFuzzer reports as a crash.
@_spi(Fuzzing) public enum FuzzTarget: String, CaseIterable, Sendable {
  case fileHeader = "FileHeader"
  case metaPage = "MetaPage"
  case page = "Page"
  case leafRoundTrip = "LeafRoundTrip"
  case record = "Record"
  case jsonImport = "JSONImport"
  case auditEntry = "AuditEntry"
  case checkpoint = "Checkpoint"
  case merkleProof = "MerkleProof"
  case blob = "Blob"
  case incrementalBackup = "IncrementalBackup"
  case vaultFile = "VaultFile"
  case arguments = "Arguments"

  /// Runs the harness on one input.
  public func run(_ bytes: [UInt8]) {
    switch self {
    case .fileHeader: Harness.fileHeader(bytes)
    case .metaPage: Harness.metaPage(bytes)
    case .page: Harness.page(bytes)
    case .leafRoundTrip: Harness.leafRoundTrip(bytes)
    case .record: Harness.record(bytes)
    case .jsonImport: Harness.jsonImport(bytes)
    case .auditEntry: Harness.auditEntry(bytes)
    case .checkpoint: Harness.checkpoint(bytes)
    case .merkleProof: Harness.merkleProof(bytes)
    case .blob: Harness.blob(bytes)
    case .incrementalBackup: Harness.incrementalBackup(bytes)
    case .vaultFile: Harness.vaultFile(bytes)
    case .arguments: Harness.arguments(bytes)
    }
  }

  /// The libFuzzer entry point's body: `LLVMFuzzerTestOneInput` calls this.
  public func run(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    run(size == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
  }
}

/// The harnesses.
enum Harness {
  static let key: SymmetricKey = {
    guard let key = try? SymmetricKey(copying: [UInt8](repeating: 7, count: 32)) else {
      preconditionFailure("a 32-byte key is always accepted")
    }
    return key
  }()
  static let vaultID = [UInt8](repeating: 1, count: 16)

  /// Reads fuzz input as a little stream of choices.
  struct Input {
    var bytes: [UInt8]
    var offset = 0
    mutating func byte() -> UInt8 {
      guard offset < bytes.count else { return 0 }
      defer { offset += 1 }
      return bytes[offset]
    }
    mutating func take(_ count: Int) -> [UInt8] {
      let end = min(bytes.count, offset + max(0, count))
      defer { offset = end }
      return Array(bytes[min(offset, end)..<end])
    }
    var rest: [UInt8] { offset < bytes.count ? Array(bytes[offset...]) : [] }
  }

  // MARK: File header and meta pages

  static func fileHeader(_ bytes: [UInt8]) {
    _ = try? KeySlot(decoding: bytes)
    guard let pageSize = try? FileHeader.peekPageSize(bytes, page: PageNumber(0)) else { return }
    let padded = Array((bytes + [UInt8](repeating: 0, count: pageSize)).prefix(pageSize))
    guard let page = try? Page(padded, location: PageNumber(0)),
      let header = try? FileHeader(page: page)
    else { return }
    // What decodes encodes to a page that decodes to the same header.
    let again = header.encodePage(PageNumber(1), transaction: TransactionID(3))
    guard let reread = try? FileHeader(page: Page(again, location: PageNumber(1))) else {
      preconditionFailure("a header re-encoded from a decoded one does not decode")
    }
    precondition(
      reread.vaultID == header.vaultID && reread.pageSize == header.pageSize
        && reread.keySlot == header.keySlot && reread.auditPublicKey == header.auditPublicKey,
      "a header does not survive a round trip")
  }

  static func metaPage(_ bytes: [UInt8]) {
    for location in FileFormat.metaPages {
      guard let page = try? Page(bytes, location: location),
        let meta = try? MetaPage(page: page)
      else { continue }
      // A root read without the key stays sealed, and cannot be written again.
      if case .sealed = meta.root { continue }
      let encoded = meta.encode(pageSize: bytes.count)
      guard let again = try? MetaPage(page: Page(encoded, location: location)) else {
        preconditionFailure("a meta page re-encoded from a decoded one does not decode")
      }
      precondition(again == meta, "a meta page does not survive a round trip")
    }
  }

  // MARK: Pages and nodes

  /// Any page, as a reader that followed a link to it meets it: every decoder its type
  /// has, and verification against a link made from its own header.
  static func page(_ bytes: [UInt8]) {
    var input = Input(bytes: bytes)
    let location = PageNumber(UInt64(input.byte()) % 40)
    let body = input.rest
    guard FileFormat.isValidPageSize(body.count) || body.count >= 64 else { return }
    _ = try? BlobExtent.decodeHeader(body[...], location: location)
    guard let page = try? Page(body, location: location) else { return }
    let link = PageLink(
      page: location, transaction: page.header.transaction, checksum: page.storedChecksum)
    _ = try? page.verify(against: link)
    _ = page.hasValidChecksum
    _ = try? InteriorPage.decode(page)
    _ = try? LeafPage.decode(page)
    _ = try? OverflowPage.decode(page)
    _ = try? OverflowPage.next(of: page)
    if let leaf = try? LeafPage.decode(page) {
      for index in leaf.cells.indices {
        _ = try? FreeListEntry(key: leaf.key(index), value: leaf.bytes[...])
        _ = SystemTree.treeName(fromKey: leaf.key(index))
      }
    }
    _ = try? BlobExtent.verify(
      body, against: link, tree: page.header.tree, pages: max(1, body.count / 4096),
      pageSize: 4096)
  }

  /// A leaf built from the input: encoded into a page, decoded, the same entries.
  static func leafRoundTrip(_ bytes: [UInt8]) {
    var input = Input(bytes: bytes)
    var entries = [(key: [UInt8], value: OwnedValue)]()
    var keys = Set<[UInt8]>()
    while input.offset < input.bytes.count, entries.count < 64 {
      let key = input.take(Int(input.byte() % 32))
      let kind = input.byte() % 4
      let value: OwnedValue
      let link = PageLink(
        page: PageNumber(UInt64(input.byte()) + 20),
        transaction: TransactionID(UInt64(input.byte())),
        checksum: Checksum(low: UInt64(input.byte()), high: 1))
      switch kind {
      case 0: value = .overflow(length: UInt64(input.byte()) + 1, head: link)
      case 1: value = .extent(pages: UInt32(input.byte()) + 1, head: link)
      default: value = .inline(input.take(Int(input.byte())))
      }
      guard keys.insert(key).inserted else { continue }
      entries.append((key, value))
    }
    // A leaf page holds at least one cell (an empty tree has no root page).
    guard !entries.isEmpty else { return }
    entries.sort { $0.key.lexicographicallyPrecedes($1.key) }
    let node = LeafNode(entries)
    let pageSize = 16_384
    guard LeafPage.contentSize(of: node.cells) <= FileFormat.contentCapacity(pageSize: pageSize)
    else {
      return
    }
    let encoded = LeafPage.encode(
      node.cells, in: node.bytes, page: PageNumber(30), transaction: TransactionID(5),
      tree: TreeID(16), pageSize: pageSize)
    guard let page = try? Page(encoded, location: PageNumber(30)), page.hasValidChecksum,
      let decoded = try? LeafPage.decode(page)
    else { preconditionFailure("an encoded leaf does not decode") }
    precondition(decoded.cells.count == entries.count, "a leaf lost cells in a round trip")
    for (index, entry) in entries.enumerated() {
      precondition(Array(decoded.key(index)) == entry.key, "a leaf's key changed")
      let value: OwnedValue =
        switch decoded.cells[index].value {
        case .inline(let range): .inline(Array(decoded.bytes[range]))
        case .overflow(let length, let head): .overflow(length: length, head: head)
        case .tree(let root): .tree(root)
        case .extent(let pages, let head): .extent(pages: pages, head: head)
        }
      precondition(value == entry.value, "a leaf's value changed")
    }
  }

  // MARK: Records

  static func record(_ bytes: [UInt8]) {
    var input = Input(bytes: bytes)
    let collections = RecordCollection.allCases
    let collection = collections[Int(input.byte()) % collections.count]
    let body = input.rest
    guard let (version, fields) = try? RecordEncoding.decode(body) else { return }
    // One encoding per record: what decodes encodes back to the same bytes.
    precondition(
      RecordEncoding.encode(fields, schema: version) == body,
      "a record body decoded from bytes it does not encode to")
    if let id = try? RecordID(bytes: [UInt8](repeating: 9, count: 16)),
      let record = try? Record.decode(body, collection: collection, id: id)
    {
      _ = record.json
    }
    _ = try? WrappedDataKey(decoding: body)
    _ = try? SealedRecord(decoding: body)
    _ = try? DataKeyEntry(decoding: body)
  }

  static func jsonImport(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let json = try? JSON.parse(text) else { return }
    // A parsed document prints to text that parses and prints the same (numbers keep
    // their value, not their spelling: `0.0` prints as `0`).
    guard let again = try? JSON.parse(json.encoded) else {
      preconditionFailure("printed JSON does not parse")
    }
    precondition(again.encoded == json.encoded, "JSON does not survive print and parse")
    let context = RecordJSON.Context(defaultCurrency: try? Currency("USD")) {
      (_, _) throws(VaultError) in try RecordID(bytes: [UInt8](repeating: 3, count: 16))
    }
    for collection in RecordCollection.allCases {
      guard let record = try? RecordJSON.decode(json, as: collection, context: context) else {
        continue
      }
      // What a record prints imports back to the same fields.
      guard let reread = try? RecordJSON.decode(record.json, as: collection, context: context)
      else { preconditionFailure("a \(collection) record's JSON does not import back") }
      precondition(reread.fields == record.fields, "a \(collection) record changed on re-import")
    }
  }

  // MARK: The audit log

  static let signer = try? Ed25519.SigningKey(
    seed: SecretBytes(copying: [UInt8](repeating: 9, count: 32)))

  static func auditEntry(_ bytes: [UInt8]) {
    _ = AuditEntry.clearFields(of: bytes[...])
    if let entry = try? AuditEntry(decoding: bytes) {
      _ = try? entry.open(key: key, vaultID: vaultID)
      precondition(
        entry.encode() == bytes, "an audit entry decoded from bytes it does not encode to")
    }
    if let event = try? AuditEvent(decoding: bytes) {
      precondition(event.encode() == bytes, "an event decoded from bytes it does not encode to")
    }
  }

  static func checkpoint(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    if let checkpoint = try? AuditCheckpoint.parse(text) {
      precondition(checkpoint.text == text, "a checkpoint parsed from a non-canonical text")
    }
    _ = try? SignedNote.parseVerifierKey(text)
    guard let signer else { return }
    let origin = AuditCheckpoint.origin(vaultID: vaultID)
    _ = try? AuditCheckpoint.open(text, origin: origin, publicKey: signer.publicKey)
  }

  /// A tree of leaves chosen by the input, a true proof, and the input's mutation of
  /// it: the true proof verifies, a changed one never does.
  static func merkleProof(_ bytes: [UInt8]) {
    var input = Input(bytes: bytes)
    let size = Int(input.byte() % 40) + 1
    let leaves = (0..<size).map { MerkleTree.leafHash([UInt8(truncatingIfNeeded: $0), 7]) }
    let index = Int(input.byte()) % size
    let root = MerkleTree.root(leaves[...])
    guard let proof = try? MerkleTree.inclusionProof(index, leaves[...]) else {
      preconditionFailure("no inclusion proof for a leaf of the tree")
    }
    precondition(
      MerkleTree.verifyInclusion(
        leaf: leaves[index], index: UInt64(index), size: UInt64(size), proof: proof, root: root),
      "a true inclusion proof is refused")
    let mutated = mutate(proof, &input)
    if mutated != proof {
      precondition(
        !MerkleTree.verifyInclusion(
          leaf: leaves[index], index: UInt64(index), size: UInt64(size), proof: mutated,
          root: root),
        "a mutated inclusion proof is accepted")
    }
    let oldSize = Int(input.byte()) % size + 1
    let oldRoot = MerkleTree.root(leaves[..<oldSize])
    guard let consistency = try? MerkleTree.consistencyProof(oldSize, leaves[...]) else {
      preconditionFailure("no consistency proof between two sizes of the tree")
    }
    precondition(
      MerkleTree.verifyConsistency(
        oldSize: UInt64(oldSize), newSize: UInt64(size), oldRoot: oldRoot, newRoot: root,
        proof: consistency),
      "a true consistency proof is refused")
    let changed = mutate(consistency, &input)
    if changed != consistency {
      precondition(
        !MerkleTree.verifyConsistency(
          oldSize: UInt64(oldSize), newSize: UInt64(size), oldRoot: oldRoot, newRoot: root,
          proof: changed),
        "a mutated consistency proof is accepted")
    }
    // Random proofs for random claims must not crash the verifiers.
    let claimed = input.take(32)
    _ = MerkleTree.verifyInclusion(
      leaf: claimed, index: UInt64(input.byte()), size: UInt64(input.byte()),
      proof: [input.take(32)], root: root)
  }

  private static func mutate(_ proof: [[UInt8]], _ input: inout Input) -> [[UInt8]] {
    var proof = proof
    switch input.byte() % 4 {
    case 0 where !proof.isEmpty:
      let at = Int(input.byte()) % proof.count
      proof[at][Int(input.byte()) % proof[at].count] ^= max(1, input.byte())
    case 1 where !proof.isEmpty:
      proof.remove(at: Int(input.byte()) % proof.count)
    case 2:
      proof.insert(
        MerkleTree.leafHash([input.byte()]), at: Int(input.byte()) % (proof.count + 1))
    default:
      if proof.count > 1 { proof.swapAt(0, proof.count - 1) }
    }
    return proof
  }

  // MARK: Blobs

  static func blob(_ bytes: [UInt8]) {
    var input = Input(bytes: bytes)
    let final = input.byte() & 1 == 1
    let stateByte = input.byte()
    let blobID = input.take(16)
    let rest = input.rest
    // A chunk as stored: it must open only if it was sealed for this place.
    var body = rest
    let associated = BlobChunk.associatedData(
      vaultID: vaultID, blob: blobID, index: 0, final: final)
    _ = try? BlobChunk.openInPlace(&body, key: key, associatedData: associated)
    // A manifest's plaintext, sealed as a writer would: what opens seals back to what
    // opens to the same manifest.
    if let state = BlobManifest.State(rawValue: stateByte) {
      let stored =
        [BlobManifest.version, state.rawValue]
        + XChaCha20Poly1305.seal(
          rest, key: key,
          associatedData: BlobManifest.associatedData(vaultID: vaultID, blob: blobID, state: state))
      if let manifest = try? BlobManifest(
        opening: stored, blob: blobID, vaultID: vaultID, key: key)
      {
        _ = manifest.plaintextLength(ofChunk: manifest.chunkCount &- 1)
        let again = try? BlobManifest(
          opening: manifest.seal(blob: blobID, vaultID: vaultID, key: key), blob: blobID,
          vaultID: vaultID, key: key)
        precondition(again == manifest, "a blob manifest does not survive seal and open")
      }
    }
    _ = try? BlobManifest.state(of: rest)
    if let retention = try? Retention(decoding: rest) {
      precondition(
        (try? Retention(decoding: retention.encode())) == retention,
        "a retention rule does not round-trip")
    }
    _ = try? BlobExtent.decodeHeader(rest[...], location: PageNumber(20))
  }

  // MARK: Backups

  static func incrementalBackup(_ bytes: [UInt8]) {
    if bytes.count >= IncrementalBackup.headerLength {
      _ = try? IncrementalBackup.headLength(
        header: Array(bytes.prefix(IncrementalBackup.headerLength)),
        fileSize: UInt64(bytes.count))
    }
    guard let head = try? IncrementalBackup(decoding: bytes) else { return }
    precondition(head.encodeHead() == bytes, "an incremental head does not round-trip")
  }

  // MARK: Whole files

  static let directory: String = {
    var template = Array("/tmp/vault-fuzz-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { return "/tmp" }
    return String(cString: made)
  }()

  /// Any bytes as a vault file, opened and checked without the key as a backup tool or
  /// an auditor would: the newest commit, `check`, the audit log, a backup of it.
  static func vaultFile(_ bytes: [UInt8]) {
    let path = directory + "/input.vault"
    let copy = directory + "/copy.vault"
    for file in [path, path + "-lock", copy, copy + "-lock"] { unlink(file) }
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    _ = Checker.check(path: path)
    guard
      let store = try? VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    else { return }
    _ = try? store.newestMeta()
    _ = try? AuditVerification.verify(store)
    _ = try? Backup.copy(store, to: copy)
  }

  // MARK: The command line

  /// Arguments split at zero bytes, parsed against every command's options; then the
  /// keyless, read-only commands run on them for real.
  static func arguments(_ bytes: [UInt8]) {
    let arguments = bytes.split(separator: 0, omittingEmptySubsequences: false).map {
      String(decoding: $0, as: UTF8.self)
    }
    let console = CapturedConsole()
    for name in ["help", "version", "info", "check", "pages", "page", "stats", "audit"] {
      // Paths the input names are not looked at: only parsing and refusals run.
      let line = [name] + arguments.map { $0.hasPrefix("-") ? $0 : "/nonexistent/" + $0 }
      let status = CommandLineTool.run(line, console: console)
      precondition(
        [0, 1, 64, 65, 66, 74].contains(status), "vault \(name) exited \(status) on parsing")
    }
  }
}
