import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// I/O faults injected into a studio's work (SQLite's I/O-error tests): `EIO` or
/// `ENOSPC` at each write and sync in turn, and failed syncs that lose their writes
/// while reads still show them (PostgreSQL's "fsyncgate"). The failing step throws the
/// injected error, typed; it leaves nothing behind, in the records or the audit log;
/// retried once the fault has passed, it succeeds; and the file, as the OS shows it and
/// as the disk holds it, opens to exactly what was acknowledged.
@Suite struct FaultInjectionTests {
  enum Fault: String, CaseIterable, CustomStringConvertible {
    case io, noSpace, lostSync
    var code: VaultError.Code { self == .noSpace ? .noSpace : .io }
    var description: String { rawValue }
  }

  static let chunk = 64 << 10

  /// A studio vault (owner, two branches, a client and project) as a disk image.
  struct Setup {
    let image: [UInt8]
    let branches: [RecordID]
    let owner: RecordID
    let project: RecordID
    let model: RecordModel
    let upload: [UInt8]
  }

  static func setup(_ dir: TemporaryDirectory) throws -> Setup {
    let (store, owner, downtown, harbor) = try studioStore(dir, name: "fault.vault")
    var model = RecordModel()
    let project = try store.write(actor: owner) { tx throws(VaultError) -> RecordID in
      var client = Record(.clients, branch: downtown)
      client["displayName"] = .string("Ana Lee")
      client["emails"] = .list([.string("ana@example.com")])
      let clientID = try tx.insert(client, scope: .organization).id!
      model.clients[clientID] = .init(name: "Ana Lee", email: "ana@example.com", branch: downtown)
      var project = Record(.projects, branch: downtown)
      project["title"] = .string("Wedding")
      project["client"] = .bytes(clientID.bytes)
      let projectID = try tx.insert(project, scope: .organization).id!
      model.projects[projectID] = .init(client: clientID, branch: downtown, days: [])
      return projectID
    }
    var random = SeededGenerator(seed: 0xFA17)
    return Setup(
      image: try fileBytes(store.sealed.store.path), branches: [downtown, harbor], owner: owner,
      project: project, model: model, upload: random.bytes(3 * chunk + 5000))
  }

  /// What a run did: its disk, the state it acknowledged, and the audit entries each
  /// step added.
  struct Run {
    var disk: SimulatedDisk
    var model: RecordModel
    var blob: RecordID?
    var auditAdded: [UInt64] = []
    var auditEntries: UInt64 = 0
    var faultStep: Int?
  }

