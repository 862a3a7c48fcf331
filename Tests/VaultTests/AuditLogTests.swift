import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// A studio vault whose audit log holds `extra` more entries, each in its own commit (so
/// every size has a signed checkpoint); the store is closed on return.
private func auditedVault(_ dir: TemporaryDirectory, extra: Int = 12) throws -> String {
  let (store, owner, downtown, _) = try studioStore(dir)
  for index in 0..<extra {
    try store.sealed.write { tx throws(VaultError) in
      try tx.audit(
        AuditDraft(
          .settingsChanged, actor: .user(id: owner.bytes, role: .owner), branch: downtown,
          targets: [owner], detail: (.branch(downtown), ["step": .int(Int64(index))])))
    }
  }
  return dir.file("r.vault")
}

/// Opens `path` without its key, as a backup tool does, and verifies its log.
private func verifyKeyless(_ path: String, against saved: String? = nil) throws
  -> AuditVerification
{
  let store = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
  return try AuditVerification.verify(store, against: saved)
}

/// Changes the log the way someone holding the file but not the key can: anything in
/// the clear trees, with every checksum recomputed (here, by the engine's own writer).
private func tamper(
  _ path: String, _ body: (_ entries: WriteTree, _ checkpoints: WriteTree) throws -> Void
) throws {
  let store = try VaultStore.open(at: path, credential: testCredential)
  try store.write { tx in
    guard let entries = try tx.anyTree(named: "$audit"),
      let checkpoints = try tx.anyTree(named: "$audit:checkpoints")
    else { throw VaultError(.internal, "no audit log") }
    try body(entries, checkpoints)
  }
}

private func entryValues(_ tree: WriteTree) throws -> [(key: [UInt8], value: [UInt8])] {
  var all = [(key: [UInt8], value: [UInt8])]()
  try tree.scan { key, value in
    all.append((key, value))
    return true
  }
  return all
}

