import VaultCore

/// Constants of the vault file format, version 1. `Format/FORMAT.md` is the
/// specification; every value here appears there.
public enum FileFormat {
  /// The format version this code writes and the newest it reads.
  public static let version: UInt16 = 1

  /// The first 16 bytes of a header page body: "StudioVault", NUL, CR, LF, SUB, LF.
  /// The line-ending bytes catch a file mangled by a text-mode transfer.
  public static let magic: [UInt8] = Array("StudioVault".utf8) + [0x00, 0x0D, 0x0A, 0x1A, 0x0A]

  /// Incompatible feature bits this code understands (none yet). A file with any
  /// other incompatible bit set is refused.
  public static let knownIncompatibleFeatures: UInt32 = 0

  /// The smallest page size (4 KiB).
  public static let minimumPageSize = 4096
  /// The largest page size (64 KiB).
  public static let maximumPageSize = 65_536
  /// The page size used unless the creator picks another.
  public static let defaultPageSize = 4096

  /// The common header at the start of every page.
  public static let pageHeaderSize = 64
  /// One page link: page number, transaction id, checksum.
  public static let linkSize = 32
  /// The bytes at the end of every page reserved for sealing (nonce and tag).
  public static let sealTrailerSize = 40
  /// Page flag bit 0: the body (after the clear prefix of its type) is sealed, and
  /// the trailer holds the nonce and tag.
  public static let sealedFlag: UInt8 = 0x01

  /// Trees whose pages are not sealed (FORMAT.md 7.3): the audit log, which anyone
  /// holding the file must be able to verify without its key. What they hold is
  /// already encrypted or public.
  public static let clearTrees: Set<TreeID> = [.auditLog, .auditCheckpoints]

  /// Whether the pages of `tree` are sealed (every tree's but the clear ones').
  public static func isSealed(_ tree: TreeID) -> Bool { !clearTrees.contains(tree) }

  /// Whether `tree` may be named by a catalog entry: a named tree, or a clear one.
  public static func isCatalogTree(_ tree: TreeID, nextTreeID: TreeID) -> Bool {
    (tree >= .firstUser && tree < nextTreeID) || clearTrees.contains(tree)
  }

  /// The two copies of the file header.
  public static let headerPages: [PageNumber] = [PageNumber(0), PageNumber(1)]
  /// Data pages between the two meta pages. Each meta page is followed by pages that a
  /// commit prefers for the nodes it rewrites every time (tree roots, system-tree
  /// pages): a small commit then writes its meta page and those nodes as one
  /// contiguous run, which the disk takes as one request.
  public static let hotAreaSize = 8
  /// The two meta pages: even transactions commit to the first, odd ones to the second.
  public static let metaPages: [PageNumber] = [PageNumber(2), PageNumber(3 + UInt64(hotAreaSize))]
  /// The first page that trees and the free list may use.
  public static let firstDataPage = PageNumber(3)
  /// The page count of a new vault: the header pages, the meta pages, and both hot
  /// areas (free), so that new pages at the end of the file never land in a hot area.
  public static let initialPageCount = metaPages[1].rawValue + 1 + UInt64(hotAreaSize)

  /// The meta page that transaction `id` writes.
  public static func metaPage(for id: TransactionID) -> PageNumber {
    metaPages[Int(id.rawValue & 1)]
  }

  /// The pages right after transaction `id`'s meta page, preferred for its hot nodes.
  public static func hotArea(for id: TransactionID) -> Range<UInt64> {
    let start = metaPage(for: id).rawValue + 1
    return start..<start + UInt64(hotAreaSize)
  }

  /// Whether page `number` can hold tree data: not a header or meta page.
  public static func isDataPage(_ number: PageNumber) -> Bool {
    number >= firstDataPage && number != metaPages[1]
  }

  /// The largest file a vault may grow to (2^60 bytes): bounds every page number, so
  /// that offsets and counts derived from a hostile file never overflow.
  public static let maximumFileSize: UInt64 = 1 << 60

  /// The most pages a vault of `pageSize`-byte pages may have.
  public static func maximumPageCount(pageSize: Int) -> UInt64 {
    maximumFileSize / UInt64(pageSize)
  }

  /// The longest key a tree accepts.
  public static let maximumKeyLength = 512
  /// The longest tree name.
  public static let maximumTreeNameLength = 255

  /// Whether `size` is a page size this format allows: a power of two in 4–64 KiB.
  public static func isValidPageSize(_ size: Int) -> Bool {
    size >= minimumPageSize && size <= maximumPageSize && size & (size - 1) == 0
  }
}
