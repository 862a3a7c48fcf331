import VaultCore
import VaultFormat

/// The collections a vault holds.
public enum RecordCollection: String, CaseIterable, Sendable, CustomStringConvertible {
  /// The organization's settings: one record.
  case settings
  case branches, users, clients, projects, contracts, invoices, payments, refunds, disputes
  case engagements, media

  public var description: String { rawValue }

  /// The collection named `name` (as the CLI and JSON name them).
  ///
  /// - Throws: `.invalidArgument` listing the collections.
  public init(named name: String) throws(VaultError) {
    guard let found = Self(rawValue: name), found != .settings else {
      throw VaultError(
        .invalidArgument,
        "unknown collection \"\(name)\"; the collections are "
          + Self.allCases.filter { $0 != .settings }.map(\.rawValue).joined(separator: ", "))
    }
    self = found
  }

  /// The collection's position in `allCases`: an index for per-collection tables
  /// (cheaper than hashing the raw value; FieldAccessTests checks the two agree).
  var ordinal: Int {
    switch self {
    case .settings: 0
    case .branches: 1
    case .users: 2
    case .clients: 3
    case .projects: 4
    case .contracts: 5
    case .invoices: 6
    case .payments: 7
    case .refunds: 8
    case .disputes: 9
    case .engagements: 10
    case .media: 11
    }
  }

  /// The collection's schema.
  public var schema: CollectionSchema {
    switch self {
    case .settings: Schemas.settings
    case .branches: Schemas.branches
    case .users: Schemas.users
    case .clients: Schemas.clients
    case .projects: Schemas.projects
    case .contracts: Schemas.contracts
    case .invoices: Schemas.invoices
    case .payments: Schemas.payments
    case .refunds: Schemas.refunds
    case .disputes: Schemas.disputes
    case .engagements: Schemas.engagements
    case .media: Schemas.media
    }
  }
}

/// What a field holds.
public indirect enum FieldType: Sendable {
  /// UTF-8 text of at most `maxBytes` bytes, stored as a string.
  case text(maxBytes: Int)
  case integer(ClosedRange<Int64>)
  case bool
  /// ``Money``: integer minor units and an ISO 4217 code.
  case money
  /// An instant with its UTC offset (RFC 3339 in JSON).
  case time
  /// A calendar day (`YYYY-MM-DD` in JSON).
  case date
  /// The id of a record of `collection` (16 bytes). Branches and users may also be
  /// named on import.
  case reference(RecordCollection)
  /// One of a closed set of names, stored as the name.
  case choice([String])
  case list(FieldType, maxCount: Int)
  case object([FieldSpec])
}

/// One field of a collection: its JSON name, its tag in the binary encoding (FORMAT.md
/// section 19), its type and who supplies it.
public struct FieldSpec: Sendable {
  public enum Presence: Sendable {
    /// Import and the typed API must supply it.
    case required
    case optional
    /// Written by the engine's workflows; printed, accepted on import and ignored.
    case outputOnly
    /// Never printed, never imported (a password hash).
    case `internal`
  }

  public let name: String
  public let tag: UInt16
  public let type: FieldType
  public let presence: Presence
  /// Personal data of a client held outside the client record (a project's on-site
  /// contact): erasing the client removes it.
  public let isPersonal: Bool

  init(
    _ name: String, _ tag: UInt16, _ type: FieldType, _ presence: Presence = .optional,
    personal: Bool = false
  ) {
    self.name = name
    self.tag = tag
    self.type = type
    self.presence = presence
    isPersonal = personal
  }
}

/// Where a record's branch comes from.
public enum BranchSource: Sendable {
  /// Organization-wide records (settings, branches).
  case none
  /// Given with the record, optional (users: owners and hq have none).
  case optional
  /// Given with the record, required (clients, projects).
  case required
  /// The branch of the record the field `field` references (an invoice's project).
  case parent(field: String)
}

/// A secondary index a collection keeps (FORMAT.md section 19.3).
public enum IndexSpec: Sendable {
  /// Records by branch: "list by branch".
  case branch
  /// Records by the record a reference field names: "list by client, by project".
  case reference(field: String)
  /// Records by branch and the local day of each `time` subfield `field` of the list
  /// `list`: projects in a date range.
  case day(list: String, field: String)
  /// Records by branch and the value of a choice field: invoices by status.
  case choice(field: String)
  /// Blind search tokens of names, email addresses and phone numbers.
  case search(names: [String], emails: [String], phones: [String])
  /// A name unique in the collection (case- and accent-insensitive), for lookups by
  /// name: branch and user names.
  case uniqueName(field: String)
}

/// A collection's fields, schema version, indexes and rules.
public struct CollectionSchema: Sendable {
  public let collection: RecordCollection
  /// The version new records are written with. Older records are migrated on read.
  public let version: UInt16
  public let fields: [FieldSpec]
  public let branchSource: BranchSource
  public let indexes: [IndexSpec]
  /// Financial records: never updated or deleted; a correction is a new record.
  public let isAppendOnly: Bool
  /// Text fields refuse values shaped like payment card numbers.
  public let refusesCardNumbers: Bool
  /// Rewrites the fields of a record written at an older schema version (a rename, a
  /// split) into the current version's.
  let migrate: @Sendable (_ from: UInt16, _ fields: inout FieldMap) throws(VaultError) -> Void

  init(
    _ collection: RecordCollection, version: UInt16 = 1, branch: BranchSource,
    indexes: [IndexSpec] = [], appendOnly: Bool = false, refusesCardNumbers: Bool = false,
    fields: [FieldSpec],
    migrate: @escaping @Sendable (UInt16, inout FieldMap) throws(VaultError) -> Void = { _, _ in }
  ) {
    self.collection = collection
    self.version = version
    self.fields = fields
    branchSource = branch
    self.indexes = indexes
    isAppendOnly = appendOnly
    self.refusesCardNumbers = refusesCardNumbers
    self.migrate = migrate
  }

  /// The field named `name`.
  public func field(_ name: String) -> FieldSpec? { fields.first { $0.name == name } }

  /// The tag of field `name`; a programming error in the engine if there is none.
  func tag(_ name: String) throws(VaultError) -> UInt16 {
    guard let spec = field(name) else {
      throw VaultError(.internal, "\(collection) has no field \(name)")
    }
    return spec.tag
  }
}

/// Tags every stored record carries besides its schema's fields (schema tags start at
/// ``firstSchemaTag``).
enum MetaTag {
  static let version: UInt16 = 1
  static let createdAt: UInt16 = 2
  static let updatedAt: UInt16 = 3
  static let branch: UInt16 = 4
  /// Set on a project's financial records' view when the project was deleted; on a
  /// project, the time of its deletion.
  static let deletedAt: UInt16 = 5
  /// The user who created the record.
  static let createdBy: UInt16 = 6
  static let firstSchemaTag: UInt16 = 16
}
