import VaultCore
import VaultCrypto

/// The Merkle tree of RFC 9162 (Certificate Transparency 2.0), section 2.1, over
/// SHA-256: the hashes, inclusion proofs and consistency proofs the audit log is
/// verified with. Pure functions over leaf hashes; the audit segment stores the tree.
///
/// ```
/// leaf hash  = SHA-256(0x00 ‖ entry)
/// node hash  = SHA-256(0x01 ‖ left ‖ right)
/// MTH({})    = SHA-256()
/// MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
/// ```
public enum MerkleTree {
  public static let hashSize = 32
  /// No proof of a tree of at most 2^64 leaves is longer than this.
  public static let maximumProofLength = 64

  /// The hash of the empty tree.
  public static let emptyRoot = SHA256.hash([])

  public static func leafHash(_ entry: [UInt8]) -> [UInt8] {
    entry.withUnsafeBytes { SHA256.hash(domain: 0x00, $0) }
  }

  public static func leafHash(_ entry: ArraySlice<UInt8>) -> [UInt8] {
    entry.withUnsafeBytes { SHA256.hash(domain: 0x00, $0) }
  }

  public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
    left.withUnsafeBytes { l in right.withUnsafeBytes { r in SHA256.hash(domain: 0x01, l, r) } }
  }

  /// MTH of the leaves whose hashes are `leaves`.
  public static func root(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
    switch leaves.count {
    case 0: return emptyRoot
    case 1: return leaves[leaves.startIndex]
    default:
      let split = leaves.startIndex + largestPowerOfTwo(below: leaves.count)
      return nodeHash(root(leaves[..<split]), root(leaves[split...]))
    }
  }

  /// PATH(m, D[n]): the audit path of leaf `index` in the tree of `leaves`.
  ///
  /// - Throws: `.invalidArgument` for an index outside the tree.
  public static func inclusionProof(_ index: Int, _ leaves: ArraySlice<[UInt8]>)
    throws(VaultError) -> [[UInt8]]
  {
    try inclusionProof(UInt64(index), size: UInt64(leaves.count), subtree: subtrees(of: leaves))
  }

  /// PROOF(m, D[n]): that the tree of the first `oldSize` leaves is a prefix of the
  /// tree of all `leaves`.
  ///
  /// - Throws: `.invalidArgument` unless 0 < oldSize ≤ leaves.count.
  public static func consistencyProof(_ oldSize: Int, _ leaves: ArraySlice<[UInt8]>)
    throws(VaultError) -> [[UInt8]]
  {
    try consistencyProof(
      UInt64(oldSize), size: UInt64(leaves.count), subtree: subtrees(of: leaves))
  }

  /// The hash of a complete subtree: `2^height` leaves from `start` (a multiple of its
  /// size). Proofs are built from these; a log answers from the hashes it stores.
  public typealias SubtreeHashes = (_ start: UInt64, _ height: Int) throws(VaultError) -> [UInt8]

  private static func subtrees(of leaves: ArraySlice<[UInt8]>) -> SubtreeHashes {
    { start, height throws(VaultError) in
      let from = leaves.startIndex + Int(start)
      return root(leaves[from..<from + (1 << height)])
    }
  }

  /// PATH(m, D[n]) for a tree of `size` leaves whose complete subtrees `subtree` gives.
  ///
  /// - Complexity: O(log n) calls of `subtree`.
  public static func inclusionProof(_ index: UInt64, size: UInt64, subtree: SubtreeHashes)
    throws(VaultError) -> [[UInt8]]
  {
    guard index < size else {
      throw VaultError(.invalidArgument, "leaf \(index) is not in a tree of \(size)")
    }
    var proof = [[UInt8]]()
    var start: UInt64 = 0
    var count = size
    var leaf = index
    // Top down; the path lists siblings bottom up, so it is reversed at the end.
    while count > 1 {
      let half = largestPowerOfTwo(below: count)
      if leaf < half {
        proof.append(try rangeHash(start + half, count - half, subtree))
        count = half
      } else {
        proof.append(try rangeHash(start, half, subtree))
        start += half
        leaf -= half
        count -= half
      }
    }
    return proof.reversed()
  }

  /// PROOF(m, D[n]) for a tree of `size` leaves whose complete subtrees `subtree` gives.
  ///
  /// - Complexity: O(log n) calls of `subtree`.
  public static func consistencyProof(_ oldSize: UInt64, size: UInt64, subtree: SubtreeHashes)
    throws(VaultError) -> [[UInt8]]
  {
    guard oldSize > 0, oldSize <= size else {
      throw VaultError(
        .invalidArgument, "no consistency proof from \(oldSize) leaves to \(size)")
    }
    var proof = [[UInt8]]()
    var start: UInt64 = 0
    var count = size
    var m = oldSize
    var complete = true
    while m != count {
      let half = largestPowerOfTwo(below: count)
      if m <= half {
        proof.append(try rangeHash(start + half, count - half, subtree))
        count = half
      } else {
        proof.append(try rangeHash(start, half, subtree))
        start += half
        m -= half
        count -= half
        complete = false
      }
    }
    if !complete { proof.append(try rangeHash(start, count, subtree)) }
    return proof.reversed()
  }

  /// MTH of `count` leaves from `start`, composed of complete subtrees.
  private static func rangeHash(_ start: UInt64, _ count: UInt64, _ subtree: SubtreeHashes)
    throws(VaultError) -> [UInt8]
  {
    if count & (count - 1) == 0 { return try subtree(start, count.trailingZeroBitCount) }
    let half = largestPowerOfTwo(below: count)
    return nodeHash(
      try subtree(start, half.trailingZeroBitCount),
      try rangeHash(start + half, count - half, subtree))
  }

  /// RFC 9162 2.1.3.2: whether `proof` shows leaf `index` (hash `leaf`) in the tree
  /// of `size` leaves whose root is `root`.
  public static func verifyInclusion(
    leaf: [UInt8], index: UInt64, size: UInt64, proof: [[UInt8]], root: [UInt8]
  ) -> Bool {
    guard index < size, proof.count <= maximumProofLength, isHash(leaf), isHash(root),
      proof.allSatisfy(isHash)
    else { return false }
    var fn = index
    var sn = size - 1
    var hash = leaf
    for sibling in proof {
      guard sn != 0 else { return false }
      if fn & 1 == 1 || fn == sn {
        hash = nodeHash(sibling, hash)
        while fn & 1 == 0 && fn != 0 {
          fn >>= 1
          sn >>= 1
        }
      } else {
        hash = nodeHash(hash, sibling)
      }
      fn >>= 1
      sn >>= 1
    }
    return sn == 0 && hash == root
  }

  /// RFC 9162 2.1.4.2: whether `proof` shows the tree of `oldSize` leaves (root
  /// `oldRoot`) to be a prefix of the tree of `newSize` leaves (root `newRoot`).
  public static func verifyConsistency(
    oldSize: UInt64, newSize: UInt64, oldRoot: [UInt8], newRoot: [UInt8], proof: [[UInt8]]
  ) -> Bool {
    guard oldSize > 0, oldSize <= newSize, proof.count <= maximumProofLength, isHash(oldRoot),
      isHash(newRoot), proof.allSatisfy(isHash)
    else { return false }
    if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
    var path = proof
    // A complete subtree is its own first node: the proof leaves it out.
    if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
    guard let first = path.first else { return false }
    var fn = oldSize - 1
    var sn = newSize - 1
    while fn & 1 == 1 {
      fn >>= 1
      sn >>= 1
    }
    var oldHash = first
    var newHash = first
    for node in path.dropFirst() {
      guard sn != 0 else { return false }
      if fn & 1 == 1 || fn == sn {
        oldHash = nodeHash(node, oldHash)
        newHash = nodeHash(node, newHash)
        while fn & 1 == 0 && fn != 0 {
          fn >>= 1
          sn >>= 1
        }
      } else {
        newHash = nodeHash(newHash, node)
      }
      fn >>= 1
      sn >>= 1
    }
    return oldHash == oldRoot && newHash == newRoot && sn == 0
  }

  static func largestPowerOfTwo(below count: Int) -> Int {
    Int(largestPowerOfTwo(below: UInt64(count)))
  }

  /// The largest power of two less than `count` (which is at least 2).
  static func largestPowerOfTwo(below count: UInt64) -> UInt64 {
    1 << (63 - UInt64((count - 1).leadingZeroBitCount))
  }

  private static func isHash(_ bytes: [UInt8]) -> Bool { bytes.count == hashSize }
}

