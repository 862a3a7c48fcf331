import VaultCore

/// The exit codes of the CLI contract (../shared/spec/cli.md), from sysexits.h.
package enum ExitCode: Int32, Sendable {
  case success = 0
  /// `check`, `audit verify`, `backup --verify`: problems found.
  case problemsFound = 1
  case usage = 64
  /// Not a vault, corrupt, unsupported version, bad input record.
  case dataError = 65
  /// Input file missing or unreadable.
  case noInput = 66
  case internalError = 70
  case ioError = 74
  /// Locked by another writer after `--wait` ran out.
  case locked = 75
  /// Authentication failed, access denied, step-up required, WORM refused.
  case denied = 77

  /// The exit code for an engine error.
  package init(for error: VaultError) {
    switch error.code {
    case .notFound, .permissionDenied: self = .noInput
    case .notAVault, .unsupportedVersion, .corruptPage, .corrupt, .truncated, .invalidRecord:
      self = .dataError
    case .io, .noSpace, .tooManyReaders: self = .ioError
    // Both pass when retried: another writer, or a snapshot that a reopen replaced.
    case .locked, .snapshotExpired: self = .locked
    case .invalidArgument, .tooLarge, .alreadyExists, .misuse, .readOnly, .keyRequired:
      self = .usage
    case .wrongPassphrase, .authenticationFailed, .wrongPassword, .policyViolation, .throttled,
      .worm:
      self = .denied
    case .outOfMemory: self = .ioError
    case .erased, .noSuchRecord, .duplicateRecord: self = .dataError
    default: self = .internalError
    }
  }
}
