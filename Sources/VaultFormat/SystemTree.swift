import VaultCore

/// Keys of the system tree (tree 1), whose root node lives in the meta page.
///
/// It holds two kinds of entries, told apart by their first byte:
/// - `0x01` + the tree's name (UTF-8): a catalog entry, whose value is a tree cell
///   (root link, tree id, key count);
/// - `0x02` + a free-list key (``FreeListEntry``): pages freed by one transaction.
public enum SystemTree {
  public static let catalogPrefix: UInt8 = 0x01
  public static let freeListPrefix: UInt8 = 0x02

  /// The catalog key of the tree named `name`.
  public static func catalogKey(_ name: String) -> [UInt8] {
    [catalogPrefix] + Array(name.utf8)
  }

  /// The name in a catalog key, or nil if `key` is not one.
  public static func treeName(fromKey key: some Collection<UInt8>) -> String? {
    guard key.first == catalogPrefix else { return nil }
    return String(decoding: key.dropFirst(), as: UTF8.self)
  }

  /// The first key of the catalog range and the first key past it.
  public static let catalogRange: (start: [UInt8], end: [UInt8]) = (
    [catalogPrefix], [catalogPrefix + 1]
  )
  /// The first key of the free-list range and the first key past it.
  public static let freeListRange: (start: [UInt8], end: [UInt8]) = (
    [freeListPrefix], [freeListPrefix + 1]
  )
}
