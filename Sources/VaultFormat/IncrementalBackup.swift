import VaultCore
import VaultCrypto

/// The head of an incremental backup file (FORMAT.md 25): which commit it continues,
/// which commit it holds, and where its pages go.
///
/// The file is this head (a 128-byte header, the run table, the reference table), then
/// the pages of every run, in table order. Applying it to a copy of the commit it
/// continues gives a vault holding the newer commit.
public struct IncrementalBackup: Equatable, Sendable {
  /// One committed state, named so that no other state can pass for it: the meta
  /// page's checksum commits to every page reachable from it (FORMAT.md 3.3).
  public struct State: Equatable, Sendable {
    public var transaction: TransactionID
    public var metaChecksum: Checksum

    public init(transaction: TransactionID, metaChecksum: Checksum) {
      self.transaction = transaction
      self.metaChecksum = metaChecksum
    }
  }

  /// Pages stored in the file: `pages` consecutive pages from `first` on, whose first
  /// page carries `transaction` and `checksum` in its header.
  public struct Run: Equatable, Sendable {
    public var first: PageNumber
    public var pages: UInt64
    public var transaction: TransactionID
    public var checksum: Checksum

    public init(first: PageNumber, pages: UInt64, transaction: TransactionID, checksum: Checksum) {
      self.first = first
      self.pages = pages
      self.transaction = transaction
      self.checksum = checksum
    }
  }

  /// `SVincr` then CR LF: a text-mode transfer that mangles line ends is caught at once.
  public static let magic: [UInt8] = [0x53, 0x56, 0x69, 0x6E, 0x63, 0x72, 0x0D, 0x0A]
  public static let version: UInt32 = 1
  public static let headerLength = 128
  public static let runEntryLength = 40
  public static let referenceEntryLength = 32

  public var pageSize: Int
  public var vaultID: [UInt8]
  /// The commit this file continues: the chain so far must end exactly there.
  public var base: State
  /// The commit this file holds.
  public var state: State
  /// The page count of `state`: the restored file's length in pages.
  public var pageCount: UInt64
  /// Every page of `state` written after `base`, plus both header pages and the meta
  /// page; sorted by `first`, never overlapping.
  public var runs: [Run]
  /// The links of `state` that lead to pages unchanged since `base` (each the root of
  /// an unchanged subtree, or an unchanged extent): what the chain must already hold.
  public var references: [PageLink]

  public init(
    pageSize: Int, vaultID: [UInt8], base: State, state: State, pageCount: UInt64, runs: [Run],
    references: [PageLink]
  ) {
    self.pageSize = pageSize
    self.vaultID = vaultID
    self.base = base
    self.state = state
    self.pageCount = pageCount
    self.runs = runs
    self.references = references
  }

  /// Bytes before the first stored page.
  public var headLength: Int {
    Self.headerLength + runs.count * Self.runEntryLength
      + references.count * Self.referenceEntryLength
  }

  /// Pages stored after the head.
  public var dataPages: UInt64 { runs.reduce(0) { $0 + $1.pages } }

  /// Where run `index`'s pages start in the file.
  public func dataOffset(ofRun index: Int) -> UInt64 {
    runs[..<index].reduce(UInt64(headLength)) { $0 + $1.pages * UInt64(pageSize) }
  }

  /// The header, run table and reference table.
  public func encodeHead() -> [UInt8] {
    var tables = ByteWriter(capacity: headLength - Self.headerLength)
    for run in runs {
      tables.write(run.first.rawValue)
      tables.write(run.pages)
      tables.write(run.transaction.rawValue)
      tables.write(run.checksum.low)
      tables.write(run.checksum.high)
    }
    for link in references { link.write(to: &tables) }
    var header = ByteWriter(capacity: headLength)
    header.write(Self.magic)
    header.write(Self.version)
    header.write(UInt32(pageSize))
    header.write(vaultID)
    for state in [base, state] {
      header.write(state.transaction.rawValue)
      header.write(state.metaChecksum.low)
      header.write(state.metaChecksum.high)
    }
    header.write(pageCount)
    header.write(UInt64(runs.count))
    header.write(UInt64(references.count))
    header.writeZeros(8)
    let checksum = Self.checksum(header: header.bytes, tables: tables.bytes)
    header.write(checksum.low)
    header.write(checksum.high)
    header.write(tables.bytes)
    return header.bytes
  }

  /// The length of the head whose first ``headerLength`` bytes are `header`, checked
  /// against the file's size before anything that large is read.
  public static func headLength(header: [UInt8], fileSize: UInt64) throws(VaultError) -> Int {
    var reader = ByteReader(header)
    try readPreamble(&reader)
    try reader.skip(72, "states and page count")
    let runCount = try reader.readUInt64("run count")
    let referenceCount = try reader.readUInt64("reference count")
    let limit = fileSize / UInt64(referenceEntryLength)
    guard runCount <= limit, referenceCount <= limit,
      UInt64(headerLength) + runCount * UInt64(runEntryLength) + referenceCount
        * UInt64(referenceEntryLength) <= fileSize
    else {
      throw VaultError(
        .corruptPage, "the incremental backup's tables run past the end of the file")
    }
    return headerLength + Int(runCount) * runEntryLength + Int(referenceCount)
      * referenceEntryLength
  }

