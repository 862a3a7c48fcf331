import VaultCore
import VaultCrypto

/// What an audit entry records. The names are part of the product's interface (scripts
/// filter on them) and the codes part of the file format (FORMAT.md 20.3): both only
/// ever grow.
public enum AuditAction: UInt16, CaseIterable, Sendable, CustomStringConvertible {
  case vaultCreated = 1
  case settingsChanged, branchCreated, userCreated, roleChanged, userDisabled, userEnabled
  case userUnlocked, passwordChanged, loginSucceeded, loginFailed, failedLoginSpike, logout
  case sessionRevoked, totpEnrolled, totpDisabled, totpReset, stepUpSucceeded, stepUpFailed
  case accessDenied, recordsImported, recordCreated, recordUpdated, discountApplied
  case paymentRecorded, refundRequested, refundApproved, refundRejected, refundExecuted
  case disputeOpened, disputeClosed, exportPerformed, projectCompleted, projectDeleted
  case billingOverrideSet, billingOverrideCleared, deliveredUnderOverride, engagementCreated
  case engagementExtended, engagementExpired, uploadStored, retentionChanged, legalHoldPlaced
  case legalHoldReleased, wormRefused, blobDeleted, passphraseChanged, keyRotated
  case clientErased, auditRead, tornTailRecovered, clockRollback
  /// A record removed outright (engagements and media only; FORMAT.md 19.5).
  case recordRemoved

  public var description: String { Self.names[Int(rawValue) - 1] }

  /// The action named `name`, or nil.
  public init?(name: String) {
    guard let index = Self.names.firstIndex(of: name) else { return nil }
    self.init(rawValue: UInt16(index + 1))
  }

  // Swift's reflection would give the same strings, but they are an interface: spelled
  // out, they cannot change with a rename.
  private static let names = [
    "vaultCreated", "settingsChanged", "branchCreated", "userCreated", "roleChanged",
    "userDisabled", "userEnabled", "userUnlocked", "passwordChanged", "loginSucceeded",
    "loginFailed", "failedLoginSpike", "logout", "sessionRevoked", "totpEnrolled",
    "totpDisabled", "totpReset", "stepUpSucceeded", "stepUpFailed", "accessDenied",
    "recordsImported", "recordCreated", "recordUpdated", "discountApplied", "paymentRecorded",
    "refundRequested", "refundApproved", "refundRejected", "refundExecuted", "disputeOpened",
    "disputeClosed", "exportPerformed", "projectCompleted", "projectDeleted",
    "billingOverrideSet", "billingOverrideCleared", "deliveredUnderOverride",
    "engagementCreated", "engagementExtended", "engagementExpired", "uploadStored",
    "retentionChanged", "legalHoldPlaced", "legalHoldReleased", "wormRefused", "blobDeleted",
    "passphraseChanged", "keyRotated", "clientErased", "auditRead", "tornTailRecovered",
    "clockRollback", "recordRemoved",
  ]
}

/// How the action turned out.
public enum AuditOutcome: UInt8, CaseIterable, Sendable, CustomStringConvertible {
  case success = 0
  /// Refused by policy (an access check, a rule of the product).
  case denied = 1
  /// Attempted and failed (a wrong password, an invalid request).
  case failed = 2

  public var description: String {
    switch self {
    case .success: "success"
    case .denied: "denied"
    case .failed: "failed"
    }
  }
}

/// The role an actor acted in, as audit entries store it.
public enum AuditRole: UInt8, CaseIterable, Sendable, CustomStringConvertible {
  case owner = 1
  case hq, branchManager, staff, vendor

  public var description: String {
    switch self {
    case .owner: "owner"
    case .hq: "hq"
    case .branchManager: "branchManager"
    case .staff: "staff"
    case .vendor: "vendor"
    }
  }

  public init?(name: String) {
    guard let role = Self.allCases.first(where: { $0.description == name }) else { return nil }
    self = role
  }
}

/// Who did it: the engine itself, or a user acting in a role.
public enum AuditActor: Equatable, Sendable {
  case system
  case user(id: [UInt8], role: AuditRole)
}

