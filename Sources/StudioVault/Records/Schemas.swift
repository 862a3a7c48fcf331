import VaultCore
import VaultFormat

/// The schemas of the collections, as ../shared/spec/records-json.md shapes them.
/// Tags are part of the file format (FORMAT.md section 19): a tag is never reused for
/// another meaning; a new field takes a new tag.
enum Schemas {
  static let shortText = FieldType.text(maxBytes: 200)
  static let longText = FieldType.text(maxBytes: 16_384)
  static let words = FieldType.list(.text(maxBytes: 200), maxCount: 100)
  static let roles = ["owner", "hq", "branchManager", "staff", "vendor"]

  static let address = FieldType.object([
    FieldSpec("line1", 1, shortText), FieldSpec("line2", 2, shortText),
    FieldSpec("city", 3, shortText), FieldSpec("region", 4, shortText),
    FieldSpec("postalCode", 5, .text(maxBytes: 32)), FieldSpec("country", 6, shortText),
  ])

  static let settings = CollectionSchema(
    .settings, branch: .none,
    fields: [
      FieldSpec("currency", 16, .text(maxBytes: 3), .required),
      FieldSpec("branchRefundLimit", 17, .money),
      FieldSpec("hqRefundLimit", 18, .money),
      FieldSpec("billingEnforcement", 19, .bool),
      FieldSpec("allowOwnerSelfApproval", 20, .bool),
      FieldSpec("requireTwoFactor", 21, .list(.choice(roles), maxCount: 5)),
      FieldSpec("stepUpMinutes", 22, .integer(1...15)),
      FieldSpec(
        "passwordHashing", 23, .choice(["interactive", "moderate", "sensitive"]), .internal),
      FieldSpec("sessionCapDays", 24, .integer(1...90)),
      FieldSpec("rememberedSessionCapDays", 25, .integer(1...365)),
    ])

  static let branches = CollectionSchema(
    .branches, branch: .none, indexes: [.uniqueName(field: "name")],
    fields: [
      FieldSpec("name", 16, shortText, .required),
      FieldSpec("address", 17, address),
      FieldSpec("timeZone", 18, .text(maxBytes: 64)),
      FieldSpec(
        "billingOverride", 19,
        .object([
          FieldSpec("reason", 1, .text(maxBytes: 1000)), FieldSpec("until", 2, .date),
          FieldSpec("setBy", 3, .reference(.users)),
        ]), .outputOnly),
    ])

  static let users = CollectionSchema(
    .users, branch: .optional, indexes: [.uniqueName(field: "name"), .branch],
    fields: [
      FieldSpec("name", 16, shortText, .required),
      FieldSpec("role", 17, .choice(roles), .required),
      FieldSpec("email", 18, .text(maxBytes: 320)),
      FieldSpec("status", 19, .choice(["active", "disabled"]), .outputOnly),
      FieldSpec("passwordHash", 20, .text(maxBytes: 256), .internal),
    ])

  static let clients = CollectionSchema(
    .clients, branch: .required,
    indexes: [.branch, .search(names: ["displayName"], emails: ["emails"], phones: ["phones"])],
    fields: [
      FieldSpec("displayName", 16, shortText, .required),
      FieldSpec("emails", 17, .list(.text(maxBytes: 320), maxCount: 20)),
      FieldSpec("phones", 18, .list(.text(maxBytes: 40), maxCount: 20)),
      FieldSpec("address", 19, address),
      FieldSpec("notes", 20, longText),
      FieldSpec("leadSource", 21, shortText),
      FieldSpec("tags", 22, words),
      FieldSpec("lifetimeValue", 23, .money, .outputOnly),
    ])

  static let projects = CollectionSchema(
    .projects, branch: .required,
    indexes: [.branch, .reference(field: "client"), .day(list: "sessions", field: "start")],
    fields: [
      FieldSpec("title", 16, shortText, .required),
      FieldSpec("client", 17, .reference(.clients), .required),
      FieldSpec("kind", 18, .choice(["wedding", "portrait", "commercial", "event", "other"])),
      FieldSpec(
        "status", 19,
        .choice(["inquiry", "booked", "inProgress", "delivered", "completed", "cancelled"])),
      FieldSpec(
        "sessions", 20,
        .list(
          .object([
            FieldSpec("start", 1, .time, .required), FieldSpec("end", 2, .time),
            FieldSpec("location", 3, .text(maxBytes: 500)),
          ]), maxCount: 100)),
      FieldSpec(
        "onSiteContact", 21,
        .object([FieldSpec("name", 1, shortText), FieldSpec("phone", 2, .text(maxBytes: 40))]),
        personal: true),
      FieldSpec("package", 22, .text(maxBytes: 2000)),
      FieldSpec("deliverables", 23, words),
      FieldSpec("shotList", 24, .list(.text(maxBytes: 500), maxCount: 1000)),
      // Set and cleared only by placing and releasing a hold (step-up, owners and hq).
      FieldSpec(
        "legalHold", 25,
        .object([
          FieldSpec("reason", 1, .text(maxBytes: 1000)),
          FieldSpec("placedBy", 2, .reference(.users)),
          FieldSpec("placedAt", 3, .time),
        ]), .outputOnly),
    ])

  static let contracts = CollectionSchema(
    .contracts, branch: .parent(field: "project"),
    indexes: [.branch, .reference(field: "project")],
    refusesCardNumbers: true,
    fields: [
      FieldSpec("project", 16, .reference(.projects), .required),
      FieldSpec("value", 17, .money, .required),
      FieldSpec("terms", 18, .text(maxBytes: 65_536)),
      FieldSpec("signatureStatus", 19, .choice(["unsigned", "sent", "signed"])),
      FieldSpec("signedAt", 20, .time),
    ])

