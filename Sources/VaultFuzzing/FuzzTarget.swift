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
  case overflowChain = "OverflowChain"
  case vaultFile = "VaultFile"
  case arguments = "Arguments"
  case storedForms = "StoredForms"

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
    case .overflowChain: ChainFuzzing.overflowChain(bytes)
    case .vaultFile: Harness.vaultFile(bytes)
    case .arguments: Harness.arguments(bytes)
    case .storedForms: StoredFormFuzzing.run(bytes)
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
    if let slot = try? KeySlot(decoding: Array(bytes.prefix(104))) {
      precondition(slot.encode() == Array(bytes.prefix(104)), "a key slot does not round-trip")
    }
    guard let pageSize = try? FileHeader.peekPageSize(bytes, page: PageNumber(0)) else { return }
    var padded = Array((bytes + [UInt8](repeating: 0, count: pageSize)).prefix(pageSize))
    // Header pages carry a checksum the fuzzer cannot guess: make it right, so that
    // what lies behind it is reached.
    setChecksum(&padded)
    guard let page = try? Page(padded, location: PageNumber(0)),
      let header = try? FileHeader(page: page)
    else { return }
    // What decodes encodes to a page that decodes to the same header.
    let again = header.encodePage(PageNumber(1), transaction: TransactionID(3))
    guard let reread = try? FileHeader(page: Page(again, location: PageNumber(1))) else {
      preconditionFailure("a header re-encoded from a decoded one does not decode")
    }
    precondition(reread == header, "a header does not survive a round trip")
  }

  /// Writes the page's computed checksum into its bytes 0 ..< 16.
  static func setChecksum(_ page: inout [UInt8]) {
    guard page.count >= FileFormat.pageHeaderSize else { return }
    let checksum = Page.computeChecksum(of: page)
    page.withUnsafeMutableBytes {
      $0.storeBytes(of: checksum.low.littleEndian, toByteOffset: 0, as: UInt64.self)
      $0.storeBytes(of: checksum.high.littleEndian, toByteOffset: 8, as: UInt64.self)
    }
  }

  static let cipher = PageCipher(pageKey: key)

  /// The input as a whole page of a size it chooses, at the place its header names:
  /// sealed with the page key when its sealed flag is set, else with its checksum made
  /// right; nil when even its framing is refused.
  static func storedPage(_ input: inout Input) -> (stored: [UInt8], location: PageNumber)? {
    let selector = input.byte()
    let pageSize = 4096 << Int(selector % 5)
    var raw = Array((input.rest + [UInt8](repeating: 0, count: pageSize)).prefix(pageSize))
    let number = raw[24..<32].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    // Now and then a page at the wrong place: it must be refused as misdirected.
    let location = PageNumber(selector & 0x80 != 0 ? number &+ 1 : number)
    guard (try? Page(raw, location: PageNumber(number))) != nil else { return nil }
    if raw[17] & FileFormat.sealedFlag != 0 {
      var nonces = PageNonce.Sequence()
      raw = cipher.seal(raw, nonce: nonces.next())
    } else {
      setChecksum(&raw)
    }
    return (raw, location)
  }
  static func metaPage(_ bytes: [UInt8]) {
    var input = Input(bytes: bytes)
    guard let (stored, location) = storedPage(&input),
      let page = try? Page(stored, location: location),
      let opened = page.isSealed ? try? cipher.open(page) : page,
      let meta = try? MetaPage(page: opened)
    else { return }
    // A root read without the key stays sealed, and cannot be written again.
    if case .sealed = meta.root { return }
    let encoded = meta.encode(pageSize: stored.count, sealed: page.isSealed)
    var nonces = PageNonce.Sequence()
    let again = page.isSealed ? cipher.seal(encoded, nonce: nonces.next()) : encoded
    guard let reread = try? Page(again, location: location),
      let reopened = page.isSealed ? try? cipher.open(reread) : reread,
      let decoded = try? MetaPage(page: reopened)
    else { preconditionFailure("a meta page re-encoded from a decoded one does not decode") }
    precondition(decoded == meta, "a meta page does not survive a round trip")
  }
  // MARK: Pages and nodes

  /// Any page, as a reader that followed a link to it meets it: every decoder its type
  /// has, and verification against a link made from its own header.
  /// Any page, as a reader that followed a link to it meets it: framing, checksum and
  /// seal made right by the harness (else the decoders behind them are never reached),
  /// then every decoder its type has; a flipped sealed byte must fail to open.
  static func page(_ bytes: [UInt8]) {
    var input = Input(bytes: bytes)
    guard let (stored, location) = storedPage(&input),
      let page = try? Page(stored, location: location)
    else { return }
    let link = PageLink(
      page: location, transaction: page.header.transaction, checksum: page.storedChecksum)
    _ = try? page.verify(against: link)
    _ = try? BlobExtent.decodeHeader(stored[...], location: location)
    guard let opened = page.isSealed ? try? cipher.open(page) : page else {
      preconditionFailure("a page sealed by the harness does not open")
    }
    if page.isSealed, !page.bodyIsPlaintext {
      var tampered = stored
      tampered[stored.count - 1] ^= 1
      Harness.setChecksum(&tampered)
      if let forged = try? Page(tampered, location: location) {
        precondition((try? cipher.open(forged)) == nil, "a page with a changed tag opens")
      }
    }
    _ = try? InteriorPage.decode(opened)
    _ = try? OverflowPage.decode(opened)
    _ = try? OverflowPage.next(of: opened)
    if let leaf = try? LeafPage.decode(opened) {
      for index in leaf.cells.indices {
        if case .inline(let range) = leaf.cells[index].value {
          _ = try? FreeListEntry(key: leaf.key(index), value: leaf.bytes[range])
        }
        _ = SystemTree.treeName(fromKey: leaf.key(index))
      }
      // Decoded cells encode to a page that decodes to the same cells.
      let encoded = LeafPage.encode(
        leaf.cells, in: leaf.bytes, page: location, transaction: page.header.transaction,
        tree: page.header.tree, pageSize: stored.count)
      guard let again = try? LeafPage.decode(Page(encoded, location: location)) else {
        preconditionFailure("a decoded leaf does not encode to a leaf")
      }
      precondition(
        again.cells.count == leaf.cells.count
          && again.cells.indices.allSatisfy { again.key($0) == leaf.key($0) },
        "a leaf does not survive a round trip")
    }
  }
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
    // A sealed record around the input, marked compressed: opening it runs zstd on
    // bytes of the fuzzer's choosing (a stored record's tag keeps them out otherwise).
    let binding = RecordBinding(
      vaultID: vaultID, collection: collection.rawValue, recordID: [UInt8](repeating: 9, count: 16))
    let flags = SealedRecord.compressedFlag
    let sealed = SealedRecord(
      flags: flags, version: 1, keyReference: 1,
      sealed: XChaCha20Poly1305.seal(
        body, key: key,
        associatedData: binding.recordAssociatedData(version: 1, keyReference: 1, flags: flags)))
    _ = try? sealed.open(dataKey: key, binding: binding, maximumSize: 1 << 22)
    let plain = SealedRecord.seal(
      body, version: 2, keyReference: 1, dataKey: key, binding: binding)
    precondition(
      (try? plain.open(dataKey: key, binding: binding)) == body,
      "a sealed record opens to other bytes")
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
      // Sealed as an entry, it opens to the same event (the tag keeps fuzzed entries out
      // of the opening code otherwise).
      if let entry = try? AuditEntry.seal(
        event, sequence: 1, previous: [UInt8](repeating: 0, count: 32), key: key, vaultID: vaultID)
      {
        precondition(
          (try? entry.open(key: key, vaultID: vaultID)) == event, "a sealed event opens to another")
      }
    }
  }

  static func checkpoint(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? SignedNote.parseVerifierKey(text)
    guard let signer else { return }
    let origin = AuditCheckpoint.origin(vaultID: vaultID)
    _ = try? AuditCheckpoint.open(text, origin: origin, publicKey: signer.publicKey)
    // The note's text signed here: a checkpoint that parses opens to itself once signed
    // (signatures keep fuzzed notes out of the opening code otherwise), and not once a
    // byte of the note changed.
    // Signed under the checkpoint's own origin (the name a log signs with).
    guard let checkpoint = try? AuditCheckpoint.parse(text),
      let note = try? SignedNote.sign(text, name: checkpoint.origin, key: signer)
    else { return }
    let opened = try? AuditCheckpoint.open(
      note, origin: checkpoint.origin, publicKey: signer.publicKey)
    precondition(opened?.text == checkpoint.text, "a signed checkpoint does not open to itself")
    // Any changed byte (text, origin or signature) must keep the note from opening.
    var changed = Array(note.utf8)
    changed[changed.count / 2] ^= 0x01
    precondition(
      (try? AuditCheckpoint.open(
        String(decoding: changed, as: UTF8.self), origin: checkpoint.origin,
        publicKey: signer.publicKey)) == nil,
      "a changed signed checkpoint still opens")
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
    let flags = input.byte()
    let final = flags & 1 == 1
    let stateByte = input.byte()
    let encoding = input.byte() % 3
    let blobID = input.take(16)
    let rest = input.rest
    // A chunk sealed here around the input (else nothing behind the tag is reached):
    // it opens, a zstd payload decompresses or is refused, a changed byte never opens.
    let associated = BlobChunk.associatedData(
      vaultID: vaultID, blob: blobID, index: 0, final: final)
    var body = [UInt8](repeating: 0, count: BlobChunk.bodyLength(payload: rest.count))
    body.replaceSubrange(25..<25 + rest.count, with: rest)
    body.withUnsafeMutableBytes {
      BlobChunk.sealInPlace($0, encoding: encoding, key: key, associatedData: associated)
    }
    var tampered = body
    tampered[Int(stateByte) % tampered.count] ^= 0x01
    precondition(
      (try? BlobChunk.openInPlace(&tampered, key: key, associatedData: associated)) == nil,
      "a changed chunk opens")
    if let (opened, payload) = try? BlobChunk.openInPlace(
      &body, key: key, associatedData: associated)
    {
      precondition(Array(body[payload]) == rest, "a chunk opens to other bytes")
      if opened == BlobChunk.zstd { _ = try? Zstd.decompress(rest, maximumSize: 8 << 20) }
    }
    // A manifest's plaintext, sealed as a writer would: what opens seals back to what
    // opens to the same manifest.
    if let state = BlobManifest.State(rawValue: stateByte) {
      // Both versions: bit 1 of the first input byte picks one.
      let version: UInt8 = flags & 2 == 0 ? 1 : 2
      let stored =
        [version, state.rawValue]
        + XChaCha20Poly1305.seal(
          rest, key: key,
          associatedData: BlobManifest.associatedData(
            vaultID: vaultID, blob: blobID, state: state, version: version))
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
    // An extent built around the input verifies against its own link, and not once a
    // byte of it changed.
    if rest.count <= 1 << 16 {
      var run = BlobExtent.emptyRun(bodyLength: rest.count, pageSize: 4096)
      run.replaceSubrange(
        FileFormat.pageHeaderSize..<FileFormat.pageHeaderSize + rest.count, with: rest)
      let link = BlobExtent.finish(
        &run, bodyLength: rest.count, page: PageNumber(20), transaction: TransactionID(4),
        tree: TreeID(17))
      let pages = run.count / 4096
      precondition(
        (try? BlobExtent.verify(run, against: link, tree: TreeID(17), pages: pages, pageSize: 4096))
          != nil, "an extent does not verify against its own link")
      run[FileFormat.pageHeaderSize + Int(stateByte) % max(1, rest.count)] ^= rest.isEmpty ? 0 : 1
      if !rest.isEmpty {
        precondition(
          (try? BlobExtent.verify(
            run, against: link, tree: TreeID(17), pages: pages, pageSize: 4096)) == nil,
          "a changed extent verifies")
      }
    }
  }
  // MARK: Backups

  static func incrementalBackup(_ bytes: [UInt8]) {
    guard bytes.count >= IncrementalBackup.headerLength else { return }
    _ = try? IncrementalBackup.headLength(
      header: Array(bytes.prefix(IncrementalBackup.headerLength)), fileSize: UInt64(bytes.count))
    // The head's checksum made right, so that its tables and rules are reached.
    var head = bytes
    let checksum = IncrementalBackup.checksum(
      header: Array(bytes[..<112]), tables: Array(bytes[IncrementalBackup.headerLength...]))
    head.withUnsafeMutableBytes {
      $0.storeBytes(of: checksum.low.littleEndian, toByteOffset: 112, as: UInt64.self)
      $0.storeBytes(of: checksum.high.littleEndian, toByteOffset: 120, as: UInt64.self)
    }
    guard let decoded = try? IncrementalBackup(decoding: head) else { return }
    precondition(decoded.encodeHead() == head, "an incremental head does not round-trip")
  }
  // MARK: Whole files

  static let directory: String = {
    var template = Array("/tmp/vault-fuzz-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { preconditionFailure("no scratch directory") }
    return String(cString: made)
  }()

  /// Any bytes as a vault file, opened and checked without the key as a backup tool or
  /// an auditor would: the newest commit, `check`, the audit log.
  static func vaultFile(_ bytes: [UInt8]) {
    let path = directory + "/input.vault"
    for file in [path, path + "-lock"] { unlink(file) }
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
  }

  // MARK: The command line

  /// Arguments split at zero bytes: the first names the command (one of the keyless,
  /// read-only ones), the rest are parsed and run for real. Any path (a value holding
  /// `/`, alone or after `=`) is moved under a directory that does not exist, so that
  /// no file is read or written (`/dev/stdin` would wait, `/dev/zero` never end).
  static func arguments(_ bytes: [UInt8]) {
    var words = bytes.split(separator: 0, omittingEmptySubsequences: false).map {
      String(decoding: $0, as: UTF8.self)
    }
    let commands = ["help", "version", "info", "check", "pages", "page", "stats", "audit"]
    let first = words.isEmpty ? "" : words.removeFirst()
    let name = commands.contains(first) ? first : commands[first.utf8.count % commands.count]
    let line =
      [name]
      + words.map { word in
        guard word.contains("/") else { return word }
        if let equals = word.firstIndex(of: "=") {
          return String(word[...equals]) + "/nonexistent"
            + String(word[word.index(after: equals)...])
        }
        return "/nonexistent/" + word
      }
    let console = CapturedConsole()
    let status = CommandLineTool.run(line, console: console)
    precondition(
      [0, 1, 64, 65, 66, 74].contains(status), "vault \(name) exited \(status) on parsing")
  }
}
