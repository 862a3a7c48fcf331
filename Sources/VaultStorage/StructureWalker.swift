import VaultCore
import VaultFormat

/// Walks every page of one committed state, from its meta page down, without a key:
/// the links in page headers are all it needs. Used by open-time verification of the
/// newest commit, by `check`, by page inventories and by backups.
///
/// Each page is read and checked against the link that led to it (checksum, writer
/// transaction, page number, owning tree, page type). When the reader holds the page
/// key, the page is also opened (authenticated), decoded, and checked against its
/// parent's key range; without it, what each link leads to follows from the page's
/// type and tree alone: a system-tree leaf links to tree roots, any other leaf to
/// overflow chains.
struct StructureWalker {
  /// What a link is expected to lead to.
  enum Role: Sendable {
    case treeNode
    /// An overflow page; or, from a leaf whose cells are sealed, a blob extent.
    case overflow
    /// A blob extent of this many pages.
    case extent(pages: UInt32)
  }

  struct Visit {
    let link: PageLink
    /// The tree the page must belong to; nil for a tree root found without the key,
    /// whose tree id the page itself gives.
    let tree: TreeID?
    let role: Role
    /// Depth below the tree's root (tree nodes only).
    let depth: Int
    /// Keys on this page must lie in `lower ..< upper` (nil: unbounded).
    let lower: ArraySlice<UInt8>?
    let upper: ArraySlice<UInt8>?
    /// The page that links here.
    let parent: PageNumber
    /// For an overflow page: the bytes of the value this page and the rest of the chain
    /// must hold (nil when the leaf that gave the length is sealed).
    var remaining: UInt64? = 0
  }

  /// What a visited page turned out to be.
  enum Content {
    case interior(InteriorNode)
    case leaf(LeafNode)
    case overflow(length: Int)
    /// A blob extent: a run of pages from the link's page on.
    case extent(BlobExtent.Header, pages: Int)
    /// A page whose body is sealed and no key was given: its type and tree are known.
    case sealed(PageType, tree: TreeID)
  }

  let reader: PageReader
  let meta: MetaPage

  var metaPage: PageNumber { FileFormat.metaPage(for: meta.transaction) }

  /// Visits pages depth-first, starting with the system tree's root embedded in the meta
  /// page (reported with a nil page). Links for which `follow` returns false are
  /// skipped. `visited` sees each page that verified; `problem` each that did not, and
  /// returns whether to go on.
  func walk(
    follow: (PageLink) -> Bool,
    visited: (Visit, Page?, Content) -> Void,
    problem: (Visit, VaultError) -> Bool
  ) {
    let rootVisit = Visit(
      link: PageLink(page: metaPage, transaction: meta.transaction, checksum: .zero),
      tree: .system, role: .treeNode, depth: 0, lower: nil, upper: nil, parent: metaPage)
    var stack = [Visit]()
    do throws(VaultError) {
      let content: Content
      switch meta.root {
      case .empty: return
      case .leaf(let node): content = .leaf(node)
      case .interior(let node): content = .interior(node)
      case .sealed(let kind, _): content = .sealed(kind == 1 ? .leaf : .interior, tree: .system)
      }
      let children = try self.children(of: content, links: meta.root.links, visit: rootVisit)
      visited(rootVisit, nil, content)
      stack = children.reversed()
    } catch {
      _ = problem(rootVisit, error.onPage(metaPage.rawValue))
      return
    }
    while let visit = stack.popLast() {
      guard follow(visit.link) else { continue }
      do throws(VaultError) {
        if let extent = try examineExtent(visit) {
          visited(visit, nil, extent)
          continue
        }
        let (page, content) = try examine(visit)
        let children = try self.children(of: content, links: page.links, visit: visit)
        visited(visit, page, content)
        stack += children.reversed()
      } catch {
        if !problem(visit, error.onPage(visit.link.page.rawValue)) { return }
      }
    }
  }

  /// The extent a visit leads to, verified; nil when it leads to a single page. A cell
  /// says when a link leads to an extent; without the key, the first page's type does.
  private func examineExtent(_ visit: Visit) throws(VaultError) -> Content? {
    let pages: UInt32
    let expectedTree: TreeID
    switch visit.role {
    case .treeNode: return nil
    case .overflow:
      // Only a link from a sealed leaf (nothing known of the value) may be an extent.
      guard visit.remaining == nil, let tree = visit.tree,
        visit.link.page.rawValue >= FileFormat.initialPageCount
      else { return nil }
      let first = try reader.extentRun(visit.link, pages: 1, in: meta)
      guard first[16] == PageType.blob.rawValue else { return nil }
      let header = try BlobExtent.decodeHeader(first[...], location: visit.link.page)
      pages = UInt32(header.pageCount(pageSize: reader.pageSize))
      expectedTree = tree
    case .extent(let count):
      pages = count
      expectedTree = visit.tree ?? .none
    }
    let run = try reader.extentRun(visit.link, pages: pages, in: meta)
    let header = try BlobExtent.verify(
      run, against: visit.link, tree: expectedTree, pages: Int(pages), pageSize: reader.pageSize)
    return .extent(header, pages: Int(pages))
  }

