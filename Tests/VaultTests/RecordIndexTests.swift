import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// What the index tests expect, kept beside the vault: clients and projects as plain
/// values.
struct RecordModel {
  struct Client: Equatable {
    var name: String
    var email: String
    var branch: RecordID
  }
  struct Project: Equatable {
    var client: RecordID
    var branch: RecordID
    var days: [Int32]
  }
  var clients: [RecordID: Client] = [:]
  var projects: [RecordID: Project] = [:]
  var media: [RecordID: RecordID] = [:]  // media → project
}

/// Random record operations, applied to a store and to the model.
struct RecordWorkload {
  static let names = ["Zoë", "Zoe", "Ana", "Anaïs", "Bob", "Björn", "Chloé", "Chen", "Dana"]
  static let surnames = ["Ångström", "Angstrom", "Lee", "Leeds", "Martin", "Martín", "Nguyen"]
  static let firstDay: Int32 = 20_600  // 2026-05-27

  let branches: [RecordID]

  func apply(
    _ tx: RecordTransaction, model: inout RecordModel, random: inout SeededGenerator
  ) throws(VaultError) {
    for _ in 0..<Int.random(in: 1...12, using: &random) {
      switch Int.random(in: 0..<10, using: &random) {
      case 0..<3:  // a new client
        let name =
          "\(Self.names.randomElement(using: &random)!) \(Self.surnames.randomElement(using: &random)!)"
        let email =
          "\(name.split(separator: " ")[0].lowercased())\(Int.random(in: 1...99, using: &random))@example.com"
        let branch = branches.randomElement(using: &random)!
        var record = Record(.clients, branch: branch)
        record["displayName"] = .string(name)
        record["emails"] = .list([.string(email)])
        let id = try tx.insert(record, scope: .organization).id!
        model.clients[id] = .init(name: name, email: email, branch: branch)
      case 3:  // a client renamed
        guard let (id, client) = model.clients.randomElement(using: &random) else { continue }
        var record = Record(.clients, id: id)
        let name =
          "\(Self.names.randomElement(using: &random)!) \(client.name.split(separator: " ").last!)"
        record["displayName"] = .string(name)
        record["emails"] = .list([.string(client.email)])
        try tx.update(record, scope: .branch(client.branch))
        model.clients[id]?.name = name
      case 4..<7:  // a new project of some client, sessions on random days
        guard let (clientID, client) = model.clients.randomElement(using: &random) else { continue }
        let days = (0..<Int.random(in: 0...3, using: &random)).map { _ in
          Self.firstDay + Int32.random(in: 0..<60, using: &random)
        }
        var record = Record(.projects, branch: client.branch)
        record["title"] = .string("Shoot")
        record["client"] = .bytes(clientID.bytes)
        record["sessions"] = .list(days.map { Self.session(on: $0, random: &random) })
        let id = try tx.insert(record, scope: .organization).id!
        model.projects[id] = .init(client: clientID, branch: client.branch, days: days)
      case 7:  // a project rescheduled
        guard let (id, project) = model.projects.randomElement(using: &random) else { continue }
        var record = try tx.get(.projects, id, scope: .organization)!
        let days = [Self.firstDay + Int32.random(in: 0..<60, using: &random)]
        record["sessions"] = .list(days.map { Self.session(on: $0, random: &random) })
        try tx.update(record, scope: .branch(project.branch))
        model.projects[id]?.days = days
      case 8:  // media added to a project
        guard let (projectID, _) = model.projects.randomElement(using: &random) else { continue }
        var record = Record(.media)
        record["project"] = .bytes(projectID.bytes)
        record["fileName"] = .string("IMG_\(Int.random(in: 0...9999, using: &random)).jpg")
        model.media[try tx.insert(record, scope: .organization).id!] = projectID
      default:  // media removed
        guard let (id, _) = model.media.randomElement(using: &random) else { continue }
        #expect(try tx.remove(.media, id, scope: .organization))
        model.media[id] = nil
      }
    }
  }

  /// A session starting at a random hour of `day`, in a random zone that keeps it on
  /// that local day.
  static func session(on day: Int32, random: inout SeededGenerator) -> FieldValue {
    let offset = Int16([-240, 0, 60, 330].randomElement(using: &random)!)
    let localMilliseconds =
      Int64(day) * 86_400_000 + Int64.random(in: 0..<86_400_000, using: &random)
    var fields = FieldMap()
    fields[1] = .time(
      milliseconds: localMilliseconds - Int64(offset) * 60_000, offsetMinutes: offset)
    return .object(fields)
  }
}

