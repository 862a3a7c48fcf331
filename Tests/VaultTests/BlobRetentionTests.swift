import Foundation
import Testing
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault

/// Retention, legal holds and deletion of upload blobs over a driven clock, and how
/// project deletion and client erasure meet them (FORMAT.md 24.4).
@Suite struct BlobRetentionTests {
  static let day: Int64 = 86_400_000

  struct Fixture {
    let studio: ActionStudio
    var base: RefundTests.Studio { studio.base }
    var now: Int64 { base.clock.read() }

    init(_ dir: TemporaryDirectory) throws {
      studio = try ActionStudio(dir)
    }

    func handle(_ role: String) throws -> VaultHandle { try base.handle(role) }

    /// A new upload by the owner in a new project of the managers' branch.
    func blob(in project: RecordID? = nil) throws -> (blob: RecordID, project: RecordID) {
      let project = try project ?? studio.newProject()
      let receipt = try studio.owner.storeBlob(
        Array("frame".utf8), into: project, fileName: "frame.raw", kind: .raw)
      return (receipt.blob, project)
    }

    func wormRefusals() throws -> Int {
      try studio.owner.readAudit().entries.filter { $0.event.action == .wormRefused }.count
    }

    func readable(_ blob: RecordID) -> Bool {
      (try? studio.owner.openBlob(blob).read(at: 0, count: 5)) == Array("frame".utf8)
    }
  }

  /// The error code `body` fails with, or nil.
  static func code(_ body: () throws -> Void) -> VaultError.Code? {
    do {
      try body()
      return nil
    } catch let error as VaultError {
      return error.code
    } catch {
      return .internal
    }
  }

