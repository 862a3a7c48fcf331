internal import CSodium
import VaultCore

/// XChaCha20-Poly1305 (IETF construction, libsodium `crypto_aead_xchacha20poly1305_ietf`):
/// the authenticated cipher behind every seal in a vault. Its 192-bit nonces are safe
/// to draw at random.
public enum XChaCha20Poly1305 {
  public static let nonceByteCount = 24
  public static let tagByteCount = 16
  /// Bytes a combined seal adds to its plaintext: nonce in front, tag behind.
  public static let overhead = nonceByteCount + tagByteCount

  /// Seals `plaintext` under `key` with a fresh random nonce, binding
  /// `associatedData`. The result is `nonce ‖ ciphertext ‖ tag`.
  public static func seal(
    _ plaintext: UnsafeRawBufferPointer, key: SymmetricKey,
    associatedData: UnsafeRawBufferPointer
  ) -> [UInt8] {
    ensureSodium()
    var output = [UInt8](repeating: 0, count: plaintext.count + overhead)
    output.withUnsafeMutableBytes { out in
      SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: out[0..<nonceByteCount]))
      let nonce = UnsafeRawBufferPointer(rebasing: out[0..<nonceByteCount])
      let body = UnsafeMutableRawBufferPointer(
        rebasing: out[nonceByteCount..<nonceByteCount + plaintext.count])
      if plaintext.count > 0 { body.copyMemory(from: plaintext) }
      let tag = UnsafeMutableRawBufferPointer(rebasing: out[(nonceByteCount + plaintext.count)...])
      sealInPlace(body, tag: tag, nonce: nonce, key: key, associatedData: associatedData)
    }
    return output
  }

  /// Convenience for arrays.
  public static func seal(_ plaintext: [UInt8], key: SymmetricKey, associatedData: [UInt8])
    -> [UInt8]
  {
    plaintext.withUnsafeBytes { text in
      associatedData.withUnsafeBytes { seal(text, key: key, associatedData: $0) }
    }
  }

  /// Opens a `nonce ‖ ciphertext ‖ tag` seal.
  ///
  /// - Throws: `.authenticationFailed` when the key, the associated data or any byte
  ///   of the seal differ from sealing time.
  public static func open(
    _ sealed: UnsafeRawBufferPointer, key: SymmetricKey,
    associatedData: UnsafeRawBufferPointer
  ) throws(VaultError) -> [UInt8] {
    guard sealed.count >= overhead else {
      throw VaultError(.authenticationFailed, "sealed value is shorter than its nonce and tag")
    }
    let length = sealed.count - overhead
    var plaintext = [UInt8](repeating: 0, count: length)
    let opened = plaintext.withUnsafeMutableBytes { out in
      if length > 0 {
        out.copyMemory(
          from: UnsafeRawBufferPointer(rebasing: sealed[nonceByteCount..<nonceByteCount + length]))
      }
      return openInPlace(
        out, tag: UnsafeRawBufferPointer(rebasing: sealed[(nonceByteCount + length)...]),
        nonce: UnsafeRawBufferPointer(rebasing: sealed[0..<nonceByteCount]), key: key,
        associatedData: associatedData)
    }
    guard opened else {
      SecretBytes.wipe(&plaintext)
      throw VaultError(.authenticationFailed, "sealed value failed authentication")
    }
    return plaintext
  }

  /// Convenience for arrays.
  public static func open(_ sealed: [UInt8], key: SymmetricKey, associatedData: [UInt8])
    throws(VaultError) -> [UInt8]
  {
    let result = sealed.withUnsafeBytes { box in
      associatedData.withUnsafeBytes { ad in
        Result { () throws(VaultError) in try open(box, key: key, associatedData: ad) }
      }
    }
    return try result.get()
  }

  /// Encrypts `buffer` in place and writes the 16-byte tag to `tag`.
  public static func sealInPlace(
    _ buffer: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer,
    nonce: UnsafeRawBufferPointer, key: SymmetricKey, associatedData: UnsafeRawBufferPointer
  ) {
    seal(
      UnsafeRawBufferPointer(buffer), into: buffer, tag: tag, nonce: nonce, key: key,
      associatedData: associatedData)
  }

  /// Seals `message` into `ciphertext` (the same length, and either the same memory or
  /// none of it), leaving `message` as it is: what a writer needs when another thread
  /// still reads the plaintext (an upload's hasher) while it is sealed.
  public static func seal(
    _ message: UnsafeRawBufferPointer, into ciphertext: UnsafeMutableRawBufferPointer,
    tag: UnsafeMutableRawBufferPointer, nonce: UnsafeRawBufferPointer, key: SymmetricKey,
    associatedData: UnsafeRawBufferPointer
  ) {
    ensureSodium()
    precondition(
      nonce.count == nonceByteCount && tag.count == tagByteCount
        && message.count == ciphertext.count)
    key.withUnsafeBytes { keyBytes in
      var tagLength: UInt64 = 0
      // An empty buffer may have no address; libsodium reads no byte of it then, but
      // wants a pointer, so lend it the nonce's (valid, never written for length 0).
      let placeholder = nonce.baseAddress!.assumingMemoryBound(to: UInt8.self)
      let output =
        ciphertext.baseAddress?.assumingMemoryBound(to: UInt8.self)
        ?? UnsafeMutablePointer(mutating: placeholder)
      let input = message.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? placeholder
      _ = crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
        output, tag.baseAddress!.assumingMemoryBound(to: UInt8.self), &tagLength,
        input, UInt64(message.count),
        associatedData.baseAddress?.assumingMemoryBound(to: UInt8.self),
        UInt64(associatedData.count), nil,
        nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
        keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }
  }

  /// Decrypts `buffer` in place if `tag` authenticates it; returns false (and leaves
  /// `buffer` unspecified) when it does not.
  public static func openInPlace(
    _ buffer: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer,
    nonce: UnsafeRawBufferPointer, key: SymmetricKey, associatedData: UnsafeRawBufferPointer
  ) -> Bool {
    ensureSodium()
    guard nonce.count == nonceByteCount, tag.count == tagByteCount else { return false }
    return key.withUnsafeBytes { keyBytes in
      let text =
        buffer.baseAddress?.assumingMemoryBound(to: UInt8.self)
        ?? UnsafeMutablePointer(mutating: nonce.baseAddress!.assumingMemoryBound(to: UInt8.self))
      return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
        text, nil, text, UInt64(buffer.count),
        tag.baseAddress!.assumingMemoryBound(to: UInt8.self),
        associatedData.baseAddress?.assumingMemoryBound(to: UInt8.self),
        UInt64(associatedData.count),
        nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
        keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
    }
  }
}

