import Glibc

/// The order of keys in every tree: bytewise unsigned comparison, a proper prefix first.
public enum KeyOrder {
  /// Whether `lhs` sorts before `rhs`.
  @inlinable
  public static func less<A: RandomAccessCollection<UInt8>, B: RandomAccessCollection<UInt8>>(
    _ lhs: A, _ rhs: B
  ) -> Bool {
    compare(lhs, rhs) < 0
  }

  /// -1, 0 or 1 as `lhs` sorts before, equal to, or after `rhs`.
  @inlinable
  public static func compare<A: RandomAccessCollection<UInt8>, B: RandomAccessCollection<UInt8>>(
    _ lhs: A, _ rhs: B
  ) -> Int {
    let fast = lhs.withContiguousStorageIfAvailable { left in
      rhs.withContiguousStorageIfAvailable { right in
        compareBuffers(UnsafeRawBufferPointer(left), UnsafeRawBufferPointer(right))
      }
    }
    if let fast = fast ?? nil { return fast }
    var left = lhs.makeIterator()
    var right = rhs.makeIterator()
    while true {
      switch (left.next(), right.next()) {
      case (nil, nil): return 0
      case (nil, _): return -1
      case (_, nil): return 1
      case (let a?, let b?): if a != b { return a < b ? -1 : 1 }
      }
    }
  }

  /// -1, 0 or 1 as the bytes of `left` sort before, equal to, or after those of `right`.
  @inlinable @inline(__always)
  public static func compareBuffers(
    _ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer
  ) -> Int {
    let common = Swift.min(left.count, right.count)
    // Most keys differ in their first eight bytes: compare those inline, as big-endian
    // integers, before paying for a call to memcmp.
    if common >= 8 {
      let x = UInt64(bigEndian: left.loadUnaligned(as: UInt64.self))
      let y = UInt64(bigEndian: right.loadUnaligned(as: UInt64.self))
      if x != y { return x < y ? -1 : 1 }
      if common > 8 {
        let result = memcmp(left.baseAddress! + 8, right.baseAddress! + 8, common - 8)
        if result != 0 { return result < 0 ? -1 : 1 }
      }
    } else if common > 0 {
      let result = memcmp(left.baseAddress!, right.baseAddress!, common)
      if result != 0 { return result < 0 ? -1 : 1 }
    }
    return left.count == right.count ? 0 : (left.count < right.count ? -1 : 1)
  }
}
