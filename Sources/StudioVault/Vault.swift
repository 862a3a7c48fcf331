import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// A vault file as an application holds it: the public way in. It creates or opens
/// the file and hands out capability handles (``VaultHandle``) for logged-in users,
/// and nothing else: records and the audit log are read and written only through a
/// handle, which carries its user's role, scope and session (../shared/spec/access.md,
/// Principles). The engine's own layers below (`@_spi(Engine)`) are for the `vault`
/// CLI and the tests, not for applications.
///
/// ```swift
/// let vault = try Vault.open(at: path, credential: .passphrase(passphrase))
/// let (handle, token) = try vault.login(user: "ana", password: password)
/// let clients = try handle.list(.clients).records
/// let proof = try vault.stepUp(
///   session: token, password: password, action: .projectDeletion, resource: project)
/// try handle.deleteProject(project, proof: proof)
/// ```
public final class Vault: Sendable {
  let records: RecordStore

  /// How the file is opened: read-only, cache size, how long a writer waits.
  public typealias Options = VaultStore.Options

  init(_ records: RecordStore) { self.records = records }

  /// Creates a vault at `path` holding an organization (its currency) and its first
  /// owner.
  ///
  /// - Throws: `.invalidArgument` for an owner password under 15 characters (nothing
  ///   is created); `.alreadyExists` when `path` exists.
  public static func create(
    at path: String, credential: VaultCredential, ownerName: String, ownerPassword: SecretBytes,
    currency: Currency, keyDerivation: PasswordKDF.Parameters = .moderate,
    pageSize: Int = FileFormat.defaultPageSize
  ) throws(VaultError) -> Vault {
    Vault(
      try RecordStore.create(
        at: path, credential: credential, keyDerivation: keyDerivation, pageSize: pageSize,
        organization: .init(
          ownerName: ownerName, ownerPassword: ownerPassword, currency: currency,
          passwordHashing: keyDerivation)))
  }

  /// Opens the vault at `path`.
  ///
  /// - Throws: `.wrongPassphrase`, `.corrupt`, `.locked`, … (``VaultError``).
  public static func open(
    at path: String, credential: VaultCredential, options: Options = .init()
  ) throws(VaultError) -> Vault {
    Vault(try RecordStore.open(at: path, credential: credential, options: options))
  }

  /// Logs `user` in (with the TOTP code once enrolled) and opens a session: its handle,
  /// and its token (shown once; ``handle(session:)`` makes a handle of it again).
  /// Sessions, proofs and engagements are decided by the system clock: an application
  /// cannot choose the time its users' rights are judged at.
  ///
  /// - Throws: `.wrongPassword` alike for unknown users and wrong passwords;
  ///   `.throttled` after repeated failures, saying when to retry.
  public func login(
    user: String, password: SecretBytes, totp: String? = nil, rememberMe: Bool = false,
    label: String = ""
  ) throws(VaultError) -> (handle: VaultHandle, token: String) {
    try records.login(
      user: user, password: password, totp: totp, rememberMe: rememberMe, label: label)
  }

  /// The handle of a live session.
  ///
  /// - Throws: `.wrongPassword` for an unknown, expired or revoked token.
  public func handle(session token: String) throws(VaultError) -> VaultHandle {
    try records.handle(session: token)
  }

  /// Steps up session `token` for one high-risk `action` on `resource` by checking the
  /// password (and TOTP code) again: the proof the action's handle method takes, good
  /// for five minutes (or the organization's `stepUpMinutes`), once.
  public func stepUp(
    session token: String, password: SecretBytes, totp: String? = nil, action: HighRiskAction,
    resource: RecordID? = nil
  ) throws(VaultError) -> String {
    try records.stepUp(
      session: token, password: password, totp: totp, action: action, resource: resource,
      now: Timestamp.now().milliseconds)
  }
}

extension VaultHandle {
  /// The logged-in user's id.
  public var userID: RecordID { principal.user }
  /// The logged-in user's role (`owner`, `hq`, `branchManager`, `staff`, `vendor`).
  public var role: String { principal.role }
}
