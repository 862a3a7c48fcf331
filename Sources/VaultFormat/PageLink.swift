import VaultCore
import VaultCrypto

/// A reference from one page to another: the child's page number, the transaction
/// that wrote it and its checksum.
///
/// Because a parent records its child's checksum and the meta page records the roots',
/// the committed state is a Merkle tree: a page that is torn, stale (an older version
/// at the right place) or misdirected (written to the wrong place) fails to match the
/// link that leads to it, even when its own checksum is intact.
///
/// Layout (32 bytes, little-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | page number |
/// | 8 | 8 | transaction id |
/// | 16 | 16 | checksum of the page |
///
/// All zero bytes mean "no page" (page 0 is a header page and never a link target).
public struct PageLink: Hashable, Sendable, CustomStringConvertible {
  public var page: PageNumber
  public var transaction: TransactionID
  public var checksum: Checksum

  public init(page: PageNumber, transaction: TransactionID, checksum: Checksum) {
    self.page = page
    self.transaction = transaction
    self.checksum = checksum
  }

  /// The null link.
  public static let null = PageLink(
    page: PageNumber(0), transaction: TransactionID(0), checksum: .zero)

  /// Whether this is the null link.
  public var isNull: Bool { page.rawValue == 0 }

  public var description: String { "\(page)@\(transaction)" }

  public func write(to writer: inout ByteWriter) {
    writer.write(page.rawValue)
    writer.write(transaction.rawValue)
    writer.write(checksum.low)
    writer.write(checksum.high)
  }

  public static func read(from reader: inout ByteReader) throws(VaultError) -> PageLink {
    let page = try reader.readUInt64("link page number")
    let transaction = try reader.readUInt64("link transaction id")
    let low = try reader.readUInt64("link checksum")
    let high = try reader.readUInt64("link checksum")
    let link = PageLink(
      page: PageNumber(page), transaction: TransactionID(transaction),
      checksum: Checksum(low: low, high: high))
    if link.isNull && (transaction != 0 || low != 0 || high != 0) {
      throw reader.corrupt("null link with non-zero fields")
    }
    return link
  }
}
