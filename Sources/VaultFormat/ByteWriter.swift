/// Appends little-endian fields to a byte buffer. The counterpart of ``ByteReader``.
public struct ByteWriter {
  /// The bytes written so far.
  public private(set) var bytes: [UInt8]

  public init(capacity: Int = 0) {
    bytes = []
    bytes.reserveCapacity(capacity)
  }

  /// Writes into an existing buffer, appending after its current content.
  public init(appendingTo bytes: [UInt8]) { self.bytes = bytes }

  public var count: Int { bytes.count }

  private mutating func store<T: FixedWidthInteger>(_ value: T) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }

  public mutating func write(_ value: UInt8) { bytes.append(value) }
  public mutating func write(_ value: UInt16) { store(value) }
  public mutating func write(_ value: UInt32) { store(value) }
  public mutating func write(_ value: UInt64) { store(value) }
  public mutating func write(_ value: Int64) { store(value) }

  /// A big-endian 64-bit value, so that byte order sorts as the number does.
  public mutating func writeBigEndian(_ value: UInt64) {
    withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
  }

  /// A big-endian 32-bit value.
  public mutating func writeBigEndian(_ value: UInt32) {
    withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
  }

  public mutating func write(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
  public mutating func write(_ raw: ArraySlice<UInt8>) { bytes.append(contentsOf: raw) }

  /// Appends `count` zero bytes.
  public mutating func writeZeros(_ count: Int) {
    bytes.append(contentsOf: repeatElement(0, count: count))
  }
}
