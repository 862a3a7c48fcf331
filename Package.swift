// swift-tools-version:6.0
// StudioVault: an encrypted, audited, embedded storage engine for photo and video studios.
//
// Layers, bottom up (a layer never imports one above it):
//   CSodium, CZstd  system C libraries (Debian packages, found with pkg-config)
//   CSHA256         SHA-256 on the x86 SHA extensions (our own C: Swift has no intrinsics)
//   VaultCore       the error type and identity scalars every layer shares
//   VaultCrypto     hashing, randomness, compression: the only user of the C modules
//   VaultFormat     bytes <-> structures of the file format, pure, no I/O
//   VaultStorage    file I/O, page cache, copy-on-write B+tree, transactions, check
//   StudioVault     records sealed under their own keys, key rotation, erasure
//   VaultReader     keyless, read-only access for backup tools (beside StudioVault)
//   VaultCLI        the `vault` command line, as a library so tests drive it in-process
//   vault           the executable
import PackageDescription

let package = Package(
  name: "StudioVault",
  products: [
    // The page store with the modules its API speaks in (errors, keys, format types).
    .library(
      name: "VaultStorage", targets: ["VaultStorage", "VaultFormat", "VaultCrypto", "VaultCore"]),
    // Records sealed under their own keys (the engine under the access layer).
    .library(name: "StudioVault", targets: ["StudioVault"]),
    // Keyless, read-only access for backup tools: pin a commit, list, verify, copy.
    .library(name: "VaultReader", targets: ["VaultReader", "VaultCore"]),
    .executable(name: "vault", targets: ["vault"]),
    // SIGKILL at random moments of a studio's work, then reopen and check (make torture).
    .executable(name: "vault-torture", targets: ["vault-torture"]),
    // For Fuzz/ only: the harnesses, behind @_spi(Fuzzing).
    .library(name: "VaultFuzzing", targets: ["VaultFuzzing"]),
  ],
  targets: [
    .systemLibrary(
      name: "CSodium",
      pkgConfig: "libsodium",
      providers: [.apt(["libsodium-dev"])]
    ),
    .systemLibrary(
      name: "CZstd",
      pkgConfig: "libzstd",
      providers: [.apt(["libzstd-dev"])]
    ),
    .target(name: "CSHA256"),
    .target(name: "VaultCore"),
    .target(name: "VaultCrypto", dependencies: ["VaultCore", "CSodium", "CZstd", "CSHA256"]),
    .target(name: "VaultFormat", dependencies: ["VaultCore", "VaultCrypto"]),
    .target(name: "VaultStorage", dependencies: ["VaultCore", "VaultCrypto", "VaultFormat"]),
    .target(
      name: "StudioVault",
      dependencies: ["VaultCore", "VaultCrypto", "VaultFormat", "VaultStorage"]),
    .target(
      name: "VaultReader", dependencies: ["VaultCore", "VaultFormat", "VaultStorage"]),
    .target(
      name: "VaultCLI",
      dependencies: ["VaultCore", "VaultCrypto", "VaultFormat", "VaultStorage", "StudioVault", "VaultReader",
      ]),
    .executableTarget(name: "vault", dependencies: ["VaultCLI"]),
    .executableTarget(
      name: "vault-torture", dependencies: ["VaultCore", "VaultCrypto", "VaultFormat", "VaultStorage", "StudioVault", "VaultReader",
      ]),
    // The fuzz harnesses (Fuzz/ runs them under libFuzzer; the tests replay corpora).
    .target(
      name: "VaultFuzzing",
      dependencies: ["VaultCore", "VaultCrypto", "VaultFormat", "VaultStorage", "StudioVault", "VaultCLI"]
    ),
    .executableTarget(
      name: "vault-test-helper",
      dependencies: ["VaultCrypto", "VaultStorage", "StudioVault", "VaultFuzzing"],
      path: "Tests/Helper"
    ),
    .testTarget(
      name: "VaultTests",
      dependencies: [
        "VaultCore", "VaultCrypto", "VaultFormat", "VaultStorage", "StudioVault", "VaultCLI",
        "VaultFuzzing", "vault-test-helper", "vault-torture",
      ]
    ),
    // Only the public surface, without the engine's SPI: what an application sees.
    .testTarget(
      name: "PublicAPITests", dependencies: ["StudioVault", "VaultReader", "VaultCore", "VaultCrypto"]),
  ],
  swiftLanguageModes: [.v6]
)
