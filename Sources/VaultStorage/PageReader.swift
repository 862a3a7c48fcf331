import VaultCore
import VaultCrypto
import VaultFormat

/// Reads pages of one vault file and verifies each against the link that leads to it.
/// Every read of committed tree content goes through here.
struct PageReader: Sendable {
  let file: any FileIO
  let pageSize: Int
  let cache: PageCache
  /// Opens sealed page bodies; nil when the vault was opened without its key, which
  /// still lets the structure be walked and verified.
  let cipher: PageCipher?

  /// The raw bytes of page `number`, framing parsed but content not yet verified.
  func readPage(_ number: PageNumber) throws(VaultError) -> Page {
    guard number.rawValue < FileFormat.maximumPageCount(pageSize: pageSize) else {
      throw VaultError(
        .corruptPage, "page \(number) lies beyond any vault file", page: number.rawValue)
    }
    return try readPage(
      number, bytes: try file.read(at: number.rawValue * UInt64(pageSize), count: pageSize))
  }

  /// Page `number` from bytes already read from its place in the file.
  private func readPage(_ number: PageNumber, bytes: [UInt8]) throws(VaultError) -> Page {
    guard bytes.count == pageSize else {
      throw VaultError(
        .corruptPage, "page lies beyond the end of the file (file truncated?)",
        page: number.rawValue)
    }
    return try Page(bytes, location: number)
  }

  /// Reads and verifies the page `link` refers to, as of the state `meta` describes.
  func readVerified(_ link: PageLink, in meta: MetaPage) throws(VaultError) -> Page {
    guard FileFormat.isDataPage(link.page), link.page.rawValue < meta.pageCount,
      link.transaction <= meta.transaction
    else {
      throw VaultError(
        .corruptPage,
        "link to page \(link.page) written by transaction \(link.transaction) is impossible in"
          + " a state of \(meta.pageCount) pages at transaction \(meta.transaction)",
        page: link.page.rawValue)
    }
    let page = try readPage(link.page)
    try page.verify(against: link)
    try Self.requireSealing(page)
    return page
  }

  /// A tree page is sealed exactly when its tree's pages are (FORMAT.md 7.3): a page
  /// of a sealed tree found in the clear was not written by StudioVault (or not for
  /// this vault), and a clear tree's page must be verifiable without the key.
  static func requireSealing(_ page: Page) throws(VaultError) {
    guard page.isSealed == FileFormat.isSealed(page.header.tree) else {
      throw VaultError(
        .corruptPage,
        page.isSealed
          ? "page of tree \(page.header.tree) is sealed; that tree is stored in the clear"
          : "page of an encrypted vault is not sealed",
        page: page.header.pageNumber.rawValue, offset: 17)
    }
  }

  /// ``readVerified(_:in:)``, then the body opened with the page key.
  ///
  /// - Throws: `.keyRequired` without a key; `.authenticationFailed` for a page whose
  ///   sealed content does not authenticate.
  func readOpened(_ link: PageLink, in meta: MetaPage) throws(VaultError) -> Page {
    try open(try readVerified(link, in: meta))
  }

  /// The page with its body opened with the page key (a clear tree's page as it is).
  func open(_ page: Page) throws(VaultError) -> Page {
    if !page.isSealed { return page }
    guard let cipher else {
      throw VaultError(
        .keyRequired, "reading vault content needs its passphrase or key",
        page: page.header.pageNumber.rawValue)
    }
    return try cipher.open(page)
  }

  /// The decoded tree node `link` refers to, from the cache or the file.
  func node(_ link: PageLink, tree: TreeID, in meta: MetaPage) throws(VaultError) -> Node {
    if let cached = cache.node(for: link) {
      guard cached.tree == tree else { throw wrongTree(link, found: cached.tree, expected: tree) }
      return cached
    }
    let page = try readOpened(link, in: meta)
    guard page.header.tree == tree else {
      throw wrongTree(link, found: page.header.tree, expected: tree)
    }
    let node = try Node(page: page)
    cache.insert(node)
    return node
  }

  private func wrongTree(_ link: PageLink, found: TreeID, expected: TreeID) -> VaultError {
    VaultError(
      .corruptPage, "page belongs to tree \(found), but tree \(expected) links to it",
      page: link.page.rawValue, offset: 40)
  }

