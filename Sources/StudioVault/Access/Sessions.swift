import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// How long sessions live (../shared/spec/access.md, Sessions): each use pushes expiry
/// to now + the idle limit, never past the cap counted from login.
@_spi(Engine) public struct SessionLimits: Sendable, Equatable {
  /// Milliseconds a session lives after its last use.
  @_spi(Engine) public var idle: Int64
  /// Milliseconds a session lives after login, however often used.
  @_spi(Engine) public var cap: Int64

  static let day: Int64 = 86_400_000
  /// Rolling 30 days, at most 90 from login.
  @_spi(Engine) public static let standard = SessionLimits(idle: 30 * day, cap: 90 * day)
  /// Remember-me: rolling 90 days, at most 365.
  @_spi(Engine) public static let remembered = SessionLimits(idle: 90 * day, cap: 365 * day)

  /// The limits of a session of `role`: owners' and hq's are always standard.
  @_spi(Engine) public static func limits(role: String, rememberMe: Bool) -> SessionLimits {
    rememberMe && role != "owner" && role != "hq" ? .remembered : .standard
  }
}

/// A login session as stored (tree `$sessions`, sealed): never its token, which only
/// its holder has; the token's SHA-256 is the key it is found by.
@_spi(Engine) public struct Session: Sendable, Equatable {
  /// A public name for the session (the first 16 bytes of its token's hash, in hex):
  /// what `session list` shows and `session revoke` takes.
  @_spi(Engine) public let id: String
  @_spi(Engine) public let user: RecordID
  @_spi(Engine) public let createdAt: Int64
  @_spi(Engine) public var lastUsedAt: Int64
  @_spi(Engine) public var expiresAt: Int64
  @_spi(Engine) public let capAt: Int64
  @_spi(Engine) public let rememberMe: Bool
  /// The device label the user gave at login.
  @_spi(Engine) public let label: String

  fileprivate static let format: UInt8 = 1

  /// `u8` format ‖ user (16) ‖ `i64` created ‖ `i64` last used ‖ `i64` expires ‖ `i64`
  /// cap ‖ `u8` remember-me ‖ `u16` label length ‖ label (UTF-8).
  func encode() -> [UInt8] {
    var writer = ByteWriter(capacity: 64 + label.utf8.count)
    writer.write(Self.format)
    writer.write(user.bytes)
    writer.write(createdAt)
    writer.write(lastUsedAt)
    writer.write(expiresAt)
    writer.write(capAt)
    writer.write(UInt8(rememberMe ? 1 : 0))
    // Labels are checked to 200 bytes where sessions are opened; never more than fits.
    let labelBytes = Array(label.utf8.prefix(Int(UInt16.max)))
    writer.write(UInt16(labelBytes.count))
    writer.write(labelBytes)
    return writer.bytes
  }

  init(
    id: String, user: RecordID, createdAt: Int64, lastUsedAt: Int64, expiresAt: Int64,
    capAt: Int64, rememberMe: Bool, label: String
  ) {
    self.id = id
    self.user = user
    self.createdAt = createdAt
    self.lastUsedAt = lastUsedAt
    self.expiresAt = expiresAt
    self.capAt = capAt
    self.rememberMe = rememberMe
    self.label = label
  }

  init(decoding bytes: [UInt8], id: String) throws(VaultError) {
    var reader = ByteReader(bytes)
    guard try reader.readUInt8("session format") == Self.format else {
      throw reader.corrupt("unknown session format")
    }
    self.id = id
    user = try RecordID(bytes: try reader.readBytes(16, "session user"))
    // Times kept within 1970 … 9999, so that no arithmetic on them can overflow.
    createdAt = CivilTime.clamped(try reader.readInt64("session created"))
    lastUsedAt = CivilTime.clamped(try reader.readInt64("session last used"))
    expiresAt = CivilTime.clamped(try reader.readInt64("session expiry"))
    capAt = CivilTime.clamped(try reader.readInt64("session cap"))
    rememberMe = try reader.readUInt8("session remember-me") == 1
    let length = Int(try reader.readUInt16("session label length"))
    guard
      let label = String(validating: try reader.readBytes(length, "session label"), as: UTF8.self)
    else { throw reader.corrupt("a session label that is not UTF-8") }
    self.label = label
    guard reader.isAtEnd else { throw reader.corrupt("bytes after a session") }
  }
}

