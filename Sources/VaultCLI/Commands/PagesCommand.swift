import StudioVault
import VaultCore
import VaultFormat
import VaultStorage

/// `vault pages PATH [--json]`
enum PagesCommand: Command {
  static let name = "pages"
  static let summary = "list every page: type, tree, transaction, fill (no key needed)"
  static let usage = "vault pages PATH [--deep] [--json]"
  static let discussion = """
    Lists pages 0 up to the page count of the newest commit. Types: header, meta,
    catalog, freelist, interior, leaf, overflow, free (in the free list) and lost
    (neither in use nor free: `vault check` reports these).
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
    let rows = try store.read { (snapshot: Snapshot) -> [Row] in
      try collectRows(store: store, snapshot: snapshot)
    }
    if arguments.flag("json") {
      console.json(["pages": .array(rows.map { (row: Row) -> JSON in row.json })])
      return .success
    }
    console.line(
      "page".padding(to: 9) + "type".padding(to: 10) + "tree".padding(to: 20)
        + "transaction".padding(to: 13) + "fill")
    for row in rows {
      let transaction = row.transaction.map { String($0) } ?? "-"
      let fill = row.fill.map { "\(Int(($0 * 100).rounded()))%" } ?? "-"
      var text = String(row.page).padding(to: 9) + row.type.padding(to: 10)
      text += (row.tree ?? "-").padding(to: 20) + transaction.padding(to: 13) + fill
      console.line(text)
    }
    return .success
  }

  struct Row {
    var page: UInt64
    var type: String
    var tree: String?
    var transaction: UInt64?
    var fill: Double?

    var json: JSON {
      [
        "page": .uint(page), "type": .string(type), "tree": tree.map { .string($0) } ?? .null,
        "transactionId": transaction.map { .uint($0) } ?? .null,
        "fill": fill.map { .double($0) } ?? .null,
      ]
    }
  }

  static func collectRows(store: VaultStore, snapshot: Snapshot) throws -> [Row] {
    let inspection = Inspection(snapshot: snapshot)
    var rows = [Row]()
    for page in 0..<snapshot.meta.pageCount {
      let type = inspection.typeName(of: page)
      var row = Row(page: page, type: type)
      if let info = inspection.reachable[page] {
        row.tree = inspection.treeNames[info.tree] ?? info.tree.description
        row.transaction = info.transaction.rawValue
        row.fill = Formatting.fraction(Double(info.usedBytes) / Double(store.pageSize))
      } else if !FileFormat.isDataPage(PageNumber(page)),
        let header = try? store.rawPage(PageNumber(page)).header
      {
        row.transaction = header.transaction.rawValue
        row.fill = Formatting.fraction(
          Double(header.bodyOffset + header.bodyLength) / Double(store.pageSize))
      }
      rows.append(row)
    }
    return rows
  }
}
