import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// Optional TOTP second factor (../shared/spec/access.md, Authentication): RFC 6238,
/// SHA-1, 6 digits, 30 s, ±1 step, each step accepted once; the seed encrypted at rest
/// (a data key of `$keys:$totp`, which KEK rotation re-wraps); 10 single-use recovery
/// codes stored hashed (tree `$totp`, FORMAT.md 23).
enum SecondFactor {
  static let tree = "$totp"
  static let keyCollection = "$totp"
  static let recoveryCodeCount = 10

  /// The wrapped seed's key: `01` active or `02` awaiting confirmation, then the user.
  static func seedKey(_ user: RecordID, pending: Bool) -> [UInt8] {
    [pending ? 0x02 : 0x01] + user.bytes
  }

  /// `u64` last accepted step (0: none) ‖ `u8` count ‖ that many recovery-code hashes (16).
  struct State {
    var lastStep: UInt64 = 0
    var recoveryHashes: [[UInt8]] = []

    func encode() -> [UInt8] {
      var writer = ByteWriter(capacity: 9 + 16 * recoveryHashes.count)
      writer.write(lastStep)
      writer.write(UInt8(recoveryHashes.count))
      for hash in recoveryHashes { writer.write(hash) }
      return writer.bytes
    }

    init() {}

    init(decoding bytes: [UInt8]) throws(VaultError) {
      var reader = ByteReader(bytes)
      lastStep = try reader.readUInt64("last TOTP step")
      let count = Int(try reader.readUInt8("recovery codes"))
      for _ in 0..<count { recoveryHashes.append(try reader.readBytes(16, "recovery code")) }
      guard reader.isAtEnd else { throw reader.corrupt("bytes after the TOTP state") }
    }
  }

  /// A recovery code's stored form: blinded (keyed BLAKE2b), since codes are secrets.
  static func recoveryHash(_ code: String, user: RecordID, blind: BlindIndex) -> [UInt8] {
    blind.token(
      code.lowercased().filter { $0 != "-" && $0 != " " },
      label: "totp.recovery." + user.description)
  }

  /// RFC 4648 base32, without padding: how authenticator apps take a secret.
  static func base32(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    var output = ""
    var buffer: UInt32 = 0
    var bits = 0
    for byte in bytes {
      buffer = buffer << 8 | UInt32(byte)
      bits += 8
      while bits >= 5 {
        output.append(alphabet[Int(buffer >> UInt32(bits - 5) & 31)])
        bits -= 5
      }
    }
    if bits > 0 { output.append(alphabet[Int(buffer << UInt32(5 - bits) & 31)]) }
    return output
  }
}

/// What enrolment hands the user once: the secret for their authenticator app.
@_spi(Engine) public struct TOTPEnrollment: Sendable {
  /// Base32, as apps take it.
  @_spi(Engine) public let secret: String
  /// `otpauth://totp/...` for a QR code.
  @_spi(Engine) public let uri: String
}

extension RecordStore {
  /// Starts TOTP enrolment for `user`: a fresh seed awaits confirmation by a first code.
  @_spi(Engine) public func beginTOTPEnrollment(for user: RecordID) throws(VaultError)
    -> TOTPEnrollment
  {
    let seed = SymmetricKey.random()
    let name = try sealed.write { tx throws(VaultError) -> String in
      guard
        let record = try RecordTransaction(store: self, sealed: tx, actor: nil).source.load(
          .users, user.bytes)
      else { throw VaultError(.noSuchRecord, "no user \(user)") }
      // Replacing a factor is a reset: it goes through removal (with its step-up) first.
      guard
        try tx.loadWrappedKey(
          SecondFactor.seedKey(user, pending: false), collection: SecondFactor.keyCollection)
          == nil
      else {
        throw VaultError(.policyViolation, "a second factor is on: remove it first (totp disable)")
      }
      try tx.storeWrappedKey(
        seed, forKey: SecondFactor.seedKey(user, pending: true),
        collection: SecondFactor.keyCollection)
      return record.text("name") ?? "user"
    }
    let secret = seed.withUnsafeBytes { SecondFactor.base32(Array($0)) }
    let label = name.addingPercentEncodingForURI()
    return TOTPEnrollment(
      secret: secret,
      uri: "otpauth://totp/StudioVault:\(label)?secret=\(secret)&issuer=StudioVault"
        + "&algorithm=SHA1&digits=6&period=30")
  }

