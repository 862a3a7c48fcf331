import VaultCore

/// A bounds-checked little-endian reader over bytes that came from disk or a caller.
///
/// Every read checks its bounds and throws ``VaultError/Code/truncated`` naming the
/// page and offset instead of trapping: untrusted bytes never crash the engine.
public struct ByteReader {
  /// The bytes being read.
  public let bytes: [UInt8]
  /// The next byte to read.
  public private(set) var offset: Int
  /// One past the last byte this reader may read.
  public let limit: Int
  /// The page these bytes belong to, for error messages.
  public let page: UInt64?

  /// A reader over `bytes[start..<limit]` (all of `bytes` by default).
  public init(_ bytes: [UInt8], from start: Int = 0, to limit: Int? = nil, page: UInt64? = nil) {
    self.bytes = bytes
    self.offset = start
    self.limit = Swift.min(limit ?? bytes.count, bytes.count)
    self.page = page
  }

  /// Bytes left before the limit.
  public var remaining: Int { Swift.max(0, limit - offset) }

  /// Whether every byte up to the limit has been read.
  public var isAtEnd: Bool { offset >= limit }

  private func require(_ count: Int, _ what: String) throws(VaultError) {
    guard count >= 0, count <= remaining else {
      throw VaultError(
        .truncated, "\(what) needs \(count) bytes but only \(remaining) remain", page: page,
        offset: offset)
    }
  }

  private mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: String) throws(VaultError)
    -> T
  {
    try require(MemoryLayout<T>.size, what)
    let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    offset += MemoryLayout<T>.size
    return T(littleEndian: value)
  }

  public mutating func readUInt8(_ what: String = "byte") throws(VaultError) -> UInt8 {
    try load(UInt8.self, what)
  }
  public mutating func readUInt16(_ what: String = "16-bit field") throws(VaultError) -> UInt16 {
    try load(UInt16.self, what)
  }
  public mutating func readUInt32(_ what: String = "32-bit field") throws(VaultError) -> UInt32 {
    try load(UInt32.self, what)
  }
  public mutating func readUInt64(_ what: String = "64-bit field") throws(VaultError) -> UInt64 {
    try load(UInt64.self, what)
  }
  public mutating func readInt64(_ what: String = "64-bit field") throws(VaultError) -> Int64 {
    try load(Int64.self, what)
  }

  /// `count` bytes, copied out.
  public mutating func readBytes(_ count: Int, _ what: String = "bytes") throws(VaultError)
    -> [UInt8]
  {
    try require(count, what)
    let result = Array(bytes[offset..<offset + count])
    offset += count
    return result
  }

  /// The range of the next `count` bytes, without copying them.
  public mutating func readRange(_ count: Int, _ what: String = "bytes") throws(VaultError)
    -> Range<Int>
  {
    try require(count, what)
    defer { offset += count }
    return offset..<offset + count
  }

  /// Skips `count` bytes.
  public mutating func skip(_ count: Int, _ what: String = "bytes") throws(VaultError) {
    try require(count, what)
    offset += count
  }

  /// A `.corrupt` error at the reader's current position.
  public func corrupt(_ message: String) -> VaultError {
    VaultError(.corrupt, message, page: page, offset: offset)
  }
}
