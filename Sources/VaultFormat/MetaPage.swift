import VaultCore

/// The root node of the system tree, which a meta page embeds.
public enum SystemRoot: Sendable {
  /// The system tree is empty (a new vault).
  case empty
  /// The whole system tree is this one leaf.
  case leaf(LeafNode)
  /// The root of a taller system tree.
  case interior(InteriorNode)
  /// The root as a reader without the key sees it: its kind (1 leaf, 2 interior) and
  /// links, its body sealed.
  case sealed(kind: UInt8, links: [PageLink])

  /// The links the root stores in the meta page's link array.
  public var links: [PageLink] {
    switch self {
    case .empty: []
    case .leaf(let node): node.links
    case .interior(let node): node.children
    case .sealed(_, let links): links
    }
  }
}

/// A meta page: the root of one committed state of the vault.
///
/// Pages 2 and 11 alternate: even transactions write page 2, odd ones page 11, so the
/// previous state's meta page is never overwritten by the commit that follows it.
///
/// A meta page is also the root node of the *system tree* (tree 1), which holds the
/// catalog of named trees and the free list (see ``SystemTree``). Embedding it means a
/// small commit rewrites only its own pages and the meta page, never a separate catalog
/// or free-list page.
///
/// Links: those of the embedded root node (a leaf's tree roots, or an interior node's
/// children).
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
/// | 56 | 1 | root kind: 0 empty, 1 leaf, 2 interior |
/// | 57 | … | the root node's body, as in a leaf or interior page |
public struct MetaPage: Sendable {
  public var transaction: TransactionID
  public var vaultID: [UInt8]
  public var pageCount: UInt64
  public var committedAtMilliseconds: Int64
  public var nextTreeID: TreeID
  public var freePageCount: UInt64
  public var treeCount: UInt64
  public var root: SystemRoot

  /// Bytes of the body before the embedded root node's body.
  public static let fieldsLength = 57

  /// Content bytes (links and body) the embedded root node may take.
  public static func rootCapacity(pageSize: Int) -> Int {
    FileFormat.contentCapacity(pageSize: pageSize) - fieldsLength
  }

  public init(
    transaction: TransactionID, vaultID: [UInt8], pageCount: UInt64,
    committedAtMilliseconds: Int64, nextTreeID: TreeID, freePageCount: UInt64,
    treeCount: UInt64, root: SystemRoot
  ) {
    self.transaction = transaction
    self.vaultID = vaultID
    self.pageCount = pageCount
    self.committedAtMilliseconds = committedAtMilliseconds
    self.nextTreeID = nextTreeID
    self.freePageCount = freePageCount
    self.treeCount = treeCount
    self.root = root
  }

  /// The meta page's bytes, for page `FileFormat.metaPage(for: transaction)`. With
  /// `sealed`, the page is built for ``PageCipher/seal(_:nonce:)`` (no checksum yet).
  ///
  /// - Precondition: the root is not ``SystemRoot/sealed(kind:links:)``.
  public func encode(pageSize: Int, sealed: Bool = false) -> [UInt8] {
    let rootLength: Int
    switch root {
    case .sealed: preconditionFailure("a meta page read without the key cannot be written")
    case .empty: rootLength = 0
    case .leaf(let node): rootLength = LeafPage.bodyLength(of: node.cells)
    case .interior(let node): rootLength = InteriorPage.bodyLength(of: node.separators)
    }
    let links = root.links
    let bodyLength = Self.fieldsLength + rootLength
    let header = PageHeader(
      type: .meta, pageNumber: FileFormat.metaPage(for: transaction), transaction: transaction,
      tree: .system, linkCount: links.count, bodyLength: bodyLength,
      flags: sealed ? FileFormat.sealedFlag : 0)
    return Page.build(header: header, links: links, bodyLength: bodyLength, pageSize: pageSize) {
      output in
      var body = RawWriter(output)
      vaultID.withUnsafeBytes { body.write($0) }
      body.write(pageCount)
      body.write(UInt64(bitPattern: committedAtMilliseconds))
      body.write(nextTreeID.rawValue)
      body.write(freePageCount)
      body.write(treeCount)
      switch root {
      case .sealed: break
      case .empty:
        body.write(UInt8(0))
      case .leaf(let node):
        body.write(UInt8(1))
        node.bytes.withUnsafeBytes { LeafPage.writeBody(node.cells, source: $0, into: &body) }
      case .interior(let node):
        body.write(UInt8(2))
        node.bytes.withUnsafeBytes {
          InteriorPage.writeBody(node.separators, source: $0, into: &body)
        }
      }
    }
  }

