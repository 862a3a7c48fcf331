import CSQLite
import Glibc
@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
import VaultStorage

/// What every benchmarked engine can do, so workloads are written once.
protocol Engine: AnyObject {
  static var name: String { get }
  init(path: String) throws
  /// Inserts the records in one durable transaction.
  func insert(ids: ArraySlice<[UInt8]>, bodies: ArraySlice<[UInt8]>) throws
  /// The body stored under `id`.
  func read(id: [UInt8]) throws -> [UInt8]?
  /// Re-keys every record (W7): for the vault a KEK rotation (re-wraps every data
  /// key), for SQLCipher `PRAGMA rekey` (re-encrypts every page).
  func rekey() throws
}

/// StudioVault: each client record sealed under its own data key, wrapped under the
/// key-encryption key, in sealed pages.
final class VaultEngine: Engine {
  static let name = "vault"
  let store: SealedStore

  init(path: String) throws {
    // A raw key, as an application holding its key in a keychain opens with: the
    // workloads measure storage, not the passphrase's key derivation (W7 measures that).
    store = try SealedStore.create(
      at: path, credential: .rawKey(SymmetricKey.random()), options: .init(cacheBytes: 64 << 20))
  }

  func insert(ids: ArraySlice<[UInt8]>, bodies: ArraySlice<[UInt8]>) throws {
    try store.write { tx throws(VaultError) in
      for (id, body) in zip(ids, bodies) { try tx.put(body, id: id, in: "clients") }
    }
  }

  func read(id: [UInt8]) throws -> [UInt8]? {
    try store.read { snapshot throws(VaultError) in try snapshot.get(id, in: "clients") }
  }

  func rekey() throws { try store.rotateKeyEncryptionKey() }
}

/// The page store alone: one tree of client bodies in sealed pages, no per-record keys
/// (what a single commit costs at the storage layer).
final class StoreEngine: Engine {
  static let name = "vault-store"
  let store: VaultStore

  init(path: String) throws {
    store = try VaultStore.create(
      at: path, credential: .rawKey(SymmetricKey.random()), options: .init(cacheBytes: 64 << 20))
  }

  func insert(ids: ArraySlice<[UInt8]>, bodies: ArraySlice<[UInt8]>) throws {
    try store.write { tx in
      let tree = try tx.openTree(named: "clients")
      for (id, body) in zip(ids, bodies) { try tree.insert(body, forKey: id) }
    }
  }

  func read(id: [UInt8]) throws -> [UInt8]? {
    try store.read { try $0.tree(named: "clients")?.value(forKey: id) }
  }

  func rekey() throws { throw SQLiteError(description: "the page store alone has no KEK") }
}

struct SQLiteError: Error, CustomStringConvertible {
  var description: String
}

