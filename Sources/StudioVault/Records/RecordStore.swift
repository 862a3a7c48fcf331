import Glibc
import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// The studio's records: typed collections with secondary indexes, over sealed
/// records (``SealedStore``). Every query and write runs inside a ``Scope``.
///
/// Applications reach records through ``Vault`` and capability handles
/// (``VaultHandle``), which derive the scope and the acting user from a session. This is
/// the engine underneath them, unscoped unless told a scope, hence SPI
/// (`@_spi(Engine)`): the CLI and the tests use it, applications do not.
@_spi(Engine) public final class RecordStore: Sendable {
  @_spi(Engine) public let sealed: SealedStore
  let indexes: RecordIndexes
  let currencies = CurrencyCache()

  /// What `vault init --owner` sets up: the organization and its first owner.
  @_spi(Engine) public struct Organization: Sendable {
    @_spi(Engine) public var ownerName: String
    @_spi(Engine) public var ownerPassword: SecretBytes
    @_spi(Engine) public var currency: Currency
    /// The cost of users' password hashes.
    @_spi(Engine) public var passwordHashing: PasswordKDF.Parameters

    @_spi(Engine) public init(
      ownerName: String, ownerPassword: SecretBytes, currency: Currency,
      passwordHashing: PasswordKDF.Parameters = .moderate
    ) {
      self.ownerName = ownerName
      self.ownerPassword = ownerPassword
      self.currency = currency
      self.passwordHashing = passwordHashing
    }
  }

  /// Passwords are at least this long without a second factor (../shared/spec/access.md).
  @_spi(Engine) public static let minimumPasswordLength = 15
  /// The minimum for an account with a second factor.
  @_spi(Engine) public static let minimumPasswordLengthWithSecondFactor = 8
  @_spi(Engine) public static let maximumPasswordLength = 1024

  @_spi(Engine) public init(_ sealed: SealedStore) throws(VaultError) {
    guard let master = sealed.store.masterKey else {
      throw VaultError(.keyRequired, "records need the vault's passphrase or key")
    }
    self.sealed = sealed
    indexes = RecordIndexes(
      blind: BlindIndex(indexKey: master.derive(.indexBlinding)), pageSize: sealed.store.pageSize)
  }

  /// Creates a vault holding an organization and its first owner.
  ///
  /// - Throws: `.invalidArgument` for a short password or an empty name (nothing is
  ///   created), and what ``SealedStore/create(at:credential:keyDerivation:pageSize:options:)``
  ///   throws. If setting up the organization fails, the new file is removed.
  @_spi(Engine) public static func create(
    at path: String, credential: VaultCredential, keyDerivation: PasswordKDF.Parameters = .moderate,
    pageSize: Int = FileFormat.defaultPageSize, organization: Organization,
    options: VaultStore.Options = .init()
  ) throws(VaultError) -> RecordStore {
    try requirePassword(organization.ownerPassword)
    let hash = try PasswordHash.hash(
      organization.ownerPassword, parameters: organization.passwordHashing)
    let sealed = try SealedStore.create(
      at: path, credential: credential, keyDerivation: keyDerivation, pageSize: pageSize,
      options: options)
    do {
      let store = try RecordStore(sealed)
      try store.write(actor: nil) { tx throws(VaultError) in
        try tx.audit(
          AuditDraft(
            .vaultCreated, actor: .system,
            detail: (.organization, ["currency": .string(organization.currency.code)])))
        var settings = Record(.settings, id: settingsID)
        settings["currency"] = .string(organization.currency.code)
        settings["billingEnforcement"] = .bool(true)
        // A named level is recorded: logins rehash older hashes up to it. (Custom
        // parameters, as tests use, are left as they are.)
        if let level = organization.passwordHashing.levelName {
          settings["passwordHashing"] = .string(level)
        }
        _ = try tx.insertTrusted(settings, scope: .organization)
        var owner = Record(.users)
        owner["name"] = .string(organization.ownerName)
        owner["role"] = .string("owner")
        owner["status"] = .string("active")
        owner["passwordHash"] = .string(hash)
        _ = try tx.insertTrusted(owner, scope: .organization)
      }
      return store
    } catch {
      unlink(path)
      throw error
    }
  }

  /// Opens a vault's records.
  @_spi(Engine) public static func open(
    at path: String, credential: VaultCredential, options: VaultStore.Options = .init()
  ) throws(VaultError) -> RecordStore {
    try RecordStore(SealedStore.open(at: path, credential: credential, options: options))
  }

