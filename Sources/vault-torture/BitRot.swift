// The bit-rot campaign: `vault-torture --bit-rot ROUNDS [--seed S]`.
//
// A studio vault is populated once (records, refunds, uploads, the audit log). Each
// round copies it and flips one random bit in each of one to three random pages in
// use (headers, meta pages, tree pages, blob extents), then requires:
// - `check` names every damaged page (or, when the damage leaves no commit intact,
//   refuses the vault whole);
// - every record reads back as it was or fails with a typed error, never wrong;
// - `recover` (with the key) writes a vault that checks clean, holds only records as
//   they were, and reports a loss whenever a record did not make it.
// It prints the figures: flips made and detected, records readable and not, records
// salvaged and lost.
import Glibc
@_spi(Engine) import StudioVault
import VaultCore
import VaultFormat
@_spi(Engine) import VaultStorage

struct BitRotFigures {
  var flips = 0
  var detected = 0
  var named = 0
  var checkRefused = 0
  var readable = 0
  var unreadable = 0
  var openRefused = 0
  var salvaged = 0
  var lost = 0
  var recoveries = 0
  var recoveryRefused = 0
}

func runBitRot(rounds: Int, seed: UInt64, directory: String) -> Never {
  say("vault-torture: bit rot, \(rounds) rounds, seed \(seed), in \(directory)")
  var random = Generator(state: seed | 1)
  let pristine = directory + "/pristine.vault"
  let records: [(RecordCollection, RecordID, Record)]
  let pagesInUse: [UInt64]
  let extentStarts: [UInt64: UInt64]
  let pageSize: Int
  do {
    try setUp(directory: directory, name: "pristine.vault")
    let vault = try Vault.open(at: pristine, credential: .rawKey(key))
    try work(vault, random: &random, operations: 150) { _ in }
    (records, pagesInUse, extentStarts, pageSize) = try survey(pristine)
  } catch {
    fail("populating the vault: \(error)")
  }
  let image = readFile(pristine)
  say(
    "vault-torture: \(records.count) records, \(pagesInUse.count) pages in use, "
      + "\(image.count / 1024) KiB")
  var figures = BitRotFigures()
  for round in 1...max(1, rounds) {
    let context = "round \(round) (seed \(seed))"
    var damaged = image
    var pages = Set<UInt64>()
    let count = 1 + random.below(3)
    while pages.count < count {
      pages.insert(pagesInUse[random.below(pagesInUse.count)])
    }
    for page in pages {
      let bit = random.below(pageSize * 8)
      damaged[Int(page) * pageSize + bit / 8] ^= UInt8(1 << (bit % 8))
    }
    let path = directory + "/rotten.vault"
    let recovered = directory + "/recovered.vault"
    for file in [path, path + "-lock", recovered, recovered + "-lock"] { unlink(file) }
    writeFile(path, damaged)
    figures.flips += pages.count

    let report = Checker.check(path: path, credential: .rawKey(key))
    // A damaged blob extent is named by its first page: it is damaged as a whole.
    let named = pages.filter { page in
      report.problems.contains { problem in
        problem.page == page || (extentStarts[page].map { problem.page == $0 } ?? false)
      }
    }
    // With both commits' paths damaged (the newest meta page and a page of the state
    // before), no state opens: the vault is refused whole, every flip with it.
    let refusedWhole = report.problems.contains { ["open", "notAVault"].contains($0.kind) }
    if refusedWhole { figures.checkRefused += 1 }
    figures.detected += refusedWhole ? pages.count : named.count
    figures.named += named.count
    guard named.count == pages.count || refusedWhole else {
      fail("\(context): check missed the damage to pages \(pages.subtracting(named).sorted())")
    }

    // Every record as it was, or a typed error: never a wrong one, never silently gone.
    do {
      let store = try RecordStore.open(
        at: path, credential: .rawKey(key), options: .init(readOnly: true))
      for (collection, id, record) in records {
        do {
          let found = try store.read { snapshot throws(VaultError) in
            try snapshot.get(collection, id, scope: .organization)
          }
          guard found == record else {
            fail("\(context): \(collection) \(id) read back \(found == nil ? "missing" : "wrong")")
          }
          figures.readable += 1
        } catch {
          figures.unreadable += 1
        }
      }
    } catch {
      // Refused whole (both header copies, or the newest meta page): typed, and `check`
      // named it above.
      figures.openRefused += 1
      figures.unreadable += records.count
    }

    // Recovery: only records as they were, and a loss reported whenever one is missing.
    do {
      var options = VaultStore.Options(readOnly: true)
      options.salvaging = true
      let source = try VaultStore.open(at: path, credential: .rawKey(key), options: options)
      let salvage = try Salvage.recover(source, credential: .rawKey(key), to: recovered)
      figures.recoveries += 1
      let recheck = Checker.check(path: recovered, credential: .rawKey(key))
      guard recheck.ok else {
        fail("\(context): the recovered vault: \(recheck.problems.prefix(3))")
      }
      let store = try RecordStore.open(
        at: recovered, credential: .rawKey(key), options: .init(readOnly: true))
      var lost = 0
      for (collection, id, record) in records {
        let found = try? store.read { snapshot throws(VaultError) in
          try snapshot.get(collection, id, scope: .organization)
        }
        if found == record {
          figures.salvaged += 1
        } else if found == nil {
          lost += 1
        } else {
          fail("\(context): the recovered vault holds \(collection) \(id) wrong")
        }
      }
      figures.lost += lost
      if lost > 0 && !salvage.lostAnything {
        fail("\(context): \(lost) records did not survive recovery, and it reported no loss")
      }
    } catch {
      figures.recoveryRefused += 1
      figures.lost += records.count
    }
    if round % 25 == 0 || round == rounds { say("vault-torture: bit rot, \(round) rounds") }
  }
  say(
    "vault-torture: bit rot: \(figures.detected) of \(figures.flips) flips detected by check "
      + "(\(figures.named) named by page; \(figures.checkRefused) rounds where no commit was "
      + "intact and the vault was refused whole); "
      + "record reads: \(figures.readable) as written, \(figures.unreadable) refused "
      + "(typed error), none wrong; \(figures.openRefused) vaults refused whole; "
      + "recover ran \(figures.recoveries) times (refused \(figures.recoveryRefused)): "
      + "\(figures.salvaged) records salvaged, "
      + "\(figures.lost) lost, every loss reported")
  exit(0)
}

