/// The schema tables of FORMAT.md section 19.2, generated from the schemas themselves
/// (a test checks that FORMAT.md holds exactly this text).
package enum SchemaDocumentation {
  package static func markdown() -> String {
    var text = ""
    for collection in RecordCollection.allCases {
      let schema = collection.schema
      text += "#### `\(collection)` (schema version \(schema.version))\n\n"
      text += "| tag | field | type | presence |\n|---|---|---|---|\n"
      for spec in schema.fields { text += row(spec, prefix: "") }
      text += "\n"
    }
    return text
  }

  private static func row(_ spec: FieldSpec, prefix: String) -> String {
    let presence =
      switch spec.presence {
      case .required: "required"
      case .optional: spec.isPersonal ? "optional, personal" : "optional"
      case .outputOnly: "engine"
      case .internal: "engine, never exported"
      }
    var text = "| \(prefix)\(spec.tag) | `\(spec.name)` | \(describe(spec.type)) | \(presence) |\n"
    var inner = spec.type
    if case .list(let item, _) = inner { inner = item }
    if case .object(let specs) = inner {
      for field in specs { text += row(field, prefix: "\(prefix)\(spec.tag).") }
    }
    return text
  }

  private static func describe(_ type: FieldType) -> String {
    switch type {
    case .text(let maxBytes): "string ≤ \(maxBytes) B"
    case .integer(let range):
      range.upperBound == .max
        ? "integer ≥ \(range.lowerBound)" : "integer \(range.lowerBound)…\(range.upperBound)"
    case .bool: "bool"
    case .money: "money"
    case .time: "time"
    case .date: "date"
    case .reference(let collection): "bytes(16): id of `\(collection)`"
    case .choice(let names): "string: " + names.map { "`\($0)`" }.joined(separator: ", ")
    case .list(let item, let maxCount): "list ≤ \(maxCount) of \(describe(item))"
    case .object: "object"
    }
  }
}
