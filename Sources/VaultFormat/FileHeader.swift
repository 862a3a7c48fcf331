import VaultCore

/// The file header: what a reader must know before it can read anything else.
/// Stored twice, in pages 0 and 1, as the body of a ``PageType/header`` page.
///
/// Body layout (little-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 16 | magic ``FileFormat/magic`` |
/// | 16 | 2 | format version |
/// | 18 | 1 | log2 of the page size (12 ... 16) |
/// | 19 | 1 | reserved, zero |
/// | 20 | 4 | incompatible feature bits (unknown bit: refuse the file) |
/// | 24 | 4 | compatible feature bits (unknown bit: ignore) |
/// | 28 | 4 | reserved, zero |
/// | 32 | 16 | vault id (random) |
/// | 48 | 8 | creation time, milliseconds since 1970-01-01T00:00:00Z (signed) |
/// | 56 | 8 | generation: grows each time the header is rewritten |
/// | 64 | 32 | audit public key: Ed25519, verifies the audit log's checkpoints |
/// | 96 | 2 | key slot length K (104: see ``KeySlot``) |
/// | 98 | K | key slot: key-derivation parameters and the wrapped master key |
public struct FileHeader: Equatable, Sendable {
  public var formatVersion: UInt16
  public var pageSize: Int
  public var incompatibleFeatures: UInt32
  public var compatibleFeatures: UInt32
  public var vaultID: [UInt8]
  public var createdAtMilliseconds: Int64
  public var generation: UInt64
  /// The Ed25519 public key that verifies the audit log's signed checkpoints: in the
  /// clear, so that backup tools and auditors verify the log without the vault's key.
  public var auditPublicKey: [UInt8]
  /// The encoded ``KeySlot``: how the credential unwraps the master key.
  public var keySlot: [UInt8]

  public static let vaultIDLength = 16
  public static let auditPublicKeyLength = 32
  static let fixedBodyLength = 98

  public init(
    pageSize: Int, vaultID: [UInt8], createdAtMilliseconds: Int64, generation: UInt64 = 1,
    auditPublicKey: [UInt8] = [UInt8](repeating: 0, count: 32), keySlot: [UInt8] = [],
    formatVersion: UInt16 = FileFormat.version,
    incompatibleFeatures: UInt32 = 0, compatibleFeatures: UInt32 = 0
  ) {
    self.formatVersion = formatVersion
    self.pageSize = pageSize
    self.incompatibleFeatures = incompatibleFeatures
    self.compatibleFeatures = compatibleFeatures
    self.vaultID = vaultID
    self.createdAtMilliseconds = createdAtMilliseconds
    self.generation = generation
    self.auditPublicKey = auditPublicKey
    self.keySlot = keySlot
  }

  /// The largest key slot a header page of `pageSize` bytes holds.
  public static func maximumKeySlotLength(pageSize: Int) -> Int {
    FileFormat.contentCapacity(pageSize: pageSize) - fixedBodyLength
  }

  /// The header page `page` (0 or 1) holding this header, written by `transaction`.
  public func encodePage(_ page: PageNumber, transaction: TransactionID) -> [UInt8] {
    precondition(vaultID.count == Self.vaultIDLength)
    precondition(auditPublicKey.count == Self.auditPublicKeyLength)
    precondition(keySlot.count <= Self.maximumKeySlotLength(pageSize: pageSize))
    var body = ByteWriter(capacity: Self.fixedBodyLength + keySlot.count)
    body.write(FileFormat.magic)
    body.write(formatVersion)
    body.write(UInt8(pageSize.trailingZeroBitCount))
    body.write(UInt8(0))
    body.write(incompatibleFeatures)
    body.write(compatibleFeatures)
    body.write(UInt32(0))
    body.write(vaultID)
    body.write(createdAtMilliseconds)
    body.write(generation)
    body.write(auditPublicKey)
    body.write(UInt16(keySlot.count))
    body.write(keySlot)
    let header = PageHeader(
      type: .header, pageNumber: page, transaction: transaction, tree: .none,
      linkCount: 0, bodyLength: body.count)
    return Page.build(header: header, links: [], body: body.bytes, pageSize: pageSize)
  }

