// swift-tools-version:6.0
// Benchmarks: StudioVault side by side with SQLite on the same machine, in the same
// run (../shared/spec/benchmarks.md). Kept out of the main package so that peer
// libraries never touch the engine's build.
import PackageDescription

let package = Package(
  name: "StudioVaultBenchmarks",
  dependencies: [.package(name: "StudioVault", path: "..")],
  targets: [
    .systemLibrary(
      name: "CSQLite",
      pkgConfig: "sqlite3",
      providers: [.apt(["libsqlite3-dev"])]
    ),
    .executableTarget(
      name: "vault-bench",
      dependencies: [
        .product(name: "VaultStorage", package: "StudioVault"),
        .product(name: "StudioVault", package: "StudioVault"), "CSQLite",
      ]
    ),
  ],
  swiftLanguageModes: [.v6]
)
