import Foundation
@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
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
