import CSQLite
import Foundation
@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
import VaultFormat

/// W3's data: bookings spread over `branchCount` branches and two years of days,
/// one session each; the query lists one branch's bookings in the first year.
struct BookingSet {
  static let branchCount = 4
  static let firstDay: Int32 = 20_820  // 2027-01-01
  static let dayCount: Int32 = 730

  struct Booking {
    let id: [UInt8]
    let branch: Int
    let day: Int32
    let title: String
    let kind: String
    let location: String
  }

  let bookings: [Booking]
  /// Branch ids, fixed so every engine stores the same data.
  let branchIDs: [RecordID]
  let clientIDs: [RecordID]

  init(count: Int, seed: UInt64) {
    var random = SplitMix(seed: seed)
    func id() -> [UInt8] { (0..<16).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
    branchIDs = (0..<Self.branchCount).map { _ in try! RecordID(bytes: id()) }
    clientIDs = (0..<Self.branchCount).map { _ in try! RecordID(bytes: id()) }
    let kinds = ["wedding", "portrait", "commercial", "event"]
    let places = ["Chapel of St. Anne", "Harbor Loft", "Botanical Garden", "Studio B"]
    bookings = (0..<count).map { index in
      Booking(
        id: id(), branch: Int(random.next() % UInt64(Self.branchCount)),
        day: Self.firstDay + Int32(random.next() % UInt64(Self.dayCount)),
        title:
          "Booking \(index) for the \(["Okafor", "Lindqvist", "Moreau", "Tanaka"][index % 4]) family",
        kind: kinds[Int(random.next() % 4)], location: places[Int(random.next() % 4)])
    }
  }

  /// The query: branch 0, the first year (about 1/8 of the bookings).
  static let queryBranch = 0
  static let queryDays = firstDay...(firstDay + dayCount / 2 - 1)

  /// A session start at 15:30 local time (UTC−4) on `day`.
  static func start(_ day: Int32) -> Timestamp {
    Timestamp(
      milliseconds: Int64(day) * 86_400_000 + (15 * 60 + 30 + 240) * 60_000, offsetMinutes: -240)
  }

  func json(_ booking: Booking) -> String {
    """
    {"title":"\(booking.title)","client":"\(clientIDs[booking.branch])","kind":"\(booking.kind)",\
    "status":"booked","sessions":[{"start":"\(Self.start(booking.day))","location":"\(booking.location)"}]}
    """
  }
}

/// What W3 needs of an engine: bookings stored with an index by (branch, day), and the
/// rows of one branch in a day range, in (day, id) order.
protocol BookingEngine: AnyObject {
  func insert(_ bookings: ArraySlice<BookingSet.Booking>, of set: BookingSet) throws
  /// Lists the query's rows, adding each row's id to `checksum` in order; returns the
  /// number of rows.
  func listQuery(of set: BookingSet, checksum: inout ResultChecksum) throws -> Int
}

/// A handle of the benchmark vault's owner (password as ``makeRecordStore(at:)`` set).
func ownerHandle(_ store: RecordStore) throws -> VaultHandle {
  try store.login(user: "owner", password: SecretBytes(utf8: "benchmark owner password")).handle
}

/// A records vault for the benchmarks (a raw key, as an application holding its key
/// in a keychain opens with) and its owner.
func makeRecordStore(at path: String) throws -> (RecordStore, owner: RecordID) {
  let password = "benchmark owner password"
  let store = try RecordStore.create(
    at: path, credential: .rawKey(SymmetricKey.random()),
    organization: .init(
      ownerName: "owner", ownerPassword: SecretBytes(utf8: password),
      currency: try Currency("USD"), passwordHashing: .interactive),
    options: .init(cacheBytes: 64 << 20))
  return (store, try store.authenticate(user: "owner", password: SecretBytes(utf8: password)).user)
}

/// The vault: projects in the records layer, listed through the day index, each row
/// opened and decoded into a ``Record``.
final class VaultBookings: BookingEngine {
  let store: RecordStore
  let owner: RecordID
  /// Set for the variant measured through a capability handle (access checks and
  /// projections included).
  let handle: VaultHandle?