  /// Runs `body` in one write transaction, acting as user `actor` (recorded as the
  /// creator of new records and the one who applied discounts); with `role`, inserts
  /// and updates obey that role's field permissions (``FieldAccess``).
  ///
  /// - Parameter now: the time the transaction's records carry (the wall clock by
  ///   default; a handle passes its own).
  @_spi(Engine) public func write<T>(
    actor: RecordID?, role: String? = nil, scope: Scope? = nil, now: Timestamp = .now(),
    _ body: (RecordTransaction) throws(VaultError) -> T
  ) throws(VaultError) -> T {
    try sealed.write { tx throws(VaultError) in
      try body(
        RecordTransaction(
          store: self, sealed: tx, actor: actor, role: role, scope: scope, now: now))
    }
  }

  /// Runs `body` with a snapshot of the newest commit.
  @_spi(Engine) public func read<T>(_ body: (RecordSnapshot) throws(VaultError) -> T)
    throws(VaultError) -> T
  {
    try sealed.read { snapshot throws(VaultError) in
      try body(RecordSnapshot(store: self, sealed: snapshot))
    }
  }

  // MARK: Users

  /// Who a password login established.
  @_spi(Engine) public struct Principal: Sendable, Hashable {
    @_spi(Engine) public let user: RecordID
    @_spi(Engine) public let name: String
    @_spi(Engine) public let role: String
    @_spi(Engine) public let branch: RecordID?

    /// Owners and hq reach the organization; everyone else their branch.
    @_spi(Engine) public var scope: Scope {
      if role == "owner" || role == "hq" { return .organization }
      // A branch role without a branch reaches nothing: a scope of no real branch.
      return .branch(branch ?? settingsID)
    }
  }

  /// Checks a user's password at `now` (milliseconds since the epoch).
  ///
  /// - Throws: `.wrongPassword` alike for an unknown user, a disabled one and a wrong
  ///   password (an unknown name costs a hash too, so timing tells nothing either);
  ///   `.throttled`, before any password is checked, for a name with too many recent
  ///   failures (known or not), saying when to retry.
  ///   For an account with a second factor, `totp` must be its current code or one of
  ///   its recovery codes (consumed); without it, or with a wrong one, `.wrongPassword`
  ///   says so (the password was right), and TOTP failures are throttled apart.
  ///
  ///   When the organization requires a second factor for the user's role
  ///   (`requireTwoFactor`) and the account has none, the login is refused
  ///   (`.policyViolation`, logged) unless it is `forEnrollment`: a login that may only
  ///   enroll one.
  @_spi(Engine) public func authenticate(
    user name: String, password: SecretBytes, totp: String? = nil,
    now: Int64 = Timestamp.now().milliseconds, forEnrollment: Bool = false
  ) throws(VaultError) -> Principal {
    try authenticate(
      user: name, password: password, totp: totp, now: now, auditing: true,
      forEnrollment: forEnrollment)
  }

