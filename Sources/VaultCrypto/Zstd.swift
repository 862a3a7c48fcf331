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
    let written = Contexts.compression.use { context in
      input.withUnsafeBytes { source in
        output.withUnsafeMutableBytes { destination in
          ZSTD_compressCCtx(
            OpaquePointer(context), destination.baseAddress, destination.count,
            source.baseAddress, source.count, level)
        }
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
    let written = Contexts.decompression.use { context in
      input.withUnsafeBytes { source in
        output.withUnsafeMutableBytes { destination in
          ZSTD_decompressDCtx(
            OpaquePointer(context), destination.baseAddress, destination.count,
            source.baseAddress, source.count)
        }
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

  /// Compresses `input` into `output` as one frame; returns the frame's length, or nil
  /// when it does not fit in `output` (the caller then stores the input as it is).
  public static func compress(
    _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, level: Int32
  ) -> Int? {
    guard let destination = output.baseAddress else { return nil }
    let written = Contexts.compression.use { context in
      ZSTD_compressCCtx(
        OpaquePointer(context), destination, output.count, input.baseAddress, input.count, level)
    }
    return ZSTD_isError(written) != 0 ? nil : written
  }

  /// Decompresses one frame from `input` into `output`, which it must fill exactly.
  ///
  /// - Throws: `.corrupt` for a frame that does not decode to exactly `output.count`
  ///   bytes.
  public static func decompress(
    _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
  ) throws(VaultError) {
    let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
    guard declared == UInt64(output.count) else {
      throw VaultError(.corrupt, "zstd frame does not declare the expected content size")
    }
    let written = Contexts.decompression.use { context in
      ZSTD_decompressDCtx(
        OpaquePointer(context), output.baseAddress, output.count, input.baseAddress, input.count)
    }
    guard ZSTD_isError(written) == 0, written == output.count else {
      throw VaultError(.corrupt, "zstd frame does not decode to the expected content")
    }
  }

  private static func errorName(_ code: Int) -> String {
    String(cString: ZSTD_getErrorName(code))
  }

  /// Reusable zstd contexts: creating one per call (what ZSTD_compress does) costs
  /// more than compressing a small record. Idle contexts wait in a pool; a context is
  /// used by one thread at a time.
  final class Contexts: Sendable {
    static let compression = Contexts(
      create: { UnsafeMutableRawPointer(ZSTD_createCCtx()) },
      free: { _ = ZSTD_freeCCtx(OpaquePointer($0)) })
    static let decompression = Contexts(
      create: { UnsafeMutableRawPointer(ZSTD_createDCtx()) },
      free: { _ = ZSTD_freeDCtx(OpaquePointer($0)) })
    /// At most this many idle contexts are kept.
    static let poolLimit = 8

    private let create: @Sendable () -> UnsafeMutableRawPointer?
    private let free: @Sendable (UnsafeMutableRawPointer) -> Void
    /// Idle contexts, as addresses (plain Sendable data).
    private let idle = Locked<[UInt]>([])

    private init(
      create: @escaping @Sendable () -> UnsafeMutableRawPointer?,
      free: @escaping @Sendable (UnsafeMutableRawPointer) -> Void
    ) {
      self.create = create
      self.free = free
    }

    /// Runs `body` with a context of its own; returns zstd's error code for a context
    /// that cannot be created.
    func use(_ body: (UnsafeMutableRawPointer) -> Int) -> Int {
      let reused = idle.withLock { $0.popLast() }.flatMap {
        UnsafeMutableRawPointer(bitPattern: $0)
      }
      guard let context = reused ?? create() else { return -64 }  // ZSTD_error_memory_allocation
      let result = body(context)
      let kept = idle.withLock { pool -> Bool in
        guard pool.count < Self.poolLimit else { return false }
        pool.append(UInt(bitPattern: context))
        return true
      }
      if !kept { free(context) }
      return result
    }
  }
}
