import VaultCore

/// Who may read and write which fields (../shared/spec/access.md, Resource × role).
/// Records outside a principal's scope are out of reach anyway (``Scope``); this is
/// what remains hidden or read-only inside it. Hidden fields are absent from reads,
/// not null.
///
/// Vendors are not in this table: what they read depends on the record (their own
/// engagement, crew on their project), so ``VendorView`` decides it, field by field.
/// High-risk actions are gated by step-up (``HighRiskAction``) in their workflows,
/// not by this table.
@_spi(Engine) public enum FieldAccess {
  /// What a role may do with a field.
  @_spi(Engine) public enum Permission: Int, Sendable, Comparable {
    case none = 0
    case read = 1
    case readWrite = 2

    @_spi(Engine) public static func < (lhs: Self, rhs: Self) -> Bool {
      lhs.rawValue < rhs.rawValue
    }
  }

  /// The rows of the matrix, as classes of fields.
  @_spi(Engine) public enum FieldClass: String, Sendable, CaseIterable {
    case branchInfo, branchSettings, currency, organizationPolicy, securityPolicy
    case userNames, userAccounts
    case clientName, clientContact, clientNotes, clientInsight
    case projectSchedule, projectPackage
    case contractTerms, money, discounts, disputes
    case engagements, vendorRates
    case media, legalHolds
  }

  /// The class of field `name` of `collection` (engine-kept metadata such as times
  /// and versions is `nil`: everyone who sees the record sees it).
  @_spi(Engine) public static func fieldClass(_ collection: RecordCollection, _ name: String)
    -> FieldClass?
  {
    switch (collection, name) {
    case (.settings, "currency"): .currency
    case (.settings, "requireTwoFactor"), (.settings, "stepUpMinutes"),
      (.settings, "sessionCapDays"), (.settings, "rememberedSessionCapDays"):
      .securityPolicy
    case (.settings, _): .organizationPolicy
    case (.branches, "timeZone"): .branchSettings
    case (.branches, _): .branchInfo
    case (.users, "name"): .userNames
    case (.users, _): .userAccounts
    case (.clients, "displayName"), (.clients, "tags"): .clientName
    case (.clients, "emails"), (.clients, "phones"), (.clients, "address"): .clientContact
    case (.clients, "notes"): .clientNotes
    case (.clients, _): .clientInsight  // lead source, lifetime value
    case (.projects, "package"), (.projects, "deliverables"): .projectPackage
    case (.projects, "legalHold"): .legalHolds
    case (.projects, _): .projectSchedule
    case (.contracts, "value"): .money
    case (.contracts, _): .contractTerms
    case (.invoices, "discounts"): .discounts
    case (.invoices, _), (.payments, _), (.refunds, _): .money
    case (.disputes, _): .disputes
    case (.engagements, "rate"): .vendorRates
    case (.engagements, _): .engagements
    case (.media, _): .media
    }
  }

  /// What `role` may do with fields of `fieldClass`, in records it can reach.
  @_spi(Engine) public static func permission(_ role: String, _ fieldClass: FieldClass)
    -> Permission
  {
    switch role {
    case "owner": return .readWrite
    case "hq":
      switch fieldClass {
      case .securityPolicy, .organizationPolicy: return .read
      default: return .readWrite
      }
    case "branchManager":
      switch fieldClass {
      case .legalHolds: return .none
      case .branchInfo, .currency, .organizationPolicy, .securityPolicy, .userAccounts,
        .vendorRates:
        return .read
      default: return .readWrite
      }
    case "staff":
      switch fieldClass {
      case .clientName, .clientContact, .projectSchedule, .media: return .readWrite
      case .branchInfo, .branchSettings, .currency, .userNames, .clientNotes, .projectPackage,
        .contractTerms, .money, .disputes, .engagements:
        return .read
      case .organizationPolicy, .securityPolicy, .userAccounts, .clientInsight, .discounts,
        .vendorRates, .legalHolds:
        return .none
      }
    default: return .none  // vendors (see ``VendorView``), and unknown roles
    }
  }

  /// `record` as `role` may see it: hidden fields removed, and internal ones (a
  /// password hash) for everyone.
  @_spi(Engine) public static func projected(_ record: Record, for role: String) -> Record {
    var visible = record
    for tag in hiddenTags(record.collection, for: role) { visible.fields[tag] = nil }
    return visible
  }

  /// The tags of `collection`'s fields that `role` may not see. Every read through a
  /// handle asks, so the table of the known roles is built once; classifying fields by
  /// name for each record read cost more than decoding it.
  static func hiddenTags(_ collection: RecordCollection, for role: String) -> [UInt16] {
    guard let known = hiddenByRole.first(where: { $0.role == role }) else {
      return computeHiddenTags(collection, for: role)
    }
    return known.tags[collection.ordinal]
  }

  /// For each role the matrix names, the hidden tags of each collection, indexed by
  /// ``RecordCollection/ordinal``.
  private static let hiddenByRole: [(role: String, tags: [[UInt16]])] =
    ["owner", "hq", "branchManager", "staff"].map { role in
      (role, RecordCollection.allCases.map { computeHiddenTags($0, for: role) })
    }

  private static func computeHiddenTags(_ collection: RecordCollection, for role: String)
    -> [UInt16]
  {
    collection.schema.fields.filter { spec in
      spec.presence == .internal
        || fieldClass(collection, spec.name).map { permission(role, $0) == .none } ?? false
    }.map(\.tag)
  }

  /// Refuses a new record that sets a field `role` may not write.
  static func checkInsert(_ record: Record, role: String) throws(VaultError) {
    for spec in record.schema.fields where record.fields[spec.tag] != nil {
      guard let fieldClass = fieldClass(record.collection, spec.name),
        permission(role, fieldClass) < .readWrite
      else { continue }
      throw VaultError(.policyViolation, "a \(role) may not set \(spec.name)")
    }
  }

  /// The fields an update by `role` stores: what it may write from `new`, what it may
  /// not see kept from `old` (a projected record sent back must not erase them).
  ///
  /// - Throws: `.policyViolation` when it changes a field it may only read.
  static func merged(_ new: Record, over old: Record, role: String) throws(VaultError) -> Record {
    var merged = new
    for spec in new.schema.fields {
      guard let fieldClass = fieldClass(new.collection, spec.name) else { continue }
      switch permission(role, fieldClass) {
      case .readWrite: continue
      case .none: merged.fields[spec.tag] = old.fields[spec.tag]
      case .read:
        if let value = new.fields[spec.tag], value != old.fields[spec.tag] {
          throw VaultError(.policyViolation, "a \(role) may not change \(spec.name)")
        }
        merged.fields[spec.tag] = old.fields[spec.tag]
      }
    }
    return merged
  }
}

extension RecordStore.Principal {
  /// `record` as this principal's role may see it (``FieldAccess/projected(_:for:)``).
  @_spi(Engine) public func visible(_ record: Record) -> Record {
    FieldAccess.projected(record, for: role)
  }
}
