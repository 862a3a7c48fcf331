// swift-tools-version:6.0
// libFuzzer targets for StudioVault's parsers of untrusted bytes. Build and run:
//
//   cd Fuzz
//   swift build -c release --sanitize fuzzer --sanitize address -Xswiftc -parse-as-library
//   SWIFT_BACKTRACE=enable=off .build/release/fuzz-audit-decoding -max_total_time=60
//   SWIFT_BACKTRACE=enable=off .build/release/fuzz-vault-file corpus/ ../Format/vectors/
//
// (`scripts/fuzz.sh` does both.) A crash, trap or sanitizer report is a bug: hostile
// input must only ever produce a `VaultError`.
import PackageDescription

let package = Package(
  name: "StudioVaultFuzz",
  dependencies: [.package(name: "StudioVault", path: "..")],
  targets: [
    .executableTarget(
      name: "fuzz-audit-decoding",
      dependencies: [.product(name: "VaultStorage", package: "StudioVault")]),
    .executableTarget(
      name: "fuzz-vault-file",
      dependencies: [
        .product(name: "VaultStorage", package: "StudioVault"),
        .product(name: "StudioVault", package: "StudioVault"),
      ]),
  ],
  swiftLanguageModes: [.v6]
)