  init(path: String, set: BookingSet, throughHandle: Bool = false) throws {
    (store, owner) = try makeRecordStore(at: path)
    handle = throughHandle ? try ownerHandle(store) : nil
    try store.write(actor: owner) { tx throws(VaultError) in
      for (index, branchID) in set.branchIDs.enumerated() {
        var branch = Record(.branches, id: branchID)
        branch["name"] = .string("Branch \(index)")
        try tx.insert(branch, scope: .organization)
        var client = Record(.clients, id: set.clientIDs[index], branch: branchID)
        client["displayName"] = .string("Client of branch \(index)")
        try tx.insert(client, scope: .organization)
      }
    }
  }

  func insert(_ bookings: ArraySlice<BookingSet.Booking>, of set: BookingSet) throws {
    try store.write(actor: owner) { tx throws(VaultError) in
      for booking in bookings {
        var project = Record(
          .projects, id: try RecordID(bytes: booking.id), branch: set.branchIDs[booking.branch])
        project["title"] = .string(booking.title)
        project["client"] = .bytes(set.clientIDs[booking.branch].bytes)
        project["kind"] = .string(booking.kind)
        project["status"] = .string("booked")
        var session = FieldMap()
        session[1] = .time(
          milliseconds: BookingSet.start(booking.day).milliseconds, offsetMinutes: -240)
        session[3] = .string(booking.location)
        project["sessions"] = .list([.object(session)])
        try tx.insert(project, scope: .organization)
      }
    }
  }

  func listQuery(of set: BookingSet, checksum: inout ResultChecksum) throws -> Int {
    let days =
      Day(
        daysSince1970: BookingSet.queryDays.lowerBound)...Day(
        daysSince1970: BookingSet.queryDays.upperBound)
    let branch = set.branchIDs[BookingSet.queryBranch]
    var rows = 0
    var sum = checksum
    // Pages come from the branch-narrowed handle, or from a snapshot scoped to the branch.
    func walk(_ page: (String?) throws(VaultError) -> RecordPage) throws(VaultError) {
      var cursor: String?
      repeat {
        let page = try page(cursor)
        for record in page.records {
          sum.add(record.id?.bytes ?? [])
          rows += 1
        }
        cursor = page.nextCursor
      } while cursor != nil
    }
    if let handle {
      let narrowed = try handle.narrowed(toBranch: branch)
      try walk { cursor throws(VaultError) in
        try narrowed.list(.projects, filter: .days(days), after: cursor, limit: 1000)
      }
    } else {
      try store.read { snapshot throws(VaultError) in
        try walk { cursor throws(VaultError) in
          try snapshot.list(
            .projects, scope: .branch(branch), filter: .days(days), after: cursor, limit: 1000)
        }
      }
    }
    checksum = sum
    return rows
  }
}

/// SQLite or SQLCipher: a bookings table with an index on (branch, day), the same
/// pragmas as the other workloads.
final class SQLBookings: BookingEngine {
  let database: SQLDatabase

  init(path: String, api: SQLiteAPI, key: String?) throws {
    database = try SQLDatabase(path: path, api: api, key: key)
    try database.execute(
      """
      CREATE TABLE bookings(id BLOB PRIMARY KEY, branch INTEGER, day INTEGER, body TEXT) WITHOUT ROWID;
      CREATE INDEX bookings_by_branch_day ON bookings(branch, day);
      """)
  }

