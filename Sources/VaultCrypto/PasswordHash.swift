internal import CSodium
import VaultCore

/// Users' password hashes: Argon2id in libsodium's string form
/// (`$argon2id$v=19$m=65536,t=2,p=1$salt$hash`), parameters inside the string, so a
/// hash made under weaker parameters can be recognised and replaced at next login.
public enum PasswordHash {
  /// Hashes `password` with a fresh random salt.
  ///
  /// - Throws: `.outOfMemory` when the memory the parameters ask for is not there.
  public static func hash(_ password: SecretBytes, parameters: PasswordKDF.Parameters)
    throws(VaultError) -> String
  {
    try parameters.validate()
    ensureSodium()
    var out = [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES))
    // SecretBytes always has an address, even when empty.
    let status = password.withUnsafeBytes { secret in
      crypto_pwhash_str_alg(
        &out, secret.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(secret.count),
        parameters.opsLimit, Int(parameters.memLimitBytes), Int32(PasswordKDF.argon2id13))
    }
    guard status == 0 else {
      throw VaultError(
        .outOfMemory, "password hashing could not allocate \(parameters.memLimitBytes) bytes")
    }
    return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Whether `password` matches `hash`. A hash whose parameters exceed what this
  /// engine runs (``PasswordKDF/Parameters/maximum``) or that is malformed matches
  /// nothing.
  public static func verify(_ password: SecretBytes, against hash: String) -> Bool {
    guard let parameters = parameters(of: hash), (try? parameters.validate()) != nil else {
      return false
    }
    ensureSodium()
    var stored = Array(hash.utf8CString)
    guard stored.count <= Int(crypto_pwhash_STRBYTES) else { return false }
    stored += [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES) - stored.count)
    // SecretBytes always has an address, even when empty.
    return password.withUnsafeBytes { secret in
      crypto_pwhash_str_verify(
        &stored, secret.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(secret.count)) == 0
    }
  }

  /// Whether `hash` was made under parameters other than `parameters` (rehash it at
  /// the next successful login).
  public static func needsRehash(_ hash: String, parameters: PasswordKDF.Parameters) -> Bool {
    self.parameters(of: hash) != parameters
  }

  /// The cost parameters inside an Argon2id hash string, if it is one.
  static func parameters(of hash: String) -> PasswordKDF.Parameters? {
    let parts = hash.split(separator: "$", omittingEmptySubsequences: false)
    guard parts.count == 6, parts[1] == "argon2id", parts[2] == "v=19" else { return nil }
    var memoryKiB: UInt64?
    var passes: UInt64?
    for setting in parts[3].split(separator: ",") {
      let pair = setting.split(separator: "=")
      guard pair.count == 2, let value = UInt64(pair[1]) else { return nil }
      switch pair[0] {
      case "m": memoryKiB = value
      case "t": passes = value
      case "p": guard value == 1 else { return nil }
      default: return nil
      }
    }
    guard let memoryKiB, let passes, memoryKiB < UInt64.max / 1024 else { return nil }
    return PasswordKDF.Parameters(opsLimit: passes, memLimitBytes: memoryKiB * 1024)
  }
}