/// Whose key seals an entry's detail (FORMAT.md 20.2): erasing a client destroys the
/// key of every detail about them, and the entry's hashes still verify.
public enum AuditSubjectKind: UInt8, Sendable, CaseIterable {
  case organization = 1
  case branch = 2
  case client = 3
}

/// The content of an audit entry: everything but its place in the log. Sealed inside
/// the entry under the vault's audit entry key; only ids, codes and times, never a
/// name or anything a user typed, which belong in ``detail``.
public struct AuditEvent: Equatable, Sendable {
  /// Milliseconds since the Unix epoch.
  public var time: Int64
  public var actor: AuditActor
  /// The branch the entry is visible to (besides the organization); nil for
  /// organization-wide entries.
  public var branch: [UInt8]?
  public var action: AuditAction
  public var outcome: AuditOutcome
  /// The records the action concerns (16-byte ids), at most ``maximumTargets``.
  public var targets: [[UInt8]]
  /// The detail, sealed under its subject's key (nil: none).
  public var detail: SealedDetail?

  public static let maximumTargets = 8
  public static let idLength = 16
  /// The longest detail plaintext (bytes).
  public static let maximumDetailLength = 512

  public init(
    time: Int64, actor: AuditActor, branch: [UInt8]?, action: AuditAction,
    outcome: AuditOutcome = .success, targets: [[UInt8]] = [], detail: SealedDetail? = nil
  ) {
    self.time = time
    self.actor = actor
    self.branch = branch
    self.action = action
    self.outcome = outcome
    self.targets = targets
    self.detail = detail
  }

  /// A detail as stored: its subject and the seal (nonce ‖ ciphertext ‖ tag).
  public struct SealedDetail: Equatable, Sendable {
    public var subject: AuditSubjectKind
    /// The subject's 16-byte id (zeros for the organization).
    public var subjectID: [UInt8]
    public var sealed: [UInt8]

    /// Seals `plaintext` (at most ``AuditEvent/maximumDetailLength`` bytes) for the
    /// entry `sequence` of vault `vaultID` under the subject's key.
    public static func seal(
      _ plaintext: [UInt8], subject: AuditSubjectKind, subjectID: [UInt8], key: SymmetricKey,
      vaultID: [UInt8], sequence: UInt64
    ) throws(VaultError) -> SealedDetail {
      var sealer = XChaCha20Poly1305.Sealer(key: key)
      return try seal(
        plaintext, subject: subject, subjectID: subjectID, sealer: &sealer, vaultID: vaultID,
        sequence: sequence)
    }

    /// ``seal(_:subject:subjectID:key:vaultID:sequence:)`` with a sealer under the
    /// subject's key (an appender keeps one per subject and transaction).
    public static func seal(
      _ plaintext: [UInt8], subject: AuditSubjectKind, subjectID: [UInt8],
      sealer: inout XChaCha20Poly1305.Sealer, vaultID: [UInt8], sequence: UInt64
    ) throws(VaultError) -> SealedDetail {
      guard plaintext.count <= AuditEvent.maximumDetailLength,
        subjectID.count == AuditEvent.idLength
      else {
        throw VaultError(
          .invalidArgument,
          "an audit detail is at most \(AuditEvent.maximumDetailLength) bytes about a 16-byte id")
      }
      let associated = associatedData(subject, subjectID, vaultID, sequence)
      return SealedDetail(
        subject: subject, subjectID: subjectID,
        sealed: sealer.seal(plaintext, associatedData: associated))
    }

    /// The plaintext.
    ///
    /// - Throws: `.authenticationFailed` under any other key, vault or entry.
    public func open(key: SymmetricKey, vaultID: [UInt8], sequence: UInt64) throws(VaultError)
      -> [UInt8]
    {
      try XChaCha20Poly1305.open(
        sealed, key: key,
        associatedData: Self.associatedData(subject, subjectID, vaultID, sequence))
    }

    private static let detailLabel = Array("SV-AUDD".utf8)

    /// `"SV-AUDD"` ‖ vaultID ‖ sequence (`u64`) ‖ subject kind ‖ subject id.
    private static func associatedData(
      _ subject: AuditSubjectKind, _ subjectID: [UInt8], _ vaultID: [UInt8], _ sequence: UInt64
    ) -> [UInt8] {
      var writer = ByteWriter(capacity: 7 + vaultID.count + 8 + 1 + subjectID.count)
      writer.write(detailLabel)
      writer.write(vaultID)
      writer.write(sequence)
      writer.write(subject.rawValue)
      writer.write(subjectID)
      return writer.bytes
    }
  }

