internal import CZstd
import VaultCore

/// zstd compression of whole buffers. Record bodies and blob chunks are compressed
/// before they are sealed, when compression pays.
public enum Zstd {
  /// The compression level used unless a caller picks another (zstd's default).
  public static let defaultLevel: Int32 = 3

  /// `input` compressed as one zstd frame (which records the content size).
  public static func compress(_ input: [UInt8], level: Int32 = defaultLevel) throws(VaultError)
    -> [UInt8]
  {
    let bound = ZSTD_compressBound(input.count)
    var output = [UInt8](repeating: 0, count: bound)
    let written = input.withUnsafeBytes { source in
      output.withUnsafeMutableBytes { destination in
        ZSTD_compress(
          destination.baseAddress, destination.count, source.baseAddress, source.count,
          level)
      }
    }
    if ZSTD_isError(written) != 0 {
      throw VaultError(.internal, "zstd compression failed: \(errorName(written))")
    }
    output.removeSubrange(written...)
    return output
  }

  /// The content of one zstd frame. The frame must declare its content size, and the
  /// size must not exceed `maximumSize`: a hostile frame cannot make us allocate more.
  public static func decompress(_ input: [UInt8], maximumSize: Int) throws(VaultError)
    -> [UInt8]
  {
    let declared = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
    // ZSTD_CONTENTSIZE_UNKNOWN and _ERROR are the two largest UInt64 values.
    guard declared < UInt64.max - 1 else {
      throw VaultError(.corrupt, "zstd frame has no readable content size")
    }
    guard declared <= UInt64(maximumSize) else {
      throw VaultError(.corrupt, "zstd frame declares \(declared) bytes, more than \(maximumSize)")
    }
    var output = [UInt8](repeating: 0, count: Int(declared))
    let written = input.withUnsafeBytes { source in
      output.withUnsafeMutableBytes { destination in
        ZSTD_decompress(
          destination.baseAddress, destination.count, source.baseAddress, source.count)
      }
    }
    if ZSTD_isError(written) != 0 {
      throw VaultError(.corrupt, "zstd frame does not decode: \(errorName(written))")
    }
    guard written == Int(declared) else {
      throw VaultError(.corrupt, "zstd frame decoded to \(written) bytes, declared \(declared)")
    }
    return output
  }

  private static func errorName(_ code: Int) -> String {
    String(cString: ZSTD_getErrorName(code))
  }
}
