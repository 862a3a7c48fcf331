import Testing
import VaultCore
import VaultCrypto
import VaultFormat

func hexBytes(_ text: String) -> [UInt8] {
  var bytes = [UInt8]()
  var index = text.startIndex
  while index < text.endIndex {
    let next = text.index(index, offsetBy: 2)
    bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
    index = next
  }
  return bytes
}

/// Known answers for the primitives the file format names (FORMAT.md section 1).
@Suite struct CryptoTests {
  /// draft-irtf-cfrg-xchacha-03, appendix A.3.1.
  @Test func xchacha20Poly1305MatchesTheDraftVector() throws {
    let key = try SymmetricKey(copying: (0..<32).map { UInt8(0x80 + $0) })
    let nonce = (0..<24).map { UInt8(0x40 + $0) }
    let associatedData = hexBytes("50515253c0c1c2c3c4c5c6c7")
    let plaintext = Array(
      ("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for"
        + " the future, sunscreen would be it.").utf8)
    let expected = hexBytes(
      "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa644"
        + "0bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb"
        + "9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e")
    let expectedTag = hexBytes("c0875924c1c7987947deafd8780acf49")
    var buffer = plaintext
    var tag = [UInt8](repeating: 0, count: 16)
    buffer.withUnsafeMutableBytes { text in
      tag.withUnsafeMutableBytes { tagBytes in
        nonce.withUnsafeBytes { nonceBytes in
          associatedData.withUnsafeBytes {
            XChaCha20Poly1305.sealInPlace(
              text, tag: tagBytes, nonce: nonceBytes, key: key, associatedData: $0)
          }
        }
      }
    }
    #expect(buffer == expected)
    #expect(tag == expectedTag)
    // The combined form opens, and fails on any change.
    let sealed = nonce + expected + expectedTag
    #expect(
      try XChaCha20Poly1305.open(sealed, key: key, associatedData: associatedData) == plaintext)
    var flipped = sealed
    flipped[30] ^= 1
    #expect(throws: VaultError.self) {
      try XChaCha20Poly1305.open(flipped, key: key, associatedData: associatedData)
    }
    #expect(throws: VaultError.self) {
      try XChaCha20Poly1305.open(sealed, key: key, associatedData: [0x50])
    }
    #expect(throws: VaultError.self) {
      try XChaCha20Poly1305.open(Array(sealed.prefix(39)), key: key, associatedData: [])
    }
  }

  /// FIPS 180-4 examples (NIST CSRC), on whichever implementation this processor uses.
  @Test func sha256MatchesTheStandardsExamples() {
    let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
    let cases: [([UInt8], String)] = [
      ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
      (bytes("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
      (
        bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
      ),
      (million, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
    ]
    for (input, digest) in cases {
      #expect(SHA256.hash(input) == hexBytes(digest), "\(input.count) bytes")
      #expect(SHA256.portableHash(input) == hexBytes(digest), "\(input.count) bytes")
    }
  }

  /// The accelerated SHA-256 against libsodium's over every length around the block
  /// and padding boundaries, whole and streamed in random pieces.
  @Test func sha256AgreesWithLibsodiumAtEveryLength() {
    let seed = testSeed(0x5A256)
    print("sha256AgreesWithLibsodiumAtEveryLength seed \(seed)")
    var random = SeededGenerator(seed: seed)
    let source = (0..<1_200).map { _ in UInt8.random(in: 0...255, using: &random) }
    for length in 0...source.count {
      let input = Array(source[0..<length])
      let expected = SHA256.portableHash(input)
      #expect(SHA256.hash(input) == expected, "length \(length)")
      let streamed = StreamingSHA256()
      var start = 0
      while start < length {
        let end = min(length, start + Int.random(in: 0...130, using: &random))
        input[start..<end].withUnsafeBytes { streamed.update($0) }
        start = end
      }
      #expect(streamed.finalize() == expected, "length \(length), streamed")
      let split = Int.random(in: 0...length, using: &random)
      let domainForm = input.withUnsafeBytes { raw in
        SHA256.hash(
          domain: 0x01, UnsafeRawBufferPointer(rebasing: raw[0..<split]),
          UnsafeRawBufferPointer(rebasing: raw[split...]))
      }
      #expect(domainForm == SHA256.portableHash([0x01] + input), "length \(length), domain")
    }
  }

  /// The reference implementation: `echo -n 123 | argon2 ABCDEFGHIJKLMNOP -id -v 13
  /// -k 8192 -t 2` (8 MiB, 2 passes, parallelism 1).
  @Test func argon2idMatchesTheReferenceImplementation() throws {
    let key = try PasswordKDF.deriveKey(
      from: SecretBytes(utf8: "123"), salt: Array("ABCDEFGHIJKLMNOP".utf8),
      parameters: .init(opsLimit: 2, memLimitBytes: 8 << 20))
    #expect(
      key.withUnsafeBytes { Array($0) }
        == hexBytes("3ee950488d26ce691657b1d753f562139857b61a58f234d6cb0ce84c4cc27328"))
  }

  @Test func keyDerivationParametersBeyondTheCapAreRefused() {
    for parameters in [
      PasswordKDF.Parameters(opsLimit: 5, memLimitBytes: 8 << 20),
      PasswordKDF.Parameters(opsLimit: 2, memLimitBytes: 1 << 40),
      PasswordKDF.Parameters(opsLimit: 0, memLimitBytes: 8 << 20),
      PasswordKDF.Parameters(opsLimit: 2, memLimitBytes: 1024),
    ] {
      #expect(throws: VaultError.self) {
        try PasswordKDF.deriveKey(
          from: SecretBytes(utf8: "x"), salt: [UInt8](repeating: 0, count: 16),
          parameters: parameters)
      }
    }
    #expect(PasswordKDF.Parameters(levelName: "moderate") == .moderate)
    #expect(PasswordKDF.Parameters.sensitive == PasswordKDF.Parameters.maximum)
  }

  /// A regression vector: subkeys are part of the file format, so the derivation must
  /// never change (computed with libsodium's crypto_kdf_derive_from_key).
  @Test func subkeysAreStable() throws {
    let master = try SymmetricKey(copying: (0..<32).map { UInt8($0) })
    let pageKey = master.derive(.pageSealing)
    #expect(
      pageKey.withUnsafeBytes { Array($0) }
        == hexBytes("d647e46f06408409b1e6075dd098b3964eda2c77600060b93e9e177922fa20df"))
    let other = master.derive(.keyring)
    #expect(!other.secret.isEqual(to: pageKey.secret))
  }

  @Test func secretsNeverPrintTheirBytes() throws {
    let secret = SecretBytes(utf8: "hunter2-secret")
    let key = try SymmetricKey(copying: [UInt8](repeating: 0x41, count: 32))
    let credential = VaultCredential.passphrase("hunter2-secret")
    for text in [
      secret.description, String(describing: secret), String(reflecting: secret),
      key.description, String(describing: key), credential.description,
      String(describing: credential),
    ] {
      #expect(!text.contains("hunter2") && !text.contains("AAAA") && !text.contains("65, 65"))
    }
  }
}

