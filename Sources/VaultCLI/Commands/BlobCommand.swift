import Glibc
@_spi(Engine) import StudioVault
import VaultCore
import VaultCrypto
import VaultFormat

/// `vault blob put|get|info|list|retain|hold|release|delete|purge`
enum BlobCommand: Command {
  static let name = "blob"
  static let summary = "store, read, retain, hold and delete write-once uploads"
  static let usage = """
    vault blob put PATH --user U --project P FILE [--kind K] [--name NAME] [--resume ID]
           vault blob get PATH --user U ID [--out FILE]
           vault blob info PATH --user U ID [--json]
           vault blob list PATH --user U --project P [--json]
           vault blob retain PATH --user U ID --mode M --until TIME [--project]
           vault blob hold|release|delete PATH --user U ID
           vault blob purge PATH --user U [--json]
    """
  static let discussion = """
    put      stores FILE as a new blob of project P, streamed in 4 MiB chunks that are
             committed as they fill, and a media record for it; prints the receipt:
             {"blob": ID, "size": N, "sha256": HEX}. Vendors store into projects they
             are engaged on, and can do nothing else with blobs. If it stops (a
             crash, a full disk), the error names the upload: run the same command
             with --resume ID to continue from its last committed chunk.
    get      writes the blob to FILE (or to standard output when it is not a
             terminal), authenticating every chunk, and checks its SHA-256.
    info     the blob's size, SHA-256, name, retention and hold.
    list     the project's blobs.
    retain   sets retention: M is none, governance or compliance, TIME a date
             (YYYY-MM-DD, midnight UTC) or an RFC 3339 time; with --project, ID is a
             project and the rule covers all its blobs. Compliance retention is only
             ever extended; shortening governance retention takes an owner.
    hold     places a legal hold (owners and hq); release releases it.
    delete   deletes a blob nothing protects (managers and above); under governance
             retention, an owner may delete early. Refused (exit 77) under
             compliance retention or a legal hold.
    purge    removes blobs of deleted projects whose retention ended, and uploads
             left unfinished for a week (owners and hq).
    Retention, hold, release and delete are high-risk where they need to be: the
    password given serves as the step-up. Every refusal is logged.
    """
  static let options: [OptionSpec] =
    [
      .option("project", "P", "put, list: the project"),
      .option("kind", "K", "put: photo, video, raw or document"),
      .option("name", "NAME", "put: the file name to record (default: FILE's)"),
      .option("resume", "ID", "put: continue the unfinished upload ID with the rest of FILE"),
      .option("out", "FILE", "get: where to write the blob"),
      .option("mode", "M", "retain: none, governance or compliance"),
      .option("until", "TIME", "retain: when the retention ends"),
      .flag("json", "print JSON"),
    ] + UserLogin.options
  static var exitCodes: [(ExitCode, String)] {
    userCommandExitCodes + [(.problemsFound, "get: the content did not match its SHA-256")]
  }

  static func run(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let action = arguments.positionals.first ?? ""
    switch action {
    case "put":
      return try put(arguments, console: console)
    case "get":
      return try get(arguments, console: console)
    case "info", "list":
      return try describe(arguments, console: console)
    case "retain":
      return try retain(arguments, console: console)
    case "hold", "release", "delete":
      return try protect(arguments, console: console)
    case "purge":
      let positionals = try arguments.require("purge", "PATH")
      let user = try UserLogin.login(positionals[1], arguments, console: console)
      let report = try user.handle.purgeBlobs()
      let fields: [String: JSON] = [
        "expired": .int(Int64(report.expired)), "abandoned": .int(Int64(report.abandoned)),
        "retained": .int(Int64(report.retained)),
      ]
      if arguments.flag("json") {
        console.json(.object(fields))
      } else {
        console.line(
          "purged \(report.expired) expired blobs and \(report.abandoned) abandoned uploads;"
            + " \(report.retained) still retained")
      }
      return .success
    default:
      throw UsageError(
        "unknown blob action \"\(action)\": use put, get, info, list, retain, hold, release,"
          + " delete or purge")
    }
  }

  // MARK: put

