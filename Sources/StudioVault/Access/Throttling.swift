import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// Failed-login throttling (../shared/spec/access.md, Authentication): per attempted
/// name, known or not, an escalating delay after consecutive failures and a lock at
/// 100 until an admin unlocks; TOTP failures counted apart. Spikes of failures per
/// branch and organization are logged (`failedLoginSpike`).
///
/// The state lives in the sealed tree `$throttle` (FORMAT.md 22), keyed by a blinded
/// hash of the name: the names people typed are not kept.
enum Throttling {
  static let tree = "$throttle"
  /// Failures allowed before delays start.
  static let freeFailures: UInt32 = 3
  /// The longest delay between attempts.
  static let maximumDelay: Int64 = 15 * 60_000
  /// Consecutive failures that lock the name until an admin unlocks it.
  static let lockAt: UInt32 = 100
  /// At most this many names are tracked; the least recently failed go first.
  static let maximumNames = 10_000
  /// A spike: this many failures within the window, per branch or organization.
  static let spikeCount = 20
  static let spikeWindow: Int64 = 5 * 60_000

  /// The state of one attempted name.
  struct State: Equatable {
    var failures: UInt32 = 0
    var totpFailures: UInt32 = 0
    var lastFailure: Int64 = 0

    var isLocked: Bool { failures >= lockAt || totpFailures >= lockAt }

    /// Milliseconds to wait after the last failure before the next attempt.
    var delay: Int64 {
      let counted = max(failures, totpFailures)
      guard counted > freeFailures else { return 0 }
      let exponent = min(Int64(counted - freeFailures - 1), 20)
      return min(1000 << exponent, maximumDelay)
    }

    /// `u32` failures ‖ `u32` TOTP failures ‖ `i64` last failure.
    func encode() -> [UInt8] {
      var writer = ByteWriter(capacity: 16)
      writer.write(failures)
      writer.write(totpFailures)
      writer.write(lastFailure)
      return writer.bytes
    }

    init() {}

    init(decoding bytes: [UInt8]) throws(VaultError) {
      var reader = ByteReader(bytes)
      failures = try reader.readUInt32("failures")
      totpFailures = try reader.readUInt32("TOTP failures")
      lastFailure = CivilTime.clamped(try reader.readInt64("last failure"))
      guard reader.isAtEnd else { throw reader.corrupt("bytes after a throttle state") }
    }
  }

  /// `01` ‖ the name's blind token: equal for every spelling that finds the same user
  /// (folded as user names are: case, accents, runs of spaces), meaningless without
  /// the key.
  static func nameKey(_ name: String, blind: BlindIndex) -> [UInt8] {
    let folded = SearchTokens.fold(name).split(whereSeparator: \.isWhitespace).joined(
      separator: " ")
    return [0x01] + blind.token(folded, label: "throttle.name")
  }

  /// `02` ‖ `i64` big-endian last failure ‖ name token: the order to evict in.
  static func ageKey(_ time: Int64, _ nameKey: [UInt8]) -> [UInt8] {
    var writer = ByteWriter(capacity: 26)
    writer.write(UInt8(0x02))
    writer.writeBigEndian(UInt64(bitPattern: time) ^ (1 << 63))
    writer.write(nameKey.dropFirst())
    return writer.bytes
  }

  /// `03` ‖ scope (16 bytes: a branch, or zeros for the organization): recent failure
  /// times (`i64` each, oldest first) and the time a spike was last reported.
  static func spikeKey(_ scope: [UInt8]) -> [UInt8] { [0x03] + scope }

  /// What a spike key holds: `i64` last reported ‖ `i64` failure times, oldest first.
  struct SpikeHistory: Equatable {
    var reported: Int64 = 0
    var times: [Int64] = []

    init() {}

    init(decoding bytes: [UInt8]) throws(VaultError) {
      var reader = ByteReader(bytes)
      reported = try reader.readInt64("spike reported")
      while !reader.isAtEnd { times.append(try reader.readInt64("failure time")) }
    }

    func encode() -> [UInt8] {
      var writer = ByteWriter(capacity: 8 + times.count * 8)
      writer.write(reported)
      for time in times { writer.write(time) }
      return writer.bytes
    }
  }

  /// Refuses an attempt on a locked or cooling-down name, with when to retry.
  static func check(_ state: State, now: Int64) throws(VaultError) {
    if state.isLocked {
      throw VaultError(
        .throttled, "too many failed logins: this account is locked until an admin unlocks it")
    }
    let wait = state.lastFailure + state.delay - now
    if wait > 0 {
      throw VaultError(
        .throttled, "too many failed logins: retry in \((wait + 999) / 1000) s")
    }
  }
}

extension SealedTransaction {
  /// The throttle state of `name`.
  func throttleState(_ name: String, blind: BlindIndex) throws(VaultError) -> Throttling.State {
    let tree = try tree(Throttling.tree)
    return try tree.value(forKey: Throttling.nameKey(name, blind: blind)).map(
      Throttling.State.init(decoding:)) ?? Throttling.State()
  }

  /// Counts an attempt on `name` as failed before its password is checked, in the
  /// commit that checked the name may try now: concurrent attempts, in this process or
  /// another, each see the ones before (the write lock orders them). A success clears
  /// it; a failure is then ``recordLoginFailure(_:totp:branch:now:blind:reserved:)``
  /// with `reserved`.
  func reserveLoginAttempt(_ name: String, now: Int64, blind: BlindIndex) throws(VaultError) {
    try countFailure(name, totp: false, undoingReservation: false, now: now, blind: blind)
  }

