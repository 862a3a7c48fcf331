/// A hash map from page number to cache slot, open addressing with linear probing.
///
/// The page cache looks pages up several times per read; Swift's `Dictionary` hashes
/// with SipHash, which costs more than the rest of a lookup. Page numbers are already
/// well spread, so a multiplicative hash does. Key 0 marks an empty bucket (page 0 is a
/// header page and is never cached).
struct PageIndex {
  private var keys: [UInt64]
  private var values: [Int]
  private var mask: Int
  private(set) var count = 0

  init(minimumCapacity: Int = 64) {
    var size = 16
    while size < minimumCapacity * 2 { size *= 2 }
    keys = [UInt64](repeating: 0, count: size)
    values = [Int](repeating: 0, count: size)
    mask = size - 1
  }

  @inline(__always)
  private func bucket(_ key: UInt64) -> Int {
    Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
  }

  /// The value stored for `key`.
  func value(for key: UInt64) -> Int? {
    var index = bucket(key)
    while true {
      let found = keys[index]
      if found == key { return values[index] }
      if found == 0 { return nil }
      index = (index + 1) & mask
    }
  }

  /// Stores `value` for `key` (which must not be 0), replacing any previous one.
  mutating func set(_ value: Int, for key: UInt64) {
    precondition(key != 0, "page 0 is never cached")
    if (count + 1) * 2 > keys.count { grow() }
    var index = bucket(key)
    while keys[index] != 0 && keys[index] != key { index = (index + 1) & mask }
    if keys[index] == 0 { count += 1 }
    keys[index] = key
    values[index] = value
  }

  /// Removes `key`; returns its value if it was there.
  @discardableResult
  mutating func remove(_ key: UInt64) -> Int? {
    var index = bucket(key)
    while keys[index] != key {
      if keys[index] == 0 { return nil }
      index = (index + 1) & mask
    }
    let removed = values[index]
    keys[index] = 0
    count -= 1
    // Re-place the rest of the probe run, so that no lookup stops early at the hole.
    var next = (index + 1) & mask
    while keys[next] != 0 {
      let key = keys[next]
      let value = values[next]
      keys[next] = 0
      count -= 1
      set(value, for: key)
      next = (next + 1) & mask
    }
    return removed
  }

  private mutating func grow() {
    let oldKeys = keys
    let oldValues = values
    keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
    values = [Int](repeating: 0, count: oldKeys.count * 2)
    mask = keys.count - 1
    count = 0
    for (key, value) in zip(oldKeys, oldValues) where key != 0 { set(value, for: key) }
  }
}