  /// The canonical encoding (FORMAT.md 20.2): one encoding per event, and the decoder
  /// accepts nothing else.
  public func encode() -> [UInt8] {
    var writer = ByteWriter(capacity: 64 + targets.count * 16 + (detail?.sealed.count ?? 0))
    writer.write(time)
    switch actor {
    case .system:
      writer.write(UInt8(0))
      writer.writeZeros(Self.idLength)
      writer.write(UInt8(0))
    case .user(let id, let role):
      writer.write(UInt8(1))
      writer.write(id)
      writer.write(role.rawValue)
    }
    if let branch { writer.write(branch) } else { writer.writeZeros(Self.idLength) }
    writer.write(action.rawValue)
    writer.write(outcome.rawValue)
    writer.write(UInt8(targets.count))
    for target in targets { writer.write(target) }
    if let detail {
      writer.write(detail.subject.rawValue)
      writer.write(detail.subjectID)
      writer.write(UInt16(detail.sealed.count))
      writer.write(detail.sealed)
    } else {
      writer.write(UInt8(0))
    }
    return writer.bytes
  }

  /// Whether the event can be encoded: ids of 16 bytes, few enough targets.
  public func validate() throws(VaultError) {
    // Zero ids mean "none" (the system, the organization): a real one is never zero.
    func isID(_ id: [UInt8]) -> Bool { id.count == Self.idLength && id.contains { $0 != 0 } }
    var idsValid = targets.allSatisfy { $0.count == Self.idLength }
    if case .user(let id, _) = actor { idsValid = idsValid && isID(id) }
    if let branch { idsValid = idsValid && isID(branch) }
    guard idsValid, targets.count <= Self.maximumTargets else {
      throw VaultError(
        .invalidArgument,
        "an audit entry names at most \(Self.maximumTargets) targets, each a 16-byte id,"
          + " and a user or branch by a non-zero id")
    }
    if let detail,
      detail.subjectID.count != Self.idLength || detail.sealed.count > 2048
        || detail.sealed.count < XChaCha20Poly1305.overhead
        || (detail.subject == .organization) != detail.subjectID.allSatisfy({ $0 == 0 })
    {
      throw VaultError(.invalidArgument, "an audit detail seal is malformed")
    }
  }

  /// Decodes ``encode()``'s output, refusing any other encoding of the same event.
  public init(decoding bytes: [UInt8]) throws(VaultError) {
    var reader = ByteReader(bytes)
    time = try reader.readInt64("time")
    let actorKind = try reader.readUInt8("actor kind")
    let actorID = try reader.readBytes(Self.idLength, "actor id")
    let roleCode = try reader.readUInt8("role")
    switch actorKind {
    case 0:
      guard actorID.allSatisfy({ $0 == 0 }), roleCode == 0 else {
        throw reader.corrupt("the system actor has no id or role")
      }
      actor = .system
    case 1:
      guard let role = AuditRole(rawValue: roleCode) else {
        throw reader.corrupt("unknown role code \(roleCode)")
      }
      guard actorID.contains(where: { $0 != 0 }) else {
        throw reader.corrupt("a user actor has an id (zeros are the system's)")
      }
      actor = .user(id: actorID, role: role)
    default:
      throw reader.corrupt("unknown actor kind \(actorKind)")
    }
    let branchBytes = try reader.readBytes(Self.idLength, "branch")
    branch = branchBytes.allSatisfy({ $0 == 0 }) ? nil : branchBytes
    let actionCode = try reader.readUInt16("action")
    guard let action = AuditAction(rawValue: actionCode) else {
      throw reader.corrupt("unknown action code \(actionCode)")
    }
    self.action = action
    let outcomeCode = try reader.readUInt8("outcome")
    guard let outcome = AuditOutcome(rawValue: outcomeCode) else {
      throw reader.corrupt("unknown outcome code \(outcomeCode)")
    }
    self.outcome = outcome
    let targetCount = Int(try reader.readUInt8("target count"))
    guard targetCount <= Self.maximumTargets else {
      throw reader.corrupt("\(targetCount) targets is more than \(Self.maximumTargets)")
    }
    targets = []
    for _ in 0..<targetCount { targets.append(try reader.readBytes(Self.idLength, "target")) }
    let subjectCode = try reader.readUInt8("detail subject")
    if subjectCode == 0 {
      detail = nil
    } else {
      guard let subject = AuditSubjectKind(rawValue: subjectCode) else {
        throw reader.corrupt("unknown detail subject \(subjectCode)")
      }
      let subjectID = try reader.readBytes(Self.idLength, "detail subject id")
      // The organization has the zero id; a branch or client never does.
      guard (subject == .organization) == subjectID.allSatisfy({ $0 == 0 }) else {
        throw reader.corrupt("the detail's subject id does not fit its kind")
      }
      let length = Int(try reader.readUInt16("detail length"))
      guard length >= XChaCha20Poly1305.overhead else {
        throw reader.corrupt("a sealed detail is shorter than its nonce and tag")
      }
      detail = SealedDetail(
        subject: subject, subjectID: subjectID, sealed: try reader.readBytes(length, "detail"))
    }
    guard reader.isAtEnd else { throw reader.corrupt("bytes after the audit event") }
  }
}

