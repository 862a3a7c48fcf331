import VaultCore
import VaultFormat

/// Walks every page of one committed state, from its meta page down, without a key:
/// the links in page headers are all it needs. Used by open-time verification of the
/// newest commit, by `check`, by page inventories and by backups.
///
/// Each page is read, checked against the link that led to it (checksum, writer
/// transaction, page number, owning tree, page type), decoded, and checked against its
/// parent's key range.
struct StructureWalker {
  /// What a link is expected to lead to.
  enum Role: Sendable {
    case treeNode
    case overflow
  }

  struct Visit {
    let link: PageLink
    let tree: TreeID
    let role: Role
    /// Depth below the tree's root (tree nodes only).
    let depth: Int
    /// Keys on this page must lie in `lower ..< upper` (nil: unbounded).
    let lower: ArraySlice<UInt8>?
    let upper: ArraySlice<UInt8>?
    /// The page that links here (nil for the meta page's roots).
    let parent: PageNumber?
  }

  /// What a visited page turned out to be.
  enum Content {
    case interior(separators: [ArraySlice<UInt8>])
    case leaf(cells: [(key: ArraySlice<UInt8>, value: CellValue)])
    case overflow(length: Int)
  }

  let reader: PageReader
  let meta: MetaPage

  /// The roots of the state: the catalog and the free list.
  var roots: [Visit] {
    [(meta.catalogRoot, TreeID.catalog), (meta.freeListRoot, TreeID.freeList)]
      .filter { !$0.0.isNull }
      .map {
        Visit(
          link: $0.0, tree: $0.1, role: .treeNode, depth: 0, lower: nil, upper: nil, parent: nil)
      }
  }

  /// Visits pages depth-first. Links for which `follow` returns false are skipped.
  /// `visited` sees each page that verified; `problem` each that did not, and returns
  /// whether to go on.
  func walk(
    follow: (PageLink) -> Bool,
    visited: (Visit, Page, Content) -> Void,
    problem: (Visit, VaultError) -> Bool
  ) {
    var stack = Array(roots.reversed())
    while let visit = stack.popLast() {
      guard follow(visit.link) else { continue }
      do throws(VaultError) {
        let (page, content, children) = try examine(visit)
        visited(visit, page, content)
        stack += children.reversed()
      } catch {
        if !problem(visit, error.onPage(visit.link.page.rawValue)) { return }
      }
    }
  }

  private func examine(_ visit: Visit) throws(VaultError) -> (Page, Content, [Visit]) {
    let page = try reader.readVerified(visit.link, in: meta)
    let number = visit.link.page.rawValue
    guard page.header.tree == visit.tree else {
      throw VaultError(
        .corruptPage, "page belongs to tree \(page.header.tree), expected \(visit.tree)",
        page: number, offset: 40)
    }
    switch (visit.role, page.header.type) {
    case (.overflow, .overflow):
      let (piece, next) = try OverflowPage.decode(page)
      let children = next.map {
        [
          Visit(
            link: $0, tree: visit.tree, role: .overflow, depth: visit.depth, lower: nil,
            upper: nil, parent: page.header.pageNumber)
        ]
      }
      return (page, .overflow(length: piece.count), children ?? [])
    case (.treeNode, .interior):
      let separators = try InteriorPage.decode(page)
      try checkRange(separators, visit, page: number)
      var children = [Visit]()
      for (index, link) in page.links.enumerated() {
        children.append(
          Visit(
            link: link, tree: visit.tree, role: .treeNode, depth: visit.depth + 1,
            lower: index == 0 ? visit.lower : separators[index - 1],
            upper: index == separators.count ? visit.upper : separators[index],
            parent: page.header.pageNumber))
      }
      return (page, .interior(separators: separators), children)
    case (.treeNode, .leaf):
      let cells = try LeafPage.decode(page)
      try checkRange(cells.map(\.key), visit, page: number)
      var children = [Visit]()
      for cell in cells {
        switch cell.value {
        case .inline:
          guard visit.tree != .catalog else {
            throw VaultError(.corruptPage, "catalog holds a value that is not a tree", page: number)
          }
        case .overflow(_, let head):
          guard visit.tree != .catalog, visit.tree != .freeList else {
            throw VaultError(.corruptPage, "system tree holds an overflow value", page: number)
          }
          children.append(
            Visit(
              link: head, tree: visit.tree, role: .overflow, depth: 0, lower: nil, upper: nil,
              parent: page.header.pageNumber))
        case .tree(let root):
          guard visit.tree == .catalog, root.id >= .firstUser, root.id < meta.nextTreeID else {
            throw VaultError(.corruptPage, "misplaced or impossible tree entry", page: number)
          }
          if !root.root.isNull {
            children.append(
              Visit(
                link: root.root, tree: root.id, role: .treeNode, depth: 0, lower: nil,
                upper: nil, parent: page.header.pageNumber))
          }
        }
      }
      return (page, .leaf(cells: cells), children)
    default:
      throw VaultError(
        .corruptPage, "found a \(page.header.type) page where a \(visit.role) was expected",
        page: number, offset: 16)
    }
  }

  /// Keys of a page must lie within the range its parent's separators give it.
  private func checkRange(_ keys: [ArraySlice<UInt8>], _ visit: Visit, page: UInt64)
    throws(VaultError)
  {
    guard let first = keys.first, let last = keys.last else { return }
    if let lower = visit.lower, KeyOrder.compare(first, lower) < 0 {
      throw VaultError(.corruptPage, "keys sort before the parent's separator", page: page)
    }
    if let upper = visit.upper, KeyOrder.compare(last, upper) >= 0 {
      throw VaultError(.corruptPage, "keys sort after the parent's separator", page: page)
    }
  }
}

extension StructureWalker.Role: CustomStringConvertible {
  var description: String {
    switch self {
    case .treeNode: "tree page"
    case .overflow: "overflow page"
    }
  }
}