@Suite struct RandomTests {
  /// Not a statistical test: a generator that repeats itself, returns zeros, or hands
  /// out the same bytes to two callers fails it.
  @Test func randomBytesDoNotRepeat() {
    var seen = Set<[UInt8]>()
    for size in [8, 16, 24, 32, 100, 511, 600, 2000] {
      for _ in 0..<200 {
        let bytes = SecureRandom.bytes(size)
        #expect(bytes.count == size)
        #expect(seen.insert(bytes).inserted, "a \(size)-byte value repeated")
      }
    }
    let many = SecureRandom.bytes(100_000)
    let zeros = many.filter { $0 == 0 }.count
    #expect(zeros > 200 && zeros < 600, "\(zeros) zero bytes in 100,000")
    #expect(SecureRandom.uint64() != SecureRandom.uint64())
  }
}

@Suite struct RecordSealTests {
  @Test func rewrappingMovesADataKeyToAnotherKEK() throws {
    let vaultID = [UInt8](repeating: 9, count: 16)
    let binding = RecordBinding(vaultID: vaultID, collection: "clients", recordID: [1, 2, 3])
    let dataKey = SymmetricKey.random()
    let (oldKEK, newKEK) = (SymmetricKey.random(), SymmetricKey.random())
    let entry = DataKeyEntry(
      wrapped: .wrap(dataKey, kek: oldKEK, kekID: 1, binding: binding), recordID: [1, 2, 3])
    let encoded = entry.encode()
    #expect(try DataKeyEntry.kekID(of: encoded[...]) == 1)
    let moved = try DataKeyEntry.rewrapped(
      encoded[...], from: oldKEK, to: newKEK, newID: 7, vaultID: vaultID, collection: "clients")
    let decoded = try DataKeyEntry(decoding: moved)
    #expect(decoded.wrapped.kekID == 7 && decoded.recordID == [1, 2, 3])
    #expect(moved.count == encoded.count && moved != encoded)
    let unwrapped = try decoded.wrapped.unwrap(kek: newKEK, binding: binding)
    #expect(unwrapped.secret.isEqual(to: dataKey.secret))
    #expect(throws: VaultError.self) { try decoded.wrapped.unwrap(kek: oldKEK, binding: binding) }
    // The wrong old KEK, or the entry moved to another collection, fails.
    #expect(throws: VaultError.self) {
      try DataKeyEntry.rewrapped(
        encoded[...], from: newKEK, to: newKEK, newID: 7, vaultID: vaultID,
        collection: "clients")
    }
    #expect(throws: VaultError.self) {
      try DataKeyEntry.rewrapped(
        encoded[...], from: oldKEK, to: newKEK, newID: 7, vaultID: vaultID,
        collection: "projects")
    }
    #expect(throws: VaultError.self) { try DataKeyEntry.kekID(of: [1, 2][...]) }
  }

  /// A sealer that shares its nonce prefix produces exactly XChaCha20-Poly1305's seal
  /// under the nonce it reports, which the plain API opens; nonces never repeat.
  @Test func aPrefixSharingSealerIsXChaCha20Poly1305() throws {
    let key = SymmetricKey.random()
    var sealer = XChaCha20Poly1305.Sealer(key: key)
    var nonces = Set<[UInt8]>()
    for length in [0, 1, 15, 16, 17, 64, 200, 1000] {
      let plaintext = SecureRandom.bytes(length)
      let ad = SecureRandom.bytes(length % 40)
      let sealed = sealer.seal(plaintext, associatedData: ad)
      #expect(try XChaCha20Poly1305.open(sealed, key: key, associatedData: ad) == plaintext)
      let nonce = Array(sealed.prefix(24))
      #expect(nonces.insert(nonce).inserted)
      // The same nonce through the one-shot API gives the same bytes.
      var again = sealed
      again.withUnsafeMutableBytes { raw in
        let body = UnsafeMutableRawBufferPointer(rebasing: raw[24..<24 + length])
        plaintext.withUnsafeBytes { if $0.count > 0 { body.copyMemory(from: $0) } }
        ad.withUnsafeBytes { adBytes in
          XChaCha20Poly1305.sealInPlace(
            body, tag: UnsafeMutableRawBufferPointer(rebasing: raw[(24 + length)...]),
            nonce: UnsafeRawBufferPointer(rebasing: raw[0..<24]), key: key,
            associatedData: adBytes)
        }
      }
      #expect(again == sealed, "length \(length)")
      var tampered = sealed
      tampered[tampered.count - 1] ^= 1
      #expect(throws: VaultError.self) {
        _ = try XChaCha20Poly1305.open(tampered, key: key, associatedData: ad)
      }
    }
    // Two sealers under one key draw different prefixes.
    var other = XChaCha20Poly1305.Sealer(key: key)
    #expect(!nonces.contains(Array(other.seal([1], associatedData: []).prefix(24))))
  }
}
