import VaultCore

/// A decoded interior node: separators are ranges of `bytes`; children are links.
public struct InteriorNode: Sendable {
  public var bytes: [UInt8]
  public var separators: [Range<Int>]
  public var children: [PageLink]

  public init(bytes: [UInt8], separators: [Range<Int>], children: [PageLink]) {
    self.bytes = bytes
    self.separators = separators
    self.children = children
  }

  public func separator(_ index: Int) -> ArraySlice<UInt8> { bytes[separators[index]] }
}
