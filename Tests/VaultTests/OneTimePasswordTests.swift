import Testing
import VaultCore
import VaultCrypto

/// Second-factor codes: the known-answer vectors of RFC 3174 (SHA-1), RFC 2202 (HMAC-
/// SHA-1), RFC 4226 appendix D (HOTP) and RFC 6238 appendix B (TOTP, including times
/// past 2^32 seconds), then the product's acceptance rules: ±1 step, each step once.
@Suite struct OneTimePasswordTests {
  static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

  @Test func sha1MatchesRFC3174() {
    #expect(Self.hex(SHA1.hash([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    #expect(Self.hex(SHA1.hash(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
    #expect(
      Self.hex(SHA1.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
        == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    #expect(
      Self.hex(SHA1.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)))
        == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
  }

  @Test func hmacMatchesRFC2202AndRFC4231() {
    let key = SecretBytes(copying: [UInt8](repeating: 0x0B, count: 20))
    let message = Array("Hi There".utf8)
    #expect(
      Self.hex(HMAC.authenticationCode(message, secret: key, algorithm: .sha1))
        == "b617318655057264e28bc0b6fb378c8ef146be00")
    #expect(
      Self.hex(HMAC.authenticationCode(message, secret: key, algorithm: .sha256))
        == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    // A key longer than the block is hashed first (RFC 2202 test 6).
    let long = SecretBytes(copying: [UInt8](repeating: 0xAA, count: 80))
    #expect(
      Self.hex(
        HMAC.authenticationCode(
          Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8), secret: long,
          algorithm: .sha1)) == "aa4ae5e15272d00e95705637ce8a3b55ed402112")
  }

  @Test func hotpMatchesRFC4226() {
    let secret = SecretBytes(copying: Array("12345678901234567890".utf8))
    let expected = [
      "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
      "399871", "520489",
    ]
    for (counter, code) in expected.enumerated() {
      #expect(OneTimePassword.hotp(secret: secret, counter: UInt64(counter)) == code)
    }
  }

  @Test func totpMatchesRFC6238() {
    let seeds: [(OneTimePassword.Algorithm, String)] = [
      (.sha1, "12345678901234567890"),
      (.sha256, "12345678901234567890123456789012"),
      (.sha512, "1234567890123456789012345678901234567890123456789012345678901234"),
    ]
    let times: [Int64] = [
      59, 1_111_111_109, 1_111_111_111, 1_234_567_890, 2_000_000_000, 20_000_000_000,
    ]
    let expected: [[String]] = [
      ["94287082", "07081804", "14050471", "89005924", "69279037", "65353130"],
      ["46119246", "68084774", "67062674", "91819424", "90698825", "77737706"],
      ["90693936", "25091201", "99943326", "93441116", "38618901", "47863826"],
    ]
    for (row, (algorithm, seed)) in seeds.enumerated() {
      let totp = OneTimePassword.TOTP(digits: 8, period: 30, algorithm: algorithm)
      let secret = SecretBytes(copying: Array(seed.utf8))
      for (column, time) in times.enumerated() {
        #expect(
          totp.code(secret: secret, at: time) == expected[row][column], "\(algorithm) \(time)")
      }
    }
  }

  /// A code is good in its step and the next and previous ones, once: after a step is
  /// used, it and every earlier step are refused (replay).
  @Test func codesAreAcceptedOncePerStepWithinOneStepOfNow() throws {
    let totp = OneTimePassword.TOTP.standard
    let secret = SecretBytes(copying: Array("12345678901234567890".utf8))
    let now: Int64 = 1_796_400_000
    let step = try #require(totp.step(at: now))
    let current = try #require(totp.code(secret: secret, at: now))
    let previous = try #require(totp.code(secret: secret, at: now - 30))
    let next = try #require(totp.code(secret: secret, at: now + 30))
    let stale = try #require(totp.code(secret: secret, at: now - 60))
    #expect(totp.acceptedStep(of: current, secret: secret, at: now, lastUsed: nil) == step)
    #expect(totp.acceptedStep(of: previous, secret: secret, at: now, lastUsed: nil) == step - 1)
    #expect(totp.acceptedStep(of: next, secret: secret, at: now, lastUsed: nil) == step + 1)
    #expect(totp.acceptedStep(of: stale, secret: secret, at: now, lastUsed: nil) == nil)
    // Replay: the step just used, or an earlier one, is refused.
    #expect(totp.acceptedStep(of: current, secret: secret, at: now, lastUsed: step) == nil)
    #expect(totp.acceptedStep(of: previous, secret: secret, at: now, lastUsed: step) == nil)
    #expect(totp.acceptedStep(of: next, secret: secret, at: now, lastUsed: step) == step + 1)
    // Malformed codes, another secret, and times before 1970.
    for bad in ["", "12345", "1234567", "12a456", " 12345", "１２３４５６"] {
      #expect(totp.acceptedStep(of: bad, secret: secret, at: now, lastUsed: nil) == nil)
    }
    let other = SecretBytes(copying: Array("another secret, 20 b".utf8))
    #expect(totp.acceptedStep(of: current, secret: other, at: now, lastUsed: nil) == nil)
    #expect(totp.step(at: -1) == nil)
    #expect(totp.acceptedStep(of: current, secret: secret, at: -30, lastUsed: nil) == nil)
    // Step 0 has no previous step to wrap around to.
    let first = try #require(totp.code(secret: secret, at: 0))
    #expect(totp.acceptedStep(of: first, secret: secret, at: 10, lastUsed: nil) == 0)
  }
}
