import Testing
import VaultCore
import VaultCrypto
import VaultFormat

/// Signed notes against the reference vector of golang.org/x/mod/sumdb/note (the
/// checkpoints the audit log will sign must verify in any C2SP implementation).
@Suite struct SignedNoteTests {
  static let verifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
  static let signerKey =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
  static let text =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
  static let note =
    text + "\n"
    + "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

  static func signingKey() throws -> Ed25519.SigningKey {
    let encoded = signerKey.split(separator: "+", maxSplits: 4).last.map(String.init) ?? ""
    let seed = try #require(Base64.decode(encoded))
    #expect(seed.count == 33 && seed[0] == 0x01)
    return try Ed25519.SigningKey(seed: SecretBytes(copying: Array(seed.dropFirst())))
  }

  @Test func signingReproducesTheReferenceNoteByteForByte() throws {
    let key = try Self.signingKey()
    #expect(
      try SignedNote.verifierKey(name: "PeterNeumann", publicKey: key.publicKey) == Self.verifierKey
    )
    #expect(try SignedNote.sign(Self.text, name: "PeterNeumann", key: key) == Self.note)
    let (name, publicKey) = try SignedNote.parseVerifierKey(Self.verifierKey)
    #expect(name == "PeterNeumann" && publicKey == key.publicKey)
    #expect(try SignedNote.open(Self.note, name: name, publicKey: publicKey) == Self.text)
  }

  @Test func tamperedNotesAndBadKeysAreRefused() throws {
    let (name, publicKey) = try SignedNote.parseVerifierKey(Self.verifierKey)
    let tampered = Self.note.replacingOccurrences(of: "cryptography", with: "cryptographY")
    let refused = #expect(throws: VaultError.self) {
      _ = try SignedNote.open(tampered, name: name, publicKey: publicKey)
    }
    #expect(refused?.code == .authenticationFailed)
    var otherKey = publicKey
    otherKey[0] ^= 1
    #expect(throws: VaultError.self) {
      _ = try SignedNote.open(Self.note, name: name, publicKey: otherKey)
    }
    #expect(throws: VaultError.self) {
      _ = try SignedNote.open(Self.note, name: "Enoch", publicKey: publicKey)
    }
    for bad in [
      Self.text, "", "\n\n", Self.note + "extra\n",
      Self.note.replacingOccurrences(of: "\u{2014}", with: "-"),
      Self.note.replacingOccurrences(of: "JnAM=", with: "JnA!="),
      Self.note.replacingOccurrences(of: "JnAM=", with: "JnAN="),
    ] {
      #expect(throws: VaultError.self, "\(bad.prefix(20))") {
        _ = try SignedNote.open(bad, name: name, publicKey: publicKey)
      }
    }
    // The Go package's bad verifier keys.
    for bad in [
      "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
      "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
      "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
      "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
      "PeterNeumann+c74f20a3", "PeterNeumann+c74f20a3+!!!!",
      "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
      #expect(throws: VaultError.self, "\(bad)") { _ = try SignedNote.parseVerifierKey(bad) }
    }
    let key = try Self.signingKey()
    #expect(throws: VaultError.self) { _ = try SignedNote.sign("no newline", name: "n", key: key) }
    #expect(throws: VaultError.self) { _ = try SignedNote.sign("x\n", name: "a b", key: key) }
    #expect(throws: VaultError.self) { _ = try SignedNote.sign("tab\there\n", name: "n", key: key) }
  }

  @Test func base64IsStandardAndStrict() {
    for (bytes, text) in [
      ([UInt8](), ""), ([0x66], "Zg=="), ([0x66, 0x6F], "Zm8="), ([0x66, 0x6F, 0x6F], "Zm9v"),
      (Array("foobar".utf8), "Zm9vYmFy"), ([0xFB, 0xFF], "+/8="),
    ] {
      #expect(Base64.encode(bytes) == text)
      #expect(Base64.decode(text) == bytes)
    }
    for bad in ["Zg", "Zg=", "Zh==", "Z===", "Zg==Zg==", "Zm9v!", "Zm 9"] {
      #expect(Base64.decode(bad) == nil, "\(bad)")
    }
  }
}