  /// Follows an overflow chain and returns the value it holds.
  func overflowValue(head: PageLink, length: UInt64, tree: TreeID, in meta: MetaPage)
    throws(VaultError) -> [UInt8]
  {
    let expectedPages = OverflowPage.pagesNeeded(length: length, pageSize: pageSize)
    guard expectedPages <= meta.pageCount else {
      throw VaultError(
        .corruptPage, "overflow value of \(length) bytes cannot fit in the file",
        page: head.page.rawValue)
    }
    var value = [UInt8]()
    // Reserve no more than a chain's pages could hold in a small file: a forged length
    // must not make us allocate it up front.
    value.reserveCapacity(Int(min(length, 64 << 20)))
    var next: PageLink? = head
    var visited = 0
    while let link = next {
      visited += 1
      guard UInt64(visited) <= expectedPages else {
        throw VaultError(
          .corruptPage, "overflow chain is longer than its value", page: link.page.rawValue)
      }
      let page = try readOpened(link, in: meta)
      guard page.header.tree == tree else {
        throw wrongTree(link, found: page.header.tree, expected: tree)
      }
      let (piece, following) = try OverflowPage.decode(page)
      value.append(contentsOf: piece)
      next = following
    }
    guard value.count == Int(length) else {
      throw VaultError(
        .corruptPage, "overflow chain holds \(value.count) bytes, its cell says \(length)",
        page: head.page.rawValue)
    }
    return value
  }

  /// Reads the blob extent `link` leads to (a run of `pages` pages owned by `tree`) and
  /// checks it against the link; returns its body. Extents bypass the page cache: they
  /// are large and read once. With `checksum` false the body's checksum is skipped (the
  /// caller authenticates the body with the blob's key).
  func extentBody(
    _ link: PageLink, pages: UInt32, tree: TreeID, in meta: MetaPage, checksum: Bool = true
  ) throws(VaultError) -> [UInt8] {
    let run = try extentRun(link, pages: pages, in: meta)
    let header = try BlobExtent.verify(
      run, against: link, tree: tree, pages: Int(pages), pageSize: pageSize, checksum: checksum)
    return Array(run[FileFormat.pageHeaderSize..<FileFormat.pageHeaderSize + header.bodyLength])
  }

  /// The raw bytes of an extent's run, after checking that the run lies within the
  /// state's data pages.
  func extentRun(_ link: PageLink, pages: UInt32, in meta: MetaPage) throws(VaultError)
    -> [UInt8]
  {
    let first = link.page.rawValue
    let (end, overflow) = first.addingReportingOverflow(UInt64(pages))
    guard pages >= 1, !overflow, FileFormat.isDataPage(link.page),
      first >= FileFormat.initialPageCount, end <= meta.pageCount,
      link.transaction <= meta.transaction,
      UInt64(pages) * UInt64(pageSize) <= UInt64(BlobExtent.maximumBodyLength) + UInt64(pageSize)
    else {
      throw VaultError(
        .corruptPage,
        "link to an extent of \(pages) pages at page \(link.page) is impossible in a state of"
          + " \(meta.pageCount) pages at transaction \(meta.transaction)",
        page: first)
    }
    let count = Int(pages) * pageSize
    // A forged page count must not make us allocate more than the file holds.
    guard end * UInt64(pageSize) <= (try file.size()) else {
      throw VaultError(
        .corruptPage, "extent lies beyond the end of the file (file truncated?)", page: first)
    }
    let run = try file.read(at: first * UInt64(pageSize), count: count)
    guard run.count == count else {
      throw VaultError(
        .corruptPage, "extent lies beyond the end of the file (file truncated?)", page: first)
    }
    return run
  }

  /// The page numbers of an overflow chain (to free it), verifying each page.
  func overflowPages(head: PageLink, length: UInt64, tree: TreeID, in meta: MetaPage)
    throws(VaultError) -> [PageNumber]
  {
    var pages = [PageNumber]()
    let limit = OverflowPage.pagesNeeded(length: length, pageSize: pageSize)
    var next: PageLink? = head
    while let link = next {
      guard UInt64(pages.count) < limit else {
        throw VaultError(
          .corruptPage, "overflow chain is longer than its value", page: link.page.rawValue)
      }
      let page = try readVerified(link, in: meta)
      guard page.header.tree == tree else {
        throw wrongTree(link, found: page.header.tree, expected: tree)
      }
      pages.append(link.page)
      next = try OverflowPage.next(of: page)
    }
    return pages
  }

