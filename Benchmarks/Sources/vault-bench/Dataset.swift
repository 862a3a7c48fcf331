/// Deterministic test data: client records shaped like the JSON a studio stores
/// (~350 bytes), and their 16-byte random ids.
struct Dataset {
  let ids: [[UInt8]]
  let bodies: [[UInt8]]
  /// The same clients' fields, for the typed records API (W1-records, W2-records).
  let fields: [ClientFields]

  struct ClientFields {
    var name, email, phone, line1, city, postalCode, notes: String
    var branch: Int
  }

  /// `count` records; with `bodyBytes`, each body is padded to that size with random
  /// words (text that compresses about as well as real notes do).
  init(count: Int, seed: UInt64, bodyBytes: Int? = nil) {
    var random = SplitMix(seed: seed)
    let first = ["Ava", "Liam", "Maya", "Noah", "Zoe", "Omar", "Ines", "Kai", "Lena", "Jon"]
    let last = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Berg"]
    let cities = ["Lisbon", "Austin", "Osaka", "Lyon", "Tampere", "Cork", "Porto", "Denver"]
    var ids = [[UInt8]]()
    var bodies = [[UInt8]]()
    var fields = [ClientFields]()
    ids.reserveCapacity(count)
    bodies.reserveCapacity(count)
    for index in 0..<count {
      ids.append((0..<16).map { _ in UInt8(truncatingIfNeeded: random.next()) })
      let name = "\(first[Int(random.next() % 10)]) \(last[Int(random.next() % 8)])"
      let city = cities[Int(random.next() % 8)]
      let phone = "+1-555-\(1000 + random.next() % 9000)"
      let client = ClientFields(
        name: name, email: "\(name.lowercased().replacingSpaces())@example.com", phone: phone,
        line1: "\(random.next() % 999) Harbor Street", city: city,
        postalCode: "\(10000 + random.next() % 89999)",
        notes: "Referred by a past wedding client; prefers evening calls. #\(index)",
        branch: Int(random.next() % 8))
      fields.append(client)
      let body = """
        {"displayName":"\(name)","emails":["\(client.email)"],\
        "phones":["\(phone)"],"address":{"line1":"\(client.line1)",\
        "city":"\(city)","postalCode":"\(client.postalCode)","country":"US"},\
        "notes":"\(client.notes)",\
        "leadSource":"referral","tags":["wedding","2027"],"branch":"branch-\(client.branch)"}
        """
      var bytes = Array(body.utf8)
      if let bodyBytes {
        let words = ["golden", "hour", "venue", "lens", "album", "retouch", "print", "deposit"]
        bytes.removeLast()  // the closing brace: the padding goes in a field
        bytes += Array(#","extra":""#.utf8)
        while bytes.count < bodyBytes - 2 {
          bytes += Array((words[Int(random.next() % 8)] + "\(random.next() % 1000) ").utf8)
        }
        bytes = Array(bytes.prefix(bodyBytes - 2)) + Array(#""}"#.utf8)
      }
      bodies.append(bytes)
    }
    self.ids = ids
    self.bodies = bodies
    self.fields = fields
  }
}

struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

extension String {
  func replacingSpaces() -> String { String(map { $0 == " " ? "." : $0 }) }
}

/// An order-sensitive checksum over results, consumed so nothing is optimized away
/// and compared between engines so both returned the same data.
///
/// It covers every byte but mixes eight at a time: hashing byte by byte would add the
/// same large constant to both engines' time and squash the ratio between them.
struct ResultChecksum: Equatable {
  var value: UInt64 = 0xCBF2_9CE4_8422_2325
  mutating func add(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
      var offset = 0
      while offset + 8 <= raw.count {
        mix(raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        offset += 8
      }
      var tail: UInt64 = 0
      while offset < raw.count {
        tail = tail << 8 | UInt64(raw[offset])
        offset += 1
      }
      mix(tail ^ UInt64(raw.count) << 56)
    }
  }

  private mutating func mix(_ word: UInt64) {
    value = (value ^ word) &* 0x9E37_79B9_7F4A_7C15
    value ^= value >> 29
  }
}
