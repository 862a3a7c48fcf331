import Synchronization
import VaultCore
import VaultFormat

/// The fuzz harness for overflow chains (Sources/VaultFuzzing calls it; it lives here
/// because the chain reader is this module's own).
package enum ChainFuzzing {
  /// A file held in memory, read only.
  private final class MemoryFile: FileIO {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func read(at offset: UInt64, count: Int) throws(VaultError) -> [UInt8] {
      guard offset < UInt64(bytes.count) else { return [] }
      let start = Int(offset)
      return Array(bytes[start..<min(bytes.count, start + count)])
    }
    func write(_ buffers: [[UInt8]], at offset: UInt64) throws(VaultError) {
      throw VaultError(.readOnly, "a fuzzing file is read only")
    }
    func sync() throws(VaultError) {}
    func size() throws(VaultError) -> UInt64 { UInt64(bytes.count) }
  }

  /// An overflow chain of pieces chosen by the input, linked by their true checksums,
  /// then damaged as the input says (a byte flipped, a declared length changed, a link
  /// pointing elsewhere): the reader returns exactly the value, or throws.
  package static func overflowChain(_ input: [UInt8]) {
    var position = 0
    func byte() -> UInt8 {
      defer { position += 1 }
      return position < input.count ? input[position] : 0
    }
    let pageSize = 4096
    let capacity = OverflowPage.capacity(pageSize: pageSize)
    let count = Int(byte() % 8) + 1
    var pieces = [[UInt8]]()
    for index in 0..<count {
      // Every piece but the last is full, as writers make chains.
      let length = index == count - 1 ? Int(byte()) * 16 % capacity + 1 : capacity
      pieces.append((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
    }
    let first = 20
    let tree = TreeID(2)  // a clear tree: no key is needed to read its pages
    var file = [UInt8](repeating: 0, count: (first + count + 1) * pageSize)
    var next: PageLink?
    for index in stride(from: count - 1, through: 0, by: -1) {
      let number = PageNumber(UInt64(first + index))
      let page = OverflowPage.encode(
        piece: pieces[index][...], next: next, page: number, transaction: TransactionID(5),
        tree: tree, pageSize: pageSize)
      file.replaceSubrange((first + index) * pageSize..<(first + index + 1) * pageSize, with: page)
      next = PageLink(
        page: number, transaction: TransactionID(5), checksum: Page.storedChecksum(of: page))
    }
    guard var head = next else { return }
    let value = pieces.flatMap { $0 }
    var length = UInt64(value.count)
    let damage = byte() % 4
    switch damage {
    case 0:
      break
    case 1:
      let at = (Int(byte()) << 8 | Int(byte())) % file.count
      file[at] ^= max(1, byte())
    case 2:
      length = length &+ UInt64(bitPattern: Int64(Int8(bitPattern: byte())))
    default:
      head.page = PageNumber(UInt64(byte()) % UInt64(first + count + 2))
    }
    let meta = MetaPage(
      transaction: TransactionID(6), vaultID: [UInt8](repeating: 1, count: 16),
      pageCount: UInt64(first + count + 1), committedAtMilliseconds: 0, nextTreeID: .firstUser,
      freePageCount: 0, treeCount: 0, root: .leaf(LeafNode([])))
    let reader = PageReader(
      file: MemoryFile(file), pageSize: pageSize,
      cache: PageCache(budgetBytes: 1 << 20, pageSize: pageSize), cipher: nil)
    let read = try? reader.overflowValue(head: head, length: length, tree: tree, in: meta)
    precondition(damage != 0 || read != nil, "an intact overflow chain does not read back")
    if let read {
      precondition(read == value, "an overflow chain read back other bytes than it holds")
    }
  }
}
