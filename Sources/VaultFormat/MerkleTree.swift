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

  public static func leafHash(_ entry: [UInt8]) -> [UInt8] { SHA256.hash([0x00] + entry) }

  public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
    SHA256.hash([0x01] + left + right)
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
    guard (0..<leaves.count).contains(index) else {
      throw VaultError(.invalidArgument, "leaf \(index) is not in a tree of \(leaves.count)")
    }
    return path(index, leaves)
  }

  private static func path(_ index: Int, _ leaves: ArraySlice<[UInt8]>) -> [[UInt8]] {
    guard leaves.count > 1 else { return [] }
    let half = largestPowerOfTwo(below: leaves.count)
    let split = leaves.startIndex + half
    if index < half {
      return path(index, leaves[..<split]) + [root(leaves[split...])]
    }
    return path(index - half, leaves[split...]) + [root(leaves[..<split])]
  }

  /// PROOF(m, D[n]): that the tree of the first `oldSize` leaves is a prefix of the
  /// tree of all `leaves`.
  ///
  /// - Throws: `.invalidArgument` unless 0 < oldSize ≤ leaves.count.
  public static func consistencyProof(_ oldSize: Int, _ leaves: ArraySlice<[UInt8]>)
    throws(VaultError) -> [[UInt8]]
  {
    guard oldSize > 0, oldSize <= leaves.count else {
      throw VaultError(
        .invalidArgument, "no consistency proof from \(oldSize) leaves to \(leaves.count)")
    }
    return subproof(oldSize, leaves, complete: true)
  }

  private static func subproof(_ size: Int, _ leaves: ArraySlice<[UInt8]>, complete: Bool)
    -> [[UInt8]]
  {
    if size == leaves.count { return complete ? [] : [root(leaves)] }
    let half = largestPowerOfTwo(below: leaves.count)
    let split = leaves.startIndex + half
    if size <= half {
      return subproof(size, leaves[..<split], complete: complete) + [root(leaves[split...])]
    }
    return subproof(size - half, leaves[split...], complete: false) + [root(leaves[..<split])]
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
    var power = 1
    while power * 2 < count { power *= 2 }
    return power
  }

  private static func isHash(_ bytes: [UInt8]) -> Bool { bytes.count == hashSize }
}
