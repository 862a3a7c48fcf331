import VaultCore
import VaultFormat

/// A committed B+tree page, decoded and verified: immutable, shared by every snapshot
/// and the writer, kept in the ``PageCache``.
///
/// Keys and inline values are slices of the page's bytes: decoding copies nothing.
final class Node: Sendable {
  /// The link that led to this page (its number, writer transaction and checksum).
  let link: PageLink
  let tree: TreeID
  let isLeaf: Bool
  /// Leaf keys, or interior separators.
  let keys: [ArraySlice<UInt8>]
  /// Leaf values (empty for interior nodes).
  let values: [CellValue]
  /// Interior children (empty for leaves).
  let children: [PageLink]
  /// Bytes the page's links and body take: the node's fill.
  let contentSize: Int

  /// Decodes a page whose framing was parsed and whose checksum was verified.
  init(page: Page) throws(VaultError) {
    link = page.link
    tree = page.header.tree
    contentSize = page.header.linkCount * 32 + page.header.bodyLength
    switch page.header.type {
    case .leaf:
      isLeaf = true
      let cells = try LeafPage.decode(page)
      keys = cells.map(\.key)
      values = cells.map(\.value)
      children = []
    case .interior:
      isLeaf = false
      keys = try InteriorPage.decode(page)
      values = []
      children = page.links
    default:
      throw VaultError(
        .corruptPage, "expected a tree page, found \(page.header.type)",
        page: page.header.pageNumber.rawValue, offset: 16)
    }
  }

  /// The system tree's root as embedded in a meta page, or nil for an empty system tree.
  init?(systemRootOf meta: MetaPage) {
    link = PageLink(
      page: FileFormat.metaPage(for: meta.transaction), transaction: meta.transaction,
      checksum: .zero)
    tree = .system
    switch meta.root {
    case .empty:
      return nil
    case .leaf(let cells):
      isLeaf = true
      keys = cells.map(\.key)
      values = cells.map(\.value)
      children = []
      contentSize =
        2 + cells.reduce(0) { $0 + LeafPage.cellSize(keyLength: $1.key.count, value: $1.value) }
    case .interior(let separators, let links):
      isLeaf = false
      keys = separators
      values = []
      children = links
      contentSize = InteriorPage.contentSize(
        separatorBytes: separators.reduce(0) { $0 + InteriorPage.entrySize(keyLength: $1.count) })
    }
  }

  /// The index of the first key not less than `key`, and whether it equals `key`.
  func search(_ key: [UInt8]) -> (index: Int, found: Bool) {
    keys.lowerBound(of: key)
  }

  /// The child an interior node routes `key` to.
  func childIndex(for key: [UInt8]) -> Int {
    keys.upperBound(of: key)
  }
}

extension Array where Element == ArraySlice<UInt8> {
  /// Binary search: the first index whose key is not less than `key`.
  func lowerBound<Key: RandomAccessCollection<UInt8>>(of key: Key) -> (index: Int, found: Bool) {
    var low = 0
    var high = count
    while low < high {
      let middle = (low + high) / 2
      if KeyOrder.compare(self[middle], key) < 0 { low = middle + 1 } else { high = middle }
    }
    return (low, low < count && KeyOrder.compare(self[low], key) == 0)
  }

  /// Binary search: the first index whose key is greater than `key`.
  func upperBound<Key: RandomAccessCollection<UInt8>>(of key: Key) -> Int {
    var low = 0
    var high = count
    while low < high {
      let middle = (low + high) / 2
      if KeyOrder.compare(self[middle], key) <= 0 { low = middle + 1 } else { high = middle }
    }
    return low
  }
}