/// Checks every query against the model.
func expectQueriesMatch(
  _ store: RecordStore, _ model: RecordModel, branches: [RecordID], random: inout SeededGenerator,
  _ context: String
) throws {
  for branch in branches {
    let listed = try store.all(.clients, filter: .branch(branch)).compactMap(\.id)
    #expect(
      Set(listed) == Set(model.clients.filter { $0.value.branch == branch }.keys), "\(context)")
    #expect(listed.count == Set(listed).count, "\(context): a client listed twice")
    // Projects in a random window, as the branch sees them.
    let start = RecordWorkload.firstDay + Int32.random(in: 0..<60, using: &random)
    let end = start + Int32.random(in: 0..<20, using: &random)
    let range = Day(daysSince1970: start)...Day(daysSince1970: end)
    let inWindow = try store.all(.projects, scope: .branch(branch), filter: .days(range))
      .compactMap(\.id)
    let expected = model.projects.filter { entry in
      entry.value.branch == branch && entry.value.days.contains { (start...end).contains($0) }
    }.keys
    #expect(Set(inWindow) == Set(expected), "\(context): projects \(range)")
    #expect(inWindow.count == Set(inWindow).count, "\(context): a project listed twice")
  }
  // A client's projects, and a project's media.
  if let (clientID, _) = model.clients.randomElement(using: &random) {
    let projects = try store.all(.projects, filter: .reference(field: "client", clientID))
      .compactMap(\.id)
    #expect(
      Set(projects) == Set(model.projects.filter { $0.value.client == clientID }.keys), "\(context)"
    )
  }
  if let (projectID, _) = model.projects.randomElement(using: &random) {
    let media = try store.all(.media, filter: .reference(field: "project", projectID)).compactMap(
      \.id)
    #expect(Set(media) == Set(model.media.filter { $0.value == projectID }.keys), "\(context)")
  }
  // Search by a random prefix of a random word of a random client.
  if let (_, client) = model.clients.randomElement(using: &random) {
    let words = SearchTokens.words(ofName: client.name) + SearchTokens.words(ofEmail: client.email)
    let word = words.filter { $0.count >= 3 }.randomElement(using: &random)!
    let query = String(word.prefix(Int.random(in: 3...word.count, using: &random)))
    let found = try store.all(.clients, search: query).compactMap(\.id)
    let expected = model.clients.filter { entry in
      (SearchTokens.words(ofName: entry.value.name) + SearchTokens.words(ofEmail: entry.value.email))
        .contains { $0.hasPrefix(query) }
    }.keys
    #expect(Set(found) == Set(expected), "\(context): search \(query)")
  }
  #expect(try store.indexProblems() == [], "\(context)")
}

