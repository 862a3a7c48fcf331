import VaultCore
import VaultCrypto

/// A record's identity: 128 random bits, written as a lowercase UUID string
/// (`3f2a…-…`), as ../shared/spec/records-json.md has it.
public struct RecordID: Hashable, Sendable, CustomStringConvertible {
  /// The 16 bytes, as stored in keys.
  public let bytes: [UInt8]

  /// A fresh random id.
  public static func random() -> RecordID { RecordID(unchecked: SecureRandom.bytes(16)) }

  private init(unchecked bytes: [UInt8]) { self.bytes = bytes }

  /// The id of 16 zero bytes: reserved (the settings record has it).
  static let allZero = RecordID(unchecked: [UInt8](repeating: 0, count: 16))

  /// The id whose 16 bytes are `bytes`.
  ///
  /// - Throws: `.invalidArgument` for any other length.
  public init(bytes: [UInt8]) throws(VaultError) {
    guard bytes.count == 16 else {
      throw VaultError(.invalidArgument, "a record id is 16 bytes, not \(bytes.count)")
    }
    self.bytes = bytes
  }

  /// Parses the lowercase (or uppercase) UUID form: 32 hex digits in groups of 8-4-4-4-12.
  ///
  /// - Throws: `.invalidArgument` naming what is wrong.
  public init(_ text: String) throws(VaultError) {
    let groups = text.split(separator: "-", omittingEmptySubsequences: false)
    guard groups.map(\.count) == [8, 4, 4, 4, 12] else {
      throw VaultError(
        .invalidArgument, "\"\(text)\" is not a record id (a UUID such as 3f2a9c1e-…)")
    }
    guard let bytes = Hex.decode(groups.joined()) else {
      throw VaultError(.invalidArgument, "\"\(text)\" is not a record id (not hexadecimal)")
    }
    self.bytes = bytes
  }

  /// The lowercase UUID form.
  public var description: String {
    let hex = Array(Hex.encode(bytes))
    return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(hex[$0]) }
      .joined(separator: "-")
  }
}