  /// Decodes and checks a whole head (``headLength(header:fileSize:)`` bytes).
  public init(decoding bytes: [UInt8]) throws(VaultError) {
    var reader = ByteReader(bytes)
    pageSize = try Self.readPreamble(&reader)
    vaultID = try reader.readBytes(FileHeader.vaultIDLength, "vault id")
    var states = [State]()
    for _ in 0..<2 {
      let transaction = TransactionID(try reader.readUInt64("transaction id"))
      let low = try reader.readUInt64("meta checksum")
      let high = try reader.readUInt64("meta checksum")
      states.append(State(transaction: transaction, metaChecksum: Checksum(low: low, high: high)))
    }
    base = states[0]
    state = states[1]
    pageCount = try reader.readUInt64("page count")
    let runCount = try reader.readUInt64("run count")
    let referenceCount = try reader.readUInt64("reference count")
    guard try reader.readUInt64("reserved") == 0 else {
      throw reader.corrupt("reserved header bytes of an incremental backup are not zero")
    }
    let stored = Checksum(
      low: try reader.readUInt64("checksum"), high: try reader.readUInt64("checksum"))
    // Both counts are bounded by what remains before they are multiplied.
    guard
      runCount <= UInt64(reader.remaining / Self.runEntryLength),
      referenceCount <= UInt64(reader.remaining / Self.referenceEntryLength),
      UInt64(reader.remaining) == runCount * UInt64(Self.runEntryLength) + referenceCount
        * UInt64(Self.referenceEntryLength)
    else { throw reader.corrupt("the incremental backup's tables have the wrong length") }
    let tables = Array(bytes[Self.headerLength...])
    guard Self.checksum(header: Array(bytes[..<112]), tables: tables) == stored else {
      throw reader.corrupt("the incremental backup's header or tables are damaged (checksum)")
    }
    runs = []
    for _ in 0..<runCount {
      let first = PageNumber(try reader.readUInt64("run page"))
      let pages = try reader.readUInt64("run length")
      let transaction = TransactionID(try reader.readUInt64("run transaction"))
      let low = try reader.readUInt64("run checksum")
      let high = try reader.readUInt64("run checksum")
      runs.append(
        Run(
          first: first, pages: pages, transaction: transaction,
          checksum: Checksum(low: low, high: high)))
    }
    references = []
    for _ in 0..<referenceCount { references.append(try PageLink.read(from: &reader)) }
    try validate()
  }

  /// The rules FORMAT.md 25.1 sets for a head, beyond its layout.
  private func validate() throws(VaultError) {
    func corrupt(_ message: String) -> VaultError {
      VaultError(.corruptPage, "incremental backup: \(message)")
    }
    guard base.transaction <= state.transaction,
      pageCount >= FileFormat.initialPageCount,
      pageCount <= FileFormat.maximumPageCount(pageSize: pageSize)
    else { throw corrupt("impossible commit or page count") }
    let required = FileFormat.headerPages + [FileFormat.metaPage(for: state.transaction)]
    var end: UInt64 = 0
    for run in runs {
      let (last, overflow) = run.first.rawValue.addingReportingOverflow(run.pages)
      guard run.pages >= 1, !overflow, last <= pageCount, run.first.rawValue >= end,
        run.transaction <= state.transaction
      else { throw corrupt("run at page \(run.first) overlaps, is empty or lies past the end") }
      end = last
      // Besides the headers and the state's meta page: data pages only, and an extent
      // (more than one page) past the hot areas, as 6.5 places them.
      guard
        required.contains(run.first) && run.pages == 1
          || (run.pages == 1
            ? FileFormat.isDataPage(run.first)
            : run.first.rawValue >= FileFormat.initialPageCount)
      else { throw corrupt("run at page \(run.first) covers a header or meta page") }
    }
    for page in required where !runs.contains(where: { $0.first == page && $0.pages == 1 }) {
      throw corrupt("page \(page) (a header or the meta page) is missing")
    }
    for link in references {
      guard !link.isNull, FileFormat.isDataPage(link.page), link.page.rawValue < pageCount,
        link.transaction <= base.transaction
      else { throw corrupt("impossible reference to page \(link.page)") }
    }
  }

  @discardableResult
  private static func readPreamble(_ reader: inout ByteReader) throws(VaultError) -> Int {
    guard try reader.readBytes(8, "magic") == magic else {
      throw reader.corrupt("not an incremental backup (bad magic)")
    }
    let version = try reader.readUInt32("version")
    guard version == Self.version else {
      throw VaultError(
        .unsupportedVersion, "incremental backup format \(version) is not supported (only 1)")
    }
    let pageSize = Int(try reader.readUInt32("page size"))
    guard FileFormat.isValidPageSize(pageSize) else {
      throw reader.corrupt("invalid page size \(pageSize)")
    }
    return pageSize
  }

  package static func checksum(header: [UInt8], tables: [UInt8]) -> Checksum {
    header.withUnsafeBytes { first in
      tables.withUnsafeBytes { Checksum(of: first, then: $0) }
    }
  }
}
