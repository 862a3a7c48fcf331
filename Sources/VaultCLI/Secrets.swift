import Glibc
import VaultCore
import VaultCrypto

/// Reads the secrets a command needs from where the CLI contract puts them: the
/// environment or a file named by an option, never the command line itself.
enum Secrets {
  /// The options every command that opens with the key accepts.
  static let passphraseOptions: [OptionSpec] = [
    .option(
      "passphrase-file", "FILE", "read the vault passphrase from FILE (else VAULT_PASSPHRASE)")
  ]

  /// `--deep` (described by `help`) and the passphrase options it needs.
  static func deepOptions(_ help: String) -> [OptionSpec] {
    [.flag("deep", help)] + passphraseOptions
  }

  /// The credential for `--deep`, or nil: inspection stays keyless without the flag.
  static func deepCredential(_ arguments: Arguments, console: any Console) throws
    -> VaultCredential?
  {
    arguments.flag("deep") ? try passphrase(arguments, console: console) : nil
  }

  /// The vault passphrase: `VAULT_PASSPHRASE`, or the first line of `--passphrase-file`.
  static func passphrase(_ arguments: Arguments, console: any Console) throws -> VaultCredential {
    try .passphrase(
      secret(
        arguments, console: console, variable: "VAULT_PASSPHRASE", fileOption: "passphrase-file",
        what: "the vault passphrase"))
  }

  /// The new passphrase of `vault key passphrase`.
  static func newPassphrase(_ arguments: Arguments, console: any Console) throws -> SecretBytes {
    try secret(
      arguments, console: console, variable: "VAULT_NEW_PASSPHRASE",
      fileOption: "new-passphrase-file", what: "the new passphrase")
  }

  /// A new user's password (`user add`), or a user's new one (`user passwd`).
  static func newUserPassword(_ arguments: Arguments, console: any Console) throws -> SecretBytes {
    try secret(
      arguments, console: console, variable: "VAULT_NEW_USER_PASSWORD",
      fileOption: "new-user-password-file", what: "the new password")
  }

  /// The options of commands that act as a user.
  static let passwordOptions: [OptionSpec] = [
    .option("password-file", "FILE", "read the user's password from FILE (else VAULT_PASSWORD)")
  ]

  /// A user's password: `VAULT_PASSWORD`, or the first line of `--password-file`.
  static func password(_ arguments: Arguments, console: any Console) throws -> SecretBytes {
    try secret(
      arguments, console: console, variable: "VAULT_PASSWORD", fileOption: "password-file",
      what: "the user's password")
  }

  private static func secret(
    _ arguments: Arguments, console: any Console, variable: String, fileOption: String,
    what: String
  ) throws -> SecretBytes {
    if let path = arguments.value(fileOption) {
      var bytes = try readSecretFile(path)
      defer { SecretBytes.wipe(&bytes) }
      // One trailing newline (as `echo` writes) is not part of the secret.
      var end = bytes.count
      if end > 0, bytes[end - 1] == 0x0A { end -= 1 }
      if end > 0, bytes[end - 1] == 0x0D { end -= 1 }
      guard end > 0 else { throw UsageError("\(path) is empty: it should hold \(what)") }
      return bytes.withUnsafeBytes {
        SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0[..<end]))
      }
    }
    guard let text = console.environment(variable), !text.isEmpty else {
      throw UsageError("\(what) is missing: set \(variable) or pass --\(fileOption) FILE")
    }
    return SecretBytes(utf8: text)
  }

  private static func readSecretFile(_ path: String) throws -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw VaultError(.notFound, "cannot read \(path)", errno: errno)
    }
    defer { close(descriptor) }
    // Reserved up front: growing would leave unwiped copies of the secret behind.
    var bytes = [UInt8]()
    bytes.reserveCapacity(65_536 + 4096)
    var buffer = [UInt8](repeating: 0, count: 4096)
    defer { SecretBytes.wipe(&buffer) }
    while bytes.count <= 65_536 {
      let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
      if count < 0 {
        if errno == EINTR { continue }
        throw VaultError(.io, "cannot read \(path)", errno: errno)
      }
      if count == 0 { return bytes }
      bytes += buffer[..<count]
    }
    SecretBytes.wipe(&bytes)
    throw UsageError("\(path) is too large to hold a passphrase")
  }
}
