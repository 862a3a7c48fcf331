import VaultCore
import VaultFormat

/// One problem found by ``Inspection``: where, what kind, and a human explanation.
package struct CheckProblem: Sendable, Hashable {
  package var page: UInt64?
  package var kind: String
  package var detail: String

  package init(page: UInt64?, kind: String, detail: String) {
    self.page = page
    self.kind = kind
    self.detail = detail
  }

  init(_ error: VaultError, kind: String? = nil) {
    page = error.page
    self.kind = kind ?? CheckProblem.kind(of: error)
    detail = error.message
  }

  /// A short classification of a page error for scripts.
  static func kind(of error: VaultError) -> String {
    let message = error.message
    if message.contains("checksum") { return "checksum" }
    if message.contains("not the version its parent expects") { return "staleWrite" }
    if message.contains("misdirected") { return "misdirectedWrite" }
    if message.contains("beyond the end of the file") { return "truncated" }
    return "structure"
  }
}

/// What one reachable page is.
package struct PageInfo: Sendable {
  package var type: PageType
  package var tree: TreeID
  package var transaction: TransactionID
  /// Bytes used by header, links and body.
  package var usedBytes: Int
  /// Set for tree nodes: keys (leaf) or separators (interior) on the page.
  package var keyCount: Int
  /// For a page of a blob extent: the extent's first page.
  package var extentStart: UInt64? = nil
}

