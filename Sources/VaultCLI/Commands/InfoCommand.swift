import StudioVault
import VaultCore
import VaultFormat
import VaultStorage

/// `vault info PATH [--json]`
enum InfoCommand: Command {
  static let name = "info"
  static let summary = "show the file header and the newest commit (no key needed)"
  static let usage = "vault info PATH [--json]"
  static let discussion = """
    Reads the plain file header and the newest durable meta page. Needs no passphrase,
    takes no write lock, and works while another process writes the vault.
    """
  static let options: [OptionSpec] = [.flag("json", "print one JSON document")]

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let path = try arguments.require("PATH")[0]
    let store = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    let info = try info(store)
    if arguments.flag("json") {
      console.json(info)
      return .success
    }
    guard case .object(let fields) = info else { return .internalError }
    for (key, field) in fields.sorted(by: { $0.key < $1.key }) {
      let value: String
      switch field {
      case .null: value = "none"
      case .string(let text): value = text
      case let other: value = other.encoded
      }
      console.line(key.padding(to: 18) + value)
    }
    return .success
  }

  /// The key slot's derivation: algorithm and limits, from the plain header.
  static func keyDerivation(_ header: FileHeader) -> JSON {
    guard let slot = try? KeySlot(decoding: header.keySlot) else { return .null }
    guard let parameters = slot.parameters else {
      return ["algorithm": .string("none"), "method": .string("rawKey")]
    }
    return [
      "algorithm": .string("argon2id"),
      "method": .string("passphrase"),
      "opsLimit": .uint(parameters.opsLimit),
      "memLimitBytes": .uint(parameters.memLimitBytes),
      "level": parameters.levelName.map(JSON.string) ?? .null,
    ]
  }

  static func info(_ store: VaultStore) throws(VaultError) -> JSON {
    let meta = try store.newestMeta()
    let header = store.header
    let fileBytes = (try? store.fileSize()) ?? 0
    return [
      "formatVersion": .int(Int64(header.formatVersion)),
      "pageSize": .int(Int64(header.pageSize)),
      "pageCount": .uint(meta.pageCount),
      "fileBytes": .uint(fileBytes),
      "transactionId": .uint(meta.transaction.rawValue),
      "committedAt": .string(Formatting.timestamp(milliseconds: meta.committedAtMilliseconds)),
      "vaultId": .string(Formatting.uuid(header.vaultID)),
      "createdAt": .string(Formatting.timestamp(milliseconds: header.createdAtMilliseconds)),
      "trees": .uint(meta.treeCount),
      "freePages": .uint(meta.freePageCount),
      "encrypted": .bool(!header.keySlot.isEmpty),
      "kdf": keyDerivation(header),
      // Verifies the audit log's checkpoints (`vault audit verify`, any C2SP tool).
      "auditVerifierKey": .string(
        try AuditCheckpoint.verifierKey(
          vaultID: header.vaultID, publicKey: header.auditPublicKey)),
    ]
  }
}