  static let invoiceStatuses = ["draft", "sent", "paid", "void"]

  static let invoices = CollectionSchema(
    .invoices, branch: .parent(field: "project"),
    indexes: [
      .branch, .reference(field: "project"), .choice(field: "status"),
      .reference(field: "corrects"),
    ],
    appendOnly: true, refusesCardNumbers: true,
    fields: [
      FieldSpec("project", 16, .reference(.projects), .required),
      FieldSpec(
        "lineItems", 17,
        .list(
          .object([
            FieldSpec("description", 1, .text(maxBytes: 500), .required),
            FieldSpec("amount", 2, .money, .required),
          ]), maxCount: 500), .required),
      FieldSpec(
        "discounts", 18,
        .list(
          .object([
            FieldSpec("amount", 1, .money, .required),
            FieldSpec("reason", 2, .text(maxBytes: 500), .required),
            FieldSpec("appliedBy", 3, .reference(.users), .outputOnly),
          ]), maxCount: 50)),
      FieldSpec("dueDate", 19, .date),
      FieldSpec("status", 20, .choice(invoiceStatuses)),
      FieldSpec("corrects", 21, .reference(.invoices)),
    ])

  static let payments = CollectionSchema(
    .payments, branch: .parent(field: "invoice"),
    indexes: [.branch, .reference(field: "invoice"), .reference(field: "corrects")],
    appendOnly: true, refusesCardNumbers: true,
    fields: [
      FieldSpec("invoice", 16, .reference(.invoices), .required),
      FieldSpec("amount", 17, .money, .required),
      FieldSpec("method", 18, .choice(["card", "bankTransfer", "cash", "other"])),
      FieldSpec("gatewayReference", 19, .text(maxBytes: 200)),
      FieldSpec("receivedAt", 20, .time),
      FieldSpec("corrects", 21, .reference(.payments)),
    ])

  static let refunds = CollectionSchema(
    .refunds, branch: .parent(field: "payment"), indexes: [.branch, .reference(field: "payment")],
    appendOnly: true, refusesCardNumbers: true,
    fields: [
      FieldSpec("payment", 16, .reference(.payments), .required),
      FieldSpec("amount", 17, .money, .required),
      FieldSpec("reason", 18, .text(maxBytes: 2000), .required),
      FieldSpec(
        "state", 19, .choice(["requested", "approved", "rejected", "executed"]), .outputOnly),
      FieldSpec("requester", 20, .reference(.users), .outputOnly),
      FieldSpec("approver", 21, .reference(.users), .outputOnly),
      FieldSpec("gatewayReference", 22, .text(maxBytes: 200), .outputOnly),
      FieldSpec("executedAt", 23, .time, .outputOnly),
      FieldSpec("decisionReason", 24, .text(maxBytes: 2000), .outputOnly),
    ])

  static let disputes = CollectionSchema(
    .disputes, branch: .parent(field: "payment"), indexes: [.branch, .reference(field: "payment")],
    appendOnly: true, refusesCardNumbers: true,
    fields: [
      FieldSpec("payment", 16, .reference(.payments), .required),
      FieldSpec("amount", 17, .money, .required),
      FieldSpec("reason", 18, .text(maxBytes: 2000), .required),
      FieldSpec("status", 19, .choice(["opened", "won", "lost"])),
      FieldSpec("gatewayReference", 20, .text(maxBytes: 200)),
      FieldSpec("openedAt", 21, .time),
      FieldSpec("closedAt", 22, .time),
    ])

  static let engagements = CollectionSchema(
    .engagements, branch: .parent(field: "project"),
    indexes: [.branch, .reference(field: "project"), .reference(field: "vendor")],
    fields: [
      FieldSpec("vendor", 16, .reference(.users), .required),
      FieldSpec("project", 17, .reference(.projects), .required),
      FieldSpec("role", 18, .choice(["secondShooter", "editor", "assistant", "other"]), .required),
      FieldSpec("rate", 19, .money),
      FieldSpec("start", 20, .date),
      FieldSpec("end", 21, .date),
      FieldSpec("status", 22, .choice(["active", "ended", "cancelled"])),
      FieldSpec("extendedUntil", 23, .date, .outputOnly),
    ])

  static let media = CollectionSchema(
    .media, branch: .parent(field: "project"), indexes: [.branch, .reference(field: "project")],
    fields: [
      FieldSpec("project", 16, .reference(.projects), .required),
      FieldSpec("fileName", 17, .text(maxBytes: 1024), .required),
      FieldSpec("kind", 18, .choice(["photo", "video", "raw", "document"])),
      FieldSpec("size", 19, .integer(0...Int64.max)),
      FieldSpec("capturedAt", 20, .time),
      FieldSpec("camera", 21, shortText),
      FieldSpec("width", 22, .integer(0...1_000_000)),
      FieldSpec("height", 23, .integer(0...1_000_000)),
      // A stored blob of the same project (checked on every write).
      FieldSpec("blob", 24, .text(maxBytes: 36)),
      FieldSpec("contentHash", 25, .text(maxBytes: 128)),
      FieldSpec("tags", 26, words),
      FieldSpec("selected", 27, .bool),
      FieldSpec("delivered", 28, .bool),
      FieldSpec("uploader", 29, .reference(.users), .outputOnly),
    ])
}
