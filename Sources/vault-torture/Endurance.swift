// The endurance run: `vault-torture --endurance OPERATIONS [--seed S]`.
//
// A studio of 2,000 clients and 1,000 projects, then OPERATIONS mixed operations in
// transactions of ten: client renames (with re-indexing for search), project
// reschedules, reads by id, searches and list pages. The record count is steady, so
// copy-on-write must reuse the pages it frees: after the first fifth of the run, the
// file may not grow by more than 5 % and the resident memory by more than 32 MiB.
// Prints the file size and resident memory every tenth of the run; exits 1 when
// either is not flat.
import Glibc
@_spi(Engine) import StudioVault
import VaultCore
@_spi(Engine) import VaultStorage

/// Resident memory of this process, in bytes (the second field of /proc/self/statm,
/// in pages).
func residentBytes() -> UInt64 {
  guard let file = fopen("/proc/self/statm", "r") else { return 0 }
  defer { fclose(file) }
  var line = [CChar](repeating: 0, count: 256)
  guard fgets(&line, Int32(line.count), file) != nil else { return 0 }
  let fields = String(cString: line).split(separator: " ")
  guard fields.count >= 2, let pages = UInt64(fields[1]) else { return 0 }
  return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
}

func fileSize(_ path: String) -> UInt64 {
  var info = stat()
  return stat(path, &info) == 0 ? UInt64(info.st_size) : 0
}

func runEndurance(operations: Int, seed: UInt64, directory: String) -> Never {
  say("vault-torture: endurance, \(operations) operations, seed \(seed), in \(directory)")
  let path = directory + "/torture.vault"
  var random = Generator(state: seed | 1)
  let names = ["Ana", "Björn", "Chloé", "Dana", "Émile", "Farah", "Gus", "Hana", "Ivo", "Jun"]
  let store: RecordStore
  let owner: RecordID
  var clients: [RecordID] = []
  var projects: [RecordID] = []
  do {
    try setUp(directory: directory)
    store = try RecordStore.open(at: path, credential: .rawKey(key))
    owner = try store.authenticate(user: "owner", password: password).user
    let branch = try store.read { snapshot throws(VaultError) in
      try snapshot.id(named: "Main", in: .branches)
    }
    guard let branch else { fail("the branch is missing") }
    for _ in 0..<20 {
      try store.write(actor: owner) { tx throws(VaultError) in
        for _ in 0..<100 {
          var client = Record(.clients, branch: branch)
          client["displayName"] = .string(
            "\(names[random.below(names.count)]) \(random.next() % 100_000)")
          client["emails"] = .list([.string("c\(random.next() % 100_000)@example.com")])
          let id = try tx.insert(client, scope: .organization).id!
          clients.append(id)
          if clients.count % 2 == 0 {
            var project = Record(.projects, branch: branch)
            project["title"] = .string("Session \(random.next() % 1000)")
            project["client"] = .bytes(id.bytes)
            projects.append(try tx.insert(project, scope: .organization).id!)
          }
        }
      }
    }
  } catch {
    fail("setting up: \(error)")
  }

  var samples: [(operations: Int, file: UInt64, resident: UInt64)] = []
  var done = 0
  let step = max(10, operations / 10)
  while done < operations {
    do {
      try store.write(actor: owner) { tx throws(VaultError) in
        for _ in 0..<10 {
          switch random.below(10) {
          case 0..<4:  // a rename: a new version, its search tokens re-indexed
            guard
              var client = try tx.get(
                .clients, clients[random.below(clients.count)],
                scope: .organization)
            else { throw VaultError(.internal, "a client vanished") }
            client["displayName"] = .string(
              "\(names[random.below(names.count)]) \(random.next() % 100_000)")
            _ = try tx.update(client, scope: .organization)
          case 4..<6:  // a reschedule
            guard
              var project = try tx.get(
                .projects, projects[random.below(projects.count)],
                scope: .organization)
            else { throw VaultError(.internal, "a project vanished") }
            project["title"] = .string("Session \(random.next() % 1000)")
            _ = try tx.update(project, scope: .organization)
          case 6..<8:  // a read by id
            guard
              try tx.get(.clients, clients[random.below(clients.count)], scope: .organization)
                != nil
            else { throw VaultError(.internal, "a client vanished") }
          default:  // a search, or a page of a list
            if random.below(2) == 0 {
              _ = try store.read { snapshot throws(VaultError) in
                try snapshot.search(
                  .clients, names[random.below(names.count)], scope: .organization, limit: 20)
              }
            } else {
              _ = try store.read { snapshot throws(VaultError) in
                try snapshot.list(.projects, scope: .organization, limit: 50)
              }
            }
          }
        }
      }
    } catch {
      fail("endurance (seed \(seed)), after \(done) operations: \(error)")
    }
    done += 10
    if done % step == 0 || done >= operations {
      samples.append((done, fileSize(path), residentBytes()))
      say(
        "vault-torture: endurance: \(done) operations, file \(fileSize(path) / 1024) KiB, "
          + "resident \(residentBytes() >> 20) MiB")
    }
  }
  let report = Checker.check(path: path, credential: .rawKey(key))
  guard report.ok else { fail("endurance: check: \(report.problems.prefix(3))") }
  // Flat after the first fifth of the run (the cache and the free list settle there).
  let settled = samples.filter { $0.operations >= operations / 5 }
  guard let base = settled.first, let last = settled.last else { fail("too short a run") }
  let largestFile = settled.map(\.file).max() ?? 0
  let largestResident = settled.map(\.resident).max() ?? 0
  say(
    "vault-torture: endurance: from \(base.operations) to \(last.operations) operations the "
      + "file went from \(base.file / 1024) to at most \(largestFile / 1024) KiB, resident "
      + "memory from \(base.resident >> 20) to at most \(largestResident >> 20) MiB")
  guard largestFile <= base.file + base.file / 20 else { fail("endurance: the file keeps growing") }
  guard largestResident <= base.resident + (32 << 20) else {
    fail("endurance: resident memory keeps growing")
  }
  exit(0)
}