/// A keyless survey of one committed state: every reachable page verified and
/// classified, the free list read, the page accounting done. `vault check`, `vault
/// pages` and `vault stats` are views of it.
package struct Inspection: Sendable {
  package let meta: MetaPage
  package let pageSize: Int
  package private(set) var reachable: [UInt64: PageInfo] = [:]
  /// Free pages and the transaction that freed each.
  package private(set) var free: [UInt64: TransactionID] = [:]
  package private(set) var treeNames: [TreeID: String] = [.system: "(system)"]
  /// Keys each tree holds, as counted in its leaves.
  package private(set) var keysCounted: [TreeID: UInt64] = [:]
  /// Keys each tree should hold, per its catalog entry.
  package private(set) var keysDeclared: [TreeID: UInt64] = [:]
  package private(set) var problems: [CheckProblem] = []
  /// Blob extents reached, and the bytes of their bodies (sealed chunks).
  package private(set) var extentCount = 0
  package private(set) var extentBodyBytes: UInt64 = 0
  /// Pages whose content was verified (reachable pages that passed, and failed ones).
  package private(set) var pagesChecked = 0
  /// Whether page bodies were opened and decoded (the vault was opened with its key).
  /// Without it, tree names, key counts and the free list are sealed: the accounting
  /// then compares counts only.
  package let contentVisible: Bool

  /// Walks the state `snapshot` reads. `progress` is called now and then with the
  /// number of pages examined so far (out of at most the state's page count).
  package init(snapshot: Snapshot, progress: (Int) -> Void = { _ in }) {
    meta = snapshot.meta
    pageSize = snapshot.store.pageSize
    contentVisible = snapshot.reader.cipher != nil
    var leafDepths: [TreeID: Set<Int>] = [:]
    var damagedStructure = false
    var duplicates = Set<UInt64>()
    let walker = StructureWalker(reader: snapshot.reader, meta: meta)
    // A page linked twice is reported once, and not walked again: a forged cycle or
    // fan-in must not make the walk endless or exponential.
    var followed = Set<UInt64>()
    walker.walk(
      follow: { link in
        guard followed.insert(link.page.rawValue).inserted else {
          duplicates.insert(link.page.rawValue)
          return false
        }
        return true
      },
      visited: { visit, page, content in
        if pagesChecked % 256 == 0 { progress(pagesChecked) }
        let number = visit.link.page.rawValue
        if case .extent(let header, let pages) = content {
          recordExtent(header, pages: pages, duplicates: &duplicates)
          return
        }
        // The system tree's root lives in the meta page, which is not a data page.
        let isDataPage = page != nil
        if isDataPage {
          pagesChecked += 1
          if reachable[number] != nil {
            duplicates.insert(number)
            return
          }
        }
        let tree = page?.header.tree ?? .system
        var info = PageInfo(
          type: page?.header.type ?? .meta, tree: tree,
          transaction: visit.link.transaction,
          usedBytes: page.map {
            FileFormat.pageHeaderSize + $0.header.linkCount * FileFormat.linkSize
              + $0.header.bodyLength
          } ?? 0,
          keyCount: 0)
        switch content {
        case .interior(let node):
          info.keyCount = node.separators.count
        case .leaf(let node):
          info.keyCount = node.cells.count
          leafDepths[tree, default: []].insert(visit.depth)
          if tree != .system {
            keysCounted[tree, default: 0] += UInt64(node.cells.count)
          }
          for cell in node.cells { record(cell, of: node, in: tree, page: number) }
        case .sealed(.leaf, _):
          leafDepths[tree, default: []].insert(visit.depth)
        case .overflow, .sealed, .extent:
          break
        }
        if isDataPage { reachable[number] = info }
      },
      problem: { visit, error in
        pagesChecked += 1
        damagedStructure = true
        var problem = CheckProblem(error)
        // An extent is damaged or intact as a whole (FORMAT.md 6.5): its pages belong
        // to it, not to the lost pages. Its length is known from its cell (with the
        // key), or else from its header, when that still decodes.
        if let count = Self.extentLength(of: visit, reader: snapshot.reader), count > 0,
          visit.link.page.rawValue + UInt64(count) <= meta.pageCount
        {
          let first = visit.link.page.rawValue
          let last = first + UInt64(count) - 1
          for page in first...last where reachable[page] == nil {
            reachable[page] = PageInfo(
              type: .blob, tree: visit.tree ?? .none, transaction: visit.link.transaction,
              usedBytes: 0, keyCount: 0, extentStart: first)
          }
          if count > 1 { problem.detail += " (the extent's pages \(first)–\(last))" }
        }
        problems.append(problem)
        return true
      })

    for page in duplicates.sorted() {
      problems.append(
        CheckProblem(page: page, kind: "sharedPage", detail: "page is linked from two places"))
    }
    for (tree, depths) in leafDepths.sorted(by: { $0.key < $1.key }) where depths.count > 1 {
      problems.append(
        CheckProblem(
          page: nil, kind: "structure",
          detail: "tree \(treeNames[tree] ?? tree.description) has leaves at different depths"
            + " \(depths.sorted())"))
    }
    if !damagedStructure && contentVisible {
      checkCounts()
      checkAccounting()
    } else if !damagedStructure {
      checkAccountingByCount()
    } else {
      let unreached = (FileFormat.firstDataPage.rawValue..<meta.pageCount).filter {
        FileFormat.isDataPage(PageNumber($0)) && reachable[$0] == nil && free[$0] == nil
      }
      checkOnTheirOwn(unreached, reader: snapshot.reader)
      // Without the key the free list is sealed: the meta page's free count stands in.
      let unaccounted =
        contentVisible
        ? unreached.count : max(0, unreached.count - Int(clamping: meta.freePageCount))
      if unaccounted > 0 {
        problems.append(
          CheckProblem(
            page: nil, kind: "lostPages",
            detail: "\(unaccounted) pages are neither reachable nor free, most likely below"
              + " the damaged pages listed above"))
      }
    }
  }

  /// The page count of the extent `visit` leads to, if it leads to one: from its cell
  /// with the key; without it, from the header of its first page, if that decodes.
  private static func extentLength(of visit: StructureWalker.Visit, reader: PageReader) -> Int? {
    switch visit.role {
    case .extent(let count): return Int(count)
    case .overflow:
      guard visit.remaining == nil,
        let first = try? reader.file.read(
          at: visit.link.page.rawValue * UInt64(reader.pageSize), count: reader.pageSize),
        first.count > 16, first[16] == PageType.blob.rawValue,
        let header = try? BlobExtent.decodeHeader(first[...], location: visit.link.page)
      else { return nil }
      return header.pageCount(pageSize: reader.pageSize)
    case .treeNode: return nil
    }
  }

  /// Pages no link reached, because they lie below damage (or, when the free list is
  /// damaged too, are free): each is checked on its own, as its header describes it,
  /// so that every damaged page is named, not only the highest. A page's checksum, or
  /// an extent's over its run, needs no parent; only the links' agreement does.
  private mutating func checkOnTheirOwn(_ pages: [UInt64], reader: PageReader) {
    let named = Set(problems.compactMap(\.page))
    var next: UInt64 = 0
    for number in pages where number >= next {
      let location = PageNumber(number)
      guard
        let bytes = try? reader.file.read(
          at: number * UInt64(pageSize), count: pageSize),
        bytes.count == pageSize, bytes.contains(where: { $0 != 0 })
      else { continue }
      // An extent's pages after the first have no header of their own: skip its run,
      // whether or not its first page was named already.
      let extentHeader =
        bytes[16] == PageType.blob.rawValue
        ? try? BlobExtent.decodeHeader(bytes[...], location: location) : nil
      if let extentHeader {
        next = number + UInt64(extentHeader.pageCount(pageSize: pageSize))
      }
      if named.contains(number) { continue }
      do throws(VaultError) {
        if bytes[16] == PageType.blob.rawValue {
          // Decoded above; again only for the error when it did not decode.
          let header: BlobExtent.Header
          if let extentHeader {
            header = extentHeader
          } else {
            header = try BlobExtent.decodeHeader(bytes[...], location: location)
          }
          let count = header.pageCount(pageSize: pageSize)
          guard number + UInt64(count) <= meta.pageCount else {
            throw VaultError(
              .corruptPage, "extent runs past the end of the state", page: number, offset: 20)
          }
          let run = try reader.file.read(
            at: number * UInt64(pageSize), count: count * pageSize)
          let link = PageLink(
            page: location, transaction: header.transaction, checksum: header.storedChecksum)
          _ = try BlobExtent.verify(
            run, against: link, tree: header.tree, pages: count, pageSize: pageSize)
        } else {
          let page = try Page(bytes, location: location)
          try page.verify(against: page.link)
        }
      } catch {
        var problem = CheckProblem(error)
        problem.detail = "below the damage: " + problem.detail
        problems.append(problem)
      }
    }
  }

  /// Every page of a blob extent is in use; the first holds its header.
  private mutating func recordExtent(
    _ header: BlobExtent.Header, pages: Int, duplicates: inout Set<UInt64>
  ) {
    pagesChecked += pages
    extentCount += 1
    extentBodyBytes += UInt64(header.bodyLength)
    let first = header.page.rawValue
    for page in first..<first + UInt64(pages) {
      if reachable[page] != nil {
        duplicates.insert(page)
        continue
      }
      reachable[page] = PageInfo(
        type: .blob, tree: header.tree, transaction: header.transaction,
        usedBytes: page == first
          ? min(pageSize, FileFormat.pageHeaderSize + header.bodyLength)
          : min(
            pageSize, FileFormat.pageHeaderSize + header.bodyLength - Int(page - first) * pageSize),
        keyCount: 0, extentStart: first)
    }
  }

  private mutating func record(_ cell: LeafCell, of node: LeafNode, in tree: TreeID, page: UInt64) {
    guard tree == .system else { return }
    let key = node.bytes[cell.key]
    switch cell.value {
    case .tree(let root):
      treeNames[root.id] = SystemTree.treeName(fromKey: key) ?? "?"
      keysDeclared[root.id] = root.count
    case .inline(let value):
      do throws(VaultError) {
        let entry = try FreeListEntry(key: key, value: node.bytes[value], page: page)
        if entry.freedBy > meta.transaction {
          problems.append(
            CheckProblem(
              page: page, kind: "freeList",
              detail: "entry freed by future transaction \(entry.freedBy)"))
        }
        for free in entry.pages {
          if self.free[free.rawValue] != nil {
            problems.append(
              CheckProblem(
                page: free.rawValue, kind: "freeList", detail: "page is listed free twice"))
          }
          self.free[free.rawValue] = entry.freedBy
        }
      } catch {
        problems.append(CheckProblem(error, kind: "freeList"))
      }
    case .overflow, .extent:
      break
    }
  }

  private mutating func checkCounts() {
    for (tree, declared) in keysDeclared.sorted(by: { $0.key < $1.key }) {
      let counted = keysCounted[tree] ?? 0
      if counted != declared {
        problems.append(
          CheckProblem(
            page: nil, kind: "count",
            detail: "tree \(treeNames[tree] ?? "?") declares \(declared) keys but holds \(counted)")
        )
      }
    }
    let trees = UInt64(keysDeclared.count)
    if trees != meta.treeCount {
      problems.append(
        CheckProblem(
          page: nil, kind: "count",
          detail: "meta page declares \(meta.treeCount) trees, the catalog holds \(trees)"))
    }
  }

  /// Every page from the first data page to the page count must be reachable or free,
  /// never both.
  private mutating func checkAccounting() {
    if UInt64(free.count) != meta.freePageCount {
      problems.append(
        CheckProblem(
          page: nil, kind: "freeList",
          detail: "meta page declares \(meta.freePageCount) free pages, the free list holds"
            + " \(free.count)"))
    }
    for page in free.keys.sorted() {
      if !FileFormat.isDataPage(PageNumber(page)) || page >= meta.pageCount {
        problems.append(
          CheckProblem(
            page: page, kind: "freeList", detail: "free list names a page outside the file"))
      } else if reachable[page] != nil {
        problems.append(
          CheckProblem(page: page, kind: "sharedPage", detail: "page is both in use and free"))
      }
    }
    for page in FileFormat.firstDataPage.rawValue..<meta.pageCount
    where FileFormat.isDataPage(PageNumber(page)) && reachable[page] == nil && free[page] == nil {
      problems.append(
        CheckProblem(page: page, kind: "lostPage", detail: "page is neither in use nor free"))
    }
  }

  /// Without the key the free list is sealed: the pages not reachable must be exactly
  /// as many as the meta page says are free.
  private mutating func checkAccountingByCount() {
    let unreachable = (FileFormat.firstDataPage.rawValue..<meta.pageCount).filter {
      FileFormat.isDataPage(PageNumber($0)) && reachable[$0] == nil
    }.count
    if UInt64(unreachable) != meta.freePageCount {
      problems.append(
        CheckProblem(
          page: nil, kind: unreachable > meta.freePageCount ? "lostPages" : "freeList",
          detail: "\(unreachable) pages are not in use but the meta page declares"
            + " \(meta.freePageCount) free (open with the key to list them)"))
    }
  }

  /// The free pages, ascending: from the free list with the key; without it, the pages
  /// no link reaches (which the meta page's free count vouches for, see
  /// ``checkAccountingByCount()``).
  package var freePageNumbers: [UInt64] {
    if contentVisible { return free.keys.sorted() }
    return (FileFormat.firstDataPage.rawValue..<meta.pageCount).filter {
      FileFormat.isDataPage(PageNumber($0)) && reachable[$0] == nil
    }
  }

  /// The name `vault pages` shows for a page's type.
  package func typeName(of page: UInt64) -> String {
    if FileFormat.headerPages.contains(PageNumber(page)) { return "header" }
    if FileFormat.metaPages.contains(PageNumber(page)) { return "meta" }
    if let info = reachable[page] {
      if info.tree == .system { return "catalog" }
      // The audit log's clear trees (FORMAT.md 7.3): its leaves hold the entries.
      if !FileFormat.isSealed(info.tree), info.type == .leaf { return "audit" }
      return info.type.description
    }
    if free[page] != nil { return "free" }
    guard page < meta.pageCount else { return "unused" }
    // Without the key, an unreachable page is free when the counts balance.
    if !contentVisible && !problems.contains(where: { $0.kind == "lostPages" }) { return "free" }
    return "lost"
  }
}
