import VaultCore
import VaultFormat

/// Reading a clear tree (FORMAT.md 7.3) the way a verifier must: without the key, in
/// key order, and going on past damage, so that what is wrong can be pinned on the
/// entries it touches rather than on "some page".
extension Snapshot {
  /// One leaf of a clear tree, as found.
  package struct ClearLeaf {
    /// The leaf's page and the transaction that wrote it.
    package var page: PageNumber
    package var transaction: TransactionID
    /// The bytes cells refer to: the page's, then any values read from overflow
    /// chains (so that reading a leaf copies nothing per cell).
    package var bytes: [UInt8]
    /// Its cells, in order, as ranges of ``bytes``.
    package var cells: [(key: Range<Int>, value: Range<Int>)]

    package func key(_ index: Int) -> ArraySlice<UInt8> { bytes[cells[index].key] }
    package func value(_ index: Int) -> ArraySlice<UInt8> { bytes[cells[index].value] }
    /// Why the page failed verification against its link (a checksum, a stale
    /// version): its cells were still decoded, and are given, but are not to be
    /// trusted. Nil for a page that verified.
    package var damage: VaultError?
  }

  /// Visits the leaves of clear tree `id` left to right until `leaf` returns false.
  /// An interior page that fails verification but decodes is reported to `problem` and
  /// still followed; a page that does not decode at all (nor, then, what lies below
  /// it) is reported with the lowest key it should have held, and skipped.
  ///
  /// - Returns: false when the tree does not exist.
  /// - Complexity: O(pages of the tree), each read once, none opened.
  package func walkClearTree(
    _ id: TreeID, leaf: (ClearLeaf) -> Bool,
    problem: (_ page: PageNumber, _ lower: [UInt8]?, _ error: VaultError) -> Bool
  ) throws(VaultError) -> Bool {
    guard let tree = try clearTree(id) else { return false }
    // Depth first, children pushed right to left; each with the lowest key it may hold.
    var stack: [(link: PageLink, lower: [UInt8]?)] = [(tree.root.root, nil)]
    var visited: UInt64 = 0
    while let (link, lower) = stack.popLast() {
      visited += 1
      guard visited <= meta.pageCount else {
        _ = problem(
          link.page, lower,
          VaultError(.corruptPage, "the tree links more pages than the file has"))
        return true
      }
      var damage: VaultError?
      let node: Node
      do throws(VaultError) {
        guard FileFormat.isDataPage(link.page), link.page.rawValue < meta.pageCount else {
          throw VaultError(
            .corruptPage, "link to page \(link.page) lies outside the state",
            page: link.page.rawValue)
        }
        let page = try reader.readPage(link.page)
        do throws(VaultError) { try page.verify(against: link) } catch { damage = error }
        try PageReader.requireSealing(page)
        guard page.header.tree == id else {
          throw VaultError(
            .corruptPage, "page belongs to tree \(page.header.tree), not \(id)",
            page: link.page.rawValue, offset: 40)
        }
        node = try Node(page: page)
      } catch {
        if !problem(link.page, lower, damage ?? error) { return true }
        continue
      }
      if node.isLeaf {
        var bytes = node.bytes
        var cells = [(key: Range<Int>, value: Range<Int>)]()
        cells.reserveCapacity(node.cells.count)
        for cell in node.cells {
          var value = 0..<0
          switch cell.value {
          case .inline(let range): value = range
          case .overflow(let length, let head):
            do throws(VaultError) {
              let external = try reader.overflowValue(
                head: head, length: length, tree: id, in: meta)
              value = bytes.count..<bytes.count + external.count
              bytes += external
            } catch {
              damage = damage ?? error
            }
          case .tree, .extent:
            damage = damage ?? VaultError(.corruptPage, "a clear tree holds a tree entry or extent")
          }
          cells.append((cell.key, value))
        }
        let found = ClearLeaf(
          page: link.page, transaction: node.link.transaction, bytes: bytes, cells: cells,
          damage: damage)
        if !leaf(found) { return true }
      } else {
        if let damage, !problem(link.page, lower, damage) { return true }
        for index in stride(from: node.children.count - 1, through: 0, by: -1) {
          let childLower = index == 0 ? lower : Array(node.bytes[node.separators[index - 1]])
          stack.append((node.children[index], childLower))
        }
      }
    }
    return true
  }
}