  private func examine(_ visit: Visit) throws(VaultError) -> (Page, Content) {
    var page = try reader.readVerified(visit.link, in: meta)
    let number = visit.link.page.rawValue
    let tree = page.header.tree
    if let expected = visit.tree {
      guard tree == expected else {
        throw VaultError(
          .corruptPage, "page belongs to tree \(tree), expected \(expected)", page: number,
          offset: 40)
      }
    } else {
      guard FileFormat.isCatalogTree(tree, nextTreeID: meta.nextTreeID) else {
        throw VaultError(
          .corruptPage, "tree root names impossible tree \(tree)", page: number, offset: 40)
      }
    }
    if reader.cipher != nil || !page.isSealed { page = try reader.open(page) }
    let content: Content
    switch (visit.role, page.header.type) {
    case (.overflow, .overflow) where !page.bodyIsPlaintext,
      (.treeNode, .interior) where !page.bodyIsPlaintext,
      (.treeNode, .leaf) where !page.bodyIsPlaintext:
      content = .sealed(page.header.type, tree: tree)
    case (.overflow, .overflow):
      content = .overflow(length: try OverflowPage.decode(page).piece.count)
    case (.treeNode, .interior):
      content = .interior(try InteriorPage.decode(page))
    case (.treeNode, .leaf):
      content = .leaf(try LeafPage.decode(page))
    default:
      throw VaultError(
        .corruptPage, "found a \(page.header.type) page where a \(visit.role) was expected",
        page: number, offset: 16)
    }
    return (page, content)
  }

  /// The pages a node or overflow page links to, checking what it holds on the way.
  private func children(of content: Content, links: [PageLink], visit: Visit) throws(VaultError)
    -> [Visit]
  {
    let number = visit.link.page
    switch content {
    case .extent:
      return []
    case .sealed(let type, let tree):
      return links.map { link in
        switch type {
        case .interior:
          Visit(
            link: link, tree: tree, role: .treeNode, depth: visit.depth + 1, lower: nil,
            upper: nil, parent: number)
        case .leaf where tree == .system:
          Visit(
            link: link, tree: nil, role: .treeNode, depth: 0, lower: nil, upper: nil,
            parent: number)
        default:
          Visit(
            link: link, tree: tree, role: .overflow, depth: 0, lower: nil, upper: nil,
            parent: number, remaining: nil)
        }
      }
    case .overflow(let length):
      guard let remaining = visit.remaining else {
        return links.map {
          Visit(
            link: $0, tree: visit.tree, role: .overflow, depth: 0, lower: nil, upper: nil,
            parent: number, remaining: nil)
        }
      }
      guard UInt64(length) <= remaining, length > 0 else {
        throw VaultError(
          .corruptPage, "overflow page holds more than the rest of its value", page: number.rawValue
        )
      }
      let rest = remaining - UInt64(length)
      guard (rest == 0) == links.isEmpty else {
        throw VaultError(
          .corruptPage, "overflow chain does not end where its value does", page: number.rawValue)
      }
      return links.map {
        Visit(
          link: $0, tree: visit.tree, role: .overflow, depth: 0, lower: nil, upper: nil,
          parent: number, remaining: rest)
      }
    case .interior(let node):
      try checkRange(node.separators.map { node.bytes[$0] }, visit)
      return links.enumerated().map { index, link in
        Visit(
          link: link, tree: visit.tree, role: .treeNode, depth: visit.depth + 1,
          lower: index == 0 ? visit.lower : node.separator(index - 1),
          upper: index == node.separators.count ? visit.upper : node.separator(index),
          parent: number)
      }
    case .leaf(let node):
      try checkRange(node.cells.map { node.bytes[$0.key] }, visit)
      var children = [Visit]()
      let tree = visit.tree ?? .none
      for cell in node.cells {
        try checkPlacement(
          node.bytes[cell.key].first, cell.value, tree: tree, page: number.rawValue)
        switch cell.value {
        case .inline:
          break
        case .overflow(let length, let head):
          children.append(
            Visit(
              link: head, tree: visit.tree, role: .overflow, depth: 0, lower: nil, upper: nil,
              parent: number, remaining: length))
        case .extent(let pages, let head):
          children.append(
            Visit(
              link: head, tree: visit.tree, role: .extent(pages: pages), depth: 0, lower: nil,
              upper: nil, parent: number))
        case .tree(let root):
          if !root.root.isNull {
            children.append(
              Visit(
                link: root.root, tree: root.id, role: .treeNode, depth: 0, lower: nil,
                upper: nil, parent: number))
          }
        }
      }
      return children
    }
  }

  /// The system tree holds tree entries under catalog keys and page lists under
  /// free-list keys; other trees hold plain values only.
  private func checkPlacement(
    _ firstKeyByte: UInt8?, _ value: StoredValue, tree: TreeID, page: UInt64
  ) throws(VaultError) {
    switch (tree == .system, firstKeyByte, value) {
    case (true, SystemTree.catalogPrefix?, .tree(let root)):
      guard FileFormat.isCatalogTree(root.id, nextTreeID: meta.nextTreeID) else {
        throw VaultError(.corruptPage, "catalog entry names impossible tree \(root.id)", page: page)
      }
    case (true, SystemTree.freeListPrefix?, .inline):
      break
    case (false, _, .inline), (false, _, .overflow), (false, _, .extent):
      break
    default:
      throw VaultError(
        .corruptPage, "a cell of tree \(tree) holds the wrong kind of value", page: page)
    }
  }

  /// Keys of a page must lie within the range its parent's separators give it.
  private func checkRange(_ keys: [ArraySlice<UInt8>], _ visit: Visit) throws(VaultError) {
    guard let first = keys.first, let last = keys.last else { return }
    let page = visit.link.page.rawValue
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
    case .extent: "blob extent"
    }
  }
}