/// One entry of the audit log as stored (FORMAT.md 20.1): its place in the log in the
/// clear, so that anyone can check the chain and the Merkle tree, and its event sealed
/// under the vault's audit entry key.
public struct AuditEntry: Equatable, Sendable {
  /// The entry's position: 0 for the first.
  public var sequence: UInt64
  /// The leaf hash of entry `sequence − 1` (32 zero bytes for the first).
  public var previous: [UInt8]
  /// The event, sealed: nonce ‖ ciphertext ‖ tag.
  public var sealedEvent: [UInt8]

  public static let format: UInt8 = 1
  /// Bytes before the sealed event.
  public static let clearLength = 41
  /// No entry is longer: it always fits a leaf cell of the smallest page.
  public static let maximumLength = 900

  public init(sequence: UInt64, previous: [UInt8], sealedEvent: [UInt8]) {
    self.sequence = sequence
    self.previous = previous
    self.sealedEvent = sealedEvent
  }

  /// Seals `event` as entry `sequence` after the entry whose leaf hash is `previous`.
  ///
  /// - Throws: `.invalidArgument` for an event that does not validate or is too large.
  public static func seal(
    _ event: AuditEvent, sequence: UInt64, previous: [UInt8], key: SymmetricKey,
    vaultID: [UInt8]
  ) throws(VaultError) -> AuditEntry {
    try AuditEntry(
      decoding: sealedBytes(
        event, sequence: sequence, previous: previous, key: key, vaultID: vaultID))
  }

  /// ``seal(_:sequence:previous:key:vaultID:)`` then ``encode()``, built in one buffer:
  /// what an appender stores, one entry after another.
  public static func sealedBytes(
    _ event: AuditEvent, sequence: UInt64, previous: [UInt8], key: SymmetricKey,
    vaultID: [UInt8]
  ) throws(VaultError) -> [UInt8] {
    var sealer = XChaCha20Poly1305.Sealer(key: key)
    return try sealedBytes(
      event, sequence: sequence, previous: previous, sealer: &sealer, vaultID: vaultID)
  }