  func insert(_ bookings: ArraySlice<BookingSet.Booking>, of set: BookingSet) throws {
    try database.execute("BEGIN")
    let statement = try database.prepare(
      "INSERT INTO bookings(id, branch, day, body) VALUES(?, ?, ?, ?)")
    defer { _ = database.api.finalize(statement) }
    for booking in bookings {
      booking.id.withUnsafeBytes {
        _ = database.api.bindBlob(statement, 1, $0.baseAddress, Int32($0.count), nil)
      }
      _ = database.api.bindInt(statement, 2, Int64(booking.branch))
      _ = database.api.bindInt(statement, 3, Int64(booking.day))
      let body = Array(set.json(booking).utf8)
      body.withUnsafeBytes {
        _ = database.api.bindText(
          statement, 4, $0.baseAddress?.assumingMemoryBound(to: CChar.self), Int32($0.count), nil)
      }
      guard database.api.step(statement) == SQLITE_DONE else {
        throw SQLiteError(description: "insert booking")
      }
      _ = database.api.reset(statement)
    }
    try database.execute("COMMIT")
  }

  func listQuery(of set: BookingSet, checksum: inout ResultChecksum) throws -> Int {
    let statement = try database.prepare(
      "SELECT id, body FROM bookings WHERE branch = ? AND day BETWEEN ? AND ? ORDER BY day, id")
    defer { _ = database.api.finalize(statement) }
    _ = database.api.bindInt(statement, 1, Int64(BookingSet.queryBranch))
    _ = database.api.bindInt(statement, 2, Int64(BookingSet.queryDays.lowerBound))
    _ = database.api.bindInt(statement, 3, Int64(BookingSet.queryDays.upperBound))
    var rows = 0
    var body = 0
    while database.api.step(statement) == SQLITE_ROW {
      let idCount = Int(database.api.columnBytes(statement, 0))
      let id = database.api.columnBlob(statement, 0).map {
        Array(UnsafeRawBufferPointer(start: $0, count: idCount))
      }
      checksum.add(id ?? [])
      // The row's body is read, as the vault's is opened.
      body &+= Int(database.api.columnBytes(statement, 1))
      _ = database.api.columnText(statement, 1)
      rows += 1
    }
    withExtendedLifetime(body) {}
    return rows
  }
}

/// W1 and W2 through the records layer: typed ``Client`` records, validated, indexed
/// (branch and blinded search tokens of name, email and phone) and sealed; read back
/// by id, opened and decoded into the struct.
final class VaultClients {
  let store: RecordStore
  let owner: RecordID
  let branches: [RecordID]
  /// Set for the variant measured through a capability handle.
  let handle: VaultHandle?

  init(path: String, throughHandle: Bool = false) throws {
    (store, owner) = try makeRecordStore(at: path)
    handle = throughHandle ? try ownerHandle(store) : nil
    let branches = (0..<8).map { index in Branch(name: "Branch \(index)") }
    self.branches = try store.write(actor: owner) { tx throws(VaultError) in
      try branches.map { (branch) throws(VaultError) in
        try tx.insert(branch, scope: .organization).meta.id ?? RecordID.random()
      }
    }
  }

  func client(_ fields: Dataset.ClientFields, id: [UInt8]) throws -> Client {
    var client = Client(displayName: fields.name, branch: branches[fields.branch])
    client.meta.id = try RecordID(bytes: id)
    client.emails = [fields.email]
    client.phones = [fields.phone]
    client.address = PostalAddress(
      line1: fields.line1, city: fields.city, postalCode: fields.postalCode, country: "US")
    client.notes = fields.notes
    client.leadSource = "referral"
    client.tags = ["wedding", "2027"]
    return client
  }

  func insert(_ clients: ArraySlice<Client>) throws {
    if let handle {
      try handle.write { records, scope throws(VaultError) in
        for client in clients { try records.insert(client, scope: scope) }
      }
      return
    }
    try store.write(actor: owner) { tx throws(VaultError) in
      for client in clients { try tx.insert(client, scope: .organization) }
    }
  }

  /// The client's name, as read back (the checksum covers it).
  func read(id: [UInt8]) throws -> [UInt8] {
    if let handle {
      return Array((try handle.get(Client.self, try RecordID(bytes: id))?.displayName ?? "").utf8)
    }
    let client = try store.read { snapshot throws(VaultError) in
      try snapshot.get(Client.self, try RecordID(bytes: id), scope: .organization)
    }
    return Array((client?.displayName ?? "").utf8)
  }
}