  /// The steps: open, log in, three record transactions, an upload of four chunks, two
  /// more record transactions. With `failAt`, operation number `failAt` fails once.
  static func run(
    _ setup: Setup, fault: Fault, failAt: Int?, lockPath: String, context: String
  ) throws -> Run {
    let disk = SimulatedDisk(image: setup.image)
    if let failAt { disk.failOperation = (failAt, fault.code) }
    disk.failedSyncLosesWrites = fault == .lostSync
    var run = Run(disk: disk, model: setup.model)
    var random = SeededGenerator(seed: 0xFA17)
    let workload = RecordWorkload(branches: setup.branches)
    let clock = TestClock(SessionTests.start)

    var store: RecordStore?
    var stepNumber = 0
    func audited() throws -> UInt64 {
      guard let store else { return 0 }
      let report = try AuditVerification.verify(store.sealed.store)
      #expect(report.ok, "\(context), step \(stepNumber): \(report.problems)")
      return report.entries
    }
    /// Runs `body` until it succeeds: only the injected fault may stop it, once, and
    /// then the vault holds what it held before.
    func step<T>(_ body: () throws -> T) throws -> T {
      stepNumber += 1
      let before = try audited()
      while true {
        do {
          let result = try body()
          run.auditEntries = try audited()
          run.auditAdded.append(run.auditEntries - before)
          return result
        } catch let error as VaultError {
          guard run.faultStep == nil, error.code == fault.code, disk.operations >= failAt ?? .max
          else { throw error }
          run.faultStep = stepNumber
          #expect(try audited() == before, "\(context): a failed step left audit entries")
        }
      }
    }

    store = try step {
      try RecordStore(
        SealedStore(
          VaultStore(path: lockPath, file: disk, options: .init(), credential: testCredential)))
    }
    guard let store else { throw VaultError(.internal, "no store") }
    let (owner, _) = try step {
      try store.login(
        user: "owner", password: SecretBytes(utf8: ownerPassword), clock: clock.read)
    }
    func recordTransaction() throws {
      try step {
        var next = run.model
        var nextRandom = random
        try store.write(actor: setup.owner) { tx throws(VaultError) in
          try workload.apply(tx, model: &next, random: &nextRandom)
        }
        run.model = next
        random = nextRandom
      }
    }
    for _ in 0..<3 { try recordTransaction() }
    var begun: BlobUpload?
    run.blob = try step {
      // After a failed commit the upload resumes from its last committed chunk (or
      // begins again, if none was).
      let upload =
        try begun.flatMap { $0.bytesCommitted > 0 ? try owner.resumeUpload($0.blob) : nil }
        ?? owner.beginUpload(
          into: setup.project, fileName: "IMG_0001.CR3", kind: nil, chunkSize: chunk)
      begun = upload
      try upload.write(Array(setup.upload[Int(upload.bytesCommitted)...]))
      let receipt = try upload.finish()
      run.model.media[receipt.media] = setup.project
      return receipt.blob
    }
    for _ in 0..<2 { try recordTransaction() }

    var queries = SeededGenerator(seed: 1)
    try expectQueriesMatch(store, run.model, branches: setup.branches, random: &queries, context)
    return run
  }

  /// Opens `image` and checks it holds exactly what `run` acknowledged.
  static func expectHolds(
    _ image: [UInt8], _ run: Run, _ setup: Setup, auditEntries: UInt64, dir: TemporaryDirectory,
    _ context: String
  ) throws {
    let path = dir.file("image.vault")
    try? FileManager.default.removeItem(atPath: path)
    try? FileManager.default.removeItem(atPath: path + "-lock")
    try Data(image).write(to: URL(fileURLWithPath: path))
    let report = Checker.check(path: path, credential: testCredential)
    #expect(report.ok, "\(context): \(report.problems)")
    let store = try RecordStore.open(at: path, credential: testCredential)
    let audit = try AuditVerification.verify(store.sealed.store)
    #expect(audit.ok && audit.entries == auditEntries, "\(context): \(audit.entries) entries")
    var queries = SeededGenerator(seed: 1)
    try expectQueriesMatch(store, run.model, branches: setup.branches, random: &queries, context)
    let (owner, _) = try store.login(
      user: "owner", password: SecretBytes(utf8: ownerPassword),
      clock: TestClock(SessionTests.start).read)
    let blob = try #require(run.blob)
    let reader = try owner.openBlob(blob)
    #expect(try reader.read(at: 0, count: setup.upload.count + 1) == setup.upload, "\(context)")
  }

