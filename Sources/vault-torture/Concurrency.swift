// The concurrency soak: `vault-torture --concurrency SECONDS [--seed S]`.
//
// One writer, three reader threads and a backup thread share a vault for SECONDS
// (build with `--sanitize=thread` to run it under the thread sanitizer):
// - the writer commits bookings: an invoice of one to four line items and as many
//   payments splitting its total, in one commit; now and then it renames a client;
// - each reader, in one snapshot at a time, requires every invoice's payments to sum
//   to its total, no payment without its invoice, and never fewer invoices than it saw
//   before;
// - the backup thread pins the newest commit without the key, verifies it, writes a
//   full backup and an incremental one on top of the previous full backup, restores
//   the chain, and requires the same of the restored vault, which must also check
//   clean.
// It prints what each did, and exits 1 at the first broken invariant.
import Dispatch
import Foundation
import Glibc
@_spi(Engine) import StudioVault
import Synchronization
import VaultCore
import VaultReader
@_spi(Engine) import VaultStorage

/// What the readers require of one snapshot: every invoice paid exactly, nothing
/// dangling. Returns the number of invoices.
func checkLedger(_ store: RecordStore) throws(VaultError) -> Int {
  try store.read { snapshot throws(VaultError) -> Int in
    func all(_ collection: RecordCollection) throws(VaultError) -> [Record] {
      try allPages { cursor throws(VaultError) in
        try snapshot.list(collection, scope: .organization, after: cursor, limit: 500)
      }
    }
    var paid: [RecordID: Int64] = [:]
    for record in try all(.payments) {
      let payment = try Payment(record)
      paid[payment.invoice, default: 0] += payment.amount.minorUnits
    }
    let invoices = try all(.invoices)
    for record in invoices {
      let invoice = try Invoice(record)
      let total = invoice.lineItems.reduce(0) { $0 + $1.amount.minorUnits }
      guard let id = record.id, paid.removeValue(forKey: id) == total else {
        throw VaultError(.corrupt, "invoice \(record.id?.description ?? "?") is not paid exactly")
      }
    }
    guard paid.isEmpty else {
      throw VaultError(.corrupt, "\(paid.count) payments without their invoice")
    }
    return invoices.count
  }
}

/// What the soak's threads share.
final class Soak: Sendable {
  let stop = Atomic<Bool>(false)
  let failure = Mutex<String?>(nil)
  let snapshots = Atomic<Int>(0)
  let backups = Atomic<Int>(0)

  /// Records the first failure and stops everyone.
  func failed(_ text: String) {
    failure.withLock { if $0 == nil { $0 = text } }
    stop.store(true, ordering: .relaxed)
  }
}

