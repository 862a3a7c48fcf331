import VaultCore
import VaultCrypto

/// Seals and opens page contents with the vault's page key (XChaCha20-Poly1305).
///
/// A sealed page keeps in the clear only what a keyless tool needs to walk, verify and
/// copy the structure: the 64-byte header, the links, and (on meta pages) the state's
/// counters. The rest of the body is encrypted in place; the 24-byte nonce and 16-byte
/// tag fill the page's last 40 bytes. The associated data is everything in the clear
/// from byte 16 on (type, flags, counts, page number, transaction, tree, links, clear
/// fields), so a sealed body cannot be moved to another page, transaction or tree, or
/// put under other links, without failing to open. The checksum is computed last, over
/// the ciphertext and the trailer, so keyless tools verify exactly what is on disk.
public struct PageCipher: Sendable {
  let key: SymmetricKey

  /// A cipher under `pageKey`, the master key's ``SymmetricKey/KeyPurpose/pageSealing``
  /// subkey.
  public init(pageKey: SymmetricKey) { key = pageKey }

  /// How many body bytes of a page of `type` stay in the clear.
  public static func clearBodyLength(of type: PageType) -> Int {
    type == .meta ? MetaPage.fieldsLength : 0
  }

  /// Seals `plaintext`, a whole page built with the sealed flag (see
  /// ``Page/build(header:links:bodyLength:pageSize:writeBody:)``), under `nonce`, which
  /// must never have sealed anything before; returns the page as stored.
  public func seal(_ plaintext: [UInt8], nonce: PageNonce) -> [UInt8] {
    var page = plaintext
    page.withUnsafeMutableBytes { raw in
      let size = raw.count
      precondition(raw[17] & FileFormat.sealedFlag != 0, "page built without the sealed flag")
      let (sealedStart, end) = Self.sealedRange(raw: UnsafeRawBufferPointer(raw))
      let trailer = size - FileFormat.sealTrailerSize
      let tagStart = trailer + XChaCha20Poly1305.nonceByteCount
      nonce.store(into: UnsafeMutableRawBufferPointer(rebasing: raw[trailer..<tagStart]))
      XChaCha20Poly1305.sealInPlace(
        UnsafeMutableRawBufferPointer(rebasing: raw[sealedStart..<end]),
        tag: UnsafeMutableRawBufferPointer(rebasing: raw[tagStart..<size]),
        nonce: UnsafeRawBufferPointer(rebasing: raw[trailer..<tagStart]), key: key,
        associatedData: UnsafeRawBufferPointer(rebasing: raw[16..<sealedStart]))
      let checksum = Page.computeChecksum(of: UnsafeRawBufferPointer(raw))
      raw.storeBytes(of: checksum.low.littleEndian, toByteOffset: 0, as: UInt64.self)
      raw.storeBytes(of: checksum.high.littleEndian, toByteOffset: 8, as: UInt64.self)
    }
    return page
  }

  /// The page with its body decrypted, after checking its tag.
  ///
  /// - Throws: `.corruptPage` for a page that should be sealed and is not;
  ///   `.authenticationFailed` when the tag does not match (tampered, moved, or sealed
  ///   under another key).
  public func open(_ page: Page) throws(VaultError) -> Page {
    let number = page.header.pageNumber.rawValue
    guard page.isSealed else {
      throw VaultError(
        .corruptPage, "page of an encrypted vault is not sealed", page: number, offset: 17)
    }
    if page.bodyIsPlaintext { return page }
    var plaintext = page.bytes
    let opened = plaintext.withUnsafeMutableBytes { raw in
      let size = raw.count
      let (sealedStart, end) = Self.sealedRange(raw: UnsafeRawBufferPointer(raw))
      let trailer = size - FileFormat.sealTrailerSize
      let tagStart = trailer + XChaCha20Poly1305.nonceByteCount
      return XChaCha20Poly1305.openInPlace(
        UnsafeMutableRawBufferPointer(rebasing: raw[sealedStart..<end]),
        tag: UnsafeRawBufferPointer(rebasing: raw[tagStart..<size]),
        nonce: UnsafeRawBufferPointer(rebasing: raw[trailer..<tagStart]), key: key,
        associatedData: UnsafeRawBufferPointer(rebasing: raw[16..<sealedStart]))
    }
    guard opened else {
      throw VaultError(
        .authenticationFailed,
        "page failed authentication: its sealed content was altered, moved from another"
          + " page, or sealed under another key",
        page: number)
    }
    return Page(opened: page, plaintext: plaintext)
  }

  /// The sealed byte range of a page whose framing is valid: from the end of the clear
  /// body prefix to the content end.
  private static func sealedRange(raw: UnsafeRawBufferPointer) -> (start: Int, end: Int) {
    let end = Page.contentEnd(of: raw)
    let bodyOffset =
      FileFormat.pageHeaderSize
      + Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 18, as: UInt16.self)))
      * FileFormat.linkSize
    let clear = PageType(rawValue: raw[16]).map(clearBodyLength(of:)) ?? 0
    return (min(bodyOffset + clear, end), end)
  }
}

/// A nonce for one page seal: a random prefix drawn once per commit and a counter, so
/// no two seals under one page key share a nonce (the prefix alone has 128 random bits).
public struct PageNonce: Sendable {
  private let prefix: (UInt64, UInt64)
  private let counter: UInt64

  /// Stores the 24 nonce bytes: prefix, then the counter little-endian.
  func store(into raw: UnsafeMutableRawBufferPointer) {
    raw.storeBytes(of: prefix.0, toByteOffset: 0, as: UInt64.self)
    raw.storeBytes(of: prefix.1, toByteOffset: 8, as: UInt64.self)
    raw.storeBytes(of: counter.littleEndian, toByteOffset: 16, as: UInt64.self)
  }

  /// Hands out the nonces of one commit.
  public struct Sequence: Sendable {
    private let prefix = (SecureRandom.uint64(), SecureRandom.uint64())
    private var counter: UInt64 = 0

    /// A sequence with a fresh random prefix.
    public init() {}

    /// The next nonce.
    public mutating func next() -> PageNonce {
      counter += 1
      return PageNonce(prefix: prefix, counter: counter)
    }
  }
}