/// Sessions: opened at login with a 256-bit random token shown once, found by the
/// token's hash, refreshed at each use, refused once expired or revoked.
enum SessionStore {
  static let tree = "$sessions"
  /// A clock that reads earlier than a session's last use by more than this is not
  /// trusted to decide expiry.
  static let clockTolerance: Int64 = 5 * 60_000
  static let tokenPrefix = "svs_"

  /// Refuses a device label longer than 200 bytes.
  static func checkLabel(_ label: String) throws(VaultError) {
    guard label.utf8.count <= 200 else {
      throw VaultError(.invalidArgument, "a device label is at most 200 bytes")
    }
  }
  /// A use within this long of the last recorded one is not recorded again.
  static let refreshInterval: Int64 = 60_000

  static func sessionKey(_ hash: [UInt8]) -> [UInt8] { [0x01] + hash }
  static func userKey(_ user: RecordID, _ hash: [UInt8]) -> [UInt8] { [0x02] + user.bytes + hash }

  /// The hash a token is stored under, or nil for text that is not a token.
  static func hash(ofToken token: String) -> [UInt8]? {
    guard token.hasPrefix(tokenPrefix), let secret = Hex.decode(String(token.dropFirst(4))),
      secret.count == 32
    else { return nil }
    return SHA256.hash(secret)
  }

  static func id(ofHash hash: [UInt8]) -> String { Hex.encode(Array(hash.prefix(16))) }

  static let refused = VaultError(
    .wrongPassword, "the session has expired or was revoked: log in again")

  /// Whether the session whose token hashes to `hash` exists in `tree` and has neither
  /// expired nor reached its cap at `now`.
  static func isLive(_ hash: [UInt8], in tree: WriteTree, now: Int64) throws(VaultError) -> Bool {
    guard let stored = try tree.value(forKey: sessionKey(hash)) else { return false }
    let session = try Session(decoding: stored, id: id(ofHash: hash))
    return now < session.expiresAt && now < session.capAt
  }
}

extension RecordStore {
  /// Opens a session for `principal` (who just logged in) at `now` (milliseconds).
  ///
  /// - Returns: the session and its token, `svs_` and 64 hex digits: shown once, never
  ///   stored; whoever holds it acts as the user until it expires or is revoked.
  @_spi(Engine) public func openSession(
    for principal: Principal, rememberMe: Bool, label: String, now: Int64
  ) throws(VaultError) -> (session: Session, token: String) {
    let (session, token, _) = try openSession(
      for: principal, limits: SessionLimits.limits(role: principal.role, rememberMe: rememberMe),
      rememberMe: rememberMe, label: label, now: now)
    return (session, token)
  }

  /// ``openSession(for:rememberMe:label:now:)`` with `limits` of the caller's choosing
  /// (shorter ones only: a command's run), and `then` run in the same commit.
  func openSession<T>(
    for principal: Principal, limits: SessionLimits, rememberMe: Bool, label: String, now: Int64,
    then: (SealedTransaction, _ hash: [UInt8]) throws(VaultError) -> T = { _, _ in () }
  ) throws(VaultError) -> (session: Session, token: String, T) {
    try write(actor: nil) { tx throws(VaultError) in
      let (session, hash, token) = try insertSession(
        for: principal, limits: limits, rememberMe: rememberMe, label: label, now: now, in: tx)
      return (session, token, try then(tx.source.sealed, hash))
    }
  }

