internal import CSodium
import VaultCore

/// Argon2id (RFC 9106, libsodium `crypto_pwhash` with `ALG_ARGON2ID13`): turns a
/// passphrase and a salt into a key, slowly and memory-hard, so guessing passphrases
/// offline costs an attacker as much per guess as one open costs the owner.
public enum PasswordKDF {
  /// The number of bytes of a salt.
  public static let saltByteCount = 16
  /// libsodium's algorithm number for Argon2id version 1.3, as stored in the file.
  public static let argon2id13: UInt8 = 2

  /// Cost parameters: passes over memory and memory in bytes.
  public struct Parameters: Sendable, Hashable, CustomStringConvertible {
    public var opsLimit: UInt64
    public var memLimitBytes: UInt64

    public init(opsLimit: UInt64, memLimitBytes: UInt64) {
      self.opsLimit = opsLimit
      self.memLimitBytes = memLimitBytes
    }

    /// 2 passes over 64 MiB: for interactive logins.
    public static let interactive = Parameters(
      opsLimit: UInt64(crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE),
      memLimitBytes: UInt64(crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE))
    /// 3 passes over 256 MiB: the default for vault passphrases.
    public static let moderate = Parameters(
      opsLimit: UInt64(crypto_pwhash_argon2id_OPSLIMIT_MODERATE),
      memLimitBytes: UInt64(crypto_pwhash_argon2id_MEMLIMIT_MODERATE))
    /// 4 passes over 1 GiB: for data worth a second of every open.
    public static let sensitive = Parameters(
      opsLimit: UInt64(crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE),
      memLimitBytes: UInt64(crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE))

    /// The named level these parameters equal, if any.
    public var levelName: String? {
      switch self {
      case .interactive: "interactive"
      case .moderate: "moderate"
      case .sensitive: "sensitive"
      default: nil
      }
    }

    /// The parameters of a named level (`interactive`, `moderate`, `sensitive`).
    public init?(levelName: String) {
      switch levelName {
      case "interactive": self = .interactive
      case "moderate": self = .moderate
      case "sensitive": self = .sensitive
      default: return nil
      }
    }

    /// The most a file may ask for: the `sensitive` level. Parameters come from the
    /// file, which may be hostile; above this an open would eat the machine's memory
    /// or time, so it is refused before anything is allocated.
    public static let maximum = sensitive
    /// The least libsodium accepts.
    public static let minimum = Parameters(
      opsLimit: UInt64(crypto_pwhash_argon2id_OPSLIMIT_MIN),
      memLimitBytes: UInt64(crypto_pwhash_argon2id_MEMLIMIT_MIN))

    /// Checks that parameters read from a file are within what this engine runs.
    ///
    /// - Throws: `.corrupt` naming the offending parameter.
    public func validate() throws(VaultError) {
      guard opsLimit >= Self.minimum.opsLimit, opsLimit <= Self.maximum.opsLimit else {
        throw VaultError(
          .corrupt,
          "key derivation asks for \(opsLimit) passes; this engine runs"
            + " \(Self.minimum.opsLimit)…\(Self.maximum.opsLimit)")
      }
      guard memLimitBytes >= Self.minimum.memLimitBytes,
        memLimitBytes <= Self.maximum.memLimitBytes
      else {
        throw VaultError(
          .corrupt,
          "key derivation asks for \(memLimitBytes) bytes of memory; this engine runs"
            + " \(Self.minimum.memLimitBytes)…\(Self.maximum.memLimitBytes)")
      }
    }

    public var description: String {
      "argon2id(ops: \(opsLimit), memory: \(memLimitBytes / 1024) KiB)"
    }
  }

  /// Derives a 32-byte key from `passphrase` and `salt`.
  ///
  /// - Throws: `.corrupt` for parameters outside ``Parameters/validate()``, `.invalidArgument`
  ///   for a salt of the wrong length, `.outOfMemory` when the system cannot provide the
  ///   memory the parameters ask for.
  public static func deriveKey(
    from passphrase: SecretBytes, salt: [UInt8], parameters: Parameters
  ) throws(VaultError) -> SymmetricKey {
    try parameters.validate()
    guard salt.count == saltByteCount else {
      throw VaultError(.invalidArgument, "a salt must be \(saltByteCount) bytes")
    }
    ensureSodium()
    var status: Int32 = 0
    let derived = SecretBytes(count: SymmetricKey.byteCount) { out in
      // SecretBytes always has an address, even when empty.
      passphrase.withUnsafeBytes { secret in
        salt.withUnsafeBytes { saltBytes in
          status = crypto_pwhash(
            out.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(out.count),
            secret.baseAddress!.assumingMemoryBound(to: CChar.self),
            UInt64(secret.count),
            saltBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
            parameters.opsLimit, Int(parameters.memLimitBytes), Int32(argon2id13))
        }
      }
    }
    guard status == 0 else {
      throw VaultError(
        .outOfMemory, "key derivation could not allocate \(parameters.memLimitBytes) bytes")
    }
    return try SymmetricKey(derived)
  }
}
