import VaultCore

/// The common header at the start of every page.
///
/// Layout (64 bytes, little-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 16 | checksum: Poly1305 under a public key (``Checksum``) of bytes 16 ..< content end (64 + 32 L + B), then the seal trailer |
/// | 16 | 1 | page type (``PageType``) |
/// | 17 | 1 | flags (0 in format version 1) |
/// | 18 | 2 | link count L |
/// | 20 | 4 | body length B |
/// | 24 | 8 | page number |
/// | 32 | 8 | transaction id that wrote the page |
/// | 40 | 8 | tree id the page belongs to |
/// | 48 | 16 | reserved, zero |
///
/// L links of 32 bytes follow at offset 64, then B body bytes; the rest of the page is
/// zero (checked on every read, so the checksum need not hash it). The last ``FileFormat/sealTrailerSize`` bytes are never used by the body.
public struct PageHeader: Equatable, Sendable {
  public var type: PageType
  public var flags: UInt8
  public var linkCount: Int
  public var bodyLength: Int
  public var pageNumber: PageNumber
  public var transaction: TransactionID
  public var tree: TreeID

  public init(
    type: PageType, pageNumber: PageNumber, transaction: TransactionID, tree: TreeID,
    linkCount: Int = 0, bodyLength: Int = 0, flags: UInt8 = 0
  ) {
    self.type = type
    self.flags = flags
    self.linkCount = linkCount
    self.bodyLength = bodyLength
    self.pageNumber = pageNumber
    self.transaction = transaction
    self.tree = tree
  }

  /// Where the body starts.
  public var bodyOffset: Int { FileFormat.pageHeaderSize + linkCount * FileFormat.linkSize }
}