/// The SQLite C functions the benchmarks call, so SQLite (linked) and SQLCipher
/// (loaded at run time: both export the same symbols, which cannot share one link) run
/// the same code.
struct SQLiteAPI {
  var open: @convention(c) (UnsafePointer<CChar>?, UnsafeMutablePointer<OpaquePointer?>?) -> Int32
  var close: @convention(c) (OpaquePointer?) -> Int32
  var exec:
    @convention(c) (
      OpaquePointer?, UnsafePointer<CChar>?,
      (
        @convention(c) (
          UnsafeMutableRawPointer?, Int32, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
          UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        ) -> Int32
      )?,
      UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> Int32
  var prepare:
    @convention(c) (
      OpaquePointer?, UnsafePointer<CChar>?, Int32, UnsafeMutablePointer<OpaquePointer?>?,
      UnsafeMutablePointer<UnsafePointer<CChar>?>?
    ) -> Int32
  var finalize: @convention(c) (OpaquePointer?) -> Int32
  var bindBlob:
    @convention(c) (
      OpaquePointer?, Int32, UnsafeRawPointer?, Int32,
      (@convention(c) (UnsafeMutableRawPointer?) -> Void)?
    ) -> Int32
  var bindText:
    @convention(c) (
      OpaquePointer?, Int32, UnsafePointer<CChar>?, Int32,
      (@convention(c) (UnsafeMutableRawPointer?) -> Void)?
    ) -> Int32
  var bindInt: @convention(c) (OpaquePointer?, Int32, Int64) -> Int32
  var step: @convention(c) (OpaquePointer?) -> Int32
  var reset: @convention(c) (OpaquePointer?) -> Int32
  var columnBytes: @convention(c) (OpaquePointer?, Int32) -> Int32
  var columnText: @convention(c) (OpaquePointer?, Int32) -> UnsafePointer<UInt8>?
  var columnBlob: @convention(c) (OpaquePointer?, Int32) -> UnsafeRawPointer?
  var errmsg: @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?

  /// The linked libsqlite3.
  static let sqlite = SQLiteAPI(
    open: sqlite3_open, close: sqlite3_close, exec: sqlite3_exec, prepare: sqlite3_prepare_v2,
    finalize: sqlite3_finalize, bindBlob: sqlite3_bind_blob, bindText: sqlite3_bind_text,
    bindInt: sqlite3_bind_int64, step: sqlite3_step, reset: sqlite3_reset,
    columnBytes: sqlite3_column_bytes, columnText: sqlite3_column_text,
    columnBlob: sqlite3_column_blob, errmsg: sqlite3_errmsg)

  /// libsqlcipher, loaded with RTLD_DEEPBIND so that its own calls bind to its own
  /// symbols, not to the linked libsqlite3's.
  static let sqlcipher: SQLiteAPI? = {
    guard let handle = dlopen("libsqlcipher.so.0", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND) else {
      return nil
    }
    func symbol<T>(_ name: String, as type: T.Type) -> T? {
      dlsym(handle, name).map { unsafeBitCast($0, to: type) }
    }
    guard let open = symbol("sqlite3_open", as: type(of: sqlite.open)),
      let close = symbol("sqlite3_close", as: type(of: sqlite.close)),
      let exec = symbol("sqlite3_exec", as: type(of: sqlite.exec)),
      let prepare = symbol("sqlite3_prepare_v2", as: type(of: sqlite.prepare)),
      let finalize = symbol("sqlite3_finalize", as: type(of: sqlite.finalize)),
      let bindBlob = symbol("sqlite3_bind_blob", as: type(of: sqlite.bindBlob)),
      let bindText = symbol("sqlite3_bind_text", as: type(of: sqlite.bindText)),
      let bindInt = symbol("sqlite3_bind_int64", as: type(of: sqlite.bindInt)),
      let columnBlob = symbol("sqlite3_column_blob", as: type(of: sqlite.columnBlob)),
      let step = symbol("sqlite3_step", as: type(of: sqlite.step)),
      let reset = symbol("sqlite3_reset", as: type(of: sqlite.reset)),
      let columnBytes = symbol("sqlite3_column_bytes", as: type(of: sqlite.columnBytes)),
      let columnText = symbol("sqlite3_column_text", as: type(of: sqlite.columnText)),
      let errmsg = symbol("sqlite3_errmsg", as: type(of: sqlite.errmsg))
    else { return nil }
    return SQLiteAPI(
      open: open, close: close, exec: exec, prepare: prepare, finalize: finalize,
      bindBlob: bindBlob, bindText: bindText, bindInt: bindInt, step: step, reset: reset,
      columnBytes: columnBytes, columnText: columnText, columnBlob: columnBlob, errmsg: errmsg)
  }()
}

/// SQLite as the benchmark spec sets it up: WAL, synchronous=FULL, a 64 MiB cache,
/// a WITHOUT ROWID table keyed by the id blob, prepared statements; with a key for
/// SQLCipher.
class SQLDatabase {
  let api: SQLiteAPI
  private var database: OpaquePointer?
  private var insertStatement: OpaquePointer?
  private var selectStatement: OpaquePointer?