extension MerkleTree {
  /// The roots of the complete subtrees a log of `size` leaves ends with, largest
  /// first (one per bit set in `size`): all an appender needs to keep. Appending costs
  /// O(1) amortized hashes; the root costs O(log n).
  public struct Frontier: Equatable, Sendable {
    public private(set) var size: UInt64 = 0
    public private(set) var hashes: [[UInt8]] = []

    /// An empty log.
    public init() {}

    /// A frontier as stored: `hashes` must have one entry per bit set in `size`.
    ///
    /// - Throws: `.corrupt` when they do not.
    public init(size: UInt64, hashes: [[UInt8]]) throws(VaultError) {
      guard size.nonzeroBitCount == hashes.count, hashes.allSatisfy({ $0.count == hashSize })
      else {
        throw VaultError(.corrupt, "a Merkle frontier of \(size) leaves has the wrong hashes")
      }
      self.size = size
      self.hashes = hashes
    }

    /// A subtree completed by an append: `2^height` leaves from `index << height`.
    public struct Completed: Sendable {
      public var height: Int
      public var index: UInt64
      public var hash: [UInt8]
    }

    /// Appends the leaf whose hash is `leafHash`; calls `completed` for each subtree of
    /// two or more leaves the append completes, smallest first.
    public mutating func append(
      _ leafHash: [UInt8], completed: (Completed) throws(VaultError) -> Void = { _ in }
    ) throws(VaultError) {
      // Only a forged size gets here: a real log never nears 2^64 entries.
      guard size < UInt64.max else { throw VaultError(.corrupt, "a Merkle log that is full") }
      hashes.append(leafHash)
      var height = 0
      var position = size
      while position & 1 == 1 {
        let right = hashes.removeLast()
        let left = hashes.removeLast()
        let merged = nodeHash(left, right)
        hashes.append(merged)
        height += 1
        position >>= 1
        try completed(Completed(height: height, index: position, hash: merged))
      }
      size += 1
    }

    /// MTH of the leaves so far.
    public var root: [UInt8] {
      guard var hash = hashes.last else { return emptyRoot }
      for left in hashes.dropLast().reversed() { hash = nodeHash(left, hash) }
      return hash
    }
  }
}