  private static func put(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("put", "PATH", "FILE")
    let file = positionals[2]
    let project = try RecordID(try requiredOption("project", arguments))
    var kind: MediaKind?
    if let text = arguments.value("kind") {
      guard let parsed = MediaKind(rawValue: text) else {
        throw UsageError("--kind is photo, video, raw or document")
      }
      kind = parsed
    }
    let name = arguments.value("name") ?? String(file.split(separator: "/").last ?? "upload")
    let descriptor = open(file, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw VaultError(.notFound, "cannot read \(file)", errno: errno)
    }
    defer { close(descriptor) }
    var status = stat()
    let total = fstat(descriptor, &status) == 0 ? UInt64(max(0, status.st_size)) : 0
    let user = try UserLogin.login(positionals[1], arguments, console: console)
    let upload: BlobUpload
    if let resumed = arguments.value("resume") {
      upload = try user.handle.resumeUpload(try RecordID(resumed), kind: kind)
      guard lseek(descriptor, off_t(upload.bytesCommitted), SEEK_SET) >= 0 else {
        throw VaultError(.io, "cannot seek in \(file)", errno: errno)
      }
    } else {
      upload = try user.handle.beginUpload(into: project, fileName: name, kind: kind)
    }
    let progress = ProgressBar(console: console, label: "storing")
    defer { progress.finish() }
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var done = upload.bytesCommitted
    let receipt: UploadReceipt
    do {
      while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
        if count < 0 {
          if errno == EINTR { continue }
          throw VaultError(.io, "cannot read \(file)", errno: errno)
        }
        if count == 0 { break }
        try buffer.withUnsafeBytes { raw in
          try upload.write(UnsafeRawBufferPointer(rebasing: raw[..<count]))
        }
        done += UInt64(count)
        progress.update(Int(clamping: done), of: total)
      }
      receipt = try upload.finish()
    } catch let error as VaultError {
      progress.finish()
      // Say how to continue: the committed chunks stay (for a week) under this id.
      if upload.bytesCommitted > 0 {
        console.error(
          "upload \(upload.blob) stopped after \(upload.bytesCommitted) bytes were committed;"
            + " run the command again with --resume \(upload.blob) to continue")
      }
      throw error
    }
    progress.finish()
    console.json([
      "blob": .string(receipt.blob.description), "size": .uint(receipt.size),
      "sha256": .string(receipt.sha256),
    ])
    return .success
  }

  // MARK: get

  private static func get(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("get", "PATH", "ID")
    let id = try RecordID(positionals[2])
    let out = arguments.value("out")
    if out == nil, isatty(1) == 1 {
      throw UsageError("standard output is a terminal: write the blob with --out FILE")
    }
    let user = try UserLogin.login(positionals[1], arguments, console: console)
    let reader = try user.handle.openBlob(id)
    // Written beside the target, then renamed into place once every chunk checked out.
    let temporary = out.map { $0 + ".partial" }
    // Never through a symbolic link planted at the temporary name.
    let descriptor =
      temporary.map { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600) }
      ?? 1
    guard descriptor >= 0 else {
      throw VaultError(.io, "cannot write \(temporary ?? "")", errno: errno)
    }
    var finished = false
    defer {
      if let temporary {
        close(descriptor)
        if !finished { unlink(temporary) }
      }
    }
    let progress = ProgressBar(console: console, label: "reading")
    defer { progress.finish() }
    let digest = StreamingSHA256()
    var done: UInt64 = 0
    try reader.forEachChunk { chunk throws(VaultError) in
      chunk.withUnsafeBytes { digest.update($0) }
      try writeAll(descriptor, chunk, what: out ?? "standard output")
      done += UInt64(chunk.count)
      progress.update(Int(clamping: done), of: reader.size)
    }
    guard Hex.encode(digest.finalize()) == reader.info.sha256 else {
      console.error("blob \(id) does not match its SHA-256")
      return .problemsFound
    }
    if let out, let temporary {
      guard fsync(descriptor) == 0, rename(temporary, out) == 0 else {
        throw VaultError(.io, "cannot write \(out)", errno: errno)
      }
      finished = true
    }
    return .success
  }

  private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], what: String)
    throws(VaultError)
  {
    var offset = 0
    while offset < bytes.count {
      let written = bytes.withUnsafeBytes {
        write(descriptor, $0.baseAddress! + offset, $0.count - offset)
      }
      if written < 0 {
        if errno == EINTR { continue }
        throw VaultError(errno == ENOSPC ? .noSpace : .io, "cannot write \(what)", errno: errno)
      }
      offset += written
    }
  }

  // MARK: info, list

  private static func describe(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let infos: [BlobInfo]
    if arguments.positionals.first == "list" {
      let positionals = try arguments.require("list", "PATH")
      let project = try RecordID(try requiredOption("project", arguments))
      let user = try UserLogin.login(positionals[1], arguments, console: console)
      infos = try user.handle.blobs(ofProject: project)
    } else {
      let positionals = try arguments.require("info", "PATH", "ID")
      let user = try UserLogin.login(positionals[1], arguments, console: console)
      infos = [try user.handle.openBlob(try RecordID(positionals[2])).info]
    }
    for info in infos {
      if arguments.flag("json") {
        console.json(json(info))
      } else {
        var line = "\(info.blob)  \(info.size) bytes  sha256:\(info.sha256)  \(info.name)"
        if info.retention.mode != .none {
          line += "  \(info.retention.mode) until "
          line += Formatting.timestamp(milliseconds: info.retention.until)
        }
        if info.legalHold { line += "  legal hold" }
        console.line(line)
      }
    }
    return .success
  }

  static func json(_ info: BlobInfo) -> JSON {
    var fields: [String: JSON] = [
      "blob": .string(info.blob.description), "project": .string(info.project.description),
      "size": .uint(info.size), "sha256": .string(info.sha256), "name": .string(info.name),
      "uploader": .string(info.uploader.description),
      "createdAt": .string(Formatting.timestamp(milliseconds: info.createdAt.milliseconds)),
      "retention": .string(info.retention.mode.description), "legalHold": .bool(info.legalHold),
      "vendorUpload": .bool(info.isVendorUpload),
    ]
    if info.retention.mode != .none {
      fields["retainUntil"] = .string(Formatting.timestamp(milliseconds: info.retention.until))
    }
    if let media = info.media { fields["media"] = .string(media.description) }
    return .object(fields)
  }

  // MARK: retain, hold, release, delete

  private static func retain(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let positionals = try arguments.require("retain", "PATH", "ID")
    let id = try RecordID(positionals[2])
    let modeName = try requiredOption("mode", arguments)
    guard let mode = RetentionMode(name: modeName) else {
      throw UsageError("--mode is none, governance or compliance")
    }
    var until: Int64 = 0
    if mode != .none {
      let text = try requiredOption("until", arguments)
      if let time = Timestamp(rfc3339: text) {
        until = time.milliseconds
      } else if let day = Day(iso: text) {
        until = Int64(day.daysSince1970) * 86_400_000
      } else {
        throw UsageError("--until is a date (YYYY-MM-DD) or an RFC 3339 time")
      }
    }
    let retention = Retention(mode: mode, until: until)
    // The password doubles as the step-up an owner needs to shorten governance retention.
    let user = try UserLogin.login(
      positionals[1], arguments, console: console, stepUp: (.governanceDeletion, id))
    if arguments.flag("project") {
      try user.handle.setRetention(retention, ofProject: id, proof: user.proof)
      console.line("project \(id)'s blobs: \(describe(retention))")
    } else {
      try user.handle.setRetention(retention, ofBlob: id, proof: user.proof)
      console.line("blob \(id): \(describe(retention))")
    }
    return .success
  }

  private static func describe(_ retention: Retention) -> String {
    retention.mode == .none
      ? "no retention"
      : "\(retention.mode) retention until \(Formatting.timestamp(milliseconds: retention.until))"
  }

  private static func protect(_ arguments: Arguments, console: any Console) throws -> ExitCode {
    let action = arguments.positionals.first ?? ""
    let positionals = try arguments.require(action, "PATH", "ID")
    let id = try RecordID(positionals[2])
    let step: HighRiskAction = action == "delete" ? .governanceDeletion : .legalHold
    let user = try UserLogin.login(positionals[1], arguments, console: console, stepUp: (step, id))
    switch action {
    case "hold":
      try user.handle.placeLegalHold(onBlob: id, proof: user.proof ?? "")
      console.line("blob \(id) is under a legal hold")
    case "release":
      try user.handle.releaseLegalHold(onBlob: id, proof: user.proof ?? "")
      console.line("blob \(id)'s legal hold is released")
    default:
      try user.handle.deleteBlob(id, proof: user.proof)
      console.line("blob \(id) deleted; its key is destroyed")
    }
    return .success
  }
}