@Suite struct RecordIndexTests {
  /// Random inserts, updates and removals; after each transaction every list, date
  /// range, reference list and search agrees with the model, and the index trees hold
  /// exactly the entries the records imply.
  @Test func indexesFollowRandomWritesAgainstAModel() throws {
    let seed = testSeed(0x1DE7)
    var random = SeededGenerator(seed: seed)
    let dir = TemporaryDirectory()
    let (store, owner, downtown, harbor) = try studioStore(dir)
    let branches = [downtown, harbor]
    let workload = RecordWorkload(branches: branches)
    var model = RecordModel()
    for transaction in 0..<40 {
      var next = model
      try store.write(actor: owner) { tx throws(VaultError) in
        try workload.apply(tx, model: &next, random: &random)
      }
      model = next
      try expectQueriesMatch(
        store, model, branches: branches, random: &random,
        "seed \(seed), transaction \(transaction)")
    }
    #expect(model.clients.count > 20 && model.projects.count > 20)
    // A transaction that fails midway leaves the indexes as they were.
    #expect(throws: VaultError.self) {
      try store.write(actor: owner) { tx throws(VaultError) in
        var scratch = model
        try workload.apply(tx, model: &scratch, random: &random)
        throw VaultError(.invalidArgument, "rolled back on purpose")
      }
    }
    try expectQueriesMatch(
      store, model, branches: branches, random: &random, "seed \(seed), after rollback")
    // The verifier is not vacuous: an entry gone missing is reported.
    try store.sealed.write { tx throws(VaultError) in
      let tree = try tx.tree(RecordIndexes.treeName(.projects))
      var first: [UInt8]?
      try tree.scanTyped { key, _ in
        first = key
        return false
      }
      #expect(try tree.removeValue(forKey: first ?? []))
    }
    #expect(try store.indexProblems() == ["projects: 1 index entries missing"])
  }

  /// Power lost at every write and sync of a record workload: the recovered vault's
  /// indexes agree with its records, and its records are a committed state.
  @Test func indexesSurviveACrashAtEveryWriteAndSync() throws {
    let seed = testSeed(0xC4A5)
    let dir = TemporaryDirectory()
    let path = dir.file("crash.vault")
    let (prepared, owner, downtown, harbor) = try studioStore(dir, name: "crash.vault")
    _ = prepared
    let initial = try fileBytes(path)
    let workload = RecordWorkload(branches: [downtown, harbor])

    func run(crashAt: Int?) throws -> (SimulatedDisk, [Int]) {
      let disk = SimulatedDisk(image: initial)
      disk.crashAtOperation = crashAt
      var random = SeededGenerator(seed: seed)
      var model = RecordModel()
      var committedCounts = [0]
      do {
        let store = try RecordStore(try sealedStore(on: disk, lockPath: dir.file("run.vault")))
        for _ in 0..<6 {
          var next = model
          try store.write(actor: owner) { tx throws(VaultError) in
            try workload.apply(tx, model: &next, random: &random)
          }
          model = next
          committedCounts.append(model.clients.count + model.projects.count + model.media.count)
        }
      } catch let error as VaultError where disk.hasCrashed {
        _ = error
      }
      return (disk, committedCounts)
    }
    let (clean, counts) = try run(crashAt: nil)
    #expect(clean.operations > 20 && counts.last! > 10, "\(clean.operations) operations, \(counts)")
    var random = SeededGenerator(seed: seed)
    for crashAt in 1...clean.operations {
      let (disk, _) = try run(crashAt: crashAt)
      for (variant, image) in [disk.imageWithNothing, disk.imageAfterPowerLoss(using: &random)]
        .enumerated()
      {
        let target = dir.file("image-\(crashAt)-\(variant).vault")
        try Data(image).write(to: URL(fileURLWithPath: target))
        defer {
          try? FileManager.default.removeItem(atPath: target)
          try? FileManager.default.removeItem(atPath: target + "-lock")
        }
        let store = try RecordStore.open(at: target, credential: testCredential)
        let context = "seed \(seed), crash at \(crashAt), image \(variant)"
        #expect(try store.indexProblems() == [], "\(context)")
        let total =
          try store.all(.clients).count + store.all(.projects).count + store.all(.media).count
        #expect(counts.contains(total), "\(context): \(total) records is no committed state")
      }
    }
  }

  /// Search entries go into runs that merge by size class: after many transactions a
  /// collection has few runs, each search still finds exactly the model's clients
  /// (pages of 7 cross runs), and the runs hold exactly the records' entries.
  @Test func searchRunsMergeAndStayFew() throws {
    let seed = testSeed(0x5EA6)
    var random = SeededGenerator(seed: seed)
    let dir = TemporaryDirectory()
    let (store, owner, downtown, harbor) = try studioStore(dir)
    var model = RecordModel()
    for _ in 0..<70 {
      try store.write(actor: owner) { tx throws(VaultError) in
        for _ in 0..<Int.random(in: 1...3, using: &random) {
          let name = "\(RecordWorkload.names.randomElement(using: &random)!) Okafor"
          let branch = [downtown, harbor].randomElement(using: &random)!
          var record = Record(.clients, branch: branch)
          record["displayName"] = .string(name)
          record["emails"] = .list([.string("okafor@example.com")])
          let id = try tx.insert(record, scope: .organization).id!
          model.clients[id] = .init(name: name, email: "okafor@example.com", branch: branch)
        }
      }
    }
    let runs = try store.read { snapshot throws(VaultError) in
      try snapshot.source.searchRuns(.clients)
    }
    let sizes = try store.read { snapshot throws(VaultError) in
      try runs.map { (run) throws(VaultError) -> UInt64 in
        try snapshot.source.sealed.snapshot.anyTree(
          named: SearchRuns.treeName(.clients, run: run))?
          .count ?? 0
      }
    }
    // 70 transactions wrote 70 runs; merging leaves at most 3 of each size class.
    let classes = Dictionary(grouping: sizes, by: SearchRuns.sizeClass)
    #expect(classes.values.allSatisfy { $0.count < SearchRuns.fanIn }, "seed \(seed): \(sizes)")
    #expect(runs.count < 12 && sizes.max()! > 200, "seed \(seed): \(sizes)")
    #expect(try store.indexProblems() == [], "seed \(seed)")
    let okafors = try store.all(.clients, search: "okafor").compactMap(\.id)
    #expect(okafors.count == model.clients.count && Set(okafors) == Set(model.clients.keys))
    let zoes = try store.all(.clients, search: "zoe oka").compactMap(\.id)
    #expect(
      Set(zoes) == Set(model.clients.filter { $0.value.name.hasPrefix("Zo") }.keys),
      "seed \(seed)")
    // A search in a branch finds only that branch's clients, across runs.
    let harborFound = try store.all(.clients, scope: .branch(harbor), search: "okafor")
    #expect(
      Set(harborFound.compactMap(\.id))
        == Set(model.clients.filter { $0.value.branch == harbor }.keys))

    // Renaming and removing clients deletes their entries from whichever run holds
    // them; a search inside the write transaction sees that transaction's writes.
    let renamed = Array(
      model.clients.keys.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        .prefix(5))
    try store.write(actor: owner) { tx throws(VaultError) in
      for id in renamed {
        var record = try tx.get(.clients, id, scope: .organization)!
        record["displayName"] = .string("Quentin Ferreira")
        try tx.update(record, scope: .organization)
      }
      #expect(
        try tx.source.search(.clients, "ferreira", scope: .organization, limit: 50).records.count
          == 5)
    }
    #expect(try store.indexProblems() == [], "seed \(seed)")
    #expect(Set(try store.all(.clients, search: "ferreira").compactMap(\.id)) == Set(renamed))
    // A client inserted and renamed (twice) in one transaction: only the last name's
    // entries reach the run.
    let twice = try store.write(actor: owner) { tx throws(VaultError) in
      var record = Record(.clients, branch: downtown)
      record["displayName"] = .string("Xavier Pemberton")
      let id = try tx.insert(record, scope: .organization).id!
      for name in ["Yolanda Pemberton", "Xavier Pemberton"] {
        var renamed = try tx.get(.clients, id, scope: .organization)!
        renamed["displayName"] = .string(name)
        try tx.update(renamed, scope: .organization)
      }
      return id
    }
    #expect(try store.indexProblems() == [], "seed \(seed)")
    #expect(try store.all(.clients, search: "yolanda").isEmpty)
    #expect(try store.all(.clients, search: "xavier pember").compactMap(\.id) == [twice])
    #expect(try store.all(.clients, search: "okafor").count == model.clients.count)
    #expect(try store.all(.clients, search: "okafor quentin").count == 5)
  }

  /// A run's keys come out sorted and unique, whether every entry is 33 bytes (the fast
  /// path) or not.
  @Test func runKeysAreSortedAndUnique() {
    let seed = testSeed(0x5027)
    var random = SeededGenerator(seed: seed)
    for odd in [false, true] {
      var entries = (0..<500).map { _ in
        // Few distinct bytes, so keys share long prefixes and repeat.
        [RecordIndexes.Kind.search.rawValue]
          + (0..<32).map { _ in UInt8.random(in: 0...1, using: &random) * 0x80 }
      }
      entries += entries.prefix(50)
      if odd { entries.append([RecordIndexes.Kind.search.rawValue, 1, 2]) }
      let expected = Set(entries.map { Array($0.dropFirst()) }).sorted {
        $0.lexicographicallyPrecedes($1)
      }
      #expect(SearchRuns.runKeys(entries.shuffled(using: &random)) == expected, "seed \(seed)")
    }
  }

  /// Kind-5 search entries (written by earlier builds) are still found, removed when
  /// their record changes, and verified; a run entry no record accounts for, or an
  /// entry stored twice, is reported.
  @Test func searchEntriesOutsideRunsAreReadAndVerified() throws {
    let dir = TemporaryDirectory()
    let (store, owner, downtown, _) = try studioStore(dir)
    let id = try store.write(actor: owner) { tx throws(VaultError) in
      var record = Record(.clients, branch: downtown)
      record["displayName"] = .string("Maya Lindqvist")
      return try tx.insert(record, scope: .organization).id!
    }
    // Move every run entry into the index tree as kind 5, the layout of earlier builds.
    try store.sealed.write { tx throws(VaultError) in
      let index = try tx.tree(RecordIndexes.treeName(.clients))
      for run in try tx.searchRuns(.clients) {
        let name = SearchRuns.treeName(.clients, run: run)
        var keys = [[UInt8]]()
        try tx.tree(name).scanTyped { key, _ in
          keys.append(key)
          return true
        }
        for key in keys { try index.insert([], forKey: [RecordIndexes.Kind.search.rawValue] + key) }
        #expect(try tx.transaction.dropAnyTree(named: name))
        #expect(try index.removeValue(forKey: SearchRuns.directoryKey(run)))
      }
    }
    #expect(
      try store.read { snapshot throws(VaultError) in
        try snapshot.source.searchRuns(.clients)
      }.isEmpty)
    #expect(try store.indexProblems() == [])
    #expect(try store.all(.clients, search: "lindq").compactMap(\.id) == [id])
    try store.write(actor: owner) { tx throws(VaultError) in
      var record = try tx.get(.clients, id, scope: .organization)!
      record["displayName"] = .string("Maya Berg")
      try tx.update(record, scope: .organization)
    }
    #expect(try store.indexProblems() == [])
    #expect(try store.all(.clients, search: "lindq").isEmpty)
    #expect(try store.all(.clients, search: "berg").compactMap(\.id) == [id])

    // A stray entry in a run, then the same entry stored twice.
    let stray = [UInt8](repeating: 7, count: 32)
    let run = try store.read { snapshot throws(VaultError) in
      try snapshot.source.searchRuns(.clients).last!
    }
    try store.sealed.write { tx throws(VaultError) in
      try tx.tree(SearchRuns.treeName(.clients, run: run)).insert([], forKey: stray)
    }
    #expect(try store.indexProblems() == ["clients: 1 index entries match no record"])
    try store.sealed.write { tx throws(VaultError) in
      try tx.tree(RecordIndexes.treeName(.clients)).insert(
        [], forKey: [RecordIndexes.Kind.search.rawValue] + stray)
    }
    #expect(
      try store.indexProblems() == [
        "clients: 1 search entries stored twice", "clients: 1 index entries match no record",
      ])
    try store.sealed.write { tx throws(VaultError) in
      #expect(try tx.tree(SearchRuns.treeName(.clients, run: run)).removeValue(forKey: stray))
      #expect(
        try tx.tree(RecordIndexes.treeName(.clients)).removeValue(
          forKey: [RecordIndexes.Kind.search.rawValue] + stray))
    }
    #expect(try store.indexProblems() == [])

    // A real entry stored twice is removed twice: a rename leaves no copy behind.
    try store.sealed.write { tx throws(VaultError) in
      var first: [UInt8]?
      try tx.tree(SearchRuns.treeName(.clients, run: run)).scanTyped { key, _ in
        first = key
        return false
      }
      try tx.tree(RecordIndexes.treeName(.clients)).insert(
        [], forKey: [RecordIndexes.Kind.search.rawValue] + first!)
    }
    #expect(try store.indexProblems() == ["clients: 1 search entries stored twice"])
    try store.write(actor: owner) { tx throws(VaultError) in
      var record = try tx.get(.clients, id, scope: .organization)!
      record["displayName"] = .string("Maya Novak")
      try tx.update(record, scope: .organization)
    }
    #expect(try store.indexProblems() == [])
    #expect(try store.all(.clients, search: "berg").isEmpty)

    // A run tree the directory does not list is reported.
    try store.sealed.write { tx throws(VaultError) in
      try tx.tree(SearchRuns.treeName(.clients, run: 0xFF)).insert([], forKey: stray)
    }
    #expect(try store.indexProblems() == ["clients: 1 search runs are not listed"])
  }
}
