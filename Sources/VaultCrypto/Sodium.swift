internal import CSodium

/// libsodium must be initialized once before use; `sodium_init` is idempotent and
/// thread-safe, and a Swift global is initialized exactly once, on first use.
private let sodiumInitResult: Int32 = sodium_init()

/// Makes sure libsodium is initialized. Cheap after the first call.
@inline(__always)
func ensureSodium() {
  // sodium_init returns -1 only when the library cannot initialize at all (no
  // entropy source); nothing in this process can then be trusted to be secret.
  precondition(sodiumInitResult >= 0, "libsodium failed to initialize")
}
