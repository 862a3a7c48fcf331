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
