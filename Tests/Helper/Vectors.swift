import Foundation
@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// Builds the vault files of Format/vectors: deterministic contents, several commits
/// each, so that they hold interior pages, overflow chains, an empty tree, a dropped
/// tree's freed pages and free-list entries.
enum Vectors {
  /// The passphrase of every vector (Format/vectors/README.md says it too).
  static let passphrase = "correct horse battery staple"

  static func create(at path: String, pageSize: Int) throws -> VaultStore {
    try VaultStore.create(
      at: path, credential: .passphrase(passphrase), keyDerivation: .interactive,
      pageSize: pageSize)
  }
  struct Generator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    mutating func text(_ length: Int) -> [UInt8] {
      let alphabet = Array("abcdefghijklmnopqrstuvwxyz ,.;=0123456789".utf8)
      return (0..<length).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }
    }
  }

  static func make(in directory: String) throws {
    try makeFirst(at: directory + "/v1-4k.vault")
    try makeSecond(at: directory + "/v2-16k.vault")
    try makeRecords(at: directory + "/v3-records.vault")
    try makeStudio(at: directory + "/v4-studio.vault")
    try describeAudit(of: directory + "/v4-studio.vault")
  }

  /// `.checkpoint` (the newest signed checkpoint) and `.audit` (every entry as an owner
  /// reads it: sequence, action, outcome, leaf hash) of the audit log of `path`.
  static func describeAudit(of path: String) throws {
    let base = String(path.dropLast(".vault".count))
    let store = try RecordStore.open(at: path, credential: .passphrase(passphrase))
    // Reading the log is itself logged: the listing ends with that read, and its
    // checkpoint (the vault's newest) covers it.
    let listing = try store.readAudit(scope: .all, actor: .system)
    var lines = "# sequence action outcome leaf-hash (FORMAT.md 20)\n"
    for record in listing.entries {
      lines += "\(record.sequence) \(record.event.action) \(record.event.outcome) "
      lines += Hex.encode(MerkleTree.leafHash(record.stored)) + "\n"
    }
    let note = listing.checkpointNote
    try Data(note.utf8).write(to: URL(fileURLWithPath: base + ".checkpoint"))
    try Data(lines.utf8).write(to: URL(fileURLWithPath: base + ".audit"))
  }

  /// The owner's password in v4-studio.
  static let ownerPassword = "owner password of the vectors"

  /// A vector vault with its organization and owner, the owner authenticated.
  static func createStudio(at path: String) throws -> (RecordStore, RecordStore.Principal) {
    let store = try RecordStore.create(
      at: path, credential: .passphrase(passphrase), keyDerivation: .interactive,
      organization: .init(
        ownerName: "owner", ownerPassword: SecretBytes(utf8: ownerPassword),
        currency: try Currency("USD"), passwordHashing: .interactive))
    let owner = try store.authenticate(user: "owner", password: SecretBytes(utf8: ownerPassword))
    return (store, owner)
  }

  /// Studio records (FORMAT.md section 19): the organization and its owner, two
  /// branches, clients, projects with sessions, an invoice with a discount and its
  /// correction, payments, a contract, media, a deleted project (financial records
  /// retained and marked) and an erased client.
  static func makeStudio(at path: String) throws {
    let (store, owner) = try createStudio(at: path)
    func add(_ collection: RecordCollection, _ lines: [String]) throws -> [RecordID] {
      try store.write(actor: owner.user) { tx throws(VaultError) in
        try tx.importJSONLines(
          lines.joined(separator: "\n"), into: collection, branch: nil, scope: .organization)
      }
    }
    _ = try add(
      .branches, [#"{"name": "Downtown", "timeZone": "America/New_York"}"#, #"{"name": "Harbor"}"#])
    let clients = try add(
      .clients,
      [
        #"{"displayName": "Zoë Ångström", "branch": "Downtown", "emails": ["zoe.angstrom@example.com"], "phones": ["+1 (555) 010-0199"], "tags": ["vip"]}"#,
        #"{"displayName": "Marcus Lee", "branch": "Downtown", "address": {"city": "Springfield", "country": "US"}}"#,
        #"{"displayName": "Zoe Anders", "branch": "Harbor", "notes": "prefers mornings"}"#,
      ])
    let projects = try add(
      .projects,
      [
        #"{"title": "Wedding", "client": "\#(clients[0])", "branch": "Downtown", "kind": "wedding", "status": "booked", "sessions": [{"start": "2027-06-13T15:30:00-04:00", "end": "2027-06-13T23:00:00-04:00", "location": "Chapel"}], "onSiteContact": {"name": "Mia", "phone": "555 0101"}, "shotList": ["rings", "first dance"]}"#,
        #"{"title": "Portraits", "client": "\#(clients[1])", "branch": "Downtown", "kind": "portrait", "sessions": [{"start": "2027-07-01T10:00:00Z"}, {"start": "2027-07-02T10:00:00Z"}]}"#,
        #"{"title": "Headshots", "client": "\#(clients[2])", "branch": "Harbor", "sessions": [{"start": "2027-06-20T09:00:00+01:00"}]}"#,
      ])
    let invoices = try add(
      .invoices,
      [
        #"{"project": "\#(projects[0])", "lineItems": [{"description": "Gold package", "amount": {"amount": 250000}}], "discounts": [{"amount": {"amount": 10000}, "reason": "loyal client"}], "dueDate": "2027-06-01", "status": "sent"}"#,
        #"{"project": "\#(projects[2])", "lineItems": [{"description": "Session", "amount": {"amount": 40000}}], "status": "sent"}"#,
      ])
    _ = try add(
      .invoices,
      [
        #"{"project": "\#(projects[2])", "lineItems": [{"description": "Session", "amount": {"amount": 35000}}], "corrects": "\#(invoices[1])"}"#
      ])
    _ = try add(
      .payments,
      [
        #"{"invoice": "\#(invoices[0])", "amount": {"amount": 240000}, "method": "card", "gatewayReference": "ch_0001", "receivedAt": "2027-05-20T12:00:00Z"}"#,
        #"{"invoice": "\#(invoices[1])", "amount": {"amount": 35000}, "method": "cash"}"#,
      ])
    _ = try add(
      .contracts,
      [
        #"{"project": "\#(projects[0])", "value": {"amount": 250000}, "terms": "Net 30", "signatureStatus": "signed"}"#
      ])
    _ = try add(
      .media,
      [
        #"{"project": "\#(projects[0])", "fileName": "DSC_0001.NEF", "kind": "raw", "size": 52428800}"#,
        #"{"project": "\#(projects[2])", "fileName": "head.jpg"}"#,
      ])
    _ = try store.write(actor: owner.user) { tx throws(VaultError) in
      try tx.deleteProject(projects[2], scope: .organization)
    }
    _ = try store.eraseClient(clients[1], scope: .organization, actor: owner.user)
  }

  /// Upload blobs (FORMAT.md section 24), in 64 KiB chunks: an empty one, one of three
  /// chunks and a bit of incompressible bytes under governance retention, one of
  /// compressible text under a legal hold, one deleted (its extents freed, its key
  /// destroyed), and an upload left unfinished after one committed chunk.
  static func makeBlobs(at path: String) throws -> String {
    let (store, owner) = try createStudio(at: path)
    let project = try store.write(actor: owner.user) { tx throws(VaultError) -> RecordID in
      let branch = try tx.importJSONLines(
        #"{"name": "Downtown"}"#, into: .branches, branch: nil, scope: .organization)[0]
      let client = try tx.importJSONLines(
        #"{"displayName": "Ana Lima", "branch": "Downtown"}"#, into: .clients, branch: branch,
        scope: .organization)[0]
      return try tx.importJSONLines(
        #"{"title": "Wedding", "branch": "Downtown", "client": "\#(client)"}"#, into: .projects,
        branch: branch, scope: .organization)[0]
    }
    let (handle, token) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword))
    var random = Generator(state: 5)
    var noise = [UInt8]()
    for _ in 0..<((3 * 65536 + 100) / 8 + 1) {
      withUnsafeBytes(of: random.next()) { noise += $0 }
    }
    noise.removeLast(noise.count - (3 * 65536 + 100))
    let contents: [(String, [UInt8])] = [
      ("empty.txt", []), ("noise.raw", noise), ("notes.txt", random.text(200_000)),
      ("deleted.jpg", [0xFF, 0xD8, 0xFF] + random.text(70_000)),
    ]
    var receipts = [UploadReceipt]()
    for (name, bytes) in contents {
      let upload = try handle.beginUpload(
        into: project, fileName: name, kind: .document, chunkSize: 65536)
      try upload.write(bytes)
      receipts.append(try upload.finish())
    }
    try handle.setRetention(
      Retention(mode: .governance, until: 4_102_444_800_000), ofBlob: receipts[1].blob)
    try handle.placeLegalHold(
      onBlob: receipts[2].blob,
      proof: try store.stepUp(
        session: token, password: SecretBytes(utf8: ownerPassword), action: .legalHold,
        resource: receipts[2].blob, now: Timestamp.now().milliseconds))
    try handle.deleteBlob(receipts[3].blob)
    let unfinished = try handle.beginUpload(
      into: project, fileName: "unfinished.mov", kind: .video, chunkSize: 65536)
    try unfinished.write(random.text(65536 + 1))
    var lines = ["# blob ID SIZE CHUNKS SHA256-HEX NAME, deleted ID, or unfinished ID COMMITTED"]
    for receipt in receipts.dropLast() {
      let reader = try handle.openBlob(receipt.blob)
      lines.append(
        "blob\t\(receipt.blob)\t\(receipt.size)\t\(reader.chunkCount)\t\(receipt.sha256)"
          + "\t\(reader.info.name)")
    }
    lines.append("deleted\t\(receipts[3].blob)")
    lines.append("unfinished\t\(unfinished.blob)\t\(unfinished.bytesCommitted)")
    try handle.endSession()
    return lines.joined(separator: "\n") + "\n"
  }

  /// The `.jsonl` listing of a studio vault: every record an owner sees, collection by
  /// collection, as `vault export` prints it, then the erased clients' ids.
  static func studioListing(of store: RecordStore) throws -> String {
    var lines = ["# COLLECTION JSON, or erased COLLECTION ID (tab-separated)"]
    for collection in RecordCollection.allCases where collection != .settings {
      try store.read { snapshot throws(VaultError) in
        var cursor: String?
        repeat {
          let page = try snapshot.list(collection, scope: .organization, after: cursor)
          for record in page.records {
            let shown = try snapshot.withDerivedFields(record, scope: .organization)
            lines.append("\(collection)\t\(shown.json.encoded)")
          }
          cursor = page.nextCursor
        } while cursor != nil
      }
    }
    try store.sealed.store.read { snapshot in
      try snapshot.tree(named: "clients")?.scan { key, _ in
        if (try? store.read({ s throws(VaultError) in
          try s.get(.clients, RecordID(bytes: key), scope: .organization)
        })) == nil {
          lines.append("erased\tclients\t\(try RecordID(bytes: key))")
        }
        return true
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// Sealed records (FORMAT.md section 17): two collections, a body large enough to
  /// be compressed, updates, a deletion, a KEK rotation (KEK 1 retired, 2 primary) and
  /// one record whose key was destroyed (erased, body kept).
  static func makeRecords(at path: String) throws {
    var random = Generator(state: 3)
    let store = try SealedStore(try create(at: path, pageSize: 4096))
    try store.write { tx throws(VaultError) in
      for index in 0..<40 {
        let body =
          "{\"displayName\":\"Client \(index)\",\"email\":\"c\(index)@example.com\","
          + "\"notes\":\"\(String(decoding: random.text(60), as: UTF8.self))\"}"
        try tx.put(
          Array(body.utf8), id: Array(String(format: "client-%03d", index).utf8), in: "clients")
      }
      let diary = String(repeating: "golden hour at the venue; ", count: 120)
      try tx.put(
        Array("{\"diary\":\"\(diary)\"}".utf8), id: Array("client-diary".utf8), in: "clients")
      for index in 0..<20 {
        try tx.put(
          Array("{\"amount\":\(index * 1250),\"currency\":\"USD\"}".utf8),
          id: Array(String(format: "inv-%03d", index).utf8), in: "invoices")
      }
    }
    try store.write { tx throws(VaultError) in
      try tx.put(
        Array("{\"displayName\":\"Client 5, renamed\"}".utf8), id: Array("client-005".utf8),
        in: "clients")
      _ = try tx.remove(Array("client-006".utf8), in: "clients")
    }
    try store.rotateKeyEncryptionKey(batchSize: 16)
    try store.write { tx throws(VaultError) in
      _ = try tx.destroyKey(of: Array("client-007".utf8), in: "clients")
    }
  }

  /// The `.records` manifest of a vault of sealed records: every record opened, with
  /// its length and SHA-256, and the ids whose key was destroyed.
  static func recordManifest(of store: SealedStore) throws -> String {
    var lines = [
      "# record COLLECTION ID-HEX LENGTH SHA256-HEX, or erased COLLECTION ID-HEX (tab-separated)"
    ]
    let entries = try store.store.read { snapshot -> [(String, [UInt8])] in
      var found = [(String, [UInt8])]()
      for collection in ["clients", "invoices"] {
        try snapshot.tree(named: collection)?.scan { key, _ in
          found.append((collection, key))
          return true
        }
      }
      return found
    }
    for (collection, id) in entries {
      let opened = Result { () throws(VaultError) -> [UInt8] in
        try store.read { s throws(VaultError) in try s.get(id, in: collection) } ?? []
      }
      switch opened {
      case .success(let body):
        lines.append(
          "record\t\(collection)\t\(hex(id))\t\(body.count)\t\(hex(SHA256.hash(body)))")
      case .failure(let error) where error.code == .erased:
        lines.append("erased\t\(collection)\t\(hex(id))")
      case .failure(let error):
        throw error
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// 4 KiB pages: clients (with one overflow value), invoices, an empty tree, a
  /// dropped tree, updates and deletions.
  static func makeFirst(at path: String) throws {
    var random = Generator(state: 1)
    let store = try create(at: path, pageSize: 4096)
    try store.write { tx in
      let clients = try tx.createTree(named: "clients")
      for index in 0..<60 {
        let value =
          Array("name=Client \(index);email=c\(index)@example.com;".utf8)
          + random.text(40 + index)
        try clients.insert(value, forKey: Array(String(format: "client-%03d", index).utf8))
      }
      try clients.insert(random.text(10_000), forKey: Array("client-portrait".utf8))
      try tx.createTree(named: "projects")
    }
    try store.write { tx in
      let invoices = try tx.createTree(named: "invoices")
      for index in 0..<30 {
        try invoices.insert(
          Array("amount=\(index * 1250);currency=USD".utf8),
          forKey: Array(String(format: "inv-%03d", index).utf8))
      }
      let scratch = try tx.createTree(named: "scratch")
      for index in 0..<20 { try scratch.insert(random.text(300), forKey: [UInt8(index)]) }
    }
    try store.write { tx in
      guard let clients = try tx.tree(named: "clients") else { return }
      for index in stride(from: 0, to: 60, by: 6) {
        try clients.insert(
          random.text(90), forKey: Array(String(format: "client-%03d", index).utf8))
      }
      for index in stride(from: 1, to: 60, by: 12) {
        try clients.removeValue(forKey: Array(String(format: "client-%03d", index).utf8))
      }
    }
    try store.write { tx in _ = try tx.dropTree(named: "scratch") }
  }

  /// A backup chain (FORMAT.md 25): `v6-chain.vault`, a full backup of a vault after
  /// two commits; `v6-chain.1.svinc`, the increment after updates, deletions and a new
  /// overflow value; `v6-chain.2.svinc`, the increment after a dropped tree and a new
  /// one; and `v6-chain.restored.contents`, what restoring the three gives.
  static func makeChain(in directory: String) throws {
    let base = directory + "/v6-chain"
    let source = base + ".source"
    defer {
      unlink(source)
      unlink(source + "-lock")
    }
    unlink(source)
    var random = Generator(state: 6)
    let store = try create(at: source, pageSize: 4096)
    try store.write { tx in
      let clients = try tx.createTree(named: "clients")
      for index in 0..<80 {
        try clients.insert(
          random.text(60 + index), forKey: Array(String(format: "c%03d", index).utf8))
      }
      let notes = try tx.createTree(named: "notes")
      for index in 0..<10 { try notes.insert(random.text(200), forKey: [UInt8(index)]) }
    }
    try store.write { tx in
      try tx.tree(named: "notes")!.insert(random.text(5_000), forKey: Array("long".utf8))
    }
    _ = try Backup.copy(store, to: base + ".vault")
    try store.write { tx in
      let clients = try tx.tree(named: "clients")!
      for index in stride(from: 0, to: 80, by: 7) {
        try clients.insert(random.text(120), forKey: Array(String(format: "c%03d", index).utf8))
      }
      for index in stride(from: 3, to: 80, by: 11) {
        try clients.removeValue(forKey: Array(String(format: "c%03d", index).utf8))
      }
      try clients.insert(random.text(12_000), forKey: Array("c-portrait".utf8))
    }
    _ = try Backup.copyIncremental(store, from: base + ".vault", to: base + ".1.svinc")
    try store.write { tx in
      _ = try tx.dropTree(named: "notes")
      let invoices = try tx.createTree(named: "invoices")
      for index in 0..<25 {
        try invoices.insert(
          Array("amount=\(index * 990);currency=EUR".utf8),
          forKey: Array(String(format: "inv-%03d", index).utf8))
      }
    }
    _ = try Backup.copyIncremental(store, from: base + ".1.svinc", to: base + ".2.svinc")
    let restored = base + ".restored"
    defer {
      unlink(restored)
      unlink(restored + "-lock")
    }
    _ = try Backup.restore(
      base: base + ".vault", increments: [base + ".1.svinc", base + ".2.svinc"], to: restored)
    let result = try VaultStore.open(
      at: restored, credential: .passphrase(passphrase), options: .init(readOnly: true))
    try manifest(of: result).write(
      toFile: base + ".restored.contents", atomically: true, encoding: .utf8)
  }

  /// 16 KiB pages: media records, one 100 kB value, binary keys.
  static func makeSecond(at path: String) throws {
    var random = Generator(state: 2)
    let store = try create(at: path, pageSize: 16_384)
    for batch in 0..<3 {
      try store.write { tx in
        let media = try tx.openTree(named: "media")
        for index in 0..<100 {
          let key = withUnsafeBytes(of: UInt32(batch * 100 + index).bigEndian) { Array($0) }
          try media.insert(random.text(200), forKey: key)
        }
      }
    }
    try store.write { tx in
      try tx.openTree(named: "media").insert(random.text(100_000), forKey: Array("raw".utf8))
      let events = try tx.createTree(named: "events")
      for index in 0..<50 {
        try events.insert(random.text(60), forKey: Array("event-\(index)".utf8))
      }
    }
  }

  /// The `.contents` manifest of a vault: its trees with their key counts, then every
  /// entry with its value's length and SHA-256, in key order.
  static func manifest(of store: VaultStore) throws -> String {
    try store.read { snapshot in
      var lines = ["# tree NAME KEYS, then entry TREE KEY-HEX LENGTH SHA256-HEX (tab-separated)"]
      var entries = [String]()
      for name in try snapshot.allTreeNames() {
        guard let tree = try snapshot.anyTree(named: name) else { continue }
        lines.append("tree\t\(name)\t\(tree.count)")
        try tree.scan { key, value in
          entries.append(
            "entry\t\(name)\t\(hex(key))\t\(value.count)\t\(hex(SHA256.hash(value)))")
          return true
        }
      }
      return (lines + entries).joined(separator: "\n") + "\n"
    }
  }

  static func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
  }
}
