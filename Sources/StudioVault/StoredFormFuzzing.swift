import VaultCore
import VaultFormat

/// The fuzz harness for the engine's own stored forms (Sources/VaultFuzzing calls it;
/// it lives here because these decoders are this module's own): login sessions,
/// step-up proofs, throttle states and spike histories, TOTP states, the audit
/// appender's state, the keyring's rotation entry, and list cursors.
///
/// These are sealed in the file, so only someone holding the key can write them; a
/// decoder still returns a value or throws, and what decodes encodes back.
package enum StoredFormFuzzing {
  /// The first byte picks the form; the rest is the stored bytes.
  package static func run(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let bytes = Array(input.dropFirst())
    switch selector % 8 {
    case 0:
      guard let session = try? Session(decoding: bytes, id: "fuzz") else { return }
      // Times are clamped as they are read, so the bytes may differ; the value may not.
      let again = try? Session(decoding: session.encode(), id: "fuzz")
      check(again == session, "a session does not survive encoding")
    case 1:
      guard let proof = try? StepUp.Proof(decoding: bytes) else { return }
      check(proof.encode() == bytes, "a step-up proof does not encode back")
    case 2:
      guard let state = try? Throttling.State(decoding: bytes) else { return }
      let again = try? Throttling.State(decoding: state.encode())
      check(again?.encode() == state.encode(), "a throttle state does not survive encoding")
      // What a hostile state may ask for is still a bounded wait.
      check(state.delay >= 0 && state.delay <= Throttling.maximumDelay, "an unbounded delay")
      _ = try? Throttling.check(state, now: Int64(bytes.count) * 1_000_000_007)
    case 3:
      guard let history = try? Throttling.SpikeHistory(decoding: bytes) else { return }
      check(history.encode() == bytes, "a spike history does not encode back")
    case 4:
      guard let state = try? SecondFactor.State(decoding: bytes) else { return }
      check(state.encode() == bytes, "a TOTP state does not encode back")
    case 5:
      guard let state = try? AuditState(decoding: bytes) else { return }
      check(state.encode() == bytes, "an audit state does not encode back")
      check((try? AuditState(decoding: state.encode())) == state, "an audit state changes")
      // The appender goes on from a stored state: one more entry, and a root.
      var frontier = state.frontier
      if (try? frontier.append(MerkleTree.emptyRoot)) != nil {
        check(frontier.size == state.size + 1, "an append that did not count")
        check(frontier.root.count == MerkleTree.hashSize, "a root of the wrong size")
      }
    case 6:
      guard let (target, position) = try? SealedStore.RotationPosition.decode(bytes) else {
        return
      }
      check(position.encode(target: target) == bytes, "a rotation entry does not encode back")
    default:
      let text = String(decoding: bytes, as: UTF8.self)
      guard let key = try? SnapshotSource.decodeCursor(text) else { return }
      let again = try? SnapshotSource.decodeCursor(SnapshotSource.encodeCursor(key))
      check(again == key, "a list cursor does not survive encoding")
    }
  }

  /// One valid stored form of each kind, behind its selector: the corpus's seeds.
  package static var seeds: [[UInt8]] {
    guard let user = try? RecordID(bytes: [UInt8](repeating: 0x11, count: 16)) else { return [] }
    let session = Session(
      id: "fuzz", user: user, createdAt: 1_796_400_000_000, lastUsedAt: 1_796_400_060_000,
      expiresAt: 1_799_000_000_000, capAt: 1_804_000_000_000, rememberMe: true,
      label: "Front desk iPad")
    var throttle = Throttling.State()
    throttle.failures = 5
    throttle.lastFailure = 1_796_400_000_000
    var spikes = Throttling.SpikeHistory()
    spikes.times = [1_796_400_000_000, 1_796_400_001_000]
    var totp = SecondFactor.State()
    totp.lastStep = 59_880_000
    totp.recoveryHashes = [[UInt8](repeating: 0x22, count: 16)]
    var audit = AuditState()
    for leaf in 0..<5 { try? audit.frontier.append([UInt8](repeating: UInt8(leaf), count: 32)) }
    audit.lastTime = 1_796_400_000_000
    return [
      [0] + session.encode(),
      [1]
        + StepUp.Proof(
          session: [UInt8](repeating: 0x33, count: 32), action: .refundApproval, resource: user,
          expires: 1_796_400_300_000
        ).encode(),
      [2] + throttle.encode(),
      [3] + spikes.encode(),
      [4] + totp.encode(),
      [5] + audit.encode(),
      [6]
        + SealedStore.RotationPosition(tree: Array("$keys.clients".utf8), after: [1, 2, 3])
        .encode(target: 2),
      [7] + Array(SnapshotSource.encodeCursor([0x01] + user.bytes).utf8),
    ]
  }

  private static func check(_ condition: Bool, _ message: String) {
    if !condition { preconditionFailure(message) }
  }
}