  /// Decodes a meta page whose framing has been parsed. Checks the checksum (unless
  /// ``PageCipher`` opened the page, which its caller verified first) and that the page
  /// sits in the slot its transaction id selects. A sealed page not yet opened yields
  /// a ``SystemRoot/sealed(kind:links:)`` root.
  public init(page: Page) throws(VaultError) {
    let number = page.header.pageNumber.rawValue
    guard (page.isSealed && page.bodyIsPlaintext) || page.hasValidChecksum else {
      throw VaultError(.corruptPage, "meta page checksum does not match", page: number)
    }
    guard page.header.type == .meta, page.header.tree == .system else {
      throw VaultError(.corruptPage, "page is not a meta page", page: number, offset: 16)
    }
    guard FileFormat.metaPage(for: page.header.transaction) == page.header.pageNumber else {
      throw VaultError(
        .corruptPage, "transaction \(page.header.transaction) belongs in the other meta page",
        page: number, offset: 32)
    }
    transaction = page.header.transaction
    var reader = page.bodyReader()
    vaultID = try reader.readBytes(FileHeader.vaultIDLength, "vault id")
    pageCount = try reader.readUInt64("page count")
    committedAtMilliseconds = try reader.readInt64("commit time")
    nextTreeID = TreeID(try reader.readUInt64("next tree id"))
    freePageCount = try reader.readUInt64("free page count")
    treeCount = try reader.readUInt64("tree count")
    let maximum = FileFormat.maximumPageCount(pageSize: page.bytes.count)
    guard pageCount >= FileFormat.initialPageCount, pageCount <= maximum else {
      throw VaultError(
        .corruptPage, "meta page claims an impossible \(pageCount) pages", page: number)
    }
    guard freePageCount < pageCount, nextTreeID >= .firstUser, nextTreeID.rawValue < UInt64.max
    else {
      throw VaultError(.corruptPage, "meta page counters are impossible", page: number)
    }
    let kind = try reader.readUInt8("root kind")
    switch kind {
    case _ where (kind == 1 || kind == 2) && !page.bodyIsPlaintext:
      root = .sealed(kind: kind, links: page.links)
    case 0:
      guard reader.isAtEnd, page.links.isEmpty else {
        throw reader.corrupt("an empty system tree has no root content")
      }
      root = .empty
    case 1:
      root = .leaf(
        LeafNode(bytes: page.bytes, cells: try LeafPage.decodeBody(&reader, links: page.links)))
    case 2:
      let separators = try InteriorPage.decodeBody(&reader, links: page.links)
      root = .interior(
        InteriorNode(bytes: page.bytes, separators: separators, children: page.links))
    default:
      throw reader.corrupt("unknown system root kind \(kind)")
    }
    for link in page.links {
      guard FileFormat.isDataPage(link.page), link.page.rawValue < pageCount,
        link.transaction <= transaction
      else {
        throw VaultError(.corruptPage, "meta page links to impossible page \(link)", page: number)
      }
    }
  }
}

extension MetaPage: Equatable {
  public static func == (lhs: MetaPage, rhs: MetaPage) -> Bool {
    switch (lhs.root, rhs.root) {
    case (.sealed(let left, let leftLinks), .sealed(let right, let rightLinks)):
      // Bodies unknown: compare what is in the clear.
      var cleared = lhs
      cleared.root = .empty
      var other = rhs
      other.root = .empty
      return left == right && leftLinks == rightLinks && cleared == other
    case (.sealed, _), (_, .sealed):
      return false
    default:
      return lhs.encode(pageSize: FileFormat.minimumPageSize * 16)
        == rhs.encode(pageSize: FileFormat.minimumPageSize * 16)
    }
  }
}
