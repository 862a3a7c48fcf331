/// Stores little-endian fields straight into a page buffer being built (see
/// ``Page/build(header:links:bodyLength:pageSize:writeBody:)``): no intermediate array.
public struct RawWriter {
  private let buffer: UnsafeMutableRawBufferPointer
  public private(set) var offset = 0

  public init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

  public mutating func write(_ value: UInt8) {
    buffer.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    offset += 1
  }
  public mutating func write(_ value: UInt16) {
    buffer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt16.self)
    offset += 2
  }
  public mutating func write(_ value: UInt32) {
    buffer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    offset += 4
  }
  public mutating func write(_ value: UInt64) {
    buffer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
    offset += 8
  }
  public mutating func write(_ bytes: UnsafeRawBufferPointer) {
    if let base = bytes.baseAddress, !bytes.isEmpty {
      (buffer.baseAddress! + offset).copyMemory(from: base, byteCount: bytes.count)
    }
    offset += bytes.count
  }
  public mutating func write(_ bytes: ArraySlice<UInt8>) {
    bytes.withUnsafeBytes { source in
      if let base = source.baseAddress, !source.isEmpty {
        (buffer.baseAddress! + offset).copyMemory(from: base, byteCount: source.count)
      }
    }
    offset += bytes.count
  }
}
