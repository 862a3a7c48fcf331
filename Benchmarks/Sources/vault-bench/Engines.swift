import CSQLite
import Glibc
import VaultCrypto
import VaultStorage

/// What every benchmarked engine can do, so workloads are written once.
protocol Engine {
  static var name: String { get }
  init(path: String) throws
  /// Inserts the records in one durable transaction.
  func insert(ids: ArraySlice<[UInt8]>, bodies: ArraySlice<[UInt8]>) throws
  /// The body stored under `id`.
  func read(id: [UInt8]) throws -> [UInt8]?
}

/// StudioVault's page store: one tree of clients.
final class VaultEngine: Engine {
  static let name = "vault"
  let store: VaultStore

  init(path: String) throws {
    // A raw key, as an application holding its key in a keychain opens with: the
    // workloads measure storage, not the passphrase's key derivation.
    store = try VaultStore.create(
      at: path, credential: .rawKey(SymmetricKey.random()), options: .init(cacheBytes: 64 << 20))
    try store.write { tx in _ = try tx.createTree(named: "clients") }
  }

  func insert(ids: ArraySlice<[UInt8]>, bodies: ArraySlice<[UInt8]>) throws {
    try store.write { tx in
      guard let tree = try tx.tree(named: "clients") else { return }
      for (id, body) in zip(ids, bodies) { try tree.insert(body, forKey: id) }
    }
  }

  func read(id: [UInt8]) throws -> [UInt8]? {
    try store.read { try $0.tree(named: "clients")?.value(forKey: id) }
  }
}

struct SQLiteError: Error, CustomStringConvertible {
  var description: String
}

/// SQLite as the benchmark spec sets it up: WAL, synchronous=FULL, a 64 MiB cache,
/// a WITHOUT ROWID table keyed by the id blob, prepared statements.
final class SQLiteEngine: Engine {
  static let name = "sqlite"
  private var database: OpaquePointer?
  private var insertStatement: OpaquePointer?
  private var selectStatement: OpaquePointer?

  init(path: String) throws {
    guard sqlite3_open(path, &database) == SQLITE_OK else { throw SQLiteError(description: "open") }
    try execute(
      """
      PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;
      CREATE TABLE clients(id BLOB PRIMARY KEY, body TEXT) WITHOUT ROWID;
      """)
    insertStatement = try prepare("INSERT OR REPLACE INTO clients(id, body) VALUES(?, ?)")
    selectStatement = try prepare("SELECT body FROM clients WHERE id = ?")
  }

  deinit {
    sqlite3_finalize(insertStatement)
    sqlite3_finalize(selectStatement)
    sqlite3_close(database)
  }

  private func execute(_ sql: String) throws {
    guard sqlite3_exec(database, sql, nil, nil, nil) == SQLITE_OK else {
      throw SQLiteError(description: String(cString: sqlite3_errmsg(database)))
    }
  }

  private func prepare(_ sql: String) throws -> OpaquePointer? {
    var statement: OpaquePointer?
    guard sqlite3_prepare_v2(database, sql, -1, &statement, nil) == SQLITE_OK else {
      throw SQLiteError(description: String(cString: sqlite3_errmsg(database)))
    }
    return statement
  }

  func insert(ids: ArraySlice<[UInt8]>, bodies: ArraySlice<[UInt8]>) throws {
    try execute("BEGIN")
    for (id, body) in zip(ids, bodies) {
      id.withUnsafeBytes { _ = sqlite3_bind_blob(insertStatement, 1, $0.baseAddress, Int32($0.count), nil) }
      body.withUnsafeBytes { _ = sqlite3_bind_text(insertStatement, 2, $0.baseAddress, Int32($0.count), nil) }
      guard sqlite3_step(insertStatement) == SQLITE_DONE else {
        throw SQLiteError(description: String(cString: sqlite3_errmsg(database)))
      }
      sqlite3_reset(insertStatement)
    }
    try execute("COMMIT")
  }

  func read(id: [UInt8]) throws -> [UInt8]? {
    defer { sqlite3_reset(selectStatement) }
    id.withUnsafeBytes { _ = sqlite3_bind_blob(selectStatement, 1, $0.baseAddress, Int32($0.count), nil) }
    guard sqlite3_step(selectStatement) == SQLITE_ROW else { return nil }
    let count = Int(sqlite3_column_bytes(selectStatement, 0))
    guard let text = sqlite3_column_text(selectStatement, 0) else { return [] }
    return Array(UnsafeBufferPointer(start: text, count: count))
  }
}
