import Glibc
@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
import VaultFormat
import VaultStorage

/// Seed inputs and dictionaries of the fuzz targets (Fuzz/Corpus/TARGET/ and
/// Fuzz/Corpus/TARGET.dict), made from the vectors of Format/vectors: real files,
/// pages, records and notes give the fuzzer the shapes it would take long to find.
extension FuzzTarget {
  /// Seeds for this target, from the vectors in `vectors` (Format/vectors).
  public func seeds(vectors: String) -> [[UInt8]] {
    let files = ["v1-4k", "v2-16k", "v3-records", "v4-studio", "v5-blobs", "v6-chain"].map {
      Self.read(vectors + "/" + $0 + ".vault")
    }
    func pages(_ file: [UInt8], size: Int) -> [[UInt8]] {
      stride(from: 0, to: file.count - size + 1, by: size).map { Array(file[$0..<$0 + size]) }
    }
    switch self {
    case .fileHeader:
      return files.compactMap { file in
        guard let size = try? FileHeader.peekPageSize(file, page: PageNumber(0)) else { return nil }
        return Array(file.prefix(size))
      }
    case .metaPage:
      return Self.openedPages(vectors) { $0 == 2 || $0 == 11 }
    case .page:
      return Self.openedPages(vectors) { $0 >= 12 && $0 < 60 }
    case .leafRoundTrip, .merkleProof, .overflowChain:
      // Fixed bytes (a linear congruential sequence): the corpus is the same every time.
      var state: UInt32 = 2_463_534_242
      return (0..<8).map { count in
        (0..<(count * 40 + 3)).map { _ in
          state = state &* 1_664_525 &+ 1_013_904_223
          return UInt8(truncatingIfNeeded: state >> 24)
        }
      }
    case .record:
      return Self.studioRecords(vectors).compactMap { collection, record in
        guard let index = RecordCollection.allCases.firstIndex(of: collection) else { return nil }
        return [UInt8(index)]
          + RecordEncoding.encode(record.storedFields(), schema: record.schema.version)
      }
    case .jsonImport:
      return Self.jsonLines(vectors).map { Array($0.utf8) }
    case .auditEntry:
      guard
        let store = try? VaultStore.open(
          at: Self.copy(vectors + "/v4-studio.vault"), credential: nil,
          options: .init(readOnly: true))
      else { return [] }
      var entries = [[UInt8]]()
      try? AuditVerification.forEachStoredEntry(store) { _, entry in
        entries.append(entry)
        return entries.count < 40
      }
      return entries
    case .checkpoint:
      return [Self.read(vectors + "/v4-studio.checkpoint")]
    case .blob:
      var manifest = BlobManifest(
        project: [UInt8](repeating: 2, count: 16), branch: [UInt8](repeating: 3, count: 16),
        uploader: [UInt8](repeating: 4, count: 16), isVendorUpload: false,
        createdAt: 1_796_400_000_000, chunkSize: 1 << 20, name: "IMG_0001.CR3")
      manifest.state = .complete
      manifest.size = 3 << 20
      manifest.chunkCount = 3
      manifest.sha256 = [UInt8](repeating: 5, count: 32)
      manifest.contentAddress = [UInt8](repeating: 6, count: 32)
      manifest.retention = Retention(mode: .governance, until: 1_900_000_000_000)
      manifest.media = [UInt8](repeating: 7, count: 16)
      let blob = [UInt8](repeating: 8, count: 16)
      let sealed = manifest.seal(blob: blob, vaultID: Harness.vaultID, key: Harness.key)
      // Its plaintext: what the harness seals itself.
      let plaintext =
        (try? XChaCha20Poly1305.open(
          Array(sealed[2...]), key: Harness.key,
          associatedData: BlobManifest.associatedData(
            vaultID: Harness.vaultID, blob: blob, state: .complete,
            version: manifest.version))) ?? []
      // The first byte's bit 1 picks the manifest version the harness seals it as.
      return [
        [1, BlobManifest.State.complete.rawValue] + blob + plaintext,
        [3, BlobManifest.State.complete.rawValue] + blob + plaintext,
        [0, 0] + blob + Retention(mode: .compliance, until: 1_900_000_000_000).encode(),
      ]
    case .incrementalBackup:
      return ["1", "2"].compactMap { number in
        let file = Self.read(vectors + "/v6-chain.\(number).svinc")
        guard file.count >= IncrementalBackup.headerLength,
          let length = try? IncrementalBackup.headLength(
            header: Array(file.prefix(IncrementalBackup.headerLength)),
            fileSize: UInt64(file.count))
        else { return nil }
        return Array(file.prefix(length))
      }
    case .vaultFile:
      return [files[0], files[2], files[3], files[5]]
    case .arguments:
      return [
        ["info", "x.vault", "--json"], ["check", "--deep", "x.vault"], ["page", "x.vault", "12"],
        ["audit", "verify", "x.vault", "--checkpoint", "c.txt"], ["help", "backup"],
        ["stats", "--json", "--", "-x.vault"], ["pages", "x.vault", "--limit=3"],
      ].map { Array($0.joined(separator: "\u{0}").utf8) }
    case .storedForms:
      return StoredFormFuzzing.seeds
    }
  }