  /// ``authenticate(user:password:totp:now:forEnrollment:)``; with `auditing` false (a
  /// step-up, which logs its own entry) no login entry is written, but failures still
  /// count. `completing` runs in the commit that records the success (a login opens its
  /// session there: a session without its login entry, or a login entry without the
  /// session, is never committed); a read-only store, which records nothing, skips it.
  func authenticate(
    user name: String, password: SecretBytes, totp: String? = nil, now: Int64, auditing: Bool,
    forEnrollment: Bool = false,
    completing: (RecordTransaction, Principal) throws(VaultError) -> Void = { _, _ in }
  ) throws(VaultError) -> Principal {
    let now = CivilTime.clamped(now)
    // May the name try now? Checked, and the attempt counted as a failure until it
    // succeeds, in one commit: concurrent attempts cannot all pass the same check. (A
    // read-only store records nothing: it only checks.)
    let refusal: VaultError?
    if sealed.store.isReadOnly {
      let throttle = try read { snapshot throws(VaultError) -> Throttling.State in
        guard
          let stored = try snapshot.source.sealed.snapshot.anyTree(named: Throttling.tree)?.value(
            forKey: Throttling.nameKey(name, blind: indexes.blind))
        else { return Throttling.State() }
        return try Throttling.State(decoding: stored)
      }
      refusal = Self.refusal { () throws(VaultError) in try Throttling.check(throttle, now: now) }
    } else {
      refusal = try sealed.write { tx throws(VaultError) -> VaultError? in
        let state = try tx.throttleState(name, blind: indexes.blind)
        if let refusal = Self.refusal({ () throws(VaultError) in
          try Throttling.check(state, now: now)
        }) {
          return refusal
        }
        try tx.reserveLoginAttempt(name, now: now, blind: indexes.blind)
        return nil
      }
    }
    if let refusal {
      try auditLogin(nil, role: nil, succeeded: false, throttled: true, auditing: auditing)
      throw refusal
    }
    let (found, level, requiredRoles) = try read { snapshot throws(VaultError) in
      let settings = try snapshot.source.settings()
      let level = settings.text("passwordHashing").flatMap(
        PasswordKDF.Parameters.init(levelName:))
      let required = settings.texts("requireTwoFactor")
      guard let id = try snapshot.source.id(named: name, in: .users) else {
        return (Record?.none, level, required)
      }
      return (try snapshot.source.load(.users, id.bytes), level, required)
    }
    let role = found?.text("role").flatMap(AuditRole.init(name:))
    guard let user = found, let id = user.id, let hash = user.text("passwordHash"),
      user.text("status") != "disabled", let role
    else {
      // As slow as checking a real hash, so timing does not tell who exists.
      _ = try? PasswordHash.hash(password, parameters: level ?? .interactive)
      try auditLogin(found, role: role, succeeded: false, auditing: auditing) {
        tx throws(VaultError) in
        try tx.source.sealed.recordLoginFailure(
          name, totp: false, branch: found?.branch, now: now, blind: indexes.blind, reserved: true)
      }
      throw Self.wrongPassword
    }
    guard PasswordHash.verify(password, against: hash) else {
      try auditLogin(user, role: role, succeeded: false, auditing: auditing) {
        tx throws(VaultError) in
        try tx.source.sealed.recordLoginFailure(
          name, totp: false, branch: user.branch, now: now, blind: indexes.blind, reserved: true)
      }
      throw Self.wrongPassword
    }
    // The second factor, when the account has one: checked (and a step or recovery code
    // used up) in a commit of its own; a failure is counted and logged like a bad password.
    let enrolled = try hasSecondFactor(id)
    // A password of 8 to 14 characters is allowed only with a second factor; one that
    // outlived its factor (removed, or reset by an admin) may only enroll a new one.
    let shortPassword = Self.characterCount(password) < Self.minimumPasswordLength
    if !enrolled, shortPassword || requiredRoles.contains(role.description), !forEnrollment {
      // The password was right: saying so is no oracle, and the user must know what to do.
      // The password was right: the attempt's reservation is released.
      try auditLogin(user, role: role, succeeded: false, throttled: true, auditing: auditing) {
        tx throws(VaultError) in
        try tx.source.sealed.clearLoginFailures(name, blind: indexes.blind)
      }
      throw VaultError(
        .policyViolation,
        shortPassword
          ? "a password under \(Self.minimumPasswordLength) characters needs a second factor:"
            + " enroll one first (vault totp enroll)"
          : "the organization requires a second factor for the role \(role.description):"
            + " enroll one first (vault totp enroll)")
    }
    if sealed.store.isReadOnly {
      // A code is checked and used up in a commit: a read-only store cannot.
      if enrolled {
        throw VaultError(
          .policyViolation,
          "this account's one-time code can only be checked on a vault opened for writing")
      }
    } else {
      let passed = try sealed.write { tx throws(VaultError) -> Bool? in
        try checkSecondFactor(totp, user: id, now: now, in: tx)
      }
      if passed == false {
        try auditLogin(user, role: role, succeeded: false, auditing: auditing) {
          tx throws(VaultError) in
          try tx.source.sealed.recordLoginFailure(
            name, totp: true, branch: user.branch, now: now, blind: indexes.blind, reserved: true)
        }
        throw VaultError(
          .wrongPassword,
          totp == nil
            ? "this account needs its one-time code (or a recovery code)"
            : "wrong one-time code")
      }
    }
    // Parameters rose since the hash was made: replace it while the password is here
    // (a read-only open leaves it for the next writable login).
    let fresh: String?
    if let level, PasswordHash.needsRehash(hash, parameters: level), !sealed.store.isReadOnly {
      fresh = try PasswordHash.hash(password, parameters: level)
    } else {
      fresh = nil
    }
    let principal = Principal(
      user: id, name: user.text("name") ?? name, role: role.description, branch: user.branch)
    do throws(VaultError) {
      try auditLogin(user, role: role, succeeded: true, auditing: auditing) {
        tx throws(VaultError) in
        try tx.source.sealed.clearLoginFailures(name, blind: indexes.blind)
        if let fresh, var current = try tx.source.load(.users, id.bytes) {
          current["passwordHash"] = .string(fresh)
          try tx.replaceTrusted(current, previous: try tx.source.load(.users, id.bytes))
        }
        try completing(tx, principal)
      }
    } catch {
      // The password was right: whatever failed (a full disk, a damaged session tree),
      // the attempt's reservation is released rather than left counted as a failure
      // (best effort: the same failure may stop this commit too).
      try? sealed.write { tx throws(VaultError) in
        try tx.clearLoginFailures(name, blind: indexes.blind)
      }
      throw error
    }
    return principal
  }