  @Test(arguments: Fault.allCases)
  func everyWriteAndSyncFailsOnlyItsStep(fault: Fault) throws {
    let dir = TemporaryDirectory()
    let setup = try Self.setup(dir)
    let clean = try Self.run(
      setup, fault: fault, failAt: nil, lockPath: dir.file("clean.vault"), context: "clean")
    let cleanEntries = clean.auditAdded.reduce(0, +)
    #expect(clean.disk.operations > 30 && cleanEntries >= 4, "\(clean.auditAdded)")
    print(
      "fault injection: \(clean.disk.operations) operations, audit entries per step \(clean.auditAdded)"
    )
    // Lost writes matter at syncs only; a failed write is the same under every mode.
    let points = fault == .lostSync ? clean.disk.syncOperations : Array(1...clean.disk.operations)
    var faulted = 0
    for failAt in points {
      let context = "\(fault) at operation \(failAt)"
      let run = try Self.run(
        setup, fault: fault, failAt: failAt, lockPath: dir.file("run-\(failAt).vault"),
        context: context)
      // Record ids are random, so page layouts, and with them the count of writes,
      // differ a little from run to run: a fault past a run's last operation is none.
      guard let faultStep = run.faultStep else {
        #expect(run.disk.operations < failAt, "\(context): the fault never surfaced")
        continue
      }
      faulted += 1
      // One to one: every step logged what it logs in a clean run (a resumed upload
      // logs its resumption as well).
      for (index, added) in run.auditAdded.enumerated() where !(index == 5 && faultStep == 6) {
        #expect(added == clean.auditAdded[index], "\(context), step \(index + 1)")
      }
      let entries = run.auditEntries
      #expect(faultStep == 6 || entries == clean.auditEntries, "\(context)")
      // What the OS shows, and what the disk holds (the newest commit was synced).
      try Self.expectHolds(
        run.disk.imageWithEverything, run, setup, auditEntries: entries, dir: dir, context)
      try Self.expectHolds(
        run.disk.imageWithNothing, run, setup, auditEntries: entries, dir: dir,
        context + ", durable")
    }
    #expect(faulted >= points.count * 9 / 10, "\(fault): \(faulted) of \(points.count)")
    print("fault injection: \(fault): \(faulted) faults injected, each survived")
  }

  /// After a failed sync the store reads the last commit's meta page again, from the
  /// file, instead of trusting memory: found changed since (here, damage in what reads
  /// show, made by hand), it is not trusted, the store refuses further use, and a
  /// reopen from what the disk holds finds the last commit whole. (The lost-sync runs
  /// above are what show a failed fsync costs nothing acknowledged.)
  @Test func aFailedSyncRereadsTheLastCommitFromTheFile() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    _ = try VaultStore.create(at: path, credential: testCredential)
    let disk = SimulatedDisk(image: try fileBytes(path))
    disk.failedSyncLosesWrites = true
    let store = try VaultStore(
      path: dir.file("a.vault"), file: disk, options: .init(), credential: testCredential)
    try store.write { tx in try tx.openTree(named: "t").insert([1], forKey: [1]) }
    try store.write { tx in try tx.openTree(named: "t").insert([2], forKey: [2]) }
    let last = try store.newestMeta().transaction
    let metaOffset = Int(FileFormat.metaPage(for: last).rawValue) * store.pageSize + 100
    // The commit's sync fails, and meanwhile what reads show of the last commit's meta
    // page stops matching it (the disk itself still holds it).
    let failAt = disk.operations + 2
    disk.failOperation = (failAt, .io)
    disk.onFailure = { disk.flipBit(at: metaOffset, onDisk: false) }
    #expect(throws: VaultError.self) {
      try store.write { tx in try tx.openTree(named: "t").insert([3], forKey: [3]) }
    }
    #expect(disk.syncOperations.contains(failAt), "the failure was the commit's sync")
    do {
      _ = try store.makeSnapshot()
      Issue.record("a store whose last commit no longer reads back went on")
    } catch {
      #expect(error.code == .io && error.message.contains("open it again"), "\(error)")
    }
    // Reopened from what the disk holds, the last commit is there, whole.
    let reopened = try VaultStore(
      path: dir.file("b.vault"), file: SimulatedDisk(image: disk.imageWithNothing),
      options: .init(), credential: testCredential)
    #expect(try reopened.newestMeta().transaction == last)
    let (first, third) = try reopened.read { snapshot in
      let tree = try snapshot.tree(named: "t")
      return (try tree?.value(forKey: [1]), try tree?.value(forKey: [3]))
    }
    #expect(first == [1] && third == nil)
    let image = dir.file("durable.vault")
    try Data(disk.imageWithNothing).write(to: URL(fileURLWithPath: image))
    #expect(Checker.check(path: image, credential: testCredential).ok)
    try reopened.write { tx in try tx.openTree(named: "t").insert([4], forKey: [4]) }
  }
}
