import VaultCore
import VaultFormat

/// A committed B+tree page, decoded and verified: immutable, shared by every snapshot
/// and the writer, kept in the ``PageCache``.
///
/// Keys and inline values are ranges of the page's bytes: decoding copies nothing and
/// cells are plain data.
final class Node: Sendable {
  /// The link that led to this page (its number, writer transaction and checksum).
  let link: PageLink
  let tree: TreeID
  let isLeaf: Bool
  /// The page's bytes; cells and separators are ranges of it.
  let bytes: [UInt8]
  /// Leaf cells (empty for interior nodes).
  let cells: [LeafCell]
  /// Interior separators (empty for leaves).
  let separators: [Range<Int>]
  /// Interior children (empty for leaves).
  let children: [PageLink]
  /// Bytes the page's links and body take: the node's fill. Only a writer copying the
  /// node asks.
  var contentSize: Int {
    let size =
      embeddedInMeta
      ? (isLeaf ? LeafPage.contentSize(of: cells) : InteriorPage.contentSize(of: separators))
      // A page of its own: its header states the size (decoding checked the body is
      // exactly that long), which spares a walk over the cells.
      : Page.contentSize(ofPage: bytes)
    assert(
      size
        == (isLeaf
          ? LeafPage.contentSize(of: cells) : InteriorPage.contentSize(of: separators)),
      "page header and cells disagree on the node's size")
    return size
  }
  /// Whether this is the system tree's root, embedded in a meta page: its bytes are not
  /// a tree page's.
  private var embeddedInMeta: Bool { !FileFormat.isDataPage(link.page) }
  /// The first eight bytes of every key (leaf) or separator (interior), big-endian and
  /// zero-padded, in one contiguous array: a search compares these and touches a key's
  /// bytes only when two prefixes tie. Prefixes of sorted keys are sorted too.
  let prefixes: [UInt64]

  /// A leaf, from a page this process decoded or just encoded.
  init(leaf: LeafNode, link: PageLink, tree: TreeID) {
    self.link = link
    self.tree = tree
    isLeaf = true
    bytes = leaf.bytes
    cells = leaf.cells
    separators = []
    children = []
    prefixes = Node.prefixes(of: leaf.cells.lazy.map(\.key), in: leaf.bytes)
  }

  /// An interior node, from a page this process decoded or just encoded.
  init(interior: InteriorNode, link: PageLink, tree: TreeID) {
    self.link = link
    self.tree = tree
    isLeaf = false
    bytes = interior.bytes
    cells = []
    separators = interior.separators
    children = interior.children
    prefixes = Node.prefixes(of: interior.separators, in: interior.bytes)
  }

  static func prefixes(of ranges: some Collection<Range<Int>>, in bytes: [UInt8]) -> [UInt64] {
    bytes.withUnsafeBytes { page in
      ranges.map { range in prefix(UnsafeRawBufferPointer(rebasing: page[range])) }
    }
  }

  /// The first eight bytes of `key` as a big-endian number, zero-padded.
  @inline(__always)
  static func prefix(_ key: UnsafeRawBufferPointer) -> UInt64 {
    if key.count >= 8 { return UInt64(bigEndian: key.loadUnaligned(as: UInt64.self)) }
    var value: UInt64 = 0
    for byte in key { value = value << 8 | UInt64(byte) }
    return value << (8 * (8 - UInt64(key.count)))
  }

  /// Decodes a page whose framing was parsed and whose checksum was verified.
  convenience init(page: Page) throws(VaultError) {
    switch page.header.type {
    case .leaf:
      self.init(leaf: try LeafPage.decode(page), link: page.link, tree: page.header.tree)
    case .interior:
      self.init(interior: try InteriorPage.decode(page), link: page.link, tree: page.header.tree)
    default:
      throw VaultError(
        .corruptPage, "expected a tree page, found \(page.header.type)",
        page: page.header.pageNumber.rawValue, offset: 16)
    }
  }

  /// The system tree's root as embedded in a meta page, or nil for an empty system tree.
  convenience init?(systemRootOf meta: MetaPage) {
    // Not a page of its own: the link names the meta page, which the cache never holds.
    let link = PageLink(
      page: FileFormat.metaPage(for: meta.transaction), transaction: meta.transaction,
      checksum: .zero)
    switch meta.root {
    // Without the key the root's body is sealed; snapshots then refuse to read trees.
    case .empty, .sealed: return nil
    case .leaf(let node): self.init(leaf: node, link: link, tree: .system)
    case .interior(let node): self.init(interior: node, link: link, tree: .system)
    }
  }

