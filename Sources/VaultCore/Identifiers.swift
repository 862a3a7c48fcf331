/// The number of a page in the vault file: page `n` starts at byte `n × pageSize`.
public struct PageNumber: RawRepresentable, Hashable, Comparable, Sendable,
  CustomStringConvertible
{
  public var rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  public init(_ rawValue: UInt64) { self.rawValue = rawValue }
  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
  public var description: String { String(rawValue) }
}

/// The identity of a committed transaction. Transaction ids grow by one per commit.
public struct TransactionID: RawRepresentable, Hashable, Comparable, Sendable,
  CustomStringConvertible
{
  public var rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  public init(_ rawValue: UInt64) { self.rawValue = rawValue }
  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
  public var description: String { String(rawValue) }
  /// The transaction that follows this one.
  public var next: TransactionID { TransactionID(rawValue &+ 1) }
  /// The transaction before this one (0 stays 0).
  public var previous: TransactionID { TransactionID(rawValue == 0 ? 0 : rawValue - 1) }
}

/// The identity of a B+tree in the vault. Every page records the tree it belongs to.
public struct TreeID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
  public var rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  public init(_ rawValue: UInt64) { self.rawValue = rawValue }
  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
  public var description: String { String(rawValue) }

  /// Pages that belong to no tree: the file header and meta pages.
  public static let none = TreeID(0)
  /// The system tree: the catalog of named trees and the free list. Its root node lives
  /// in the meta page.
  public static let system = TreeID(1)
  /// The audit log's entries, stored in the clear (FORMAT.md 7.3).
  public static let auditLog = TreeID(2)
  /// The audit log's signed checkpoints, stored in the clear (FORMAT.md 7.3).
  public static let auditCheckpoints = TreeID(3)
  /// The first id handed out to a named tree.
  public static let firstUser = TreeID(16)
}
