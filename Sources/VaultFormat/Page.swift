import VaultCore
import VaultCrypto

/// One page's bytes with its framing decoded: header, links and the body's range.
///
/// Parsing checks the framing (sizes, type, flags, counts) so that later decoders can
/// trust the ranges; ``verify(against:)`` checks content against the link that led here.
public struct Page: Sendable {
  /// The whole page.
  public let bytes: [UInt8]
  public let header: PageHeader
  /// The links stored after the header, in order.
  public let links: [PageLink]
  /// The checksum stored in bytes 0..<16.
  public let storedChecksum: Checksum

  /// The body bytes' range within ``bytes``.
  public var bodyRange: Range<Int> { header.bodyOffset..<header.bodyOffset + header.bodyLength }

  /// A reader over the body.
  public func bodyReader() -> ByteReader {
    ByteReader(
      bytes, from: bodyRange.lowerBound, to: bodyRange.upperBound,
      page: header.pageNumber.rawValue)
  }

  /// Decodes the framing of `bytes`, a whole page.
  ///
  /// - Parameter location: the page number the bytes were read from; a page whose header
  ///   names another number was misdirected and is refused.
  /// - Throws: `VaultError` `.corruptPage` naming the page and offset.
  public init(_ bytes: [UInt8], location: PageNumber) throws(VaultError) {
    let page = location.rawValue
    guard FileFormat.isValidPageSize(bytes.count) else {
      throw VaultError(.corruptPage, "page has invalid size \(bytes.count)", page: page)
    }
    var reader = ByteReader(bytes, page: page)
    do throws(VaultError) {
      let low = try reader.readUInt64()
      let high = try reader.readUInt64()
      storedChecksum = Checksum(low: low, high: high)
      let rawType = try reader.readUInt8()
      guard let type = PageType(rawValue: rawType) else {
        throw VaultError(.corruptPage, "unknown page type \(rawType)", page: page, offset: 16)
      }
      let flags = try reader.readUInt8()
      guard flags == 0 else {
        throw VaultError(.corruptPage, "unknown page flags \(flags)", page: page, offset: 17)
      }
      let linkCount = Int(try reader.readUInt16())
      let bodyLength = Int(try reader.readUInt32())
      let number = PageNumber(try reader.readUInt64())
      let transaction = TransactionID(try reader.readUInt64())
      let tree = TreeID(try reader.readUInt64())
      guard number == location else {
        throw VaultError(
          .corruptPage, "page header names page \(number): misdirected write", page: page,
          offset: 24)
      }
      let usable = bytes.count - FileFormat.sealTrailerSize
      guard FileFormat.pageHeaderSize + linkCount * FileFormat.linkSize + bodyLength <= usable
      else {
        throw VaultError(
          .corruptPage, "\(linkCount) links and \(bodyLength) body bytes overflow the page",
          page: page, offset: 18)
      }
      header = PageHeader(
        type: type, pageNumber: number, transaction: transaction, tree: tree,
        linkCount: linkCount, bodyLength: bodyLength, flags: flags)
      reader = ByteReader(bytes, from: FileFormat.pageHeaderSize, page: page)
      var links = [PageLink]()
      links.reserveCapacity(linkCount)
      for _ in 0..<linkCount { links.append(try PageLink.read(from: &reader)) }
      self.links = links
      self.bytes = bytes
    } catch {
      var failure = error
      failure.code = failure.code == .truncated ? .corruptPage : failure.code
      throw failure
    }
  }

  /// The checksum the bytes actually have (BLAKE2b-128 of bytes 16 ..< end).
  public static func computeChecksum(of bytes: [UInt8]) -> Checksum {
    bytes.withUnsafeBytes { Checksum(of: UnsafeRawBufferPointer(rebasing: $0[16...])) }
  }

  /// Whether the stored checksum matches the content.
  public var hasValidChecksum: Bool { Page.computeChecksum(of: bytes) == storedChecksum }

  /// Checks the page against the link that led to it: checksum, writer transaction.
  /// (The page number was already checked by the initializer.)
  public func verify(against link: PageLink) throws(VaultError) {
    let page = header.pageNumber.rawValue
    let actual = Page.computeChecksum(of: bytes)
    guard actual == storedChecksum else {
      throw VaultError(.corruptPage, "page checksum does not match its content", page: page)
    }
    guard actual == link.checksum, header.transaction == link.transaction else {
      throw VaultError(
        .corruptPage,
        "page is not the version its parent expects (has transaction \(header.transaction),"
          + " expected \(link.transaction)): stale or lost write",
        page: page)
    }
  }

  /// Builds a page: header, links, body, zero padding, and the checksum in front.
  ///
  /// - Precondition: the content fits (callers size nodes before encoding).
  public static func build(
    header: PageHeader, links: [PageLink], body: [UInt8], pageSize: Int
  ) -> [UInt8] {
    precondition(links.count == header.linkCount && body.count == header.bodyLength)
    var writer = ByteWriter(capacity: pageSize)
    writer.writeZeros(16)
    writer.write(header.type.rawValue)
    writer.write(header.flags)
    writer.write(UInt16(header.linkCount))
    writer.write(UInt32(header.bodyLength))
    writer.write(header.pageNumber.rawValue)
    writer.write(header.transaction.rawValue)
    writer.write(header.tree.rawValue)
    writer.writeZeros(16)
    for link in links { link.write(to: &writer) }
    writer.write(body)
    precondition(writer.count <= pageSize - FileFormat.sealTrailerSize, "page content too large")
    writer.writeZeros(pageSize - writer.count)
    var bytes = writer.bytes
    let checksum = computeChecksum(of: bytes)
    withUnsafeBytes(of: checksum.low.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
    withUnsafeBytes(of: checksum.high.littleEndian) { bytes.replaceSubrange(8..<16, with: $0) }
    return bytes
  }

  /// The link that refers to this page.
  public var link: PageLink {
    PageLink(page: header.pageNumber, transaction: header.transaction, checksum: storedChecksum)
  }
}

extension FileFormat {
  /// Bytes available for links and body in a page of `pageSize` bytes.
  public static func contentCapacity(pageSize: Int) -> Int {
    pageSize - pageHeaderSize - sealTrailerSize
  }
}