  /// ``sealedBytes(_:sequence:previous:key:vaultID:)`` with a sealer under the audit
  /// entry key (an appender keeps one per transaction).
  public static func sealedBytes(
    _ event: AuditEvent, sequence: UInt64, previous: [UInt8],
    sealer: inout XChaCha20Poly1305.Sealer, vaultID: [UInt8]
  ) throws(VaultError) -> [UInt8] {
    try event.validate()
    guard previous.count == MerkleTree.hashSize else {
      throw VaultError(.invalidArgument, "the previous entry's hash is 32 bytes")
    }
    let plaintext = event.encode()
    let nonceStart = clearLength
    let bodyStart = nonceStart + XChaCha20Poly1305.nonceByteCount
    let tagStart = bodyStart + plaintext.count
    let length = tagStart + XChaCha20Poly1305.tagByteCount
    guard length <= maximumLength else {
      throw VaultError(.invalidArgument, "the audit entry would take \(length) bytes")
    }
    var writer = ByteWriter(capacity: length)
    writer.write(format)
    writer.write(sequence)
    writer.write(previous)
    var entry = writer.bytes
    entry.append(contentsOf: repeatElement(0, count: XChaCha20Poly1305.nonceByteCount))
    entry += plaintext
    entry.append(contentsOf: repeatElement(0, count: XChaCha20Poly1305.tagByteCount))
    let associated = associatedData(entry[..<clearLength], vaultID: vaultID)
    entry.withUnsafeMutableBytes { raw in
      associated.withUnsafeBytes { ad in
        sealer.sealInPlace(
          UnsafeMutableRawBufferPointer(rebasing: raw[bodyStart..<tagStart]),
          tag: UnsafeMutableRawBufferPointer(rebasing: raw[tagStart..<length]),
          nonce: UnsafeMutableRawBufferPointer(rebasing: raw[nonceStart..<bodyStart]),
          associatedData: ad)
      }
    }
    return entry
  }

  /// The event, opened and decoded.
  ///
  /// - Throws: `.authenticationFailed` when the entry was altered (any byte, its
  ///   sequence or chain hash included) or belongs to another vault.
  public func open(key: SymmetricKey, vaultID: [UInt8]) throws(VaultError) -> AuditEvent {
    let plaintext = try XChaCha20Poly1305.open(
      sealedEvent, key: key, associatedData: Self.associatedData(clearPart[...], vaultID: vaultID))
    return try AuditEvent(decoding: plaintext)
  }

  private static let entryLabel = Array("SV-AUD".utf8)

  /// `"SV-AUD"` ‖ vaultID ‖ the entry's clear bytes.
  private static func associatedData(_ clear: ArraySlice<UInt8>, vaultID: [UInt8]) -> [UInt8] {
    var writer = ByteWriter(capacity: 6 + vaultID.count + clear.count)
    writer.write(entryLabel)
    writer.write(vaultID)
    writer.write(clear)
    return writer.bytes
  }

  private var clearPart: [UInt8] {
    var writer = ByteWriter(capacity: Self.clearLength)
    writer.write(Self.format)
    writer.write(sequence)
    writer.write(previous)
    return writer.bytes
  }

  /// The stored bytes: what the leaf hash covers.
  public func encode() -> [UInt8] { clearPart + sealedEvent }

  /// The sequence number and chain hash of a stored entry, read in place (what a
  /// verifier checks of every entry); nil for bytes that cannot be an entry.
  public static func clearFields(of bytes: ArraySlice<UInt8>) -> (
    sequence: UInt64, previous: ArraySlice<UInt8>
  )? {
    guard bytes.count >= clearLength + XChaCha20Poly1305.overhead, bytes.count <= maximumLength,
      bytes.first == format
    else { return nil }
    let start = bytes.startIndex
    var sequence: UInt64 = 0
    for offset in stride(from: 8, through: 1, by: -1) {
      sequence = sequence << 8 | UInt64(bytes[start + offset])
    }
    return (sequence, bytes[start + 9..<start + clearLength])
  }

  /// Parses the clear part of a stored entry; the event stays sealed.
  ///
  /// - Throws: `.corrupt` for bytes that are not an entry.
  public init(decoding bytes: [UInt8]) throws(VaultError) {
    guard bytes.count <= Self.maximumLength else {
      throw VaultError(.corrupt, "an audit entry of \(bytes.count) bytes is too long")
    }
    var reader = ByteReader(bytes)
    let format = try reader.readUInt8("entry format")
    guard format == Self.format else {
      throw reader.corrupt("unknown audit entry format \(format)")
    }
    sequence = try reader.readUInt64("sequence")
    previous = try reader.readBytes(MerkleTree.hashSize, "previous hash")
    sealedEvent = try reader.readBytes(reader.remaining, "sealed event")
    guard sealedEvent.count >= XChaCha20Poly1305.overhead else {
      throw reader.corrupt("the sealed event is shorter than its nonce and tag")
    }
  }
}
