import VaultCore

/// Encoding and decoding of overflow pages: a chain holding one large value.
///
/// Links: the next page of the chain, or none on the last page.
/// Body: the next piece of the value (every page but the last is full).
public enum OverflowPage {
  /// Value bytes one overflow page carries.
  public static func capacity(pageSize: Int) -> Int {
    FileFormat.contentCapacity(pageSize: pageSize) - FileFormat.linkSize
  }

  /// Overflow pages needed for a value of `length` bytes.
  public static func pagesNeeded(length: Int, pageSize: Int) -> Int {
    let per = capacity(pageSize: pageSize)
    return length / per + (length % per == 0 ? 0 : 1)
  }

  /// Overflow pages needed for a value of `length` bytes, as a length read from a file
  /// may be any 64-bit number.
  public static func pagesNeeded(length: UInt64, pageSize: Int) -> UInt64 {
    let per = UInt64(capacity(pageSize: pageSize))
    return length / per + (length % per == 0 ? 0 : 1)
  }

  public static func encode(
    piece: ArraySlice<UInt8>, next: PageLink?, page: PageNumber, transaction: TransactionID,
    tree: TreeID, pageSize: Int, sealed: Bool = false
  ) -> [UInt8] {
    let links = next.map { [$0] } ?? []
    let header = PageHeader(
      type: .overflow, pageNumber: page, transaction: transaction, tree: tree,
      linkCount: links.count, bodyLength: piece.count,
      flags: sealed ? FileFormat.sealedFlag : 0)
    return Page.build(header: header, links: links, bodyLength: piece.count, pageSize: pageSize) {
      output in
      var body = RawWriter(output)
      body.write(piece)
    }
  }

  /// The piece an overflow page carries and the link to the next page, if any.
  public static func decode(_ page: Page) throws(VaultError) -> (
    piece: ArraySlice<UInt8>, next: PageLink?
  ) {
    try page.requirePlaintextBody()
    return (page.bytes[page.bodyRange], try next(of: page))
  }

  /// The link to the next page of the chain, if any: readable without the key.
  public static func next(of page: Page) throws(VaultError) -> PageLink? {
    let number = page.header.pageNumber.rawValue
    guard page.header.type == .overflow, page.header.linkCount <= 1 else {
      throw VaultError(
        .corruptPage, "expected an overflow page, found \(page.header.type)", page: number)
    }
    if let next = page.links.first, next.isNull {
      throw VaultError(.corruptPage, "overflow page has a null next link", page: number)
    }
    return page.links.first
  }
}