@Suite struct AuditLogTests {
  /// Operations leave entries, each proven in the newest checkpoint; a keyless reader
  /// recomputes the same tree and finds every signature good.
  @Test func entriesAreProvenAndVerifyWithoutTheKey() throws {
    let dir = TemporaryDirectory()
    let (store, owner, downtown, _) = try studioStore(dir)
    let principal = try store.authenticate(
      user: "owner", password: SecretBytes(utf8: ownerPassword))
    let listing = try store.readAudit(
      scope: principal.auditScope, actor: principal.auditActor)
    let actions = listing.entries.map(\.event.action)
    #expect(
      actions == [
        .vaultCreated, .userCreated, .loginSucceeded, .branchCreated, .branchCreated,
        .loginSucceeded, .auditRead,
      ])
    #expect(listing.checkpoint.size == UInt64(listing.entries.count))
    for record in listing.entries {
      #expect(record.isIncluded(in: listing.checkpoint), "entry \(record.sequence)")
      var forged = record.stored
      forged[forged.count - 1] ^= 1
      #expect(
        !MerkleTree.verifyInclusion(
          leaf: MerkleTree.leafHash(forged), index: record.sequence, size: listing.checkpoint.size,
          proof: record.proof, root: listing.checkpoint.root))
    }
    #expect(listing.entries[0].detail == #"{"currency":"USD"}"#)
    #expect(listing.entries[2].event.actor == .user(id: owner.bytes, role: .owner))
    #expect(listing.entries[3].event.branch == nil)
    _ = downtown
    let path = dir.file("r.vault")
    let report = try verifyKeyless(path, against: listing.checkpointNote)
    #expect(report.ok, "\(report.problems)")
    #expect(report.entries == 7 && report.treeSize == 7 && report.checkpoints == 5)
    #expect(report.rootHash == listing.checkpoint.root)
    #expect(try AuditVerification.newestCheckpoint(store.sealed.store) == listing.checkpointNote)
  }

  /// Owners see all, branch managers their branch, staff their own security events,
  /// vendors nothing (and the refusal is logged).
  @Test func readersSeeOnlyTheirPart() throws {
    let dir = TemporaryDirectory()
    let (store, owner, downtown, _) = try studioStore(dir)
    let password = "a password long enough for staff"
    var users = [String: RecordID]()
    try store.write(actor: owner) { tx throws(VaultError) in
      for (name, role, branch) in [
        ("manager", "branchManager", downtown), ("clerk", "staff", downtown),
        ("lens", "vendor", nil),
      ] {
        var user = Record(.users, branch: branch)
        user["name"] = .string(name)
        user["role"] = .string(role)
        user["passwordHash"] = .string(
          try PasswordHash.hash(SecretBytes(utf8: password), parameters: cheapKeyDerivation))
        user["status"] = .string("active")
        users[name] = try tx.insertTrusted(user, scope: .organization).id
      }
    }
    let manager = try store.authenticate(user: "manager", password: SecretBytes(utf8: password))
    let clerk = try store.authenticate(user: "clerk", password: SecretBytes(utf8: password))
    #expect(throws: VaultError.self) {
      _ = try store.authenticate(user: "clerk", password: SecretBytes(utf8: "wrong password here!"))
    }
    let vendor = try store.authenticate(user: "lens", password: SecretBytes(utf8: password))

    let managerView = try store.readAudit(
      scope: manager.auditScope, actor: manager.auditActor, branch: manager.branch)
    #expect(!managerView.entries.isEmpty)
    #expect(managerView.entries.allSatisfy { $0.event.branch == downtown.bytes })
    #expect(managerView.entries.contains { $0.event.action == .loginSucceeded })

    let clerkView = try store.readAudit(scope: clerk.auditScope, actor: clerk.auditActor)
    #expect(clerkView.entries.map(\.event.action) == [.loginSucceeded, .loginFailed])
    #expect(clerkView.entries.allSatisfy { $0.event.targets.contains(clerk.user.bytes) })

    #expect(throws: VaultError.self) {
      _ = try store.readAudit(scope: vendor.auditScope, actor: vendor.auditActor)
    }
    let all = try store.readAudit(scope: .all, actor: .user(id: owner.bytes, role: .owner))
    #expect(all.entries.filter { $0.event.action == .auditRead }.count == 3)
    #expect(
      all.entries.contains {
        $0.event.action == .accessDenied && $0.event.outcome == .denied
          && $0.event.actor == .user(id: users["lens"]!.bytes, role: .vendor)
      })
    #expect(all.entries.contains { $0.event.action == .loginFailed && $0.event.outcome == .failed })
  }

  /// An operation and its entry commit together: a transaction that fails after its
  /// entry was staged leaves neither.
  @Test func aFailedOperationLeavesNoEntry() throws {
    let dir = TemporaryDirectory()
    let path = try auditedVault(dir, extra: 2)
    let store = try RecordStore.open(at: path, credential: testCredential)
    let before = try AuditVerification.verify(store.sealed.store)
    #expect(throws: VaultError.self) {
      try store.sealed.write { tx throws(VaultError) in
        try tx.audit(AuditDraft(.keyRotated, actor: .system))
        var branch = Record(.branches)
        branch["name"] = .string("Uptown")
        _ = try RecordTransaction(store: store, sealed: tx, actor: nil).insert(
          branch, scope: .organization)
        throw VaultError(.invalidArgument, "rolled back on purpose")
      }
    }
    let after = try AuditVerification.verify(store.sealed.store)
    #expect(after.ok && after.entries == before.entries && after.rootHash == before.rootHash)
    #expect(
      try store.read { snapshot throws(VaultError) in
        try snapshot.id(named: "Uptown", in: .branches)
      } == nil)
  }

  /// Details about a client are sealed under the client's key: erasing the client
  /// makes them unreadable, and the log still verifies.
  @Test func erasingAClientErasesTheirAuditDetails() throws {
    let dir = TemporaryDirectory()
    let (store, owner, _, _) = try studioStore(dir)
    let booked = try bookedProject(store, owner: owner)
    try store.write(actor: owner) { tx throws(VaultError) in
      _ = try tx.deleteProject(booked.project, scope: .organization)
    }
    func completion() throws -> AuditRecord? {
      try store.readAudit(scope: .all, actor: .system).entries.first {
        $0.event.action == .projectDeleted
      }
    }
    let before = try #require(try completion())
    #expect(before.event.detail?.subject == .client)
    #expect(before.detail?.contains("mediaRemoved") == true && !before.detailErased)
    _ = try store.eraseClient(booked.client, scope: .organization, actor: owner)
    let after = try #require(try completion())
    #expect(after.detail == nil && after.detailErased)
    #expect(after.stored == before.stored)
    let report = try verifyKeyless(dir.file("r.vault"))
    #expect(report.ok, "\(report.problems)")
  }

  /// Tampering of every kind is detected, and the first bad entry is named.
  @Test func tamperingIsDetectedAndLocated() throws {
    func fresh() throws -> (TemporaryDirectory, String, Int) {
      let dir = TemporaryDirectory()
      let path = try auditedVault(dir)
      let report = try verifyKeyless(path)
      #expect(report.ok, "\(report.problems)")
      return (dir, path, Int(report.entries))
    }
    // A byte of an entry changed (checksums recomputed, as a forger can).
    do {
      let (dir, path, _) = try fresh()
      try tamper(path) { entries, _ in
        let all = try entryValues(entries)
        var value = all[8].value
        value[value.count - 3] ^= 0x40
        try entries.insert(value, forKey: all[8].key)
      }
      let report = try verifyKeyless(path)
      #expect(!report.ok && report.firstBadEntry == 8, "\(report.problems)")
      _ = dir
    }
    // A byte of the chain field.
    do {
      let (dir, path, _) = try fresh()
      try tamper(path) { entries, _ in
        let all = try entryValues(entries)
        var value = all[9].value
        value[20] ^= 0x01
        try entries.insert(value, forKey: all[9].key)
      }
      #expect(try verifyKeyless(path).firstBadEntry == 9)
      _ = dir
    }
    // An entry deleted.
    do {
      let (dir, path, _) = try fresh()
      try tamper(path) { entries, _ in
        try entries.removeValue(forKey: AuditLog.sequenceKey(6))
      }
      let report = try verifyKeyless(path)
      #expect(report.firstBadEntry == 6 && report.problems.contains { $0.kind == "missing" })
      _ = dir
    }
    // Two entries swapped.
    do {
      let (dir, path, _) = try fresh()
      try tamper(path) { entries, _ in
        let all = try entryValues(entries)
        try entries.insert(all[11].value, forKey: all[10].key)
        try entries.insert(all[10].value, forKey: all[11].key)
      }
      #expect(try verifyKeyless(path).firstBadEntry == 10)
      _ = dir
    }
    // The tail truncated.
    do {
      let (dir, path, count) = try fresh()
      try tamper(path) { entries, _ in
        for sequence in count - 3..<count {
          try entries.removeValue(forKey: AuditLog.sequenceKey(UInt64(sequence)))
        }
      }
      let report = try verifyKeyless(path)
      #expect(report.firstBadEntry == UInt64(count - 3), "\(report.problems)")
      #expect(report.problems.contains { $0.kind == "truncated" })
      _ = dir
    }
    // The tail replaced by a fork, chained and signed by someone without the vault's key.
    do {
      let (dir, path, count) = try fresh()
      let forkAt = count - 4
      try forkTail(path, at: forkAt, count: count)
      let report = try verifyKeyless(path)
      #expect(report.firstBadEntry == UInt64(forkAt), "\(report.problems)")
      #expect(report.problems.contains { $0.kind == "checkpointSignature" })
      _ = dir
    }
    // The whole file rolled back to an older copy, checked against a checkpoint saved
    // later.
    do {
      let (dir, path, count) = try fresh()
      let older = try fileBytes(path)
      do {
        let store = try RecordStore.open(at: path, credential: testCredential)
        for _ in 0..<3 {
          try store.sealed.write { tx throws(VaultError) in
            try tx.audit(AuditDraft(.keyRotated, actor: .system))
          }
        }
      }
      let saved = try #require(
        try AuditVerification.newestCheckpoint(
          VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))))
      try Data(older).write(to: URL(fileURLWithPath: path))
      try? FileManager.default.removeItem(atPath: path + "-lock")
      #expect(try verifyKeyless(path).ok)
      let report = try verifyKeyless(path, against: saved)
      #expect(report.firstBadEntry == UInt64(count), "\(report.problems)")
      #expect(report.problems.map(\.kind) == ["rollback"])
      _ = dir
    }
    // The header's public key replaced by a forger's, who re-signed every checkpoint:
    // a checkpoint saved earlier no longer verifies, and a keyed open refuses the file.
    do {
      let (dir, path, _) = try fresh()
      let saved = try #require(
        try AuditVerification.newestCheckpoint(
          VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))))
      try resignEverything(path)
      let report = try verifyKeyless(path, against: saved)
      #expect(report.problems.map(\.kind) == ["savedCheckpoint"], "\(report.problems)")
      #expect(try verifyKeyless(path).ok)
      #expect(throws: VaultError.self) {
        _ = try RecordStore.open(at: path, credential: testCredential)
      }
      _ = dir
    }
    // A full page rewritten with the very same entries: the hashes all hold, but a
    // full audit page never changes, and the page's transaction shows it did.
    do {
      let dir = TemporaryDirectory()
      let path = try auditedVault(dir, extra: 60)
      #expect(try verifyKeyless(path).ok)
      try tamper(path) { entries, _ in
        let all = try entryValues(entries)
        try entries.insert(all[2].value, forKey: all[2].key)
      }
      let report = try verifyKeyless(path)
      #expect(report.problems.map(\.kind) == ["rewritten"], "\(report.problems)")
      #expect(report.firstBadEntry == 0)
    }
    // A byte flipped on disk, checksum left as it was.
    do {
      let (dir, path, _) = try fresh()
      var image = try fileBytes(path)
      let store = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
      let (page, target) = try #require(try livePage(holding: 7, of: store))
      let start = Int(page.rawValue) * 4096
      let offset = try #require(findBytes(target, in: Array(image[start..<start + 4096]))) + start
      image[offset + target.count - 5] ^= 0x10
      try Data(image).write(to: URL(fileURLWithPath: path))
      let report = try verifyKeyless(path)
      #expect(report.firstBadEntry == 7, "\(report.problems)")
      #expect(report.problems.contains { $0.kind == "page" })
      _ = dir
    }
  }

  /// Once a leaf of the log cannot take another entry it is never written again,
  /// whether commits append one entry or many (FORMAT.md 20.7).
  @Test func fullAuditPagesAreNeverRewritten() throws {
    let dir = TemporaryDirectory()
    let store = try RecordStore.open(
      at: try auditedVault(dir, extra: 0), credential: testCredential)
    func leaves() throws -> [[UInt64]] {
      let snapshot = try store.sealed.store.makeSnapshot()
      defer { snapshot.close() }
      var found = [[UInt64]]()
      _ = try snapshot.walkClearTree(
        .auditLog,
        leaf: { leaf in
          found.append([leaf.page.rawValue, leaf.transaction.rawValue, UInt64(leaf.cells.count)])
          return true
        }, problem: { _, _, _ in false })
      return found
    }
    var previous = try leaves()
    for commit in 0..<160 {
      try store.sealed.write { tx throws(VaultError) in
        for _ in 0..<(commit % 9 == 0 ? 37 : 1) {
          try tx.audit(AuditDraft(.keyRotated, actor: .system))
        }
      }
      let current = try leaves()
      for full in previous.dropLast() {
        #expect(current.contains(full), "commit \(commit): leaf \(full) was rewritten")
      }
      previous = current
    }
    #expect(previous.count > 10)
    // Full leaves stay full: no leaf but the last holds fewer than a few entries.
    #expect(previous.dropLast().allSatisfy { $0[2] >= 8 }, "\(previous.map { $0[2] })")
    #expect(try AuditVerification.verify(store.sealed.store).ok)
  }

  /// One encoding per event: the decoder refuses the look-alikes an encoder never
  /// writes, and the encoder refuses events it could not write back.
  @Test func eventsHaveOneEncoding() throws {
    let user = [UInt8](repeating: 0xAB, count: 16)
    let branch = [UInt8](repeating: 0xCD, count: 16)
    let key = SymmetricKey.random()
    let detail = try AuditEvent.SealedDetail.seal(
      Array(#"{"n":1}"#.utf8), subject: .branch, subjectID: branch, key: key,
      vaultID: [UInt8](repeating: 1, count: 16), sequence: 4)
    let event = AuditEvent(
      time: 1_700_000_000_000, actor: .user(id: user, role: .staff), branch: branch,
      action: .paymentRecorded, targets: [user], detail: detail)
    let bytes = event.encode()
    #expect(try AuditEvent(decoding: bytes) == event)
    // Actor id zeroed: a user with the system's id.
    var zeroActor = bytes
    zeroActor.replaceSubrange(9..<25, with: [UInt8](repeating: 0, count: 16))
    #expect(throws: VaultError.self) { _ = try AuditEvent(decoding: zeroActor) }
    // Detail subject id zeroed: a branch with the organization's id.
    var zeroSubject = bytes
    let subjectAt = bytes.count - 2 - detail.sealed.count - 16
    zeroSubject.replaceSubrange(subjectAt..<subjectAt + 16, with: [UInt8](repeating: 0, count: 16))
    #expect(throws: VaultError.self) { _ = try AuditEvent(decoding: zeroSubject) }
    // Trailing bytes, an unknown action.
    #expect(throws: VaultError.self) { _ = try AuditEvent(decoding: bytes + [0]) }
    var unknownAction = bytes
    unknownAction[42] = 0xFF
    #expect(throws: VaultError.self) { _ = try AuditEvent(decoding: unknownAction) }
    // The encoder refuses an all-zero branch, which would decode as no branch.
    var zeroBranch = event
    zeroBranch.branch = [UInt8](repeating: 0, count: 16)
    #expect(throws: VaultError.self) { try zeroBranch.validate() }
    // The detail opens only for its own entry and subject key.
    #expect(
      try detail.open(key: key, vaultID: [UInt8](repeating: 1, count: 16), sequence: 4)
        == Array(#"{"n":1}"#.utf8))
    #expect(throws: VaultError.self) {
      _ = try detail.open(key: key, vaultID: [UInt8](repeating: 1, count: 16), sequence: 5)
    }
  }

  /// A passphrase change is logged right after the header rewrite; one whose entry a
  /// crash prevented is logged at the next open, and none is logged twice.
  @Test func passphraseChangesAreLoggedEvenAcrossACrash() throws {
    let dir = TemporaryDirectory()
    let path = try auditedVault(dir, extra: 0)
    func changes(_ store: RecordStore) throws -> [AuditRecord] {
      try store.readAudit(scope: .all, actor: .system).entries.filter {
        $0.event.action == .passphraseChanged
      }
    }
    let second: VaultCredential = .rawKey(SymmetricKey.random())
    let third: VaultCredential = .rawKey(SymmetricKey.random())
    do {
      let store = try RecordStore.open(at: path, credential: testCredential)
      try store.sealed.changeCredential(
        to: second, keyDerivation: cheapKeyDerivation, actor: .system)
      #expect(try changes(store).count == 1)
      // The header rewritten with no entry after it, as a crash would leave it.
      try store.sealed.store.changeCredential(to: third, keyDerivation: cheapKeyDerivation)
    }
    let reopened = try RecordStore.open(at: path, credential: third)
    let logged = try changes(reopened)
    #expect(logged.count == 2)
    #expect(logged.last?.detail?.contains("\"recordedAtOpen\":true") == true)
    let again = try RecordStore.open(at: path, credential: third)
    #expect(try changes(again).count == 2)
  }

  /// A clock that went back is on the record, before the first entry that shows it;
  /// entries keep the clock's time as it was.
  @Test func aClockGoingBackIsRecorded() throws {
    let dir = TemporaryDirectory()
    let store = try RecordStore.open(
      at: try auditedVault(dir, extra: 1), credential: testCredential)
    let lastTime = try #require(
      try store.readAudit(scope: .all, actor: .system).entries.last?.event.time)
    try store.sealed.write { tx throws(VaultError) in
      try tx.audit(AuditDraft(.keyRotated, actor: .system), at: lastTime - 60_000)
      try tx.audit(AuditDraft(.keyRotated, actor: .system), at: lastTime - 59_000)
    }
    let entries = try store.readAudit(scope: .all, actor: .system).entries
    let actions = entries.suffix(4).map(\.event.action)
    #expect(actions == [.clockRollback, .keyRotated, .keyRotated, .auditRead])
    let rollback = try #require(entries.first { $0.event.action == .clockRollback })
    #expect(rollback.event.time == lastTime - 60_000)
    #expect(rollback.detail?.contains("\"previousTime\":\(lastTime)") == true)
    #expect(try AuditVerification.verify(store.sealed.store).ok)
  }

  /// Proofs the log builds from its stored subtree hashes are the RFC 9162 proofs of
  /// the tree over every entry.
  @Test func storedSubtreesGiveTheReferenceProofs() throws {
    let dir = TemporaryDirectory()
    let path = try auditedVault(dir, extra: 3)
    let store = try RecordStore.open(at: path, credential: testCredential)
    for batch in [100, 37, 1, 64, 300] {
      try store.sealed.write { tx throws(VaultError) in
        for _ in 0..<batch { try tx.audit(AuditDraft(.keyRotated, actor: .system)) }
      }
    }
    try store.sealed.read { snapshot throws(VaultError) in
      let reader = try AuditReader(snapshot: snapshot)
      var leaves = [[UInt8]]()
      try reader.entries.scanTyped { _, value in
        leaves.append(MerkleTree.leafHash(value))
        return true
      }
      let size = UInt64(leaves.count)
      #expect(size > 200)
      let (_, checkpoint) = try reader.newestCheckpoint()
      #expect(checkpoint.size == size && checkpoint.root == MerkleTree.root(leaves[...]))
      for index in [0, 1, 15, 16, 17, 100, 127, 128, 150, Int(size) - 1] {
        #expect(
          try reader.inclusionProof(UInt64(index), size: size)
            == MerkleTree.inclusionProof(index, leaves[...]), "entry \(index)")
      }
      for old in [1, 16, 33, 115, 128, 200, Int(size)] {
        #expect(
          try reader.consistencyProof(from: UInt64(old), to: size)
            == MerkleTree.consistencyProof(old, leaves[...]), "from \(old)")
      }
    }
    // Enough entries that a machine of more than two cores hashes them on several.
    let report = try AuditVerification.verify(store.sealed.store)
    #expect(report.ok && report.entries > 500, "\(report.problems)")
  }

  /// Leaf hashes shared among threads (as on machines of more than two cores) equal
  /// those of one thread.
  @Test func leafHashesAgreeWhateverTheThreads() {
    let entries = (0..<1_000).map { index in
      ArraySlice((0..<(index % 300)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
    }
    let alone = AuditVerification.leafHashes(entries, workers: 1)
    #expect(alone == entries.map(MerkleTree.leafHash))
    for workers in [2, 3, 8] {
      #expect(AuditVerification.leafHashes(entries, workers: workers) == alone, "\(workers)")
    }
  }

  /// Power lost at every write and sync while entries are appended: the log verifies
  /// and holds exactly the entries of a committed state, plus `tornTailRecovered` when
  /// opening discarded a torn commit.
  @Test func theLogSurvivesACrashAtEveryWriteAndSync() throws {
    let dir = TemporaryDirectory()
    let path = try auditedVault(dir, extra: 0)
    let initial = try fileBytes(path)
    func run(crashAt: Int?) throws -> (SimulatedDisk, [UInt64]) {
      let disk = SimulatedDisk(image: initial)
      disk.crashAtOperation = crashAt
      var committed = [UInt64]()
      do {
        let store = try sealedStore(on: disk, lockPath: dir.file("run.vault"))
        committed.append(try AuditVerification.verify(store.store).entries)
        for batch in 0..<5 {
          try store.write { tx throws(VaultError) in
            for _ in 0...batch { try tx.audit(AuditDraft(.keyRotated, actor: .system)) }
          }
          committed.append(committed.last! + UInt64(batch + 1))
        }
      } catch let error as VaultError where disk.hasCrashed {
        _ = error
      }
      return (disk, committed)
    }
    let (clean, counts) = try run(crashAt: nil)
    #expect(counts.count == 6 && clean.operations > 10)
    var random = SeededGenerator(seed: testSeed(0xA0D1))
    var tornSeen = false
    for crashAt in 1...clean.operations {
      let (disk, _) = try run(crashAt: crashAt)
      // Several power losses per point: a commit's pages and its meta page usually go
      // out as one run, which a loss tears only sector by sector.
      let losses = (0..<8).map { _ in disk.imageAfterPowerLoss(using: &random) }
      for image in [disk.imageWithNothing] + losses {
        let target = dir.file("image.vault")
        try Data(image).write(to: URL(fileURLWithPath: target))
        defer {
          try? FileManager.default.removeItem(atPath: target)
          try? FileManager.default.removeItem(atPath: target + "-lock")
        }
        // A first opener that dies before its first commit leaves the torn slot (the
        // repair is deferred to that commit): the next opener still finds it.
        var deferring = VaultStore.Options()
        deferring.defersTornCommitRepair = true
        let tornFound = try VaultStore.open(
          at: target, credential: testCredential, options: deferring
        ).tornSlots.withLock { !$0.isEmpty }
        let store = try RecordStore.open(at: target, credential: testCredential)
        #expect(store.sealed.store.repairedTornCommit == tornFound, "crash at \(crashAt)")
        let report = try AuditVerification.verify(store.sealed.store)
        #expect(report.ok, "crash at \(crashAt): \(report.problems)")
        let last = try store.readAudit(scope: .all, actor: .system).entries.dropLast().last
        if store.sealed.store.repairedTornCommit {
          tornSeen = true
          #expect(last?.event.action == .tornTailRecovered, "crash at \(crashAt)")
          #expect(counts.contains(report.entries - 1), "crash at \(crashAt): \(report.entries)")
        } else {
          #expect(counts.contains(report.entries), "crash at \(crashAt): \(report.entries)")
        }
      }
    }
    #expect(tornSeen)
  }
}

/// The page holding entry `sequence` in the newest state, and the entry's bytes.
private func livePage(holding sequence: UInt64, of store: VaultStore) throws -> (
  PageNumber, [UInt8]
)? {
  let snapshot = try store.makeSnapshot()
  defer { snapshot.close() }
  var found: (PageNumber, [UInt8])?
  _ = try snapshot.walkClearTree(
    .auditLog,
    leaf: { leaf in
      for index in leaf.cells.indices
      where leaf.key(index).elementsEqual(AuditLog.sequenceKey(sequence)) {
        found = (leaf.page, Array(leaf.value(index)))
      }
      return found == nil
    }, problem: { _, _, _ in true })
  return found
}

private func findBytes(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
  guard needle.count <= haystack.count else { return nil }
  for start in 0...(haystack.count - needle.count)
  where haystack[start] == needle[0] && Array(haystack[start..<start + needle.count]) == needle {
    return start
  }
  return nil
}

private let forger: Ed25519.SigningKey = {
  try! Ed25519.SigningKey(seed: SecretBytes(copying: [UInt8](repeating: 7, count: 32)))
}()

/// Replaces entries from `forkAt` on with others, chained correctly, and their
/// checkpoints with ones the forger signs (a forger has no other key).
private func forkTail(_ path: String, at forkAt: Int, count: Int) throws {
  let vaultID = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    .header.vaultID
  let origin = AuditCheckpoint.origin(vaultID: vaultID)
  try tamper(path) { entries, checkpoints in
    let all = try entryValues(entries)
    var leaves = all.prefix(forkAt).map { MerkleTree.leafHash($0.value) }
    var previous = [UInt8](repeating: 0, count: 32)
    for (key, value) in try entryValues(checkpoints) {
      let size = try #require(AuditLog.sequence(fromKey: key))
      if size <= UInt64(forkAt) {
        previous = AuditCheckpoint.hash(ofNote: String(decoding: value, as: UTF8.self))
      } else {
        try checkpoints.removeValue(forKey: key)
      }
    }
    for sequence in UInt64(forkAt)..<UInt64(count) {
      let entry = AuditEntry(
        sequence: sequence, previous: leaves[leaves.count - 1],
        sealedEvent: [UInt8](repeating: 3, count: 60))
      try entries.insert(entry.encode(), forKey: AuditLog.sequenceKey(sequence))
      leaves.append(MerkleTree.leafHash(entry.encode()))
      let note = try AuditCheckpoint(
        origin: origin, size: sequence + 1, root: MerkleTree.root(leaves[...]), time: 0,
        previous: previous
      ).signed(with: forger)
      try checkpoints.insert(Array(note.utf8), forKey: AuditLog.sequenceKey(sequence + 1))
      previous = AuditCheckpoint.hash(ofNote: note)
    }
  }
}

/// Re-signs every checkpoint with the forger's key and puts the forger's public key in
/// both header copies.
private func resignEverything(_ path: String) throws {
  let vaultID = try VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
    .header.vaultID
  try tamper(path) { _, checkpoints in
    var previous = [UInt8](repeating: 0, count: 32)
    for (key, value) in try entryValues(checkpoints) {
      var checkpoint = try AuditCheckpoint.parse(
        String(String(decoding: value, as: UTF8.self).split(separator: "\n\n")[0]) + "\n")
      checkpoint.previous = previous
      #expect(checkpoint.origin == AuditCheckpoint.origin(vaultID: vaultID))
      let note = try checkpoint.signed(with: forger)
      try checkpoints.insert(Array(note.utf8), forKey: key)
      previous = AuditCheckpoint.hash(ofNote: note)
    }
  }
  var image = try fileBytes(path)
  for copy in 0..<2 {
    let base = copy * 4096 + 64 + 64
    image.replaceSubrange(base..<base + 32, with: forger.publicKey)
    var page = Array(image[copy * 4096..<(copy + 1) * 4096])
    fixChecksum(&page)
    image.replaceSubrange(copy * 4096..<(copy + 1) * 4096, with: page)
  }
  try Data(image).write(to: URL(fileURLWithPath: path))
  try? FileManager.default.removeItem(atPath: path + "-lock")
}
