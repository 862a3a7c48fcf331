import Testing
import VaultCore
import VaultCrypto
import VaultFormat

/// RFC 9162 Merkle trees: the reference vectors of Certificate Transparency (the RFC
/// 6962 test data that certificate-transparency-go's `merkletree` and
/// transparency-dev/merkle's `testonly` packages both carry: eight leaves, the roots of
/// every prefix, inclusion paths of leaves 0 and 5, consistency proofs from 6 and 4),
/// and every proof of every small tree, verified and tampered with.
@Suite struct MerkleTreeTests {
  static let entries: [[UInt8]] = [
    [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
    Array(0x50...0x57), Array(0x60...0x6F),
  ]
  static let leaves = entries.map(MerkleTree.leafHash)

  static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

  @Test func rootsMatchTheReferenceVectors() {
    let roots = [
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    for (size, expected) in roots.enumerated() {
      #expect(Self.hex(MerkleTree.root(Self.leaves[..<size])) == expected, "size \(size)")
    }
  }

  @Test func proofsMatchTheReferenceVectors() throws {
    let all = Self.leaves[...]
    #expect(
      try MerkleTree.inclusionProof(0, all).map(Self.hex) == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
      ])
    #expect(
      try MerkleTree.inclusionProof(5, all).map(Self.hex) == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      ])
    #expect(
      try MerkleTree.consistencyProof(6, all).map(Self.hex) == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      ])
    #expect(
      try MerkleTree.consistencyProof(4, all).map(Self.hex) == [
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
      ])
    #expect(throws: VaultError.self) { _ = try MerkleTree.inclusionProof(8, all) }
    #expect(throws: VaultError.self) { _ = try MerkleTree.consistencyProof(0, all) }
    #expect(throws: VaultError.self) { _ = try MerkleTree.consistencyProof(9, all) }
  }

  /// Every inclusion proof of every tree up to 33 leaves verifies, and fails with any
  /// other index, size, root, or one flipped bit.
  @Test func everyInclusionProofVerifiesAndNoTamperedOneDoes() throws {
    let leaves = (0..<33).map { MerkleTree.leafHash([UInt8(truncatingIfNeeded: $0), 7]) }
    for size in 1...leaves.count {
      let tree = leaves[..<size]
      let root = MerkleTree.root(tree)
      for index in 0..<size {
        let proof = try MerkleTree.inclusionProof(index, tree)
        let (leaf, at, count) = (leaves[index], UInt64(index), UInt64(size))
        #expect(
          MerkleTree.verifyInclusion(leaf: leaf, index: at, size: count, proof: proof, root: root))
        if size > 1 {
          // The same proof read for another position, or against another tree's root.
          let elsewhere = UInt64((index + 1) % size)
          #expect(
            !MerkleTree.verifyInclusion(
              leaf: leaf, index: elsewhere, size: count, proof: proof, root: root))
          #expect(
            !MerkleTree.verifyInclusion(
              leaf: leaf, index: at, size: count, proof: proof, root: leaf))
          #expect(
            !MerkleTree.verifyInclusion(
              leaf: leaf, index: at, size: count, proof: proof.dropLast(), root: root))
          var flipped = proof
          flipped[proof.count / 2][0] ^= 1
          #expect(
            !MerkleTree.verifyInclusion(
              leaf: leaf, index: at, size: count, proof: flipped, root: root))
          let other = leaves[(index + 1) % size]
          #expect(
            !MerkleTree.verifyInclusion(
              leaf: other, index: at, size: count, proof: proof, root: root))
        }
      }
    }
    // Hostile shapes: short hashes, absurd lengths, an index past the end.
    let root = MerkleTree.root(leaves[...])
    #expect(!MerkleTree.verifyInclusion(leaf: [1], index: 0, size: 33, proof: [], root: root))
    #expect(
      !MerkleTree.verifyInclusion(leaf: leaves[0], index: 40, size: 33, proof: [], root: root))
    #expect(
      !MerkleTree.verifyInclusion(
        leaf: leaves[0], index: 0, size: 33, proof: Array(repeating: root, count: 65), root: root))
  }

  /// Every consistency proof between trees of up to 33 leaves verifies, and fails for
  /// swapped or altered roots, other sizes, and a flipped bit.
  @Test func everyConsistencyProofVerifiesAndNoTamperedOneDoes() throws {
    let leaves = (0..<33).map { MerkleTree.leafHash([UInt8(truncatingIfNeeded: $0), 9]) }
    for newSize in 1...leaves.count {
      let newRoot = MerkleTree.root(leaves[..<newSize])
      for oldSize in 1...newSize {
        let oldRoot = MerkleTree.root(leaves[..<oldSize])
        let proof = try MerkleTree.consistencyProof(oldSize, leaves[..<newSize])
        let (old, new) = (UInt64(oldSize), UInt64(newSize))
        #expect(
          MerkleTree.verifyConsistency(
            oldSize: old, newSize: new, oldRoot: oldRoot, newRoot: newRoot, proof: proof),
          "\(oldSize) -> \(newSize)")
        guard oldSize < newSize else { continue }
        #expect(
          !MerkleTree.verifyConsistency(
            oldSize: old, newSize: new, oldRoot: newRoot, newRoot: oldRoot, proof: proof))
        if newSize < leaves.count {
          let biggerRoot = MerkleTree.root(leaves[...newSize])
          #expect(
            !MerkleTree.verifyConsistency(
              oldSize: old, newSize: new + 1, oldRoot: oldRoot, newRoot: biggerRoot, proof: proof))
        }
        var flipped = proof
        flipped[proof.count - 1][31] ^= 0x80
        #expect(
          !MerkleTree.verifyConsistency(
            oldSize: old, newSize: new, oldRoot: oldRoot, newRoot: newRoot, proof: flipped))
        var otherOld = oldRoot
        otherOld[0] ^= 1
        #expect(
          !MerkleTree.verifyConsistency(
            oldSize: old, newSize: new, oldRoot: otherOld, newRoot: newRoot, proof: proof))
      }
    }
    #expect(
      !MerkleTree.verifyConsistency(
        oldSize: 0, newSize: 3, oldRoot: MerkleTree.emptyRoot, newRoot: MerkleTree.emptyRoot,
        proof: []))
    #expect(
      !MerkleTree.verifyConsistency(
        oldSize: 4, newSize: 3, oldRoot: MerkleTree.emptyRoot, newRoot: MerkleTree.emptyRoot,
        proof: []))
  }

  /// The frontier an appender keeps gives the tree hash of every prefix, and the subtree
  /// hashes it reports on the way are the tree's own.
  @Test func theFrontierTracksTheTreeHash() throws {
    let leaves = (0..<300).map { MerkleTree.leafHash([UInt8(truncatingIfNeeded: $0), 1]) }
    var frontier = MerkleTree.Frontier()
    #expect(frontier.root == MerkleTree.emptyRoot)
    for (index, leaf) in leaves.enumerated() {
      try frontier.append(leaf) { completed throws(VaultError) in
        let size = 1 << completed.height
        let start = Int(completed.index) * size
        #expect(completed.hash == MerkleTree.root(leaves[start..<start + size]))
        #expect(start + size == index + 1)
      }
      #expect(frontier.root == MerkleTree.root(leaves[...index]), "size \(index + 1)")
      let stored = try MerkleTree.Frontier(size: frontier.size, hashes: frontier.hashes)
      #expect(stored == frontier)
    }
    #expect(throws: VaultError.self) { _ = try MerkleTree.Frontier(size: 3, hashes: [leaves[0]]) }
  }

  /// For random m ≤ n, consistency proofs (built from complete subtrees, as the log
  /// does) verify, and every altered one fails: a flipped byte, an extra or a missing
  /// hash, swapped sizes.
  @Test func randomConsistencyProofsVerifyAndAlteredOnesFail() throws {
    let seed = testSeed(0x9162)
    var random = SeededGenerator(seed: seed)
    let leaves = (0..<5000).map {
      MerkleTree.leafHash(withUnsafeBytes(of: UInt32($0)) { Array($0) })
    }
    let subtree: MerkleTree.SubtreeHashes = { start, height throws(VaultError) in
      MerkleTree.root(leaves[Int(start)..<Int(start) + (1 << height)])
    }
    for round in 0..<200 {
      let newSize = Int.random(in: 2...leaves.count, using: &random)
      let oldSize = Int.random(in: 1..<newSize, using: &random)
      let context = "seed \(seed), round \(round): \(oldSize) -> \(newSize)"
      let (old, new) = (UInt64(oldSize), UInt64(newSize))
      let oldRoot = MerkleTree.root(leaves[..<oldSize])
      let newRoot = MerkleTree.root(leaves[..<newSize])
      let proof = try MerkleTree.consistencyProof(old, size: new, subtree: subtree)
      #expect(proof == (try MerkleTree.consistencyProof(oldSize, leaves[..<newSize])), "\(context)")
      func verifies(_ proof: [[UInt8]], _ old: UInt64, _ new: UInt64) -> Bool {
        MerkleTree.verifyConsistency(
          oldSize: old, newSize: new, oldRoot: oldRoot, newRoot: newRoot, proof: proof)
      }
      #expect(verifies(proof, old, new), "\(context)")
      if !proof.isEmpty {
        var flipped = proof
        let which = Int.random(in: 0..<proof.count, using: &random)
        flipped[which][Int.random(in: 0..<32, using: &random)] ^=
          1 << UInt8.random(in: 0...7, using: &random)
        #expect(!verifies(flipped, old, new), "\(context): flipped hash \(which)")
        #expect(!verifies(Array(proof.dropLast()), old, new), "\(context): missing hash")
        #expect(!verifies(Array(proof.dropFirst()), old, new), "\(context): missing first hash")
      }
      #expect(!verifies(proof + [newRoot], old, new), "\(context): extra hash")
      #expect(!verifies(proof, new, old), "\(context): swapped sizes")
      // (Another size with the same proof shape can verify: sizes are the signer's
      // statement, which the checkpoint signature covers, not the proof's.)
      // Inclusion of a random leaf of the new tree, from the same subtree hashes.
      let index = Int.random(in: 0..<newSize, using: &random)
      let path = try MerkleTree.inclusionProof(UInt64(index), size: new, subtree: subtree)
      #expect(path == (try MerkleTree.inclusionProof(index, leaves[..<newSize])), "\(context)")
      #expect(
        MerkleTree.verifyInclusion(
          leaf: leaves[index], index: UInt64(index), size: new, proof: path, root: newRoot))
      #expect(
        !MerkleTree.verifyInclusion(
          leaf: leaves[index], index: UInt64(index), size: new, proof: path + [newRoot],
          root: newRoot))
    }
  }
}
