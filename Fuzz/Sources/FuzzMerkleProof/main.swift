@_spi(Fuzzing) import VaultFuzzing

/// libFuzzer's entry point: the harness is `FuzzTarget.merkleProof` (Sources/VaultFuzzing).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
  FuzzTarget.merkleProof.run(data, size)
}
