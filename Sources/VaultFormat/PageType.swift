/// What a page holds. Stored in byte 16 of every page.
public enum PageType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
  /// One of the two copies of the file header (pages 0 and 1).
  case header = 1
  /// One of the two meta pages (pages 2 and 11): the root of a committed state.
  case meta = 2
  /// A B+tree interior node: separator keys and child links.
  case interior = 3
  /// A B+tree leaf node: keys and values.
  case leaf = 4
  /// A piece of a value too large for a leaf.
  case overflow = 5
  /// The first page of a blob extent: a run of pages holding one sealed chunk of an
  /// upload (``BlobExtent``).
  case blob = 6

  public var description: String {
    switch self {
    case .header: "header"
    case .meta: "meta"
    case .interior: "interior"
    case .leaf: "leaf"
    case .overflow: "overflow"
    case .blob: "blob"
    }
  }
}