  /// Confirms enrolment with a first code from the app; TOTP is then required at every
  /// login of `user`. Revokes the user's sessions (a second-factor change) and is
  /// audited (`totpEnrolled`).
  ///
  /// - Returns: the 10 recovery codes, shown once.
  @_spi(Engine) public func confirmTOTPEnrollment(
    for user: RecordID, code: String, now: Int64, actor: AuditActor
  ) throws(VaultError) -> [String] {
    let codes = (0..<SecondFactor.recoveryCodeCount).map { _ in
      let raw = SecondFactor.base32(SecureRandom.bytes(7)).lowercased().prefix(10)
      return String(raw.prefix(5)) + "-" + String(raw.suffix(5))
    }
    try sealed.write { tx throws(VaultError) in
      guard
        let seed = try tx.loadWrappedKey(
          SecondFactor.seedKey(user, pending: true), collection: SecondFactor.keyCollection),
        try tx.loadWrappedKey(
          SecondFactor.seedKey(user, pending: false), collection: SecondFactor.keyCollection)
          == nil
      else { throw VaultError(.misuse, "no TOTP enrolment awaits confirmation for this user") }
      let step = seed.withUnsafeBytes { bytes in
        OneTimePassword.TOTP.standard.acceptedStep(
          of: code, secret: SecretBytes(copying: bytes), at: now / 1000, lastUsed: nil)
      }
      guard let step else {
        throw VaultError(.wrongPassword, "that code is not the app's current one: try again")
      }
      try tx.removeWrappedKey(
        SecondFactor.seedKey(user, pending: true), collection: SecondFactor.keyCollection)
      try tx.storeWrappedKey(
        seed, forKey: SecondFactor.seedKey(user, pending: false),
        collection: SecondFactor.keyCollection)
      var state = SecondFactor.State()
      state.lastStep = step
      state.recoveryHashes = codes.map {
        SecondFactor.recoveryHash($0, user: user, blind: indexes.blind)
      }
      try tx.tree(SecondFactor.tree).insert(state.encode(), forKey: user.bytes)
      _ = try SessionStore.revoke(of: user, in: tx)
      try tx.audit(AuditDraft(.totpEnrolled, actor: actor, targets: [user]))
    }
    return codes
  }

  /// Removes `user`'s second factor (revoking their sessions; `totpDisabled`).
  ///
  /// - Throws: `.policyViolation` (logged) when the organization requires a second
  ///   factor for the user's role: a new one must be enrolled instead.
  /// - Parameter authorize: run first in the removal's commit (a handle spends its
  ///   step-up proof there).
  @_spi(Engine) public func disableTOTP(
    for user: RecordID, actor: AuditActor,
    authorize: (SealedTransaction) throws(VaultError) -> Void = { _ in }
  ) throws(VaultError) {
    let required = try read { snapshot throws(VaultError) -> Bool in
      guard let role = try snapshot.source.load(.users, user.bytes)?.text("role") else {
        return false
      }
      return try snapshot.source.settings().texts("requireTwoFactor").contains(role)
    }
    if required {
      try sealed.write { tx throws(VaultError) in
        try tx.audit(
          AuditDraft(
            .accessDenied, actor: actor, outcome: .denied, targets: [user],
            detail: (.organization, ["attempted": .string(AuditAction.totpDisabled.description)])))
      }
      throw VaultError(
        .policyViolation,
        "the organization requires a second factor for this role: it cannot be removed")
    }
    try sealed.write { tx throws(VaultError) in
      try authorize(tx)
      try tx.removeWrappedKey(
        SecondFactor.seedKey(user, pending: false), collection: SecondFactor.keyCollection)
      if try tx.transaction.anyTree(named: SecondFactor.tree) != nil {
        try tx.tree(SecondFactor.tree).removeValue(forKey: user.bytes)
      }
      _ = try SessionStore.revoke(of: user, in: tx)
      try tx.audit(AuditDraft(.totpDisabled, actor: actor, targets: [user]))
    }
  }

  /// Checks `code` (a TOTP code, or a recovery code, consumed) for `user` inside `tx`.
  ///
  /// - Returns: nil when the user has no second factor; else whether the code passed.
  func checkSecondFactor(
    _ code: String?, user: RecordID, now: Int64, in tx: SealedTransaction
  ) throws(VaultError) -> Bool? {
    guard
      let seed = try tx.loadWrappedKey(
        SecondFactor.seedKey(user, pending: false), collection: SecondFactor.keyCollection)
    else { return nil }
    guard let code else { return false }
    let tree = try tx.tree(SecondFactor.tree)
    var state =
      try tree.value(forKey: user.bytes).map(SecondFactor.State.init(decoding:))
      ?? SecondFactor.State()
    let step = seed.withUnsafeBytes { bytes in
      OneTimePassword.TOTP.standard.acceptedStep(
        of: code, secret: SecretBytes(copying: bytes), at: now / 1000,
        lastUsed: state.lastStep == 0 ? nil : state.lastStep)
    }
    if let step {
      state.lastStep = step
    } else {
      let hash = SecondFactor.recoveryHash(code, user: user, blind: indexes.blind)
      guard let index = state.recoveryHashes.firstIndex(where: { ConstantTime.equal($0, hash) })
      else { return false }
      state.recoveryHashes.remove(at: index)
    }
    try tree.insert(state.encode(), forKey: user.bytes)
    return true
  }
}

extension String {
  /// Percent-encoding for a URI path segment (RFC 3986 unreserved characters kept).
  func addingPercentEncodingForURI() -> String {
    var output = ""
    for byte in utf8 {
      switch byte {
      case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
        UInt8(ascii: "_"), UInt8(ascii: "~"):
        output.unicodeScalars.append(Unicode.Scalar(byte))
      default:
        output += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
      }
    }
    return output
  }

  fileprivate func leftPadded(to width: Int) -> String {
    String(repeating: "0", count: max(0, width - count)) + self
  }
}