  /// Reads the page size a header claims from the first bytes of a header page, before
  /// the whole page (whose size is that page size) can be read and verified.
  ///
  /// - Throws: `.notAVault` when the magic is absent, `.unsupportedVersion` for a newer
  ///   format, `.corruptPage` for an impossible page size.
  public static func peekPageSize(_ prefix: [UInt8], page: PageNumber) throws(VaultError) -> Int {
    let magicStart = FileFormat.pageHeaderSize
    guard prefix.count >= magicStart + 19 else {
      throw VaultError(.notAVault, "file is too short to be a vault", page: page.rawValue)
    }
    guard Array(prefix[magicStart..<magicStart + 16]) == FileFormat.magic else {
      throw VaultError(
        .notAVault, "no StudioVault magic: not a vault file", page: page.rawValue,
        offset: magicStart)
    }
    var reader = ByteReader(prefix, from: magicStart + 16, page: page.rawValue)
    let version = try reader.readUInt16()
    guard version <= FileFormat.version, version >= 1 else {
      throw VaultError(
        .unsupportedVersion,
        "format version \(version) is not supported (this build reads up to"
          + " \(FileFormat.version)); upgrade StudioVault",
        page: page.rawValue, offset: magicStart + 16)
    }
    let log2 = try reader.readUInt8()
    guard (12...16).contains(log2) else {
      throw VaultError(
        .corruptPage, "impossible page size 2^\(log2)", page: page.rawValue,
        offset: magicStart + 18)
    }
    return 1 << Int(log2)
  }

  /// Decodes a verified header page.
  public init(page: Page) throws(VaultError) {
    let number = page.header.pageNumber.rawValue
    guard page.header.type == .header, page.header.linkCount == 0 else {
      throw VaultError(.corruptPage, "page is not a header page", page: number, offset: 16)
    }
    var reader = page.bodyReader()
    let magic = try reader.readBytes(16, "magic")
    guard magic == FileFormat.magic else {
      throw VaultError(.notAVault, "no StudioVault magic", page: number, offset: 64)
    }
    formatVersion = try reader.readUInt16("format version")
    guard formatVersion >= 1, formatVersion <= FileFormat.version else {
      throw VaultError(
        .unsupportedVersion, "format version \(formatVersion) is not supported", page: number)
    }
    let log2 = try reader.readUInt8("page size")
    guard (12...16).contains(log2), 1 << Int(log2) == page.bytes.count else {
      throw VaultError(.corruptPage, "page size field disagrees with the page", page: number)
    }
    pageSize = 1 << Int(log2)
    try reader.skip(1)
    incompatibleFeatures = try reader.readUInt32("incompatible features")
    let unknown = incompatibleFeatures & ~FileFormat.knownIncompatibleFeatures
    guard unknown == 0 else {
      throw VaultError(
        .unsupportedVersion,
        "file uses features this build does not know (bits 0x\(String(unknown, radix: 16)))",
        page: number)
    }
    compatibleFeatures = try reader.readUInt32("compatible features")
    try reader.skip(4)
    vaultID = try reader.readBytes(Self.vaultIDLength, "vault id")
    createdAtMilliseconds = try reader.readInt64("creation time")
    generation = try reader.readUInt64("generation")
    auditPublicKey = try reader.readBytes(Self.auditPublicKeyLength, "audit public key")
    let slotLength = Int(try reader.readUInt16("key slot length"))
    keySlot = try reader.readBytes(slotLength, "key slot")
    guard reader.isAtEnd else {
      throw reader.corrupt("\(reader.remaining) unexpected bytes after the key slot")
    }
  }
}
