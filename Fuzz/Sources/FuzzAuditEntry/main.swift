@_spi(Fuzzing) import VaultFuzzing

/// libFuzzer's entry point: the harness is `FuzzTarget.auditEntry` (Sources/VaultFuzzing).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
  FuzzTarget.auditEntry.run(data, size)
}
