import VaultCore
import VaultCrypto

/// A blob extent: a run of consecutive pages holding one piece of an upload, written
/// once and never rewritten (FORMAT.md 6.5).
///
/// The run starts with the common 64-byte page header (type ``PageType/blob``, flags 0,
/// no links, `B` body bytes) and the body follows at once, crossing page boundaries: an
/// extent is one "page" as tall as it needs to be, `⌈(64 + B) / pageSize⌉` pages. The
/// checksum covers bytes 16 ..< 64 + B, so a keyless tool verifies it like any page;
/// the bytes after the body, to the end of the run, are zero. The body is opaque here:
/// the blob layer seals it under the blob's own key.
public enum BlobExtent {
  /// The largest body: the body length is a `u32`.
  public static let maximumBodyLength = Int(UInt32.max) - FileFormat.pageHeaderSize

  /// The pages a body of `bodyLength` bytes takes.
  public static func pageCount(bodyLength: Int, pageSize: Int) -> Int {
    (FileFormat.pageHeaderSize + bodyLength + pageSize - 1) / pageSize
  }

  /// The extent's pages as they will be written: zero, with room for the header and a
  /// body of `bodyLength` bytes at ``FileFormat/pageHeaderSize``.
  public static func emptyRun(bodyLength: Int, pageSize: Int) -> [UInt8] {
    [UInt8](repeating: 0, count: pageCount(bodyLength: bodyLength, pageSize: pageSize) * pageSize)
  }

  /// Stores the header and checksum in `run`, whose body is already in place; returns
  /// the link that refers to the extent.
  public static func finish(
    _ run: inout [UInt8], bodyLength: Int, page: PageNumber, transaction: TransactionID,
    tree: TreeID
  ) -> PageLink {
    precondition(
      bodyLength <= maximumBodyLength && run.count >= FileFormat.pageHeaderSize + bodyLength)
    let checksum = run.withUnsafeMutableBytes { raw in
      raw.storeBytes(of: PageType.blob.rawValue, toByteOffset: 16, as: UInt8.self)
      raw.storeBytes(of: UInt8(0), toByteOffset: 17, as: UInt8.self)
      raw.storeBytes(of: UInt16(0), toByteOffset: 18, as: UInt16.self)
      raw.storeBytes(of: UInt32(bodyLength).littleEndian, toByteOffset: 20, as: UInt32.self)
      raw.storeBytes(of: page.rawValue.littleEndian, toByteOffset: 24, as: UInt64.self)
      raw.storeBytes(of: transaction.rawValue.littleEndian, toByteOffset: 32, as: UInt64.self)
      raw.storeBytes(of: tree.rawValue.littleEndian, toByteOffset: 40, as: UInt64.self)
      let checksum = Checksum(
        of: UnsafeRawBufferPointer(
          rebasing: raw[16..<FileFormat.pageHeaderSize + bodyLength]))
      raw.storeBytes(of: checksum.low.littleEndian, toByteOffset: 0, as: UInt64.self)
      raw.storeBytes(of: checksum.high.littleEndian, toByteOffset: 8, as: UInt64.self)
      return checksum
    }
    return PageLink(page: page, transaction: transaction, checksum: checksum)
  }

  /// The checksum a run actually has: of bytes 16 ..< 64 + `bodyLength` (nil when the
  /// run is shorter).
  public static func computeChecksum(of run: [UInt8], bodyLength: Int) -> Checksum? {
    let end = FileFormat.pageHeaderSize + bodyLength
    guard run.count >= end else { return nil }
    return run.withUnsafeBytes { Checksum(of: UnsafeRawBufferPointer(rebasing: $0[16..<end])) }
  }

  /// The header of an extent, decoded from its first page.
  public struct Header: Equatable, Sendable {
    public var bodyLength: Int
    public var page: PageNumber
    public var transaction: TransactionID
    public var tree: TreeID
    public var storedChecksum: Checksum

