import VaultCore

/// The I/O the engine performs on a vault file. Production uses ``PosixFile``; tests
/// substitute a simulated disk that can crash at any write or sync, or fail with
/// `EIO` or `ENOSPC`.
package protocol FileIO: AnyObject, Sendable {
  /// Up to `count` bytes at `offset`; fewer only at the end of the file.
  func read(at offset: UInt64, count: Int) throws(VaultError) -> [UInt8]
  /// Writes `buffers` back to back starting at `offset`, completely.
  func write(_ buffers: [[UInt8]], at offset: UInt64) throws(VaultError)
  /// Makes every completed write durable (`fdatasync`).
  func sync() throws(VaultError)
  /// The file's length in bytes.
  func size() throws(VaultError) -> UInt64
}