  init(path: String, api: SQLiteAPI, key: String?) throws {
    self.api = api
    guard api.open(path, &database) == SQLITE_OK else { throw SQLiteError(description: "open") }
    if let key { try execute("PRAGMA key = '\(key)';") }
    try execute(
      """
      PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;
      CREATE TABLE clients(id BLOB PRIMARY KEY, body TEXT) WITHOUT ROWID;
      """)
    insertStatement = try prepare("INSERT OR REPLACE INTO clients(id, body) VALUES(?, ?)")
    selectStatement = try prepare("SELECT body FROM clients WHERE id = ?")
  }

  deinit {
    _ = api.finalize(insertStatement)
    _ = api.finalize(selectStatement)
    _ = api.close(database)
  }

  func execute(_ sql: String) throws {
    guard api.exec(database, sql, nil, nil, nil) == SQLITE_OK else {
      throw SQLiteError(description: String(cString: api.errmsg(database)!))
    }
  }

  func prepare(_ sql: String) throws -> OpaquePointer? {
    var statement: OpaquePointer?
    guard api.prepare(database, sql, -1, &statement, nil) == SQLITE_OK else {
      throw SQLiteError(description: String(cString: api.errmsg(database)!))
    }
    return statement
  }

  func insert(ids: ArraySlice<[UInt8]>, bodies: ArraySlice<[UInt8]>) throws {
    try execute("BEGIN")
    for (id, body) in zip(ids, bodies) {
      id.withUnsafeBytes {
        _ = api.bindBlob(insertStatement, 1, $0.baseAddress, Int32($0.count), nil)
      }
      body.withUnsafeBytes {
        _ = api.bindText(
          insertStatement, 2, $0.baseAddress?.assumingMemoryBound(to: CChar.self), Int32($0.count),
          nil)
      }
      guard api.step(insertStatement) == SQLITE_DONE else {
        throw SQLiteError(description: String(cString: api.errmsg(database)!))
      }
      _ = api.reset(insertStatement)
    }
    try execute("COMMIT")
  }

  func read(id: [UInt8]) throws -> [UInt8]? {
    defer { _ = api.reset(selectStatement) }
    id.withUnsafeBytes {
      _ = api.bindBlob(selectStatement, 1, $0.baseAddress, Int32($0.count), nil)
    }
    guard api.step(selectStatement) == SQLITE_ROW else { return nil }
    let count = Int(api.columnBytes(selectStatement, 0))
    guard let text = api.columnText(selectStatement, 0) else { return [] }
    return Array(UnsafeBufferPointer(start: text, count: count))
  }
}

final class SQLiteEngine: SQLDatabase, Engine {
  static let name = "sqlite"
  required init(path: String) throws { try super.init(path: path, api: .sqlite, key: nil) }
  func rekey() throws { throw SQLiteError(description: "plain SQLite has no key") }
}

final class SQLCipherEngine: SQLDatabase, Engine {
  static let name = "sqlcipher"
  required init(path: String) throws {
    guard let api = SQLiteAPI.sqlcipher else {
      throw SQLiteError(description: "libsqlcipher.so.0 not found (apt install libsqlcipher-dev)")
    }
    try super.init(path: path, api: api, key: "benchmark passphrase")
  }
  /// Re-encrypts every page under a new key: SQLCipher's only way to change its key.
  func rekey() throws { try execute("PRAGMA rekey = 'another benchmark passphrase';") }
}

/// The records layer without capability handles: the baseline the `-handle`
/// workloads are compared with (the workloads build it themselves, by name).
class NoHandleEngine: Engine {
  class var name: String { "no-handle" }
  private let inner: VaultEngine
  required init(path: String) throws { inner = try VaultEngine(path: path) }
  func insert(ids: ArraySlice<[UInt8]>, bodies: ArraySlice<[UInt8]>) throws {
    try inner.insert(ids: ids, bodies: bodies)
  }
  func read(id: [UInt8]) throws -> [UInt8]? { try inner.read(id: id) }
  func rekey() throws { try inner.rekey() }
}

/// Tells the records workloads to go through a capability handle.
final class HandleMarker: NoHandleEngine {
  override class var name: String { "vault-handle" }
}