func runConcurrency(seconds: Int, seed: UInt64, directory: String) -> Never {
  say("vault-torture: concurrency, \(seconds) s, seed \(seed), in \(directory)")
  let path = directory + "/torture.vault"
  let vault: Vault
  let owner: VaultHandle
  let branch: RecordID
  let readers: RecordStore
  do {
    try setUp(directory: directory)
    vault = try Vault.open(at: path, credential: .rawKey(key))
    owner = try vault.login(user: "owner", password: password).handle
    guard
      let found = try owner.write({ tx, scope throws(VaultError) in
        try tx.id(named: "Main", in: .branches)
      })
    else { fail("the branch is missing") }
    branch = found
    readers = try RecordStore.open(
      at: path, credential: .rawKey(key), options: .init(readOnly: true))
  } catch {
    fail("setting up: \(error)")
  }
  let deadline = Timestamp.now().milliseconds + Int64(seconds) * 1000
  let soak = Soak()

  let group = DispatchGroup()
  for reader in 0..<3 {
    // Threads of their own: the global queue may run only as many loops as there are
    // cores.
    group.enter()
    Thread {
      defer { group.leave() }
      var seen = 0
      while !soak.stop.load(ordering: .relaxed) {
        do {
          let count = try checkLedger(readers)
          guard count >= seen else {
            return soak.failed("reader \(reader): \(count) invoices after \(seen)")
          }
          seen = count
          soak.snapshots.add(1, ordering: .relaxed)
        } catch {
          return soak.failed("reader \(reader): \(error)")
        }
      }
    }.start()
  }
  group.enter()
  Thread {
    defer { group.leave() }
    var round = 0
    while !soak.stop.load(ordering: .relaxed) {
      round += 1
      let full = directory + "/full.vault"
      let increment = directory + "/increment.svinc"
      let restored = directory + "/restored.vault"
      do {
        let reader = try VaultReader(path: path)
        let commit = try reader.newestCommit()
        let problems = try commit.verify()
        guard problems.isEmpty else { return soak.failed("backup \(round): \(problems.prefix(3))") }
        if round == 1 || round % 4 == 0 {
          unlink(full)
          _ = try commit.backUp(to: full)
          commit.close()
          continue
        }
        commit.close()
        for file in [increment, restored, restored + "-lock"] { unlink(file) }
        _ = try reader.newestCommit().backUp(to: increment, since: full)
        try VaultReader.restore(full: full, increments: [increment], to: restored)
        let report = Checker.check(path: restored, credential: .rawKey(key))
        guard report.ok else { return soak.failed("backup \(round): \(report.problems.prefix(3))") }
        let copy = try RecordStore.open(
          at: restored, credential: .rawKey(key), options: .init(readOnly: true))
        _ = try checkLedger(copy)
        soak.backups.add(1, ordering: .relaxed)
      } catch {
        return soak.failed("backup \(round): \(error)")
      }
    }
  }.start()

  // The writer, on this thread.
  var random = Generator(state: seed | 1)
  var commits = 0
  guard let usd = try? Currency("USD") else { fail("no USD") }
  var clients: [RecordID] = []
  while !soak.stop.load(ordering: .relaxed) && Timestamp.now().milliseconds < deadline {
    do {
      if commits % 5 == 4, !clients.isEmpty {
        let id = clients[random.below(clients.count)]
        try owner.write { tx, scope throws(VaultError) in
          guard let record = try tx.get(.clients, id, scope: scope) else { return }
          var client = try Client(record)
          client.displayName = "Client \(random.next() % 100_000)"
          _ = try tx.update(client, scope: scope)
        }
      } else {
        let items = (0..<1 + random.below(4)).map { index in
          Invoice.LineItem(
            description: "Item \(index)",
            amount: Money(minorUnits: Int64(1_000 + random.below(200_000)), currency: usd))
        }
        let client = try owner.write { tx, scope throws(VaultError) -> RecordID in
          let client = try tx.insert(Client(displayName: "Booker", branch: branch), scope: scope)
          let project = try tx.insert(
            Project(title: "Booking", client: client.meta.id!, branch: branch), scope: scope)
          let invoice = try tx.insert(
            Invoice(project: project.meta.id!, lineItems: items), scope: scope)
          for item in items {
            _ = try tx.insert(Payment(invoice: invoice.meta.id!, amount: item.amount), scope: scope)
          }
          return client.meta.id!
        }
        clients.append(client)
      }
      commits += 1
    } catch {
      soak.failed("writer: \(error)")
    }
  }
  soak.stop.store(true, ordering: .relaxed)
  group.wait()
  if let text = soak.failure.withLock({ $0 }) { fail("concurrency (seed \(seed)): \(text)") }
  let report = Checker.check(path: path, credential: .rawKey(key))
  guard report.ok else { fail("concurrency: check: \(report.problems.prefix(3))") }
  say(
    "vault-torture: concurrency: \(commits) commits, "
      + "\(soak.snapshots.load(ordering: .relaxed)) reader snapshots checked, "
      + "\(soak.backups.load(ordering: .relaxed)) backup chains restored and checked; "
      + "every invariant held")
  exit(0)
}
