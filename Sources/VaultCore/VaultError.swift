/// The one error type of StudioVault.
///
/// A `VaultError` carries a ``Code`` that callers switch on, a human message that
/// says what went wrong and what to do next, and where known the page, byte offset
/// and `errno` involved. Messages never contain secrets, key material or record
/// contents: they are safe to log.
public struct VaultError: Error, Sendable, Hashable, CustomStringConvertible {
  /// What kind of failure this is. Extensible: new codes may be added in later
  /// releases, so a `switch` over codes needs a `default`.
  public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The file is not a vault (wrong magic) or is too short to be one.
    public static let notAVault = Code(rawValue: "notAVault")
    /// The file was written by a newer format version or uses unknown features.
    public static let unsupportedVersion = Code(rawValue: "unsupportedVersion")
    /// A page failed its checksum or its header does not match what refers to it.
    public static let corruptPage = Code(rawValue: "corruptPage")
    /// Bytes inside a page or structure cannot be decoded.
    public static let corrupt = Code(rawValue: "corrupt")
    /// A structure ended before its declared length.
    public static let truncated = Code(rawValue: "truncated")
    /// Another process holds the write lock and the wait ran out.
    public static let locked = Code(rawValue: "locked")
    /// The operating system reported an I/O failure (see ``VaultError/errno``).
    public static let io = Code(rawValue: "io")
    /// The file system is full.
    public static let noSpace = Code(rawValue: "noSpace")
    /// A file the operation needs does not exist.
    public static let notFound = Code(rawValue: "notFound")
    /// A file the operation would create already exists.
    public static let alreadyExists = Code(rawValue: "alreadyExists")
    /// The operating system refused access to a file.
    public static let permissionDenied = Code(rawValue: "permissionDenied")
    /// A caller passed an argument outside what the API accepts.
    public static let invalidArgument = Code(rawValue: "invalidArgument")
    /// A key or value exceeds a size limit of the format.
    public static let tooLarge = Code(rawValue: "tooLarge")
    /// The API was used out of order (for example a transaction used after it ended).
    public static let misuse = Code(rawValue: "misuse")
    /// A write was attempted through a read-only handle.
    public static let readOnly = Code(rawValue: "readOnly")
    /// Every slot of the reader table is taken by live processes.
    public static let tooManyReaders = Code(rawValue: "tooManyReaders")
    /// A snapshot's pages were reused underneath it; start a new read.
    public static let snapshotExpired = Code(rawValue: "snapshotExpired")
    /// The passphrase or key given does not unlock this vault.
    public static let wrongPassphrase = Code(rawValue: "wrongPassphrase")
    /// Sealed bytes failed authentication: tampered with, moved, or sealed under
    /// another key.
    public static let authenticationFailed = Code(rawValue: "authenticationFailed")
    /// The operation reads or writes sealed content and the vault was opened without
    /// its key.
    public static let keyRequired = Code(rawValue: "keyRequired")
    /// The data was destroyed on purpose (crypto-shredded) and cannot be read.
    public static let erased = Code(rawValue: "erased")
    /// A record (typed, or JSON to import) breaks its collection's schema: a missing
    /// or unknown field, a wrong type, a bad value. The message names the field.
    public static let invalidRecord = Code(rawValue: "invalidRecord")
    /// No record has this id in the caller's scope.
    public static let noSuchRecord = Code(rawValue: "noSuchRecord")
    /// A record with this id or unique name already exists.
    public static let duplicateRecord = Code(rawValue: "duplicateRecord")
    /// The action breaks a rule of the product's policy (for example delivering a
    /// project with an unpaid invoice, or rewriting an append-only financial record).
    public static let policyViolation = Code(rawValue: "policyViolation")
    /// A write-once rule refused the action: overwriting a stored blob, deleting one
    /// before its retention ends or under a legal hold, shortening compliance
    /// retention. Always audited.
    public static let worm = Code(rawValue: "worm")
    /// The user name or password is wrong (one error for both, by design: the answer
    /// must not tell whether the user exists).
    public static let wrongPassword = Code(rawValue: "wrongPassword")
    /// Too many failed logins for this name: the message says when to retry (or that
    /// an admin must unlock the account). The same for known and unknown names.
    public static let throttled = Code(rawValue: "throttled")
    /// The system could not provide the memory an operation needs.
    public static let outOfMemory = Code(rawValue: "outOfMemory")
    /// An invariant of the engine itself failed: a bug, please report it.
    public static let `internal` = Code(rawValue: "internal")
  }

  /// What kind of failure this is.
  public var code: Code
  /// A human-readable explanation, free of secrets.
  public var message: String
  /// The page involved, when the failure concerns one page of the vault file.
  public var page: UInt64?
  /// The byte offset involved: within ``page`` when a page is set, else within the file
  /// or structure being decoded.
  public var offset: Int?
  /// The operating system's error number for ``Code/io`` and related codes.
  public var errno: Int32?

  /// Creates an error.
  public init(
    _ code: Code, _ message: String, page: UInt64? = nil, offset: Int? = nil,
    errno: Int32? = nil
  ) {
    self.code = code
    self.message = message
    self.page = page
    self.offset = offset
    self.errno = errno
  }

  public var description: String {
    var text = message
    if let page {
      text += " (page \(page)" + (offset.map { ", offset \($0)" } ?? "") + ")"
    } else if let offset {
      text += " (offset \(offset))"
    }
    if let errno { text += " [errno \(errno)]" }
    return text
  }
}

extension VaultError {
  /// Whether the error says the stored bytes are wrong (damaged, truncated, not a
  /// vault, failing authentication), as opposed to failing to read them: only such errors may make recovery
  /// pass over a commit.
  package var isDamage: Bool {
    [.corruptPage, .corrupt, .truncated, .notAVault, .authenticationFailed].contains(code)
  }

  /// The same error, placed at `page` when it did not name a page yet.
  package func onPage(_ page: UInt64) -> VaultError {
    var copy = self
    if copy.page == nil { copy.page = page }
    return copy
  }
}
