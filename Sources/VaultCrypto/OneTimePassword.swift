internal import CSodium
import VaultCore

/// One-time passwords for second-factor logins: HOTP (RFC 4226) and TOTP (RFC 6238).
/// The product uses TOTP with SHA-1, 6 digits and 30-second steps, what authenticator
/// apps implement (../shared/spec/access.md); SHA-256 and SHA-512 are here for the
/// RFC's test vectors and for apps that offer them.
public enum OneTimePassword {
  public enum Algorithm: Sendable {
    case sha1, sha256, sha512
  }

  /// The HOTP value of `counter` under `secret`: `digits` decimal digits, zero-padded.
  public static func hotp(
    secret: SecretBytes, counter: UInt64, digits: Int = 6, algorithm: Algorithm = .sha1
  ) -> String {
    precondition((6...9).contains(digits), "a one-time password has 6 to 9 digits")
    let mac = HMAC.authenticationCode(
      withUnsafeBytes(of: counter.bigEndian) { Array($0) }, secret: secret,
      algorithm: algorithm)
    // Dynamic truncation (RFC 4226 5.3): four bytes at the offset the last nibble names.
    let offset = Int(mac[mac.count - 1] & 0x0F)
    let binary =
      (UInt32(mac[offset] & 0x7F) << 24) | (UInt32(mac[offset + 1]) << 16)
      | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
    var modulus: UInt32 = 1
    for _ in 0..<digits { modulus *= 10 }
    let value = String(binary % modulus)
    return String(repeating: "0", count: digits - value.count) + value
  }

  /// TOTP parameters and checking (RFC 6238): the step of Unix time `t` is
  /// `floor(t / period)`; a code is accepted in its step and the one on either side.
  public struct TOTP: Sendable {
    public let digits: Int
    public let period: Int64
    public let algorithm: Algorithm

    /// The product's TOTP: SHA-1, 6 digits, 30 seconds.
    public static let standard = TOTP(digits: 6, period: 30, algorithm: .sha1)

    public init(digits: Int, period: Int64, algorithm: Algorithm) {
      precondition((6...9).contains(digits) && period > 0)
      self.digits = digits
      self.period = period
      self.algorithm = algorithm
    }

    /// The step that Unix time `seconds` falls in (times before 1970 have none).
    public func step(at seconds: Int64) -> UInt64? {
      seconds >= 0 ? UInt64(seconds / period) : nil
    }

    public func code(secret: SecretBytes, at seconds: Int64) -> String? {
      step(at: seconds).map {
        OneTimePassword.hotp(secret: secret, counter: $0, digits: digits, algorithm: algorithm)
      }
    }

    /// The step whose code `code` is, among the step of `seconds` and its neighbours,
    /// if it is later than `lastUsed` (a step is accepted once: replays are refused);
    /// nil otherwise. Compared in constant time.
    public func acceptedStep(
      of code: String, secret: SecretBytes, at seconds: Int64, lastUsed: UInt64?
    ) -> UInt64? {
      guard let now = step(at: seconds), code.utf8.count == digits,
        code.utf8.allSatisfy({ (0x30...0x39).contains($0) })
      else { return nil }
      var accepted: UInt64?
      for candidate in [now &- 1, now, now &+ 1] where candidate <= now + 1 {
        if let lastUsed, candidate <= lastUsed { continue }
        let expected = OneTimePassword.hotp(
          secret: secret, counter: candidate, digits: digits, algorithm: algorithm)
        // No early exit: every candidate costs the same.
        if ConstantTime.equal(Array(expected.utf8), Array(code.utf8)), accepted == nil {
          accepted = candidate
        }
      }
      return accepted
    }
  }
}

/// HMAC (RFC 2104) over SHA-1 (RFC 3174, here: libsodium has none) and SHA-256/512
/// (libsodium's).
public enum HMAC {
  public static func authenticationCode(
    _ message: [UInt8], secret: SecretBytes, algorithm: OneTimePassword.Algorithm
  ) -> [UInt8] {
    let blockSize = algorithm == .sha512 ? 128 : 64
    let hash: ([UInt8]) -> [UInt8]
    switch algorithm {
    case .sha1: hash = SHA1.hash
    case .sha256: hash = SHA256.hash
    case .sha512: hash = SHA512.hash
    }
    var key = secret.withUnsafeBytes { Array($0) }
    defer { SecretBytes.wipe(&key) }
    if key.count > blockSize { key = hash(key) }
    key += [UInt8](repeating: 0, count: blockSize - key.count)
    var inner = key.map { $0 ^ 0x36 }
    var outer = key.map { $0 ^ 0x5C }
    defer {
      SecretBytes.wipe(&inner)
      SecretBytes.wipe(&outer)
    }
    return hash(outer + hash(inner + message))
  }
}

/// SHA-512 (FIPS 180-4), libsodium's.
public enum SHA512 {
  public static func hash(_ bytes: [UInt8]) -> [UInt8] {
    ensureSodium()
    var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha512_BYTES))
    digest.withUnsafeMutableBufferPointer { out in
      bytes.withUnsafeBufferPointer { input in
        _ = crypto_hash_sha512(out.baseAddress!, input.baseAddress, UInt64(input.count))
      }
    }
    return digest
  }
}

/// SHA-1 (RFC 3174). Broken for collisions, and used here only inside HMAC for TOTP,
/// where that does not matter and authenticator apps require it.
public enum SHA1 {
  public static func hash(_ bytes: [UInt8]) -> [UInt8] {
    var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (
      0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0
    )
    var message = bytes
    let bitLength = UInt64(bytes.count) &* 8
    message.append(0x80)
    while message.count % 64 != 56 { message.append(0) }
    message += withUnsafeBytes(of: bitLength.bigEndian) { Array($0) }
    var w = [UInt32](repeating: 0, count: 80)
    for chunk in stride(from: 0, to: message.count, by: 64) {
      for i in 0..<16 {
        let base = chunk + 4 * i
        w[i] =
          UInt32(message[base]) << 24 | UInt32(message[base + 1]) << 16
          | UInt32(message[base + 2]) << 8 | UInt32(message[base + 3])
      }
      for i in 16..<80 {
        let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
        w[i] = x << 1 | x >> 31
      }
      var (a, b, c, d, e) = h
      for i in 0..<80 {
        let f: UInt32
        let k: UInt32
        switch i {
        case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A82_7999)
        case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9_EBA1)
        case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
        default: (f, k) = (b ^ c ^ d, 0xCA62_C1D6)
        }
        let temp = (a << 5 | a >> 27) &+ f &+ e &+ k &+ w[i]
        e = d
        d = c
        c = b << 30 | b >> 2
        b = a
        a = temp
      }
      h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
    }
    var digest = [UInt8]()
    for word in [h.0, h.1, h.2, h.3, h.4] {
      digest += withUnsafeBytes(of: word.bigEndian) { Array($0) }
    }
    return digest
  }
}

/// Comparison whose time does not depend on where two byte strings differ.
public enum ConstantTime {
  public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
  }
}