  /// Records a login attempt (`loginSucceeded`, `loginFailed`), with `also` in the same
  /// transaction. A success is the user's own act; a failure is not known to be (anyone
  /// can type a name), so the system records it with the account as its target, which
  /// makes it the account holder's security event. An unknown name is recorded without
  /// a target (the name typed is not kept). A read-only store cannot write the log: a
  /// login then goes unrecorded.
  private func auditLogin(
    _ user: Record?, role: AuditRole?, succeeded: Bool, throttled: Bool = false,
    auditing: Bool = true,
    also: (RecordTransaction) throws(VaultError) -> Void = { _ throws(VaultError) in }
  ) throws(VaultError) {
    guard !sealed.store.isReadOnly else { return }
    var actor = AuditActor.system
    if succeeded, let id = user?.id, let role { actor = .user(id: id.bytes, role: role) }
    try write(actor: nil) { tx throws(VaultError) in
      // The attempt first, then what follows from it (a session, a step-up proof, a
      // spike of failures), in the order they happened.
      if auditing {
        try tx.audit(
          AuditDraft(
            succeeded ? .loginSucceeded : .loginFailed, actor: actor, branch: user?.branch,
            outcome: succeeded ? .success : throttled ? .denied : .failed,
            targets: user?.id.map { [$0] } ?? []))
      }
      try also(tx)
    }
  }

  static let wrongPassword = VaultError(.wrongPassword, "unknown user or wrong password")

  /// The error `body` throws, or nil.
  private static func refusal(_ body: () throws(VaultError) -> Void) -> VaultError? {
    do throws(VaultError) {
      try body()
      return nil
    } catch {
      return error
    }
  }

  /// Whether `user` has a confirmed second factor.
  func hasSecondFactor(_ user: RecordID) throws(VaultError) -> Bool {
    try sealed.read { snapshot throws(VaultError) in
      try snapshot.snapshot.anyTree(
        named: SealedStore.dataKeyTree(for: SecondFactor.keyCollection)
      )?.value(forKey: SecondFactor.seedKey(user, pending: false)) != nil
    }
  }

  /// The characters of `password` (not bytes: UTF-8 continuation bytes, 10xxxxxx,
  /// start none).
  static func characterCount(_ password: SecretBytes) -> Int {
    password.withUnsafeBytes { bytes in
      bytes.reduce(0) { count, byte in byte & 0xC0 == 0x80 ? count : count + 1 }
    }
  }

  /// Refuses a password shorter than the policy's minimum: 15 characters, or 8 for an
  /// account with a second factor (../shared/spec/access.md, Authentication).
  static func requirePassword(_ password: SecretBytes, secondFactor: Bool = false)
    throws(VaultError)
  {
    let characters = characterCount(password)
    let minimum = secondFactor ? minimumPasswordLengthWithSecondFactor : minimumPasswordLength
    guard characters >= minimum else {
      throw VaultError(
        .invalidArgument,
        secondFactor
          ? "a password needs at least \(minimum) characters"
          : "a password needs at least \(minimum) characters (8 with a second factor)")
    }
    guard password.count <= maximumPasswordLength else {
      throw VaultError(
        .invalidArgument, "a password may have at most \(maximumPasswordLength) bytes")
    }
  }
}

/// Records as one snapshot sees them.
@_spi(Engine) public struct RecordSnapshot {
  let source: SnapshotSource

  init(store: RecordStore, sealed: SealedSnapshot) {
    source = SnapshotSource(indexes: store.indexes, sealed: sealed, currencies: store.currencies)
  }

  /// Record `id` of `collection`, if it exists in `scope`.
  ///
  /// - Throws: `.erased` for a record crypto-shredded on purpose.
  @_spi(Engine) public func get(_ collection: RecordCollection, _ id: RecordID, scope: Scope)
    throws(VaultError) -> Record?
  {
    try source.get(collection, id, scope: scope)
  }

  /// A page of records (see ``RecordFilter``), continuing after `cursor`.
  @_spi(Engine) public func list(
    _ collection: RecordCollection, scope: Scope, filter: RecordFilter = .all,
    after cursor: String? = nil, limit: Int = 100
  ) throws(VaultError) -> RecordPage {
    try source.list(collection, scope: scope, filter: filter, after: cursor, limit: limit)
  }

