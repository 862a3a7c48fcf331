import Foundation
import VaultCore
import VaultCrypto

/// The words search works on, as ../shared/spec/records-json.md defines search: case-
/// and accent-insensitive, each query word matching the start of a word of a client's
/// name, email (local part and domain split at `.`, `@`, `-`, `_`) or phone digits.
public enum SearchTokens {
  /// Query words shorter than this are refused (they would match nearly everything).
  public static let minimumWordLength = 3

  /// `text` lower-cased and stripped of accents and other marks (`Zoë` → `zoe`).
  public static func fold(_ text: String) -> String {
    if let folded = asciiFolded(text) { return folded }
    return text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
      .lowercased()
  }

  /// `text` lower-cased if it is all ASCII (which has no marks to strip), else nil:
  /// most names and every email address, folded without Foundation's Unicode tables.
  static func asciiFolded(_ text: String) -> String? {
    var bytes = [UInt8]()
    bytes.reserveCapacity(text.utf8.count)
    for byte in text.utf8 {
      guard byte < 0x80 else { return nil }
      bytes.append(byte &- UInt8(ascii: "A") < 26 ? byte + 32 : byte)
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// The words of a name: letters and digits, anything else separates.
  public static func words(ofName name: String) -> [String] {
    guard let folded = asciiFolded(name) else {
      return split(fold(name)) { !$0.isLetter && !$0.isNumber }
    }
    // Lower-case letters and digits are the only folded ASCII characters that are
    // letters or numbers: split by bytes, without grapheme breaking.
    return folded.utf8.split { byte in
      !(byte &- UInt8(ascii: "a") < 26 || byte &- UInt8(ascii: "0") < 10)
    }.map { String(decoding: $0, as: UTF8.self) }
  }

  /// The words of an email address: split at `.`, `@`, `-`, `_` (and anything not a
  /// letter or digit).
  public static func words(ofEmail email: String) -> [String] {
    words(ofName: email)
  }

  /// A phone number's words: all its digits as one word, then each group of digits as
  /// written (`+1 (555) 010-0199` → `15550100199`, `1`, `555`, `010`, `0199`), so a
  /// search finds it by the full number or by the local part people remember.
  public static func words(ofPhone phone: String) -> [String] {
    // Digits are ASCII: bytes of other characters (UTF-8 continuation bytes included)
    // never fall in "0"..."9".
    let groups = phone.utf8.split { $0 &- UInt8(ascii: "0") >= 10 }.map {
      String(decoding: $0, as: UTF8.self)
    }
    let digits = groups.joined()
    guard !digits.isEmpty else { return [] }
    return groups.count == 1 ? [digits] : [digits] + groups
  }

  /// The words of a search query, folded.
  ///
  /// - Throws: `.invalidArgument` for an empty query or a word shorter than
  ///   ``minimumWordLength``.
  public static func queryWords(_ query: String) throws(VaultError) -> [String] {
    let words = words(ofName: query)
    guard !words.isEmpty else {
      throw VaultError(.invalidArgument, "the search text has no words")
    }
    if let short = words.first(where: { $0.count < minimumWordLength }) {
      throw VaultError(
        .invalidArgument,
        "search word \"\(short)\" is shorter than \(minimumWordLength) characters")
    }
    return words
  }

  private static func split(_ text: String, separator: (Character) -> Bool) -> [String] {
    text.split(whereSeparator: separator).map(String.init)
  }
}

/// Keyed blind index tokens: an index key holds `BLAKE2b-128(indexKey, label ‖ token)`
/// instead of the token, so equal tokens (and equal prefixes) can be looked up with
/// the key while the file, without it, shows neither names nor emails nor phones:
/// only which records share a token.
public struct BlindIndex: Sendable {
  let key: SymmetricKey

  /// Blinds under `indexKey`, the master key's ``SymmetricKey/KeyPurpose/indexBlinding``
  /// subkey.
  public init(indexKey: SymmetricKey) { key = indexKey }

  /// The 16-byte blind token of `token` in the index `label` names (a collection and
  /// field, so equal words in two fields do not collide).
  public func token(_ token: String, label: String) -> [UInt8] {
    self.token(token, labelPrefix: Self.labelPrefix(label))
  }

  /// The bytes `label` puts in front of every token it blinds: its length, then its
  /// UTF-8 (so no label ‖ token pair can be read as another). Computed once for many
  /// tokens of one label.
  static func labelPrefix(_ label: String) -> [UInt8] {
    [UInt8(truncatingIfNeeded: label.utf8.count)] + Array(label.utf8)
  }

  /// ``token(_:label:)`` under a label given by its ``labelPrefix(_:)``.
  func token(_ token: String, labelPrefix: [UInt8]) -> [UInt8] {
    var message = labelPrefix
    message.append(contentsOf: token.utf8)
    return key.keyedHash(message, byteCount: 16)
  }
}