/// Every record of the vault at `path`, the pages its newest commit uses (headers and
/// meta pages included), and the first page of the extent each extent page is in.
func survey(_ path: String) throws(VaultError) -> (
  records: [(RecordCollection, RecordID, Record)], pages: [UInt64],
  extentStarts: [UInt64: UInt64], pageSize: Int
) {
  let store = try RecordStore.open(
    at: path, credential: .rawKey(key), options: .init(readOnly: true))
  var records: [(RecordCollection, RecordID, Record)] = []
  for collection in RecordCollection.allCases {
    let all = try allPages { cursor throws(VaultError) in
      try store.read { snapshot throws(VaultError) in
        try snapshot.list(collection, scope: .organization, after: cursor, limit: 500)
      }
    }
    for record in all {
      if let id = record.id { records.append((collection, id, record)) }
    }
  }
  let vault = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
  let snapshot = try vault.makeSnapshot()
  defer { snapshot.close() }
  let inspection = Inspection(snapshot: snapshot)
  let metas = FileFormat.metaPages.map(\.rawValue)
  return (
    records, [0, 1] + metas + inspection.reachable.keys.sorted(),
    inspection.reachable.compactMapValues(\.extentStart), vault.pageSize
  )
}

func readFile(_ path: String) -> [UInt8] {
  guard let file = try? PosixFile(openingExisting: path, readOnly: true),
    let size = try? file.size(), let bytes = try? file.read(at: 0, count: Int(size))
  else { fail("cannot read \(path)") }
  return bytes
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
  unlink(path)
  do throws(VaultError) {
    try PosixFile(creatingNew: path).write([bytes], at: 0)
  } catch {
    fail("cannot write \(path): \(error)")
  }
}
