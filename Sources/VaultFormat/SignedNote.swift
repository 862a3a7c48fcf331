import VaultCore
import VaultCrypto

/// C2SP signed notes with Ed25519 keys (c2sp.org/signed-note), the form of the audit
/// log's checkpoints: text, a blank line, then one line per signature,
/// `— NAME base64(keyID ‖ signature)`. The verifier key string
/// `NAME+KEYID+base64(0x01 ‖ publicKey)` is what `vault info` prints for a vault.
public enum SignedNote {
  /// The signature algorithm byte of Ed25519 keys.
  static let ed25519: UInt8 = 0x01

  /// The 4-byte key id: the first bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ publicKey).
  public static func keyID(name: String, publicKey: [UInt8]) -> [UInt8] {
    Array(SHA256.hash(Array(name.utf8) + [0x0A, ed25519] + publicKey).prefix(4))
  }

  /// The verifier key string of `publicKey` under `name`.
  ///
  /// - Throws: `.invalidArgument` for a name that is empty or holds `+` or white space.
  public static func verifierKey(name: String, publicKey: [UInt8]) throws(VaultError) -> String {
    try requireName(name)
    return name + "+" + Hex.encode(keyID(name: name, publicKey: publicKey)) + "+"
      + Base64.encode([ed25519] + publicKey)
  }

  /// The name and public key of a verifier key string, its id checked.
  ///
  /// - Throws: `.invalidArgument` naming what is wrong.
  public static func parseVerifierKey(_ text: String) throws(VaultError) -> (
    name: String, publicKey: [UInt8]
  ) {
    let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
    guard parts.count == 3, let key = Base64.decode(String(parts[2])), key.count == 33,
      key[0] == ed25519
    else { throw VaultError(.invalidArgument, "not an Ed25519 verifier key (NAME+ID+KEY)") }
    let name = String(parts[0])
    try requireName(name)
    let publicKey = Array(key.dropFirst())
    guard String(parts[1]) == Hex.encode(keyID(name: name, publicKey: publicKey)) else {
      throw VaultError(.invalidArgument, "the verifier key's id does not match its key")
    }
    return (name, publicKey)
  }

  /// `text` signed by `key` under `name`.
  ///
  /// - Throws: `.invalidArgument` for text that is empty, does not end with a newline
  ///   or holds control characters, or for a bad name.
  public static func sign(_ text: String, name: String, key: Ed25519.SigningKey)
    throws(VaultError) -> String
  {
    try requireText(text)
    try requireName(name)
    let signature = keyID(name: name, publicKey: key.publicKey) + key.sign(Array(text.utf8))
    return text + "\n" + "\u{2014} " + name + " " + Base64.encode(signature) + "\n"
  }

  /// The text of `note` if it carries a valid signature by `publicKey` under `name`
  /// (other signatures, from witnesses, are ignored).
  ///
  /// - Throws: `.authenticationFailed` when no such signature verifies, `.corrupt` for
  ///   a note that is not one.
  public static func open(_ note: String, name: String, publicKey: [UInt8]) throws(VaultError)
    -> String
  {
    let bytes = Array(note.utf8)
    guard bytes.count <= 1 << 20, bytes.last == 0x0A else {
      throw VaultError(.corrupt, "a signed note ends with a newline and is under 1 MiB")
    }
    // The text ends at the last blank line.
    var split: Int?
    for index in stride(from: bytes.count - 2, through: 0, by: -1)
    where bytes[index] == 0x0A && bytes[index + 1] == 0x0A {
      split = index + 1
      break
    }
    guard let split else { throw VaultError(.corrupt, "a signed note has no signature block") }
    let text = String(decoding: bytes[..<split], as: UTF8.self)
    try requireText(text)
    let expectedID = keyID(name: name, publicKey: publicKey)
    // Signature lines are read as bytes, not characters: a name may start with a
    // combining mark, which would join the space before it into one character.
    let dash: [UInt8] = [0xE2, 0x80, 0x94, 0x20]  // "— "
    let prefix = dash + Array(name.utf8) + [0x20]
    let lines = bytes[(split + 1)...].split(separator: 0x0A, omittingEmptySubsequences: false)
      .dropLast()
    // Every line is a signature, well formed, before any is trusted.
    for line in lines {
      let fields = line.dropFirst(dash.count).split(
        separator: 0x20, omittingEmptySubsequences: false)
      guard line.starts(with: dash), fields.count == 2, !fields[0].isEmpty,
        let blob = Base64.decode(String(decoding: fields[1], as: UTF8.self)), blob.count > 4
      else { throw VaultError(.corrupt, "a signed note has a malformed signature line") }
    }
    for line in lines where line.starts(with: prefix) {
      guard
        let blob = Base64.decode(String(decoding: line.dropFirst(prefix.count), as: UTF8.self)),
        blob.count == 4 + Ed25519.signatureByteCount, Array(blob.prefix(4)) == expectedID
      else { continue }
      if Ed25519.isValid(
        signature: Array(blob.dropFirst(4)), of: Array(bytes[..<split]), publicKey: publicKey)
      {
        return text
      }
    }
    throw VaultError(.authenticationFailed, "the note carries no valid signature by \(name)")
  }

  private static func requireName(_ name: String) throws(VaultError) {
    guard !name.isEmpty, !name.contains("+"),
      !name.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 })
    else {
      throw VaultError(.invalidArgument, "a key name is non-empty, without spaces or '+'")
    }
  }

  private static func requireText(_ text: String) throws(VaultError) {
    guard text.hasSuffix("\n"),
      !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" })
    else {
      throw VaultError(
        .invalidArgument, "a note's text ends with a newline and holds no control characters")
    }
  }

}

/// Standard base64 (RFC 4648 section 4, with padding), strict on input.
public enum Base64 {
  static let alphabet = Array(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

  public static func encode(_ bytes: [UInt8]) -> String {
    var out = [UInt8]()
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var index = 0
    while index < bytes.count {
      let chunk = bytes[index..<min(index + 3, bytes.count)]
      var value = 0
      for byte in chunk { value = value << 8 | Int(byte) }
      value <<= 8 * (3 - chunk.count)
      for position in 0..<4 {
        out.append(
          position <= chunk.count
            ? alphabet[(value >> (18 - 6 * position)) & 0x3F] : UInt8(ascii: "="))
      }
      index += 3
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// The bytes of `text`, or nil unless it is canonical padded base64.
  public static func decode(_ text: String) -> [UInt8]? {
    let input = Array(text.utf8)
    guard input.count % 4 == 0 else { return nil }
    var out = [UInt8]()
    out.reserveCapacity(input.count / 4 * 3)
    for start in stride(from: 0, to: input.count, by: 4) {
      let quad = input[start..<start + 4]
      let padding = quad.reversed().prefix { $0 == UInt8(ascii: "=") }.count
      guard padding <= 2, start + 4 == input.count || padding == 0 else { return nil }
      var value = 0
      for (offset, character) in quad.enumerated() {
        if offset >= 4 - padding {
          value <<= 6
          continue
        }
        guard let digit = alphabet.firstIndex(of: character) else { return nil }
        value = value << 6 | digit
      }
      let produced = [UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
      // Canonical: the bits under the padding are zero.
      if padding == 1, produced[2] != 0 { return nil }
      if padding == 2, produced[1] != 0 || produced[2] != 0 { return nil }
      out += produced.prefix(3 - padding)
    }
    return out
  }
}