  /// Records a failed attempt on `name` (a TOTP failure counts apart; `reserved`: the
  /// attempt was counted as a password failure already); counts it toward spikes of
  /// `branch` and the organization, logging `failedLoginSpike` when one starts.
  func recordLoginFailure(
    _ name: String, totp: Bool, branch: RecordID?, now: Int64, blind: BlindIndex,
    reserved: Bool = false
  ) throws(VaultError) {
    if !reserved || totp {
      try countFailure(name, totp: totp, undoingReservation: reserved, now: now, blind: blind)
    }
    let tree = try tree(Throttling.tree)
    for scope in [branch?.bytes, RecordID.allZero.bytes].compactMap({ $0 }) {
      try countTowardSpike(scope: scope, branch: branch, now: now, in: tree)
    }
  }

  /// Adds one failure to `name`'s state (a TOTP one replacing the password failure a
  /// reservation counted, when `undoingReservation`), and evicts the least recently
  /// failed names past the bound.
  private func countFailure(
    _ name: String, totp: Bool, undoingReservation: Bool, now: Int64, blind: BlindIndex
  ) throws(VaultError) {
    let tree = try tree(Throttling.tree)
    let key = Throttling.nameKey(name, blind: blind)
    var state = try throttleState(name, blind: blind)
    if state.lastFailure != 0 || state.failures != 0 || state.totpFailures != 0 {
      try tree.removeValue(forKey: Throttling.ageKey(state.lastFailure, key))
    }
    if undoingReservation, state.failures > 0 { state.failures -= 1 }
    if totp { state.totpFailures &+= 1 } else { state.failures &+= 1 }
    state.lastFailure = now
    try tree.insert(state.encode(), forKey: key)
    try tree.insert([], forKey: Throttling.ageKey(now, key))
    // Bounded: evict the names whose last failure is oldest.
    let ages = ([0x02] as [UInt8], [0x03] as [UInt8])
    var excess = Int(tree.count) / 2 - Throttling.maximumNames
    if excess > 0 {
      // Oldest first, and never a locked name (junk failures must not unlock anyone).
      var evicted = [[UInt8]]()
      try tree.scanTyped(from: ages.0, to: ages.1) { ageKey, _ throws(VaultError) in
        let nameKey = [0x01] + ageKey.dropFirst(9)
        if let stored = try tree.value(forKey: nameKey),
          try Throttling.State(decoding: stored).isLocked
        {
          return true
        }
        evicted.append(ageKey)
        excess -= 1
        return excess > 0
      }
      for ageKey in evicted {
        try tree.removeValue(forKey: ageKey)
        try tree.removeValue(forKey: [0x01] + ageKey.dropFirst(9))
      }
    }
  }

  private func countTowardSpike(
    scope: [UInt8], branch: RecordID?, now: Int64, in tree: WriteTree
  ) throws(VaultError) {
    let key = Throttling.spikeKey(scope)
    var history =
      try tree.value(forKey: key).map(Throttling.SpikeHistory.init(decoding:))
      ?? Throttling.SpikeHistory()
    let recent = history.times.filter { $0 > now - Throttling.spikeWindow } + [now]
    history.times = Array(recent.suffix(Throttling.spikeCount))
    let times = history.times
    let isOrganization = scope == RecordID.allZero.bytes
    if times.count >= Throttling.spikeCount, history.reported <= now - Throttling.spikeWindow {
      history.reported = now
      try audit(
        AuditDraft(
          .failedLoginSpike, actor: .system, branch: isOrganization ? nil : branch,
          outcome: .denied,
          detail: (
            isOrganization ? .organization : branch.map(AuditSubject.branch) ?? .organization,
            [
              "failures": .int(Int64(times.count)),
              "windowSeconds": .int(Throttling.spikeWindow / 1000),
            ]
          )))
    }
    try tree.insert(history.encode(), forKey: key)
  }

  /// Forgets the failures of `name` (a successful login, or an admin's unlock).
  func clearLoginFailures(_ name: String, blind: BlindIndex) throws(VaultError) {
    guard try transaction.anyTree(named: Throttling.tree) != nil else { return }
    let tree = try tree(Throttling.tree)
    let key = Throttling.nameKey(name, blind: blind)
    guard let stored = try tree.value(forKey: key) else { return }
    let state = try Throttling.State(decoding: stored)
    try tree.removeValue(forKey: key)
    try tree.removeValue(forKey: Throttling.ageKey(state.lastFailure, key))
  }
}

extension RecordStore {
  /// Lets `name` log in again after failures or a lock (an admin's act, audited as
  /// `userUnlocked` by `actor`).
  ///
  /// - Throws: `.policyViolation` (logged) unless `actor` may manage that user (the
  ///   granting rules, in scope); `.noSuchRecord` for an unknown name.
  @_spi(Engine) public func unlockLogins(
    of name: String, by actor: Principal,
    authorize: (SealedTransaction) throws(VaultError) -> Void = { _ in }
  ) throws(VaultError) {
    let allowed = try write(actor: nil) { tx throws(VaultError) -> Bool in
      guard let id = try tx.source.id(named: name, in: .users),
        let user = try tx.source.load(.users, id.bytes)
      else { throw VaultError(.noSuchRecord, "no user named \(name)") }
      guard actor.scope.contains(user), Self.mayManage(user, by: actor) else { return false }
      try authorize(tx.source.sealed)
      try tx.source.sealed.clearLoginFailures(name, blind: indexes.blind)
      try tx.audit(AuditDraft(.userUnlocked, actor: actor.auditActor, targets: [id]))
      return true
    }
    if !allowed { throw try denied(.userUnlocked, actor, "a \(actor.role) may not unlock \(name)") }
  }
}
