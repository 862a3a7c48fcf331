import StudioVault
import VaultCore
import VaultFormat
import VaultStorage

/// `vault page PATH N [--json]`
enum PageCommand: Command {
  static let name = "page"
  static let summary = "decode one page: header, links, structure, hex (no key needed)"
  static let usage = "vault page PATH N [--json]"
  static let discussion = """
    Shows page N as stored: its header fields, whether its checksum matches, its links,
    its structure as far as it is in the clear, and a hex dump. Page bodies are sealed:
    without the key, the command shows their length and the nonce and tag, never their
    content. A free page shows whatever stale (sealed) bytes it holds.
    """
  static let options: [OptionSpec] = [.flag("json", "print one JSON document")]

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("PATH", "N")
    guard let number = UInt64(positionals[1]) else {
      throw UsageError("N must be a page number, not \"\(positionals[1])\"")
    }
    let store = try VaultStore.open(
      at: positionals[0], credential: nil, options: .init(readOnly: true))
    let meta = try store.newestMeta()
    guard number < meta.pageCount else {
      throw UsageError("page \(number) does not exist: the vault has \(meta.pageCount) pages")
    }
    let bytes = try store.rawBytes(ofPage: PageNumber(number))
    let description = describe(bytes, number: PageNumber(number), store: store)
    if arguments.flag("json") {
      var fields = description
      fields["hex"] = .string(Formatting.hex(bytes))
      console.json(.object(fields))
      return .success
    }
    for key in description.keys.sorted() {
      console.line(key.padding(to: 16) + (description[key].map(render) ?? ""))
    }
    console.line()
    console.write(Formatting.hexDump(bytes))
    return .success
  }

  /// The first page of a blob extent: its header, and its checksum over the whole run.
  private static func describeExtent(
    _ bytes: [UInt8], number: PageNumber, store: VaultStore, fields: [String: JSON]
  ) -> [String: JSON] {
    var fields = fields
    do throws(VaultError) {
      let header = try BlobExtent.decodeHeader(bytes[...], location: number)
      let pages = header.pageCount(pageSize: store.pageSize)
      fields["type"] = .string(PageType.blob.description)
      fields["transactionId"] = .uint(header.transaction.rawValue)
      fields["tree"] = .uint(header.tree.rawValue)
      fields["flags"] = 0
      fields["bodyLength"] = .int(Int64(header.bodyLength))
      fields["extentPages"] = .int(Int64(pages))
      fields["checksum"] = .string(header.storedChecksum.description)
      fields["sealed"] = false
      fields["links"] = []
      // Read no further than the file: the header's length is not trusted yet.
      let filePages = try store.fileSize() / UInt64(store.pageSize)
      let readable = Int(
        min(UInt64(pages), filePages > number.rawValue ? filePages - number.rawValue : 0))
      let run = try store.rawBytes(ofPages: number, count: readable)
      let computed = BlobExtent.computeChecksum(of: run, bodyLength: header.bodyLength)
      fields["checksumValid"] = .bool(computed == header.storedChecksum)
      fields["structure"] = [
        "blobChunk": "sealed under the blob's own key (FORMAT.md 24)",
        "continuationPages": .int(Int64(pages - 1)),
      ]
    } catch {
      fields["error"] = .string(error.description)
    }
    return fields
  }

  private static func render(_ value: JSON) -> String {
    if case .string(let text) = value { return text }
    return value.encoded
  }

  static func describe(_ bytes: [UInt8], number: PageNumber, store: VaultStore) -> [String: JSON] {
    var fields: [String: JSON] = ["page": .uint(number.rawValue)]
    if bytes.count > 16, bytes[16] == PageType.blob.rawValue {
      return describeExtent(bytes, number: number, store: store, fields: fields)
    }
    let page: Page
    do throws(VaultError) {
      page = try Page(bytes, location: number)
    } catch {
      fields["error"] = .string(error.description)
      return fields
    }
    let header = page.header
    let computed = Page.computeChecksum(of: bytes)
    fields["type"] = .string(header.type.description)
    fields["transactionId"] = .uint(header.transaction.rawValue)
    fields["tree"] = .uint(header.tree.rawValue)
    fields["flags"] = .int(Int64(header.flags))
    fields["bodyLength"] = .int(Int64(header.bodyLength))
    fields["checksum"] = .string(page.storedChecksum.description)
    fields["checksumValid"] = .bool(computed == page.storedChecksum)
    fields["sealed"] = .bool(page.isSealed)
    if page.isSealed {
      let trailer = bytes.count - FileFormat.sealTrailerSize
      fields["nonce"] = .string(Formatting.hex(bytes[trailer..<trailer + 24]))
      fields["tag"] = .string(Formatting.hex(bytes[(trailer + 24)...]))
      fields["sealedBytes"] = .int(
        Int64(
          header.bodyLength - min(header.bodyLength, PageCipher.clearBodyLength(of: header.type))))
    }
    fields["links"] = .array(
      page.links.map {
        [
          "page": .uint($0.page.rawValue), "transactionId": .uint($0.transaction.rawValue),
          "checksum": .string($0.checksum.description),
        ]
      })
    do throws(VaultError) {
      fields["structure"] = try structure(of: page)
    } catch {
      fields["error"] = .string(error.description)
    }
    return fields
  }

  private static func structure(of page: Page) throws(VaultError) -> JSON {
    switch page.header.type {
    case .header:
      let header = try FileHeader(page: page)
      return [
        "formatVersion": .int(Int64(header.formatVersion)),
        "pageSize": .int(Int64(header.pageSize)),
        "vaultId": .string(Formatting.uuid(header.vaultID)),
        "createdAt": .string(Formatting.timestamp(milliseconds: header.createdAtMilliseconds)),
        "generation": .uint(header.generation),
        "incompatibleFeatures": .uint(UInt64(header.incompatibleFeatures)),
        "compatibleFeatures": .uint(UInt64(header.compatibleFeatures)),
        "keySlotLength": .int(Int64(header.keySlot.count)),
      ]
    case .meta:
      let meta = try MetaPage(page: page)
      return [
        "pageCount": .uint(meta.pageCount),
        "committedAt": .string(Formatting.timestamp(milliseconds: meta.committedAtMilliseconds)),
        "nextTreeId": .uint(meta.nextTreeID.rawValue),
        "freePages": .uint(meta.freePageCount),
        "trees": .uint(meta.treeCount),
        "systemRoot": systemRoot(meta.root),
      ]
    case .interior where !page.bodyIsPlaintext:
      return ["children": .array(page.links.map { .uint($0.page.rawValue) })]
    case .leaf where !page.bodyIsPlaintext:
      return ["linkedPages": .array(page.links.map { .uint($0.page.rawValue) })]
    case .overflow where !page.bodyIsPlaintext:
      return ["next": try OverflowPage.next(of: page).map { .uint($0.page.rawValue) } ?? .null]
    case .interior:
      return ["separators": separatorsJSON(try InteriorPage.decode(page))]
    case .leaf:
      return ["cells": cellsJSON(try LeafPage.decode(page))]
    case .overflow:
      let (piece, next) = try OverflowPage.decode(page)
      return [
        "length": .int(Int64(piece.count)),
        "next": next.map { .uint($0.page.rawValue) } ?? .null,
      ]
    case .blob:
      // A blob extent's header never parses as a single page; `describeExtent` shows it.
      return [:]
    }
  }

  /// The system tree's root embedded in a meta page.
  private static func systemRoot(_ root: SystemRoot) -> JSON {
    switch root {
    case .empty: return ["kind": "empty"]
    case .sealed(let kind, let links):
      return [
        "kind": kind == 1 ? "leaf" : "interior", "sealed": true,
        "linkedPages": .array(links.map { .uint($0.page.rawValue) }),
      ]
    case .leaf(let node): return ["kind": "leaf", "cells": cellsJSON(node)]
    case .interior(let node):
      return [
        "kind": "interior",
        "separators": separatorsJSON(node),
        "children": .array(node.children.map { .uint($0.page.rawValue) }),
      ]
    }
  }

  private static func separatorsJSON(_ node: InteriorNode) -> JSON {
    .array(node.separators.map { .string(Formatting.hex(node.bytes[$0])) })
  }

  private static func cellsJSON(_ node: LeafNode) -> JSON {
    .array(
      node.cells.map { cell in
        let key = node.bytes[cell.key]
        var fields: [String: JSON] = ["key": .string(Formatting.hex(key))]
        switch cell.value {
        case .inline(let range):
          fields["kind"] = "inline"
          fields["length"] = .int(Int64(range.count))
        case .overflow(let length, let head):
          fields["kind"] = "overflow"
          fields["length"] = .uint(length)
          fields["firstPage"] = .uint(head.page.rawValue)
        case .extent(let pages, let head):
          fields["kind"] = "extent"
          fields["pages"] = .uint(UInt64(pages))
          fields["firstPage"] = .uint(head.page.rawValue)
        case .tree(let root):
          fields["kind"] = "tree"
          fields["name"] = .string(SystemTree.treeName(fromKey: key) ?? "")
          fields["treeId"] = .uint(root.id.rawValue)
          fields["keys"] = .uint(root.count)
          fields["root"] = root.root.isNull ? .null : .uint(root.root.page.rawValue)
        }
        return .object(fields)
      })
  }
}
