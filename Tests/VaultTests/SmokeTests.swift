import Testing
import VaultCore

@testable import VaultStorage

@Suite struct SmokeTests {
  @Test func createWriteReadReopen() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    do {
      let store = try VaultStore.create(at: path, credential: testCredential)
      try store.write { tx in
        let tree = try tx.createTree(named: "clients")
        for i in 0..<2000 {
          try tree.insert(bytes("value \(i)"), forKey: bytes(String(format: "k%05d", i)))
        }
        try tree.insert([UInt8](repeating: 7, count: 20_000), forKey: bytes("big"))
      }
      let value = try store.read { try $0.tree(named: "clients")?.value(forKey: bytes("k00042")) }
      #expect(value == bytes("value 42"))
    }
    let store = try VaultStore.open(at: path, credential: testCredential)
    try store.read { snapshot in
      let tree = try #require(try snapshot.tree(named: "clients"))
      #expect(tree.count == 2001)
      #expect(try tree.value(forKey: bytes("k01999")) == bytes("value 1999"))
      #expect(try tree.value(forKey: bytes("big")) == [UInt8](repeating: 7, count: 20_000))
    }
    try store.write { tx in
      let tree = try #require(try tx.tree(named: "clients"))
      for i in 0..<2000 where i % 3 == 0 {
        #expect(try tree.removeValue(forKey: bytes(String(format: "k%05d", i))))
      }
      try tree.removeValue(forKey: bytes("big"))
    }
    try store.read { snapshot in
      let tree = try #require(try snapshot.tree(named: "clients"))
      #expect(tree.count == 1333)
      var seen = 0
      try tree.scan { _, _ in
        seen += 1
        return true
      }
      #expect(seen == 1333)
    }
  }
}
