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
  /// Whether ``bytes`` hold the body in the clear: true for an unsealed page, and for a
  /// sealed one once ``PageCipher`` has opened it. Body decoders require it.
  public let bodyIsPlaintext: Bool

  /// Whether the page's flags say its body is sealed.
  public var isSealed: Bool { header.flags & FileFormat.sealedFlag != 0 }

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
      guard flags & ~FileFormat.sealedFlag == 0, flags == 0 || type != .header else {
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
      bodyIsPlaintext = flags & FileFormat.sealedFlag == 0
    } catch {
      var failure = error
      failure.code = failure.code == .truncated ? .corruptPage : failure.code
      throw failure
    }
  }

  /// The same page with `plaintext` (whole-page bytes whose body was opened) in place
  /// of the sealed bytes. Only ``PageCipher`` calls this, after authenticating them.
  init(opened page: Page, plaintext: [UInt8]) {
    bytes = plaintext
    header = page.header
    links = page.links
    storedChecksum = page.storedChecksum
    bodyIsPlaintext = true
  }

  /// Fails unless the body is readable: decoders call this first.
  public func requirePlaintextBody() throws(VaultError) {
    guard bodyIsPlaintext else {
      throw VaultError(
        .keyRequired, "the page's content is sealed; open the vault with its key to read it",
        page: header.pageNumber.rawValue)
    }
  }

  /// Where a page's content ends: after the header, its links and its body. Everything
  /// from here to the end of the page must be zero.
  public static func contentEnd(of bytes: [UInt8]) -> Int {
    bytes.withUnsafeBytes { contentEnd(of: $0) }
  }

  /// The checksum the bytes actually have: ``Checksum`` of bytes 16 ..< content end,
  /// followed, on a sealed page, by the seal trailer (nonce and tag). Hashing only the
  /// content keeps every byte covered (the rest must be zero, which ``hasZeroPadding``
  /// checks far faster than hashing it) and makes a mostly empty page, like a meta
  /// page, nearly free to checksum.
  public static func computeChecksum(of bytes: [UInt8]) -> Checksum {
    bytes.withUnsafeBytes { computeChecksum(of: $0) }
  }

  /// ``computeChecksum(of:)`` over raw page bytes.
  public static func computeChecksum(of raw: UnsafeRawBufferPointer) -> Checksum {
    let end = max(contentEnd(of: raw), 16)
    let content = UnsafeRawBufferPointer(rebasing: raw[16..<end])
    guard raw.count > 17, raw[17] & FileFormat.sealedFlag != 0 else {
      return Checksum(of: content)
    }
    let trailerStart = max(raw.count - FileFormat.sealTrailerSize, end)
    return Checksum(of: content, then: UnsafeRawBufferPointer(rebasing: raw[trailerStart...]))
  }

  /// Bytes the links and body of a page take, read from its header: for a verified
  /// tree page, exactly what ``LeafPage/contentSize(of:)`` or
  /// ``InteriorPage/contentSize(of:)`` computes from its cells, without walking them.
  public static func contentSize(ofPage bytes: [UInt8]) -> Int {
    bytes.withUnsafeBytes { contentEnd(of: $0) } - FileFormat.pageHeaderSize
  }

  /// Where the content of raw page bytes ends (see ``contentEnd(of:)-swift.type.method``).
  static func contentEnd(of raw: UnsafeRawBufferPointer) -> Int {
    guard raw.count >= FileFormat.pageHeaderSize else { return raw.count }
    let links = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 18, as: UInt16.self)))
    let body = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self)))
    return min(FileFormat.pageHeaderSize + links * FileFormat.linkSize + body, raw.count)
  }

  /// The checksum stored in bytes 0 ..< 16 of an encoded page.
  public static func storedChecksum(of bytes: [UInt8]) -> Checksum {
    bytes.withUnsafeBytes {
      Checksum(
        low: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
        high: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }
  }

  /// Whether every byte after the content is zero (up to the trailer, on a sealed
  /// page).
  public var hasZeroPadding: Bool {
    let end = header.bodyOffset + header.bodyLength
    let limit = isSealed ? bytes.count - FileFormat.sealTrailerSize : bytes.count
    return bytes.withUnsafeBytes { whole in
      let raw = UnsafeRawBufferPointer(rebasing: whole[..<limit])
      var index = end
      // Eight bytes at a time, then the tail.
      while index + 8 <= raw.count {
        if raw.loadUnaligned(fromByteOffset: index, as: UInt64.self) != 0 { return false }
        index += 8
      }
      while index < raw.count {
        if raw[index] != 0 { return false }
        index += 1
      }
      return true
    }
  }

  /// Whether the stored checksum matches the content and the padding is zero.
  public var hasValidChecksum: Bool {
    Page.computeChecksum(of: bytes) == storedChecksum && hasZeroPadding
  }

  /// Checks the page against the link that led to it: checksum, writer transaction.
  /// (The page number was already checked by the initializer.)
  public func verify(against link: PageLink) throws(VaultError) {
    let page = header.pageNumber.rawValue
    let actual = Page.computeChecksum(of: bytes)
    guard actual == storedChecksum else {
      throw VaultError(.corruptPage, "page checksum does not match its content", page: page)
    }
    guard hasZeroPadding else {
      throw VaultError(
        .corruptPage, "bytes after the page's content are not zero (checksum padding)", page: page)
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
  /// A page whose header has the sealed flag is built in the clear without its
  /// checksum: ``PageCipher/seal(_:nonce:)`` seals it and computes the checksum.
  ///
  /// - Precondition: the content fits (callers size nodes before encoding).
  public static func build(
    header: PageHeader, links: [PageLink], body: [UInt8], pageSize: Int
  ) -> [UInt8] {
    build(header: header, links: links, bodyLength: body.count, pageSize: pageSize) { output in
      body.withUnsafeBytes { output.copyMemory(from: $0) }
    }
  }

  /// Builds a page whose body `writeBody` stores directly into the page buffer (exactly
  /// `bodyLength` bytes), avoiding an intermediate copy.
  public static func build(
    header: PageHeader, links: [PageLink], bodyLength: Int, pageSize: Int,
    writeBody: (UnsafeMutableRawBufferPointer) -> Void
  ) -> [UInt8] {
    let sealed = header.flags & FileFormat.sealedFlag != 0
    precondition(links.count == header.linkCount && bodyLength == header.bodyLength)
    let bodyOffset = header.bodyOffset
    precondition(
      bodyOffset + bodyLength <= pageSize - FileFormat.sealTrailerSize, "page content too large")
    var bytes = [UInt8](repeating: 0, count: pageSize)
    bytes.withUnsafeMutableBytes { raw in
      raw.storeBytes(of: header.type.rawValue, toByteOffset: 16, as: UInt8.self)
      raw.storeBytes(of: header.flags, toByteOffset: 17, as: UInt8.self)
      raw.storeBytes(of: UInt16(header.linkCount).littleEndian, toByteOffset: 18, as: UInt16.self)
      raw.storeBytes(of: UInt32(bodyLength).littleEndian, toByteOffset: 20, as: UInt32.self)
      raw.storeBytes(of: header.pageNumber.rawValue.littleEndian, toByteOffset: 24, as: UInt64.self)
      raw.storeBytes(
        of: header.transaction.rawValue.littleEndian, toByteOffset: 32, as: UInt64.self)
      raw.storeBytes(of: header.tree.rawValue.littleEndian, toByteOffset: 40, as: UInt64.self)
      var offset = FileFormat.pageHeaderSize
      for link in links {
        raw.storeBytes(of: link.page.rawValue.littleEndian, toByteOffset: offset, as: UInt64.self)
        raw.storeBytes(
          of: link.transaction.rawValue.littleEndian, toByteOffset: offset + 8, as: UInt64.self)
        raw.storeBytes(
          of: link.checksum.low.littleEndian, toByteOffset: offset + 16, as: UInt64.self)
        raw.storeBytes(
          of: link.checksum.high.littleEndian, toByteOffset: offset + 24, as: UInt64.self)
        offset += FileFormat.linkSize
      }
      writeBody(UnsafeMutableRawBufferPointer(rebasing: raw[bodyOffset..<bodyOffset + bodyLength]))
      guard !sealed else { return }
      let checksum = Checksum(
        of: UnsafeRawBufferPointer(rebasing: raw[16..<bodyOffset + bodyLength]))
      raw.storeBytes(of: checksum.low.littleEndian, toByteOffset: 0, as: UInt64.self)
      raw.storeBytes(of: checksum.high.littleEndian, toByteOffset: 8, as: UInt64.self)
    }
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