  /// Reads both header copies and returns the newest valid one, with a problem
  /// description for each copy that is damaged.
  static func readHeader(_ file: any FileIO) throws(VaultError) -> (
    header: FileHeader, problems: [VaultError]
  ) {
    var candidates = [FileHeader]()
    var problems = [VaultError]()
    var sawMagic = false
    // Copy 0 sits at offset 0. Copy 1 sits at offset pageSize, which copy 0 would tell;
    // when copy 0 is damaged, try every possible page size.
    let prefix = try file.read(at: 0, count: FileFormat.minimumPageSize)
    var sizes = [Int]()
    do throws(VaultError) {
      let size = try FileHeader.peekPageSize(prefix, page: PageNumber(0))
      sawMagic = true
      sizes = [size]
      candidates.append(try decodeHeader(file, page: PageNumber(0), pageSize: size))
    } catch {
      if error.code == .unsupportedVersion { throw error }
      if error.code != .notAVault { sawMagic = true }
      problems.append(error)
      sizes = Array(12...16).map { 1 << $0 }
    }
    var copyOneProblem: VaultError?
    for size in sizes {
      do throws(VaultError) {
        let prefix = try file.read(at: UInt64(size), count: FileFormat.minimumPageSize)
        guard try FileHeader.peekPageSize(prefix, page: PageNumber(1)) == size else { continue }
        sawMagic = true
        candidates.append(try decodeHeader(file, page: PageNumber(1), pageSize: size))
        copyOneProblem = nil
        break
      } catch {
        if error.code == .unsupportedVersion { throw error }
        if error.code != .notAVault { sawMagic = true }
        copyOneProblem = copyOneProblem ?? error
      }
    }
    if let copyOneProblem { problems.append(copyOneProblem) }
    guard let best = candidates.max(by: { $0.generation < $1.generation }) else {
      if sawMagic {
        throw VaultError(.corruptPage, "both copies of the file header are damaged", page: 0)
      }
      throw VaultError(.notAVault, "not a StudioVault file (no header magic)")
    }
    if candidates.count == 2, candidates[0] != candidates[1],
      candidates[0].generation == candidates[1].generation
    {
      problems.append(
        VaultError(.corruptPage, "the two header copies disagree at the same generation", page: 1))
    }
    return (best, problems)
  }

  private static func decodeHeader(_ file: any FileIO, page: PageNumber, pageSize: Int)
    throws(VaultError) -> FileHeader
  {
    let bytes = try file.read(at: page.rawValue * UInt64(pageSize), count: pageSize)
    guard bytes.count == pageSize else {
      throw VaultError(.truncated, "file ends inside header page \(page)", page: page.rawValue)
    }
    let parsed = try Page(bytes, location: page)
    guard parsed.hasValidChecksum else {
      throw VaultError(.corruptPage, "header page checksum does not match", page: page.rawValue)
    }
    return try FileHeader(page: parsed)
  }

  /// The meta page in slot `page`, decoded, or the reason it cannot be used.
  func readMeta(_ page: PageNumber, vaultID: [UInt8]) throws(VaultError) -> (
    meta: MetaPage, checksum: Checksum
  ) {
    guard let found = try readMetaSlot(page, vaultID: vaultID) else {
      throw VaultError(.corruptPage, "meta page is blank", page: page.rawValue)
    }
    return found
  }

  /// The meta page in slot `page`, or nil when the slot is blank (all zero bytes: a
  /// slot blanked after a crash), from a single read.
  func readMetaSlot(_ page: PageNumber, vaultID: [UInt8]) throws(VaultError) -> (
    meta: MetaPage, checksum: Checksum
  )? {
    let bytes = try file.read(at: page.rawValue * UInt64(pageSize), count: pageSize)
    if bytes.count == pageSize, bytes.allSatisfy({ $0 == 0 }) { return nil }
    let parsed = try readPage(page, bytes: bytes)
    guard parsed.hasValidChecksum else {
      throw VaultError(.corruptPage, "meta page checksum does not match", page: page.rawValue)
    }
    try Self.requireSealing(parsed)
    let meta = try MetaPage(page: cipher == nil ? parsed : try open(parsed))
    guard meta.vaultID == vaultID else {
      throw VaultError(.corruptPage, "meta page belongs to another vault", page: page.rawValue)
    }
    // A commit's pages past the old end are durable with its meta page (one sync): a
    // meta page that claims more pages than the file has is from a commit cut short,
    // was damaged, or the file was cut short (FORMAT.md 2.2).
    let fileSize = try file.size()
    guard meta.pageCount <= fileSize / UInt64(pageSize) else {
      throw VaultError(
        .corruptPage,
        "meta page claims \(meta.pageCount) pages but the file holds \(fileSize / UInt64(pageSize))",
        page: page.rawValue)
    }
    return (meta, parsed.storedChecksum)
  }
}