  @Test func complianceRetentionOnlyExtendsAndBlocksEveryDeletionUntilItEnds() throws {
    let dir = TemporaryDirectory()
    let fixture = try Fixture(dir)
    let (blob, _) = try fixture.blob()
    let manager = try fixture.handle("branchManager")
    let owner = fixture.studio.owner
    let until = fixture.now + 2 * Self.day
    try manager.setRetention(Retention(mode: .compliance, until: until), ofBlob: blob)
    let refusals = try fixture.wormRefusals()
    // Nobody deletes it, not even an owner with a step-up.
    let proof = try fixture.base.proof("owner", .governanceDeletion, blob)
    #expect(Self.code { try owner.deleteBlob(blob, proof: proof) } == .worm)
    #expect(Self.code { try manager.deleteBlob(blob) } == .worm)
    // Shortening, weakening or removing it is refused; extending is not.
    #expect(
      Self.code {
        try manager.setRetention(Retention(mode: .compliance, until: until - 1), ofBlob: blob)
      } == .worm)
    #expect(
      Self.code {
        try owner.setRetention(
          Retention(mode: .governance, until: until + Self.day), ofBlob: blob,
          proof: try fixture.base.proof("owner", .governanceDeletion, blob))
      } == .worm)
    #expect(Self.code { try manager.setRetention(.none, ofBlob: blob) } == .worm)
    // Every refusal is in the log.
    #expect(try fixture.wormRefusals() == refusals + 5)
    try manager.setRetention(Retention(mode: .compliance, until: until + Self.day), ofBlob: blob)
    // Staff set no retention at all.
    #expect(
      Self.code {
        try fixture.handle("staff").setRetention(
          Retention(mode: .compliance, until: until + 2 * Self.day), ofBlob: blob)
      } == .policyViolation)
    // The original end passes: still protected by the extension.
    fixture.base.clock.advance(by: 2 * Self.day + 1)
    #expect(Self.code { try manager.deleteBlob(blob) } == .worm)
    fixture.base.clock.advance(by: Self.day)
    try manager.deleteBlob(blob)
    #expect(!fixture.readable(blob))
    let deleted = try owner.readAudit().entries.filter { $0.event.action == .blobDeleted }
    #expect(deleted.count == 1 && deleted[0].event.targets == [blob.bytes])
  }

  @Test func governanceRetentionYieldsOnlyToAnOwnersStepUp() throws {
    let dir = TemporaryDirectory()
    let fixture = try Fixture(dir)
    let (blob, _) = try fixture.blob()
    let owner = fixture.studio.owner
    let until = fixture.now + 2 * Self.day
    try fixture.handle("hq").setRetention(Retention(mode: .governance, until: until), ofBlob: blob)
    for role in ["hq", "branchManager"] {
      #expect(
        Self.code {
          try fixture.handle(role).deleteBlob(
            blob, proof: try fixture.base.proof(role, .governanceDeletion, blob))
        } == .worm, "\(role)")
      #expect(
        Self.code { try fixture.handle(role).setRetention(.none, ofBlob: blob) } == .worm)
    }
    #expect(Self.code { try owner.deleteBlob(blob) } == .worm)
    // A step-up for another resource does not do.
    let (other, _) = try fixture.blob()
    #expect(
      Self.code {
        try owner.deleteBlob(
          blob, proof: try fixture.base.proof("owner", .governanceDeletion, other))
      } != nil)
    #expect(fixture.readable(blob))
    // An owner shortens it with a step-up, and deletes early with another.
    try owner.setRetention(
      Retention(mode: .governance, until: until - Self.day), ofBlob: blob,
      proof: try fixture.base.proof("owner", .governanceDeletion, blob))
    try owner.deleteBlob(blob, proof: try fixture.base.proof("owner", .governanceDeletion, blob))
    #expect(!fixture.readable(blob))
    let entry = try #require(
      try owner.readAudit().entries.last { $0.event.action == .blobDeleted })
    #expect(entry.event.targets == [blob.bytes])
    #expect(entry.detail?.contains("governance early deletion") == true)
  }

  @Test func legalHoldsOnBlobsAndProjectsBlockDeletionUntilReleased() throws {
    let dir = TemporaryDirectory()
    let fixture = try Fixture(dir)
    let (blob, project) = try fixture.blob()
    let hq = try fixture.handle("hq")
    let manager = try fixture.handle("branchManager")
    // Managers may not hold; hq and owners may, with a step-up.
    #expect(
      Self.code {
        try manager.placeLegalHold(
          onBlob: blob, proof: try fixture.base.proof("branchManager", .legalHold, blob))
      } == .policyViolation)
    #expect(Self.code { try hq.placeLegalHold(onBlob: blob, proof: "svp_00") } != nil)
    try hq.placeLegalHold(onBlob: blob, proof: try fixture.base.proof("hq", .legalHold, blob))
    #expect(Self.code { try manager.deleteBlob(blob) } == .worm)
    #expect(
      Self.code {
        try fixture.studio.owner.deleteBlob(
          blob, proof: try fixture.base.proof("owner", .governanceDeletion, blob))
      } == .worm)
    try hq.releaseLegalHold(onBlob: blob, proof: try fixture.base.proof("hq", .legalHold, blob))
    // A hold on the project covers its blobs too.
    try hq.placeLegalHold(
      on: project, reason: "litigation", proof: try fixture.base.proof("hq", .legalHold, project))
    #expect(Self.code { try manager.deleteBlob(blob) } == .worm)
    try hq.releaseLegalHold(on: project, proof: try fixture.base.proof("hq", .legalHold, project))
    try manager.deleteBlob(blob)
    #expect(!fixture.readable(blob))
    let actions = try fixture.studio.owner.readAudit().entries.map(\.event.action)
    #expect(actions.filter { $0 == .legalHoldPlaced }.count == 2)
    #expect(actions.filter { $0 == .legalHoldReleased }.count == 2)
  }

  @Test func projectRetentionCoversItsBlobsNowAndLater() throws {
    let dir = TemporaryDirectory()
    let fixture = try Fixture(dir)
    let (early, project) = try fixture.blob()
    let manager = try fixture.handle("branchManager")
    let rule = Retention(mode: .compliance, until: fixture.now + Self.day)
    try manager.setRetention(rule, ofProject: project)
    #expect(try manager.retention(ofProject: project) == rule)
    let (late, _) = try fixture.blob(in: project)
    for blob in [early, late] {
      #expect(Self.code { try manager.deleteBlob(blob) } == .worm)
    }
    #expect(Self.code { try manager.setRetention(.none, ofProject: project) } == .worm)
    fixture.base.clock.advance(by: Self.day)
    try manager.deleteBlob(early)
    try manager.setRetention(.none, ofProject: project)
    try manager.deleteBlob(late)
  }

  @Test func deletedProjectsKeepRetainedBlobsUntilTheyExpireThenPurgeDestroysThem() throws {
    let dir = TemporaryDirectory()
    let fixture = try Fixture(dir)
    let owner = fixture.studio.owner
    let hq = try fixture.handle("hq")
    let (plain, project) = try fixture.blob()
    let (retained, _) = try fixture.blob(in: project)
    let (held, _) = try fixture.blob(in: project)
    try hq.setRetention(
      Retention(mode: .compliance, until: fixture.now + 2 * Self.day), ofBlob: retained)
    try hq.placeLegalHold(onBlob: held, proof: try fixture.base.proof("hq", .legalHold, held))
    let report = try owner.deleteProject(
      project, proof: try fixture.base.proof("owner", .projectDeletion, project))
    #expect(report.blobsDeleted == 1 && report.blobsRetained == 2)
    #expect(!fixture.readable(plain))
    #expect(fixture.readable(retained) && fixture.readable(held))
    #expect(try owner.purgeBlobs() == BlobPurgeReport(expired: 0, abandoned: 0, retained: 2))
    fixture.base.clock.advance(by: 2 * Self.day)
    #expect(try owner.purgeBlobs() == BlobPurgeReport(expired: 1, abandoned: 0, retained: 1))
    #expect(!fixture.readable(retained))
    try hq.releaseLegalHold(onBlob: held, proof: try fixture.base.proof("hq", .legalHold, held))
    #expect(try owner.purgeBlobs().expired == 1)
    #expect(!fixture.readable(held))
    // Only owners and hq purge.
    #expect(Self.code { _ = try fixture.handle("branchManager").purgeBlobs() } == .policyViolation)
  }

  @Test func aHeldBlobBlocksClientErasureAndRetainedBlobsOutliveIt() throws {
    let dir = TemporaryDirectory()
    let fixture = try Fixture(dir)
    let owner = fixture.studio.owner
    let hq = try fixture.handle("hq")
    let (plain, project) = try fixture.blob()
    let (retained, _) = try fixture.blob(in: project)
    try hq.setRetention(
      Retention(mode: .governance, until: fixture.now + Self.day), ofBlob: retained)
    let client = try #require(try owner.get(.projects, project)?.reference("client"))
    try hq.placeLegalHold(onBlob: plain, proof: try fixture.base.proof("hq", .legalHold, plain))
    #expect(
      Self.code {
        _ = try owner.eraseClient(
          client, proof: try fixture.base.proof("owner", .clientErasure, client))
      } == .policyViolation)
    #expect(fixture.readable(plain))
    try hq.releaseLegalHold(onBlob: plain, proof: try fixture.base.proof("hq", .legalHold, plain))
    let report = try owner.eraseClient(
      client, proof: try fixture.base.proof("owner", .clientErasure, client))
    #expect(report.blobsDeleted == 1 && report.blobsRetained == 1)
    #expect(!fixture.readable(plain) && fixture.readable(retained))
  }

  @Test func aStoredBlobIsNeverRewrittenAndTheAttemptIsLogged() throws {
    let dir = TemporaryDirectory()
    let fixture = try Fixture(dir)
    let owner = fixture.studio.owner
    let project = try fixture.studio.newProject()
    let upload = try owner.beginUpload(into: project, fileName: "a.raw")
    try upload.write([1, 2, 3])
    let receipt = try upload.finish()
    #expect(Self.code { try upload.write([4]) } == .misuse)
    #expect(Self.code { _ = try upload.finish() } == .misuse)
    let refusals = try fixture.wormRefusals()
    #expect(Self.code { _ = try owner.resumeUpload(receipt.blob) } == .worm)
    #expect(try fixture.wormRefusals() == refusals + 1)
    #expect(try owner.openBlob(receipt.blob).read(at: 0, count: 10) == [1, 2, 3])
  }

  @Test func mediaRecordsPointOnlyAtStoredBlobsOfTheirProject() throws {
    let dir = TemporaryDirectory()
    let fixture = try Fixture(dir)
    let owner = fixture.studio.owner
    let (blob, project) = try fixture.blob()
    let (otherBlob, _) = try fixture.blob()
    func insertMedia(pointingAt id: String) -> VaultError.Code? {
      Self.code {
        try owner.write { records, scope throws(VaultError) in
          var media = Record(.media)
          media["project"] = .bytes(project.bytes)
          media["fileName"] = .string("copy.raw")
          media["blob"] = .string(id)
          _ = try records.insert(media, scope: scope)
        }
      }
    }
    #expect(insertMedia(pointingAt: blob.description) == nil)
    #expect(insertMedia(pointingAt: otherBlob.description) == .invalidRecord)
    #expect(insertMedia(pointingAt: RecordID.random().description) == .invalidRecord)
    #expect(insertMedia(pointingAt: "not an id") == .invalidRecord)
  }
}