  /// The index of the first cell whose key is not less than `key`, and whether it
  /// equals `key`.
  func search(_ key: [UInt8]) -> (index: Int, found: Bool) {
    // The hottest loop of every read: plain pointers, no closure, no reference counting.
    bytes.withUnsafeBytes { page in
      cells.withUnsafeBufferPointer { cells in
        key.withUnsafeBytes { wanted in
          // Narrow to the keys whose prefix ties with the wanted one (usually none or
          // one), then compare whole keys there.
          var (low, high) = Self.tie(Self.prefix(wanted), in: prefixes)
          var found = false
          while low < high {
            let middle = (low + high) &>> 1
            let range = cells[middle].key
            let order = KeyOrder.compareBuffers(
              UnsafeRawBufferPointer(
                start: page.baseAddress.map { $0 + range.lowerBound }, count: range.count),
              wanted)
            if order < 0 {
              low = middle + 1
            } else {
              if order == 0 { found = true }
              high = middle
            }
          }
          return (low, found && low < cells.count)
        }
      }
    }
  }

  /// The child an interior node routes `key` to.
  func childIndex(for key: [UInt8]) -> Int {
    bytes.withUnsafeBytes { page in
      separators.withUnsafeBufferPointer { separators in
        key.withUnsafeBytes { wanted in
          var (low, high) = Self.tie(Self.prefix(wanted), in: prefixes)
          while low < high {
            let middle = (low + high) &>> 1
            let range = separators[middle]
            let order = KeyOrder.compareBuffers(
              UnsafeRawBufferPointer(
                start: page.baseAddress.map { $0 + range.lowerBound }, count: range.count),
              wanted)
            if order <= 0 { low = middle + 1 } else { high = middle }
          }
          return low
        }
      }
    }
  }

  func key(_ index: Int) -> [UInt8] { Array(bytes[cells[index].key]) }

  /// The range of indices whose prefix equals `wanted`: before it every key sorts
  /// below the wanted key, after it every key sorts above.
  @inline(__always)
  static func tie(_ wanted: UInt64, in prefixes: [UInt64]) -> (Int, Int) {
    prefixes.withUnsafeBufferPointer { prefixes in
      var low = 0
      var high = prefixes.count
      while low < high {
        let middle = (low + high) &>> 1
        if prefixes[middle] < wanted { low = middle + 1 } else { high = middle }
      }
      // Usually the run of equal prefixes is empty or one long; keys sharing their
      // first eight bytes make it long, so find its end by bisection too.
      var end = low
      var limit = prefixes.count
      while end < limit {
        let middle = (end + limit) &>> 1
        if prefixes[middle] <= wanted { end = middle + 1 } else { limit = middle }
      }
      return (low, end)
    }
  }
}

/// Binary search over keys stored as ranges of one buffer.
enum KeySearch {
  /// The first index whose key is not less than `key`, and whether it equals `key`.
  @inline(__always)
  static func lowerBound(
    of key: [UInt8], in bytes: [UInt8], count: Int, range: (Int) -> Range<Int>
  ) -> (index: Int, found: Bool) {
    bytes.withUnsafeBytes { buffer in
      key.withUnsafeBytes { wanted in
        var low = 0
        var high = count
        var found = false
        while low < high {
          let middle = (low + high) / 2
          let order = KeyOrder.compareBuffers(
            UnsafeRawBufferPointer(rebasing: buffer[range(middle)]), wanted)
          if order < 0 {
            low = middle + 1
          } else {
            if order == 0 { found = true }
            high = middle
          }
        }
        return (low, found && low < count)
      }
    }
  }

  /// The first index whose key is greater than `key`.
  @inline(__always)
  static func upperBound(of key: [UInt8], in bytes: [UInt8], count: Int, range: (Int) -> Range<Int>)
    -> Int
  {
    bytes.withUnsafeBytes { buffer in
      key.withUnsafeBytes { wanted in
        var low = 0
        var high = count
        while low < high {
          let middle = (low + high) / 2
          let order = KeyOrder.compareBuffers(
            UnsafeRawBufferPointer(rebasing: buffer[range(middle)]), wanted)
          if order <= 0 { low = middle + 1 } else { high = middle }
        }
        return low
      }
    }
  }
}