  /// Tokens for libFuzzer's `-dict`: magic values, tags and words this target's
  /// format uses.
  public var dictionary: [String] {
    switch self {
    case .fileHeader, .metaPage, .page, .vaultFile:
      return ["StudioVault", "SVLT", "\u{1}\u{0}\u{0}\u{0}", "\u{0}\u{10}\u{0}\u{0}", "$audit"]
    case .leafRoundTrip, .merkleProof, .overflowChain:
      return ["\u{0}", "\u{ff}"]
    case .record, .jsonImport:
      return [
        "{", "}", "[", "]", "\"displayName\"", "\"branch\"", "\"amount\"", "\"currency\"",
        "\"USD\"", "\"2027-06-01\"", "\"2027-06-01T10:00:00Z\"", "true", "null", "\\u0000",
        "4111111111111111", "\"emails\"", "\"lineItems\"", "\"sessions\"",
      ]
    case .auditEntry, .checkpoint:
      return ["studiovault/", "\u{2014} ", "\n\n", "+", "="]
    case .blob:
      return ["\u{1}", "\u{2}", "\u{0}\u{0}\u{10}\u{0}"]
    case .incrementalBackup:
      return ["SVincr\r\n", "\u{1}\u{0}\u{0}\u{0}", "\u{0}\u{10}\u{0}\u{0}"]
    case .arguments:
      return ["--json", "--deep", "--", "--help", "-", "=", "audit", "verify", "--checkpoint"]
    case .storedForms:
      return ["\u{1}", "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{80}", "\u{ff}\u{ff}", "$keys."]
    }
  }

  /// The dictionary as a file libFuzzer reads.
  public var dictionaryFile: String {
    dictionary.map { token in
      "\""
        + token.unicodeScalars.map { scalar -> String in
          switch scalar {
          case "\"": "\\\""
          case "\\": "\\\\"
          case _ where scalar.value < 0x20 || scalar.value >= 0x7F:
            scalar.value < 0x100
              ? "\\x" + String(scalar.value, radix: 16).leftPadded(2)
              : String(scalar).utf8.map { "\\x" + String($0, radix: 16).leftPadded(2) }.joined()
          default: String(scalar)
          }
        }.joined() + "\""
    }.joined(separator: "\n") + "\n"
  }

  /// Pages of every vector (those `wanted` picks), their bodies opened with the
  /// vectors' passphrase, each behind the selector byte of its page size: the harness
  /// seals a page with the sealed flag itself, so its seeds are plaintext.
  private static func openedPages(_ vectors: String, wanted: (UInt64) -> Bool) -> [[UInt8]] {
    var seeds = [[UInt8]]()
    for name in ["v1-4k", "v2-16k", "v3-records", "v4-studio", "v5-blobs", "v6-chain"] {
      guard
        let store = try? VaultStore.open(
          at: copy(vectors + "/" + name + ".vault"), credential: .passphrase(vectorPassphrase),
          options: .init(readOnly: true)),
        let meta = try? store.newestMeta()
      else { continue }
      let selector = UInt8(store.pageSize.trailingZeroBitCount - 12)
      for number in 0..<meta.pageCount where wanted(number) {
        guard let page = try? store.openedPage(PageNumber(number)),
          page.contains(where: { $0 != 0 })
        else { continue }
        seeds.append([selector] + page)
      }
    }
    return seeds
  }

  /// The passphrase of every vector (Format/vectors/README.md).
  private static let vectorPassphrase = "correct horse battery staple"

  private static func read(_ path: String) -> [UInt8] {
    guard let file = try? PosixFile(openingExisting: path, readOnly: true),
      let size = try? file.size(), let bytes = try? file.read(at: 0, count: Int(size))
    else { return [] }
    return bytes
  }

  /// A copy of a vector in a scratch directory (opening one may write its lock file).
  private static func copy(_ path: String) -> String {
    let target = Harness.directory + "/seed-" + String(path.split(separator: "/").last ?? "")
    unlink(target)
    unlink(target + "-lock")
    let bytes = read(path)
    let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    if fd >= 0 {
      _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
      close(fd)
    }
    return target
  }

  /// The JSON objects of `v4-studio.jsonl` (each line is `COLLECTION` tab `JSON`).
  private static func jsonLines(_ vectors: String) -> [String] {
    String(decoding: read(vectors + "/v4-studio.jsonl"), as: UTF8.self)
      .split(separator: "\n").filter { !$0.hasPrefix("#") }
      .compactMap { line in line.firstIndex(of: "\t").map { String(line[line.index(after: $0)...]) }
      }
  }

  private static func studioRecords(_ vectors: String) -> [(RecordCollection, Record)] {
    let lines = String(decoding: read(vectors + "/v4-studio.jsonl"), as: UTF8.self)
      .split(separator: "\n").filter { !$0.hasPrefix("#") }
    let context = RecordJSON.Context(defaultCurrency: try? Currency("USD")) {
      (_, _) throws(VaultError) in try RecordID(bytes: [UInt8](repeating: 3, count: 16))
    }
    return lines.compactMap { line in
      guard let space = line.firstIndex(of: "\t"),
        let collection = RecordCollection(rawValue: String(line[..<space])),
        let json = try? JSON.parse(String(line[line.index(after: space)...])),
        let record = try? RecordJSON.decode(json, as: collection, context: context)
      else { return nil }
      return (collection, record)
    }
  }
}

extension String {
  fileprivate func leftPadded(_ width: Int) -> String {
    String(repeating: "0", count: max(0, width - count)) + self
  }
}
