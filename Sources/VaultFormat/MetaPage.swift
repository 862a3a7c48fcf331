import VaultCore

/// A meta page: the root of one committed state of the vault.
///
/// Pages 2 and 3 alternate: transaction N writes page `2 + N mod 2`, so the previous
/// state's meta page is never overwritten by the commit that follows it.
///
/// Links: `[catalog root, free-list root]` (null for an empty tree).
///
/// Body layout (little-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 16 | vault id (must equal the header's) |
/// | 16 | 8 | page count: pages 0 ..< count are in use or free; the file may be longer |
/// | 24 | 8 | commit time, milliseconds since the Unix epoch |
/// | 32 | 8 | the next tree id to hand out |
/// | 40 | 8 | number of pages in the free list |
/// | 48 | 8 | number of named trees in the catalog |
public struct MetaPage: Equatable, Sendable {
  public var transaction: TransactionID
  public var catalogRoot: PageLink
  public var freeListRoot: PageLink
  public var vaultID: [UInt8]
  public var pageCount: UInt64
  public var committedAtMilliseconds: Int64
  public var nextTreeID: TreeID
  public var freePageCount: UInt64
  public var treeCount: UInt64

  static let bodyLength = 56

  public init(
    transaction: TransactionID, catalogRoot: PageLink, freeListRoot: PageLink,
    vaultID: [UInt8], pageCount: UInt64, committedAtMilliseconds: Int64,
    nextTreeID: TreeID, freePageCount: UInt64, treeCount: UInt64
  ) {
    self.transaction = transaction
    self.catalogRoot = catalogRoot
    self.freeListRoot = freeListRoot
    self.vaultID = vaultID
    self.pageCount = pageCount
    self.committedAtMilliseconds = committedAtMilliseconds
    self.nextTreeID = nextTreeID
    self.freePageCount = freePageCount
    self.treeCount = treeCount
  }

  /// The meta page's bytes, for page `FileFormat.metaPage(for: transaction)`.
  public func encode(pageSize: Int) -> [UInt8] {
    var body = ByteWriter(capacity: Self.bodyLength)
    body.write(vaultID)
    body.write(pageCount)
    body.write(committedAtMilliseconds)
    body.write(nextTreeID.rawValue)
    body.write(freePageCount)
    body.write(treeCount)
    let header = PageHeader(
      type: .meta, pageNumber: FileFormat.metaPage(for: transaction), transaction: transaction,
      tree: .none, linkCount: 2, bodyLength: body.count)
    return Page.build(
      header: header, links: [catalogRoot, freeListRoot], body: body.bytes, pageSize: pageSize)
  }

  /// Decodes a meta page whose framing has been parsed. Checks the checksum and that
  /// the page sits in the slot its transaction id selects.
  public init(page: Page) throws(VaultError) {
    let number = page.header.pageNumber.rawValue
    guard page.hasValidChecksum else {
      throw VaultError(.corruptPage, "meta page checksum does not match", page: number)
    }
    guard page.header.type == .meta, page.header.linkCount == 2 else {
      throw VaultError(.corruptPage, "page is not a meta page", page: number, offset: 16)
    }
    guard FileFormat.metaPage(for: page.header.transaction) == page.header.pageNumber else {
      throw VaultError(
        .corruptPage, "transaction \(page.header.transaction) belongs in the other meta page",
        page: number, offset: 32)
    }
    transaction = page.header.transaction
    catalogRoot = page.links[0]
    freeListRoot = page.links[1]
    var reader = page.bodyReader()
    vaultID = try reader.readBytes(FileHeader.vaultIDLength, "vault id")
    pageCount = try reader.readUInt64("page count")
    committedAtMilliseconds = try reader.readInt64("commit time")
    nextTreeID = TreeID(try reader.readUInt64("next tree id"))
    freePageCount = try reader.readUInt64("free page count")
    treeCount = try reader.readUInt64("tree count")
    guard reader.isAtEnd else { throw reader.corrupt("unexpected bytes after the meta fields") }
    for link in [catalogRoot, freeListRoot] where !link.isNull {
      guard link.page >= FileFormat.firstDataPage, link.page.rawValue < pageCount,
        link.transaction <= transaction
      else {
        throw VaultError(.corruptPage, "meta page links to impossible page \(link)", page: number)
      }
    }
  }
}