  /// A page of search results (../shared/spec/records-json.md, Search).
  @_spi(Engine) public func search(
    _ collection: RecordCollection, _ text: String, scope: Scope, after cursor: String? = nil,
    limit: Int = 100
  ) throws(VaultError) -> RecordPage {
    try source.search(collection, text, scope: scope, after: cursor, limit: limit)
  }

  /// The organization's settings.
  @_spi(Engine) public func settings() throws(VaultError) -> Record { try source.settings() }

  /// `record` with its derived fields (a client's lifetime value: payments less
  /// executed refunds of its projects' invoices), which reads leave out because they
  /// cost index scans. Only for a record `scope` reaches.
  @_spi(Engine) public func withDerivedFields(_ record: Record, scope: Scope) throws(VaultError)
    -> Record
  {
    try source.withDerivedFields(record, scope: scope)
  }

  /// The id of the branch or user named `name`.
  @_spi(Engine) public func id(named name: String, in collection: RecordCollection)
    throws(VaultError) -> RecordID?
  {
    try source.id(named: name, in: collection)
  }
}

/// The organization's currency and the settings bytes it was read from.
final class CurrencyCache: Sendable {
  private let entry = Locked<(stored: [UInt8], currency: Currency?)?>(nil)

  /// The currency read from `stored`, if these are the bytes last seen (nil: unknown;
  /// `.some(nil)`: no currency set).
  func currency(for stored: [UInt8]) -> Currency?? {
    entry.withLock { cached in cached.flatMap { $0.stored == stored ? .some($0.currency) : nil } }
  }

  func remember(_ currency: Currency?, for stored: [UInt8]) {
    entry.withLock { $0 = (stored, currency) }
  }
}

/// ``RecordSource`` over a snapshot.
struct SnapshotSource: RecordSource {
  let indexes: RecordIndexes
  let sealed: SealedSnapshot
  let currencies: CurrencyCache

  /// Opening the settings record on every read of a client (for its lifetime value)
  /// would cost a decryption each time: the currency is kept with the settings'
  /// stored bytes, and reused while they are the same.
  func defaultCurrency() throws(VaultError) -> Currency? {
    // The stored (sealed) bytes alone: a tree lookup, no key, no decryption.
    let stored = try sealed.snapshot.tree(named: RecordCollection.settings.rawValue)?.value(
      forKey: settingsID.bytes)
    if let stored, let known = currencies.currency(for: stored) { return known }
    let currency = try currencyFromSettings()
    if let stored { currencies.remember(currency, for: stored) }
    return currency
  }

  func body(_ collection: RecordCollection, _ id: [UInt8]) throws(VaultError) -> [UInt8]? {
    try sealed.get(id, in: collection.rawValue)
  }

  func scanIndex(
    _ collection: RecordCollection, from start: [UInt8], to end: [UInt8]?,
    _ body: ([UInt8], [UInt8]) throws(VaultError) -> Bool
  ) throws(VaultError) {
    guard let tree = try sealed.snapshot.anyTree(named: RecordIndexes.treeName(collection)) else {
      return
    }
    try tree.scanTyped(from: start, to: end, body)
  }

  func searchRuns(_ collection: RecordCollection) throws(VaultError) -> [UInt64] {
    try SearchRuns.runs(
      listedIn: sealed.snapshot.anyTree(named: RecordIndexes.treeName(collection)))
  }

  func searchRunKeys(
    _ collection: RecordCollection, run: UInt64, from start: [UInt8], to end: [UInt8]?,
    limit: Int
  ) throws(VaultError) -> [[UInt8]] {
    try sealed.snapshot.anyTree(named: SearchRuns.treeName(collection, run: run))?.keys(
      from: start, to: end, limit: limit) ?? []
  }

  func scanIDs(
    _ collection: RecordCollection, from start: [UInt8]?,
    _ body: ([UInt8]) throws(VaultError) -> Bool
  ) throws(VaultError) {
    guard let tree = try sealed.snapshot.tree(named: collection.rawValue) else { return }
    try tree.scanTyped(from: start) { key, _ throws(VaultError) in try body(key) }
  }

  func indexValue(_ collection: RecordCollection, _ key: [UInt8]) throws(VaultError) -> [UInt8]? {
    try sealed.snapshot.anyTree(named: RecordIndexes.treeName(collection))?.value(forKey: key)
  }

  func open(_ collection: RecordCollection, _ id: [UInt8], sealed bytes: [UInt8])
    throws(VaultError) -> [UInt8]
  {
    try sealed.open(bytes, id: id, in: collection.rawValue)
  }
}