  /// Stores a new session for `principal` in `tx`.
  ///
  /// - Returns: the session, its token's hash (its key), and the token.
  func insertSession(
    for principal: Principal, limits: SessionLimits, rememberMe: Bool, label: String, now: Int64,
    in tx: RecordTransaction
  ) throws(VaultError) -> (session: Session, hash: [UInt8], token: String) {
    let now = CivilTime.clamped(now)
    try SessionStore.checkLabel(label)
    let secret = SecureRandom.bytes(32)
    let hash = SHA256.hash(secret)
    // The organization may cap sessions tighter than the policy (never looser).
    var limits = limits
    let settings = try tx.settings()
    // The cap of the limits granted (owners and hq always get the standard ones, with
    // remember-me or not).
    let field = limits == .remembered ? "rememberedSessionCapDays" : "sessionCapDays"
    if case .integer(let days)? = settings[field], (1...365).contains(days) {
      limits = SessionLimits(
        idle: min(limits.idle, days * SessionLimits.day),
        cap: min(limits.cap, days * SessionLimits.day))
    }
    let session = Session(
      id: SessionStore.id(ofHash: hash), user: principal.user, createdAt: now, lastUsedAt: now,
      expiresAt: min(now + limits.idle, now + limits.cap), capAt: now + limits.cap,
      rememberMe: rememberMe, label: label)
    let tree = try tx.source.sealed.tree(SessionStore.tree)
    try tree.insert(session.encode(), forKey: SessionStore.sessionKey(hash))
    try tree.insert([], forKey: SessionStore.userKey(principal.user, hash))
    return (session, hash, SessionStore.tokenPrefix + Hex.encode(secret))
  }

  /// The principal and session a token stands for at `now`, its expiry pushed to
  /// `now + idle` (never past the cap).
  ///
  /// - Throws: `.wrongPassword` alike for an unknown, expired or revoked token (an
  ///   expired one is removed) or a disabled user; `.policyViolation` when the clock
  ///   reads earlier than the session's last use by more than five minutes (expiry
  ///   cannot be decided on a clock gone back; the refusal is audited).
  @_spi(Engine) public func resumeSession(token: String, now: Int64) throws(VaultError) -> (
    principal: Principal, session: Session
  ) {
    let now = CivilTime.clamped(now)
    guard let hash = SessionStore.hash(ofToken: token) else { throw SessionStore.refused }
    // Most uses come within a minute of the last recorded one: a read suffices, and
    // the last use is recorded at minute granularity (a handle checks every call).
    let recent = try sealed.read { snapshot throws(VaultError) -> (Principal, Session)? in
      guard
        let stored = try snapshot.snapshot.anyTree(named: SessionStore.tree)?.value(
          forKey: SessionStore.sessionKey(hash))
      else { return nil }
      let session = try Session(decoding: stored, id: SessionStore.id(ofHash: hash))
      guard now >= session.lastUsedAt, now - session.lastUsedAt < SessionStore.refreshInterval,
        now < session.expiresAt, now < session.capAt,
        let user = try RecordSnapshot(store: self, sealed: snapshot).source.load(
          .users, session.user.bytes),
        user.text("status") != "disabled", let role = user.text("role")
      else { return nil }
      return (
        Principal(
          user: session.user, name: user.text("name") ?? "", role: role, branch: user.branch),
        session
      )
    }
    if let recent { return recent }
    enum Outcome {
      case resumed(Principal, Session)
      case refused
      case clockWentBack
    }
    // Refusals still commit: an expired session's removal, a clock gone back's entry.
    let outcome = try sealed.write { tx throws(VaultError) -> Outcome in
      let tree = try tx.tree(SessionStore.tree)
      guard let stored = try tree.value(forKey: SessionStore.sessionKey(hash)) else {
        return .refused
      }
      var session = try Session(decoding: stored, id: SessionStore.id(ofHash: hash))
      guard now >= session.lastUsedAt - SessionStore.clockTolerance else {
        try tx.audit(
          AuditDraft(
            .clockRollback, actor: .system, outcome: .denied, targets: [session.user],
            detail: (
              .organization,
              ["previousTime": .int(session.lastUsedAt), "time": .int(now)]
            )))
        return .clockWentBack
      }
      guard now < session.expiresAt, now < session.capAt else {
        try tree.removeValue(forKey: SessionStore.sessionKey(hash))
        try tree.removeValue(forKey: SessionStore.userKey(session.user, hash))
        return .refused
      }
      let records = RecordTransaction(store: self, sealed: tx, actor: nil)
      guard let user = try records.source.load(.users, session.user.bytes),
        user.text("status") != "disabled", let role = user.text("role")
      else { return .refused }
      let limits = SessionLimits.limits(role: role, rememberMe: session.rememberMe)
      session.lastUsedAt = max(session.lastUsedAt, now)
      session.expiresAt = min(now + limits.idle, session.capAt)
      try tree.insert(session.encode(), forKey: SessionStore.sessionKey(hash))
      let principal = Principal(
        user: session.user, name: user.text("name") ?? "", role: role, branch: user.branch)
      return .resumed(principal, session)
    }
    switch outcome {
    case .resumed(let principal, let session): return (principal, session)
    case .refused: throw SessionStore.refused
    case .clockWentBack:
      throw VaultError(
        .policyViolation,
        "the clock reads earlier than this session's last use: fix the clock, then retry")
    }
  }