extension XChaCha20Poly1305 {
  /// Many seals under one key, with nonces `prefix ‖ counter`: a random 16-byte prefix
  /// per sealer and a little-endian 64-bit counter. XChaCha20 derives a subkey from the
  /// key and the nonce's first 16 bytes (HChaCha20); sharing the prefix computes it
  /// once instead of once per seal. Every seal is exactly XChaCha20-Poly1305's under its
  /// nonce, and readers open it like any other; with a fresh random prefix per sealer
  /// (128 bits) no nonce repeats under the key.
  public struct Sealer: ~Copyable {
    private let subkey: SecretBytes
    private let prefix: (UInt64, UInt64)
    private var counter: UInt64 = 0

    /// A sealer under `key` with a fresh random prefix.
    public init(key: SymmetricKey) {
      ensureSodium()
      let prefix = (SecureRandom.uint64(), SecureRandom.uint64())
      self.prefix = prefix
      subkey = SecretBytes(count: SymmetricKey.byteCount) { out in
        withUnsafeBytes(of: prefix) { input in
          key.withUnsafeBytes { keyBytes in
            _ = crypto_core_hchacha20(
              out.baseAddress!.assumingMemoryBound(to: UInt8.self),
              input.baseAddress!.assumingMemoryBound(to: UInt8.self),
              keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), nil)
          }
        }
      }
    }

    /// Encrypts `buffer` in place, writing the 24-byte nonce it used to `nonce` and the
    /// tag to `tag`.
    public mutating func sealInPlace(
      _ buffer: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer,
      nonce: UnsafeMutableRawBufferPointer, associatedData: UnsafeRawBufferPointer
    ) {
      precondition(nonce.count == nonceByteCount && tag.count == tagByteCount)
      counter += 1
      nonce.storeBytes(of: prefix.0, toByteOffset: 0, as: UInt64.self)
      nonce.storeBytes(of: prefix.1, toByteOffset: 8, as: UInt64.self)
      nonce.storeBytes(of: counter.littleEndian, toByteOffset: 16, as: UInt64.self)
      // The IETF nonce XChaCha20 hands on: four zero bytes, then the nonce's last eight.
      var inner = (UInt64(0), UInt64(0))  // 16 bytes; libsodium reads the first 12
      withUnsafeMutableBytes(of: &inner) {
        $0.storeBytes(of: counter.littleEndian, toByteOffset: 4, as: UInt64.self)
      }
      withUnsafeBytes(of: &inner) { innerNonce in
        subkey.withUnsafeBytes { keyBytes in
          var tagLength: UInt64 = 0
          let text =
            buffer.baseAddress?.assumingMemoryBound(to: UInt8.self)
            ?? nonce.baseAddress!.assumingMemoryBound(to: UInt8.self)
          _ = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
            text, tag.baseAddress!.assumingMemoryBound(to: UInt8.self), &tagLength,
            text, UInt64(buffer.count),
            associatedData.baseAddress?.assumingMemoryBound(to: UInt8.self),
            UInt64(associatedData.count), nil,
            innerNonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
            keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
      }
    }

    /// Seals `plaintext`: nonce ‖ ciphertext ‖ tag, as ``XChaCha20Poly1305/seal(_:key:associatedData:)``.
    public mutating func seal(_ plaintext: [UInt8], associatedData: [UInt8]) -> [UInt8] {
      var output = [UInt8](repeating: 0, count: plaintext.count + overhead)
      output.withUnsafeMutableBytes { out in
        let body = UnsafeMutableRawBufferPointer(
          rebasing: out[nonceByteCount..<nonceByteCount + plaintext.count])
        plaintext.withUnsafeBytes { if $0.count > 0 { body.copyMemory(from: $0) } }
        associatedData.withUnsafeBytes { ad in
          sealInPlace(
            body,
            tag: UnsafeMutableRawBufferPointer(
              rebasing: out[(nonceByteCount + plaintext.count)...]),
            nonce: UnsafeMutableRawBufferPointer(rebasing: out[0..<nonceByteCount]),
            associatedData: ad)
        }
      }
      return output
    }
  }
}
