@_spi(Fuzzing) import VaultFuzzing

/// libFuzzer's entry point: the harness is `FuzzTarget.storedForms` (Sources/VaultFuzzing).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
  FuzzTarget.storedForms.run(data, size)
}
