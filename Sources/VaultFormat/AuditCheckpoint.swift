import VaultCore
import VaultCrypto

/// A signed statement of the audit log's state (FORMAT.md 20.4): the C2SP
/// tlog-checkpoint body, with the commit time and the previous checkpoint's hash as
/// extension lines, signed as a C2SP signed note by the vault's Ed25519 audit key.
///
/// ```
/// studiovault/<vault id, 32 hex digits>
/// <tree size, decimal>
/// <root hash, base64>
/// time <milliseconds since the Unix epoch>
/// previous <SHA-256 of the previous checkpoint's whole note, base64>
///
/// — studiovault/<vault id> <base64(key id ‖ signature)>
/// ```
public struct AuditCheckpoint: Equatable, Sendable {
  /// The log's name, `studiovault/` and the vault id in hex; also the signer's name.
  public var origin: String
  public var size: UInt64
  public var root: [UInt8]
  /// Milliseconds since the Unix epoch.
  public var time: Int64
  /// SHA-256 of the previous checkpoint's note (32 zero bytes for the first).
  public var previous: [UInt8]

  public init(origin: String, size: UInt64, root: [UInt8], time: Int64, previous: [UInt8]) {
    self.origin = origin
    self.size = size
    self.root = root
    self.time = time
    self.previous = previous
  }

  /// The origin (and key name) of the vault `vaultID`.
  public static func origin(vaultID: [UInt8]) -> String { "studiovault/" + Hex.encode(vaultID) }

  /// The C2SP verifier key of a vault: what `vault info` prints as `auditVerifierKey`.
  public static func verifierKey(vaultID: [UInt8], publicKey: [UInt8]) throws(VaultError)
    -> String
  {
    try SignedNote.verifierKey(name: origin(vaultID: vaultID), publicKey: publicKey)
  }

  /// The note's text (the part the signature covers).
  public var text: String {
    origin + "\n" + String(size) + "\n" + Base64.encode(root) + "\n" + "time " + String(time)
      + "\n" + "previous " + Base64.encode(previous) + "\n"
  }

  /// The signed note.
  public func signed(with key: Ed25519.SigningKey) throws(VaultError) -> String {
    try SignedNote.sign(text, name: origin, key: key)
  }

  /// The hash the next checkpoint records as ``previous``.
  public static func hash(ofNote note: String) -> [UInt8] { SHA256.hash(Array(note.utf8)) }

  /// The checkpoint `note` states, if `publicKey` signed it as `origin`.
  ///
  /// - Throws: `.authenticationFailed` for a missing or bad signature; `.corrupt` for a
  ///   note that is not a checkpoint of this form.
  public static func open(_ note: String, origin: String, publicKey: [UInt8]) throws(VaultError)
    -> AuditCheckpoint
  {
    let text = try SignedNote.open(note, name: origin, publicKey: publicKey)
    let checkpoint = try parse(text)
    guard checkpoint.origin == origin else {
      throw VaultError(.corrupt, "the checkpoint is of another log (\(checkpoint.origin))")
    }
    return checkpoint
  }

  /// The checkpoint of a note's text, before (or without) checking its signature.
  ///
  /// - Throws: `.corrupt` naming what is wrong.
  public static func parse(_ text: String) throws(VaultError) -> AuditCheckpoint {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    // C2SP: the origin line is not empty.
    guard lines.count == 6, lines[5].isEmpty, !lines[0].isEmpty, lines[3].hasPrefix("time "),
      lines[4].hasPrefix("previous ")
    else {
      throw VaultError(.corrupt, "not a StudioVault checkpoint (five lines expected)")
    }
    guard let size = canonicalDecimal(lines[1]),
      let root = Base64.decode(String(lines[2])), root.count == MerkleTree.hashSize,
      let time = Int64(lines[3].dropFirst(5)), String(time) == lines[3].dropFirst(5),
      let previous = Base64.decode(String(lines[4].dropFirst(9))),
      previous.count == MerkleTree.hashSize
    else {
      throw VaultError(.corrupt, "a checkpoint line is malformed")
    }
    let checkpoint = AuditCheckpoint(
      origin: String(lines[0]), size: size, root: root, time: time, previous: previous)
    // Bytes, not String equality (which is canonical equivalence): one encoding only.
    guard Array(checkpoint.text.utf8) == Array(text.utf8) else {
      throw VaultError(.corrupt, "the checkpoint is not in its canonical form")
    }
    return checkpoint
  }

  /// A decimal number without sign or leading zeros (C2SP: "ASCII decimal").
  private static func canonicalDecimal(_ text: Substring) -> UInt64? {
    guard let value = UInt64(text), String(value) == text else { return nil }
    return value
  }
}
