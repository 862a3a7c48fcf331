import VaultCore

/// Free-list entries of the system tree: the pages one transaction freed.
///
/// A page freed by transaction F was part of state F − 1 but not of F. It may be reused
/// once no reader can still see a state older than F.
///
/// Key (13 bytes): ``SystemTree/freeListPrefix`` (`0x02`), the freeing transaction id as
/// a big-endian `u64`, then a chunk index as a big-endian `u32` (one transaction's list
/// is split into chunks that each fit inline in a leaf). Value (inline): page numbers as little-endian `u64`, strictly
/// ascending, at least one.
public struct FreeListEntry: Equatable, Sendable {
  public var freedBy: TransactionID
  public var chunk: UInt32
  public var pages: [PageNumber]

  public init(freedBy: TransactionID, chunk: UInt32, pages: [PageNumber]) {
    self.freedBy = freedBy
    self.chunk = chunk
    self.pages = pages
  }

  public static let keyLength = 13

  /// The most page numbers one chunk holds in a page of `pageSize` bytes.
  public static func maximumPagesPerChunk(pageSize: Int) -> Int {
    (LeafPage.maximumInlineCellSize(pageSize: pageSize)
      - LeafPage.inlineCellSize(keyLength: keyLength, valueLength: 0)) / 8
  }

  public static func key(freedBy: TransactionID, chunk: UInt32) -> [UInt8] {
    var writer = ByteWriter(capacity: keyLength)
    writer.write(SystemTree.freeListPrefix)
    writer.writeBigEndian(freedBy.rawValue)
    writer.writeBigEndian(chunk)
    return writer.bytes
  }

  public var key: [UInt8] { Self.key(freedBy: freedBy, chunk: chunk) }

  public var value: [UInt8] {
    var writer = ByteWriter(capacity: pages.count * 8)
    for page in pages { writer.write(page.rawValue) }
    return writer.bytes
  }

  /// Decodes an entry from a free-list leaf cell.
  public init(key: ArraySlice<UInt8>, value: ArraySlice<UInt8>, page: UInt64? = nil)
    throws(VaultError)
  {
    guard key.count == Self.keyLength, key.first == SystemTree.freeListPrefix else {
      throw VaultError(.corruptPage, "malformed free-list key of \(key.count) bytes", page: page)
    }
    (freedBy, chunk) = key.withUnsafeBytes { raw in
      (
        TransactionID(UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 1, as: UInt64.self))),
        UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 9, as: UInt32.self))
      )
    }
    guard !value.isEmpty, value.count % 8 == 0 else {
      throw VaultError(
        .corruptPage, "free-list value of \(value.count) bytes is not a page list", page: page)
    }
    let numbers = value.withUnsafeBytes { raw in
      (0..<raw.count / 8).map {
        PageNumber(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))
      }
    }
    for (index, number) in numbers.enumerated() {
      if index > 0, numbers[index - 1] >= number {
        throw VaultError(.corruptPage, "free-list pages are not ascending", page: page)
      }
      guard FileFormat.isDataPage(number) else {
        throw VaultError(.corruptPage, "free list names reserved page \(number)", page: page)
      }
    }
    pages = numbers
  }
}
