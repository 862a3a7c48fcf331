import VaultCore
import VaultCrypto
import VaultFormat

/// Audit entries, events and checkpoints as a keyless verifier or a reader meets them:
/// any bytes must decode or be refused with a `VaultError`, never trap.
private let key: SymmetricKey = {
  guard let key = try? SymmetricKey(copying: [UInt8](repeating: 7, count: 32)) else {
    return SymmetricKey.random()
  }
  return key
}()
private let signer = try? Ed25519.SigningKey(
  seed: SecretBytes(copying: [UInt8](repeating: 9, count: 32)))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
  let bytes = Array(UnsafeRawBufferPointer(start: data, count: size))
  _ = AuditEntry.clearFields(of: bytes[...])
  if let entry = try? AuditEntry(decoding: bytes) {
    _ = try? entry.open(key: key, vaultID: [UInt8](repeating: 1, count: 16))
    _ = MerkleTree.leafHash(entry.encode())
  }
  if let event = try? AuditEvent(decoding: bytes) {
    // What decodes must encode back to the same bytes: one encoding per event.
    precondition(event.encode() == bytes, "an event decoded from bytes it does not encode to")
  }
  let text = String(decoding: bytes, as: UTF8.self)
  if let checkpoint = try? AuditCheckpoint.parse(text) {
    precondition(checkpoint.text == text, "a checkpoint parsed from a non-canonical text")
  }
  if let signer {
    let origin = "studiovault/01010101010101010101010101010101"
    _ = try? AuditCheckpoint.open(text, origin: origin, publicKey: signer.publicKey)
    _ = try? SignedNote.parseVerifierKey(text)
  }
  return 0
}
