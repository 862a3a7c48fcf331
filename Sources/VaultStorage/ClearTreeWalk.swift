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
    /// Its cells, in order. Values stored in overflow chains are read along them.
    package var cells: [(key: [UInt8], value: [UInt8])]
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
        var cells = [(key: [UInt8], value: [UInt8])]()
        cells.reserveCapacity(node.cells.count)
        for cell in node.cells {
          let value: [UInt8]
          switch cell.value {
          case .inline(let range): value = Array(node.bytes[range])
          case .overflow(let length, let head):
            do throws(VaultError) {
              value = try reader.overflowValue(head: head, length: length, tree: id, in: meta)
            } catch {
              damage = damage ?? error
              value = []
            }
          case .tree:
            damage = damage ?? VaultError(.corruptPage, "a clear tree holds a tree entry")
            value = []
          }
          cells.append((Array(node.bytes[cell.key]), value))
        }
        let found = ClearLeaf(
          page: link.page, transaction: node.link.transaction, cells: cells, damage: damage)
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
