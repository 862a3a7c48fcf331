import Testing
import VaultCore

@testable import VaultFormat

@Suite struct RecordEncodingTests {
  static let sample: FieldMap = {
    var address = FieldMap()
    address[1] = .string("Rua das Flores 12")
    address[5] = .string("Lisboa")
    var fields = FieldMap()
    fields[1] = .string("Zoë Øyelaran-Nakamura 🎞")
    fields[2] = .list([.string("zoe@example.com"), .string("z@studio.example")])
    fields[3] = .object(address)
    fields[4] = .money(minorUnits: -125_050, currency: "USD")
    fields[5] = .time(milliseconds: 1_781_379_000_000, offsetMinutes: -240)
    fields[6] = .date(days: 20_617)
    fields[7] = .bool(true)
    fields[8] = .bool(false)
    fields[9] = .integer(.min)
    fields[10] = .integer(.max)
    fields[11] = .bytes([0, 1, 2, 255])
    fields[12] = .string("")
    fields[13] = .list([])
    fields[65_535] = .integer(0)
    return fields
  }()

  @Test func everyKindRoundTrips() throws {
    let bytes = RecordEncoding.encode(Self.sample, schema: 3)
    let (schema, fields) = try RecordEncoding.decode(bytes)
    #expect(schema == 3)
    #expect(fields == Self.sample)
    // Deterministic: the same fields always encode to the same bytes.
    #expect(RecordEncoding.encode(fields, schema: 3) == bytes)
  }

  @Test func varintsAndZigzagCoverTheWholeRange() throws {
    for value: Int64 in [0, 1, -1, 63, -64, 64, 300, -300, .max, .min, .max - 1, .min + 1] {
      #expect(RecordEncoding.unzigzag(RecordEncoding.zigzag(value)) == value)
      var fields = FieldMap()
      fields[1] = .integer(value)
      #expect(try RecordEncoding.decode(RecordEncoding.encode(fields, schema: 1)).fields == fields)
    }
  }

  /// Schema evolution: a record written before a field existed decodes without it;
  /// a migration (here: renaming tag 2 to 20, splitting a name) works on the fields.
  @Test func olderRecordsStillDecodeAndMigrate() throws {
    var old = FieldMap()
    old[1] = .string("Ava Okafor")
    old[2] = .string("referral")
    let (schema, fields) = try RecordEncoding.decode(RecordEncoding.encode(old, schema: 1))
    #expect(schema == 1 && fields[3] == nil)
    var migrated = fields
    migrated[20] = migrated[2]
    migrated[2] = nil
    if case .string(let name)? = migrated[1] {
      let parts = name.split(separator: " ").map(String.init)
      migrated[21] = .string(parts[0])
      migrated[22] = .string(parts.dropFirst().joined(separator: " "))
    }
    let (newSchema, newFields) = try RecordEncoding.decode(
      RecordEncoding.encode(migrated, schema: 2))
    #expect(
      newSchema == 2 && newFields[20] == .string("referral") && newFields[22] == .string("Okafor"))
  }

  @Test func malformedEncodingsAreTypedErrors() {
    let valid = RecordEncoding.encode(Self.sample, schema: 3)
    let cases: [(String, [UInt8])] = [
      ("empty", []),
      ("newer encoding", [2, 0, 0, 0]),
      ("truncated", Array(valid.dropLast())),
      ("trailing bytes", valid + [0]),
      ("descending tags", [1, 1, 0, 2, 5, 2, 0, 2, 2]),
      ("unknown kind", [1, 1, 0, 1, 1, 99]),
      ("overlong varint", [1, 1, 0, 1, 1, 2, 0x80, 0x00]),
      ("varint past 64 bits", [1, 1, 0, 1, 1, 2] + [UInt8](repeating: 0xFF, count: 9) + [0x02]),
      ("forged count", [1, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
      ("string not UTF-8", [1, 1, 0, 1, 1, 1, 2, 0xC3, 0x28]),
      // Repaired, a truncated 4-byte sequence (one U+FFFD, 3 bytes) keeps its length.
      ("string with a truncated sequence", [1, 1, 0, 1, 1, 1, 4, 0xF0, 0x90, 0x80, 0x61]),
      ("lone surrogate", [1, 1, 0, 1, 1, 1, 3, 0xED, 0xA0, 0x80]),
      ("currency not UTF-8", [1, 1, 0, 1, 1, 5, 2, 3, 0xE2, 0x82, 0x41]),
      ("tag past 16 bits", [1, 1, 0, 1, 0x80, 0x80, 0x04, 2, 0]),
      ("short currency", [1, 1, 0, 1, 1, 5, 2, 2, 0x55, 0x53]),
      ("impossible offset", [1, 1, 0, 1, 1, 6, 0, 0xFF, 0xFF, 0x03]),
      ("nesting too deep", [1, 1, 0] + [UInt8](repeating: 0, count: 0) + deepNesting(20)),
    ]
    for (what, bytes) in cases {
      let error = #expect(throws: VaultError.self, "\(what)") { try RecordEncoding.decode(bytes) }
      #expect(
        error.map { [.corrupt, .truncated, .unsupportedVersion].contains($0.code) } == true,
        "\(what)")
    }
  }

  /// `levels` objects nested in one another: each `1 field, tag 1, kind object`.
  func deepNesting(_ levels: Int) -> [UInt8] {
    Array(repeating: [1, 1, 10], count: levels).flatMap { $0 } + [0]
  }

  @Test func randomBytesNeverTrap() {
    let seed = testSeed(0xE4C0)
    var random = SeededGenerator(seed: seed)
    let valid = RecordEncoding.encode(Self.sample, schema: 3)
    var decoded = 0
    for round in 0..<5_000 {
      var bytes = round % 2 == 0 ? random.bytes(Int.random(in: 0...64, using: &random)) : valid
      if round % 2 == 1 {
        for _ in 0..<Int.random(in: 1...3, using: &random) {
          bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(
            in: 0...255, using: &random)
        }
      }
      if (try? RecordEncoding.decode(bytes)) != nil { decoded += 1 }
    }
    #expect(decoded > 0, "seed \(seed)")
  }
}
