// swift-tools-version:6.0
// libFuzzer targets for StudioVault's parsers of untrusted bytes: every executable here
// is a fuzzer named Fuzz<Thing>, whose entry point calls a harness of the main package
// (Sources/VaultFuzzing, `FuzzTarget`), which `swift test` also runs on Fuzz/Corpus and
// Fuzz/FailCases. Build and run them with `make fuzz` (scripts/fuzz.sh), or by hand:
//
//   cd Fuzz
//   swift build -c release --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address \
//     -Xswiftc -parse-as-library
//
// (one -sanitize= list: `--sanitize fuzzer --sanitize address` keeps only the last, and
// nothing is instrumented for coverage.)
//   SWIFT_BACKTRACE=enable=off .build/release/FuzzPage -dict=Corpus/Page.dict \
//     work/Page Corpus/Page -max_total_time=60
//
// A crash, trap or sanitizer report is a bug: hostile input must only ever produce a
// `VaultError`.
import PackageDescription

func fuzzer(_ name: String) -> Target {
  .executableTarget(
    name: name, dependencies: [.product(name: "VaultFuzzing", package: "StudioVault")])
}

let package = Package(
  name: "StudioVaultFuzz",
  dependencies: [.package(name: "StudioVault", path: "..")],
  targets: [
    fuzzer("FuzzFileHeader"),
    fuzzer("FuzzMetaPage"),
    fuzzer("FuzzPage"),
    fuzzer("FuzzLeafRoundTrip"),
    fuzzer("FuzzRecord"),
    fuzzer("FuzzJSONImport"),
    fuzzer("FuzzAuditEntry"),
    fuzzer("FuzzCheckpoint"),
    fuzzer("FuzzMerkleProof"),
    fuzzer("FuzzBlob"),
    fuzzer("FuzzIncrementalBackup"),
    fuzzer("FuzzOverflowChain"),
    fuzzer("FuzzVaultFile"),
    fuzzer("FuzzArguments"),
    fuzzer("FuzzStoredForms"),
  ],
  swiftLanguageModes: [.v6]
)