    /// The pages the extent takes.
    public func pageCount(pageSize: Int) -> Int {
      BlobExtent.pageCount(bodyLength: bodyLength, pageSize: pageSize)
    }
  }

  /// Decodes the header at the start of `bytes` (at least 64 bytes: the first page, or
  /// the whole run), read from page `location`.
  ///
  /// - Throws: `.corruptPage` unless it is a blob extent's header for that page.
  public static func decodeHeader(_ bytes: ArraySlice<UInt8>, location: PageNumber)
    throws(VaultError) -> Header
  {
    let page = location.rawValue
    var reader = ByteReader(Array(bytes.prefix(FileFormat.pageHeaderSize)), page: page)
    do throws(VaultError) {
      let low = try reader.readUInt64()
      let high = try reader.readUInt64()
      let type = try reader.readUInt8()
      guard type == PageType.blob.rawValue else {
        throw VaultError(
          .corruptPage, "expected a blob extent, found page type \(type)", page: page, offset: 16)
      }
      let flags = try reader.readUInt8()
      let links = try reader.readUInt16()
      guard flags == 0, links == 0 else {
        throw VaultError(
          .corruptPage, "a blob extent has no flags and no links", page: page, offset: 17)
      }
      let bodyLength = Int(try reader.readUInt32())
      let number = PageNumber(try reader.readUInt64())
      guard number == location else {
        throw VaultError(
          .corruptPage, "extent header names page \(number): misdirected write", page: page,
          offset: 24)
      }
      let transaction = TransactionID(try reader.readUInt64())
      let tree = TreeID(try reader.readUInt64())
      guard try reader.readUInt64() == 0, try reader.readUInt64() == 0 else {
        throw VaultError(.corruptPage, "reserved header bytes are not zero", page: page, offset: 48)
      }
      guard bodyLength <= maximumBodyLength else {
        throw VaultError(.corruptPage, "extent body length is impossible", page: page, offset: 20)
      }
      return Header(
        bodyLength: bodyLength, page: number, transaction: transaction, tree: tree,
        storedChecksum: Checksum(low: low, high: high))
    } catch {
      var failure = error
      failure.code = failure.code == .truncated ? .corruptPage : failure.code
      throw failure
    }
  }

  /// Checks a whole run read from the file against the link that led to it, the tree
  /// that owns it and the page count its cell gives; returns its header. With
  /// `checksum` false the body's checksum is not computed (a reader with the blob's key
  /// authenticates the body instead); the header is still checked against the link.
  public static func verify(
    _ run: [UInt8], against link: PageLink, tree: TreeID, pages: Int, pageSize: Int,
    checksum: Bool = true
  ) throws(VaultError) -> Header {
    let page = link.page.rawValue
    let header = try decodeHeader(run[...], location: link.page)
    guard header.pageCount(pageSize: pageSize) == pages, run.count == pages * pageSize else {
      throw VaultError(
        .corruptPage,
        "extent of \(header.bodyLength) body bytes does not fill the \(pages) pages its cell gives",
        page: page, offset: 20)
    }
    guard header.tree == tree else {
      throw VaultError(
        .corruptPage, "extent belongs to tree \(header.tree), but tree \(tree) links to it",
        page: page, offset: 40)
    }
    let end = FileFormat.pageHeaderSize + header.bodyLength
    if checksum {
      guard computeChecksum(of: run, bodyLength: header.bodyLength) == header.storedChecksum
      else {
        throw VaultError(.corruptPage, "extent checksum does not match its content", page: page)
      }
      guard run[end...].allSatisfy({ $0 == 0 }) else {
        throw VaultError(
          .corruptPage, "bytes after the extent's body are not zero (checksum padding)",
          page: page)
      }
    }
    guard header.storedChecksum == link.checksum, header.transaction == link.transaction else {
      throw VaultError(
        .corruptPage,
        "extent is not the version its parent expects (has transaction \(header.transaction),"
          + " expected \(link.transaction)): stale or lost write",
        page: page)
    }
    return header
  }
}
