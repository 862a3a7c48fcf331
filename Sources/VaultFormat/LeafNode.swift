import VaultCore

/// One cell of a leaf: its key and value, as ranges of the buffer holding the node.
public struct LeafCell: Equatable, Sendable {
  public var key: Range<Int>
  public var value: StoredValue

  public init(key: Range<Int>, value: StoredValue) {
    self.key = key
    self.value = value
  }
}

/// A decoded leaf: cells whose keys and inline values are ranges of `bytes`.
public struct LeafNode: Sendable {
  public var bytes: [UInt8]
  public var cells: [LeafCell]

  public init(bytes: [UInt8], cells: [LeafCell]) {
    self.bytes = bytes
    self.cells = cells
  }

  /// Builds a leaf from owned keys and values (tests, tools, new vaults).
  public init(_ entries: [(key: [UInt8], value: OwnedValue)]) {
    var bytes = [UInt8]()
    var cells = [LeafCell]()
    for (key, value) in entries {
      let keyRange = bytes.count..<bytes.count + key.count
      bytes += key
      switch value {
      case .inline(let data):
        cells.append(
          LeafCell(key: keyRange, value: .inline(bytes.count..<bytes.count + data.count)))
        bytes += data
      case .overflow(let length, let head):
        cells.append(LeafCell(key: keyRange, value: .overflow(length: length, head: head)))
      case .tree(let root):
        cells.append(LeafCell(key: keyRange, value: .tree(root)))
      case .extent(let pages, let head):
        cells.append(LeafCell(key: keyRange, value: .extent(pages: pages, head: head)))
      }
    }
    self.init(bytes: bytes, cells: cells)
  }

  public func key(_ index: Int) -> ArraySlice<UInt8> { bytes[cells[index].key] }

  /// The links the cells refer to, in cell order.
  public var links: [PageLink] { cells.compactMap(\.value.link) }
}

/// A leaf value with its bytes owned, for building leaves outside the engine.
public enum OwnedValue: Equatable, Sendable {
  case inline([UInt8])
  case overflow(length: UInt64, head: PageLink)
  case tree(TreeRoot)
  case extent(pages: UInt32, head: PageLink)
}
