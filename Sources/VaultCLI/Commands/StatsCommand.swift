import StudioVault
import VaultCore
import VaultFormat
import VaultStorage

/// `vault stats PATH [--json]`
enum StatsCommand: Command {
  static let name = "stats"
  static let summary = "space by page type and tree, free pages, fragmentation (no key needed)"
  static let usage = "vault stats PATH [--deep] [--json]"
  static let discussion = """
    Walks the newest commit, like sqlite3_analyzer: pages and bytes per page type and
    per tree, how full the pages are, how many pages are free, and how fragmented the
    free space is.
    """
  static let options: [OptionSpec] =
    [.flag("json", "print one JSON document")]
    + Secrets.deepOptions("open the pages with the passphrase: tree names, key counts, free list")

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let path = try arguments.require("PATH")[0]
    // Keyless by default; --deep reads the sealed names, counts and free list too.
    let credential = try Secrets.deepCredential(arguments, console: console)
    let store = try VaultStore.open(
      at: path, credential: credential, options: .init(readOnly: true))
    let stats = try store.read { (snapshot: Snapshot) -> JSON in
      try statistics(store: store, snapshot: snapshot)
    }
    if arguments.flag("json") {
      console.json(stats)
      return .success
    }
    printSummary(stats, console: console)
    return .success
  }

  /// The text form: totals, pages by type, then trees, largest first (`treeLimit` of
  /// them, and how many more).
  static func printSummary(_ stats: JSON, console: any Console, treeLimit: Int = .max) {
    guard case .object(let fields) = stats else { return }
    for key in [
      "pageSize", "pageCount", "fileBytes", "freePages", "freeRuns", "fragmentation", "blobs",
      "audit",
    ] {
      console.line(key.padding(to: 16) + (fields[key]?.encoded ?? ""))
    }
    console.line("\npages by type:")
    if case .object(let types)? = fields["types"] {
      for name in types.keys.sorted() {
        guard case .object(let row)? = types[name] else { continue }
        console.line(
          "  " + name.padding(to: 12) + "\(row["pages"]?.encoded ?? "0") pages, fill "
            + "\(row["fill"]?.encoded ?? "0")")
      }
    }
    guard case .array(let trees)? = fields["trees"] else { return }
    var rows = [(name: String, pages: Int64, text: String)]()
    for case .object(let row) in trees {
      // Without the key a tree is known by its id only, and its key count not at all.
      let name: String
      if case .string(let text)? = row["name"], text != row["id"]?.encoded {
        name = text
      } else {
        name = "tree \(row["id"]?.encoded ?? "?")"
      }
      var text = "  " + name.padding(to: 28)
      if let keys = row["keys"], keys != .null { text += "\(keys.encoded) keys, " }
      text += "\(row["pages"]?.encoded ?? "0") pages, fill \(row["fill"]?.encoded ?? "0")"
      let pages: Int64 = if case .int(let count)? = row["pages"] { count } else { 0 }
      rows.append((name, pages, text))
    }
    rows.sort { ($0.pages, $1.name) > ($1.pages, $0.name) }
    console.line("\ntrees, largest first:")
    for row in rows.prefix(treeLimit) { console.line(row.text) }
    if rows.count > treeLimit {
      console.line("  … and \(rows.count - treeLimit) more (`vault stats --json` lists them all)")
    }
  }

  static func statistics(store: VaultStore, snapshot: Snapshot) throws -> JSON {
    let inspection = Inspection(snapshot: snapshot)
    let pageSize = store.pageSize
    var byType: [String: (pages: Int, used: Int)] = [:]
    var byTree: [TreeID: (pages: Int, used: Int)] = [:]
    for (page, info) in inspection.reachable {
      let type = inspection.typeName(of: page)
      byType[type, default: (0, 0)].pages += 1
      byType[type, default: (0, 0)].used += info.usedBytes
      byTree[info.tree, default: (0, 0)].pages += 1
      byTree[info.tree, default: (0, 0)].used += info.usedBytes
    }
    byType["header"] = (2, 0)
    byType["meta"] = (2, 0)
    let freePages = inspection.freePageNumbers
    if !freePages.isEmpty { byType["free"] = (freePages.count, 0) }
    var runs = 0
    for (index, page) in freePages.enumerated() where index == 0 || freePages[index - 1] + 1 != page
    {
      runs += 1
    }
    let dataPages = max(1, Int(snapshot.meta.pageCount) - 4)
    let blobPages = byType["blob"]?.pages ?? 0
    let auditPages = [TreeID.auditLog, .auditCheckpoints].reduce(0) {
      $0 + (byTree[$1]?.pages ?? 0)
    }
    func fill(_ used: Int, _ pages: Int) -> JSON {
      pages == 0
        ? .double(0) : .double(Formatting.fraction(Double(used) / Double(pages * pageSize)))
    }
    return [
      "pageSize": .int(Int64(pageSize)),
      "pageCount": .uint(snapshot.meta.pageCount),
      "fileBytes": .uint((try? store.fileSize()) ?? 0),
      "freePages": .int(Int64(freePages.count)),
      "freeRuns": .int(Int64(runs)),
      // Free pages as a share of the data pages: space a compaction could return.
      "fragmentation": .double(Formatting.fraction(Double(freePages.count) / Double(dataPages))),
      // Upload chunks (sealed, as stored) and the audit log's two clear trees.
      "blobs": [
        "extents": .int(Int64(inspection.extentCount)),
        "sealedBytes": .uint(inspection.extentBodyBytes), "pages": .int(Int64(blobPages)),
      ],
      "audit": ["pages": .int(Int64(auditPages)), "bytes": .int(Int64(auditPages * pageSize))],
      "types": .object(
        byType.mapValues {
          [
            "pages": .int(Int64($0.pages)), "bytes": .int(Int64($0.pages * pageSize)),
            "fill": fill($0.used, $0.pages),
          ]
        }),
      "trees": .array(
        byTree.sorted { $0.key < $1.key }.map { tree, row in
          [
            "name": .string(inspection.treeNames[tree] ?? tree.description),
            "id": .uint(tree.rawValue),
            // Key counts live in sealed leaves: unknown without the key.
            "keys": inspection.contentVisible ? .uint(inspection.keysCounted[tree] ?? 0) : .null,
            "pages": .int(Int64(row.pages)),
            "bytes": .int(Int64(row.pages * pageSize)),
            "fill": fill(row.used, row.pages),
          ]
        }),
    ]
  }
}
