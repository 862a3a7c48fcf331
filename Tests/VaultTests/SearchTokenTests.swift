import Foundation
import Testing
import VaultCore
import VaultCrypto

@_spi(Engine) @testable import StudioVault

@Suite struct SearchTokenTests {
  @Test func foldingIgnoresCaseAndAccents() {
    #expect(SearchTokens.fold("Zoë ÅSTRÖM") == "zoe astrom")
    #expect(SearchTokens.fold("Ĳssel Çelik") == SearchTokens.fold("ĳssel celik"))
    #expect(SearchTokens.words(ofName: "  Ana-María  O'Brien ") == ["ana", "maria", "o", "brien"])
    #expect(
      SearchTokens.words(ofEmail: "Ana.Maria_Obrien-2@Studio.Example")
        == ["ana", "maria", "obrien", "2", "studio", "example"])
    #expect(
      SearchTokens.words(ofPhone: "+1 (555) 010-0199") == [
        "15550100199", "1", "555", "010", "0199",
      ])
    #expect(SearchTokens.words(ofPhone: "5550100") == ["5550100"])
    #expect(SearchTokens.words(ofPhone: "n/a") == [])
  }

  /// The ASCII fast path folds and splits exactly as Foundation's Unicode path does.
  @Test func asciiTextFoldsAsUnicodeTextDoes() {
    let seed = testSeed(0xF01D)
    var random = SeededGenerator(seed: seed)
    let alphabet = Array("aZ09 .-_@'+()/\tÄ".unicodeScalars).map(Character.init)
    for _ in 0..<2000 {
      let text = String(
        (0..<Int.random(in: 0...24, using: &random)).map { _ in
          Int.random(in: 0..<4, using: &random) == 0
            ? Character(UnicodeScalar(UInt8.random(in: 0...127, using: &random)))
            : alphabet.randomElement(using: &random)!
        })
      let slowFold = text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
        .lowercased()
      let slowWords = slowFold.split { !$0.isLetter && !$0.isNumber }.map(String.init)
      #expect(SearchTokens.fold(text) == slowFold, "seed \(seed): \(text.debugDescription)")
      #expect(
        SearchTokens.words(ofName: text) == slowWords, "seed \(seed): \(text.debugDescription)")
    }
  }

  @Test func wordsAreIndexedUnderEveryPrefixOfThreeOrMore() {
    #expect(RecordIndexes.searchPrefixes(of: "okafor") == ["oka", "okafor"])
    #expect(RecordIndexes.searchPrefixes(of: "okafo") == ["oka"])
    #expect(RecordIndexes.searchPrefixes(of: "li").isEmpty)
    #expect(
      RecordIndexes.probe(for: "okafo") == "oka" && RecordIndexes.probe(for: "okaforo") == "okafor")
  }

  @Test func queriesNeedWordsOfThreeCharacters() throws {
    #expect(try SearchTokens.queryWords("Okaf  Zoë") == ["okaf", "zoe"])
    for bad in ["", "  ", "ab", "okafor a"] {
      let error = #expect(throws: VaultError.self, "\(bad)") { try SearchTokens.queryWords(bad) }
      #expect(error?.code == .invalidArgument)
    }
  }

  @Test func blindTokensDependOnKeyLabelAndToken() {
    let key = SymmetricKey.random()
    let index = BlindIndex(indexKey: key)
    let token = index.token("okafor", label: "clients.name")
    #expect(token.count == 16)
    #expect(index.token("okafor", label: "clients.name") == token)  // deterministic
    #expect(index.token("okafor", label: "clients.email") != token)
    #expect(index.token("okafo", label: "clients.name") != token)
    #expect(
      BlindIndex(indexKey: SymmetricKey.random()).token("okafor", label: "clients.name") != token)
    // The label is length-prefixed: "ab" + "c" and "a" + "bc" differ.
    #expect(index.token("c", label: "ab") != index.token("bc", label: "a"))
    // Nothing of the word shows in the token.
    #expect(!contains(token, Array("oka".utf8)))
  }
}