  /// The public id of the session a token opens (nil for text that is no token).
  @_spi(Engine) public static func sessionID(ofToken token: String) -> String? {
    SessionStore.hash(ofToken: token).map(SessionStore.id(ofHash:))
  }

  /// The live sessions of `user` at `now`, oldest first.
  @_spi(Engine) public func sessions(of user: RecordID, now: Int64) throws(VaultError)
    -> [Session]
  {
    try sealed.read { snapshot throws(VaultError) in
      guard let tree = try snapshot.snapshot.anyTree(named: SessionStore.tree) else { return [] }
      var found = [Session]()
      let prefix = [0x02] + user.bytes
      try tree.scanTyped(from: prefix, to: prefix + [UInt8](repeating: 0xFF, count: 33)) {
        key, _ throws(VaultError) in
        let hash = Array(key.dropFirst(prefix.count))
        guard let stored = try tree.value(forKey: SessionStore.sessionKey(hash)) else {
          return true
        }
        let session = try Session(decoding: stored, id: SessionStore.id(ofHash: hash))
        if now < session.expiresAt, now < session.capAt { found.append(session) }
        return true
      }
      return found.sorted { $0.createdAt < $1.createdAt }
    }
  }

  /// Revokes sessions of `user`: the one named `id`, or (nil) all of them but
  /// `keeping`. Audited (`sessionRevoked`, by `actor`).
  ///
  /// - Returns: how many were revoked.
  @discardableResult
  @_spi(Engine) public func revokeSessions(
    of user: RecordID, id: String? = nil, keeping: String? = nil, actor: AuditActor,
    authorize: (SealedTransaction) throws(VaultError) -> Void = { _ in }
  ) throws(VaultError) -> Int {
    try sealed.write { tx throws(VaultError) in
      try authorize(tx)
      let count = try SessionStore.revoke(of: user, id: id, keeping: keeping, in: tx)
      if count > 0 {
        try tx.audit(
          AuditDraft(
            .sessionRevoked, actor: actor, targets: [user],
            detail: (.organization, ["sessions": .int(Int64(count))])))
      }
      return count
    }
  }
}

extension SessionStore {
  /// Removes sessions of `user` inside `tx`: the one named `id`, or (nil) all but
  /// `keeping`. Returns how many.
  static func revoke(
    of user: RecordID, id: String? = nil, keeping: String? = nil, in tx: SealedTransaction
  ) throws(VaultError) -> Int {
    guard try tx.transaction.anyTree(named: tree) != nil else { return 0 }
    let sessions = try tx.tree(tree)
    let prefix = [0x02] + user.bytes
    var hashes = [[UInt8]]()
    try sessions.scanTyped(from: prefix, to: prefix + [UInt8](repeating: 0xFF, count: 33)) {
      key, _ throws(VaultError) in
      let hash = Array(key.dropFirst(prefix.count))
      let name = Self.id(ofHash: hash)
      if let id, name != id { return true }
      if name != keeping { hashes.append(hash) }
      return true
    }
    for hash in hashes {
      try sessions.removeValue(forKey: sessionKey(hash))
      try sessions.removeValue(forKey: userKey(user, hash))
    }
    // Their unused step-up proofs go with them.
    if !hashes.isEmpty {
      let ended = Set(hashes)
      var proofs = [[UInt8]]()
      try sessions.scanTyped(from: [0x04], to: [0x05]) { key, value throws(VaultError) in
        if value.count >= 32, ended.contains(Array(value.prefix(32))) { proofs.append(key) }
        return true
      }
      for key in proofs { try sessions.removeValue(forKey: key) }
    }
    return hashes.count
  }
}
