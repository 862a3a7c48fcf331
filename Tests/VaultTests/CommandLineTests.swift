import Foundation
import Testing
import VaultCLI
import VaultCore
import VaultCrypto
import VaultFormat

@_spi(Engine) @testable import StudioVault
@testable import VaultStorage

/// The passphrase the CLI tests give through `VAULT_PASSPHRASE`.
let cliPassphrase = "a long test passphrase, 2026"
/// The owner's password, through `VAULT_PASSWORD`.
let cliPassword = "the owner's password, 2026"
/// The secrets a command run as the owner needs.
let cliSecrets = ["VAULT_PASSPHRASE": cliPassphrase, "VAULT_PASSWORD": cliPassword]

/// Runs `vault ARGUMENTS` in-process with `environment` (by default the test
/// passphrase and owner password); returns exit code, standard output and error.
func vault(environment: [String: String] = cliSecrets, _ arguments: String...)
  -> (status: Int32, output: String, errors: String)
{
  vault(environment: environment, arguments)
}

func vault(environment: [String: String] = cliSecrets, _ arguments: [String])
  -> (status: Int32, output: String, errors: String)
{
  let console = CapturedConsole(environment: environment)
  let status = CommandLineTool.run(arguments, console: console)
  return (status, console.output, console.errors)
}

/// Parses one JSON document printed by the CLI.
func parseJSON(_ text: String) throws -> [String: Any] {
  let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
  return try #require(object as? [String: Any])
}

/// `vault init` (passphrase and owner password from the environment), a branch
/// "Main", then `count` clients in it; returns the path and the clients' ids.
func initWithClients(_ dir: TemporaryDirectory, count: Int) throws -> (String, [RecordID]) {
  let path = dir.file("v.vault")
  let created = vault("init", path, "--owner", "owner", "--kdf", "interactive")
  #expect(created.status == 0, "\(created.errors)")
  #expect(vault("branch", "add", path, "--user", "owner", "Main").status == 0)
  let lines = (0..<count).map { #"{"displayName": "Client \#($0)", "branch": "Main"}"# }
  let file = dir.file("clients.jsonl")
  try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: file))
  let imported = vault("import", path, "--user", "owner", "--collection", "clients", file)
  #expect(imported.status == 0, "\(imported.errors)")
  let ids = try imported.output.split(separator: "\n").map { try RecordID(String($0)) }
  return (path, ids)
}

@Suite struct CommandLineTests {
  @Test func initCreatesAVaultAndRefusesToOverwrite() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("studio.vault")
    let created = vault(
      "init", path, "--owner", "owner", "--page-size", "8192", "--kdf", "interactive")
    #expect(created.status == 0, "\(created.errors)")
    #expect(created.output.contains("created"))
    #expect(try VaultStore.open(at: path, credential: .passphrase(cliPassphrase)).pageSize == 8192)
    #expect(throws: VaultError(.wrongPassphrase, "the passphrase does not unlock this vault")) {
      try VaultStore.open(at: path, credential: .passphrase("not it"))
    }
    let again = vault("init", path, "--owner", "owner")
    #expect(again.status == 64)
    #expect(again.errors.hasPrefix("vault: error: ") && again.errors.contains("already exists"))
    #expect(vault("init", dir.file("odd.vault"), "--page-size", "5000").status == 64)
    #expect(vault("init", dir.file("odd.vault"), "--page-size", "big").status == 64)
    #expect(!FileManager.default.fileExists(atPath: dir.file("odd.vault")))
    #expect(vault("init").status == 64)
    // The passphrase never comes from the command line: without it, init refuses.
    let missing = vault(environment: [:], "init", dir.file("nokey.vault"), "--owner", "o")
    #expect(missing.status == 64 && missing.errors.contains("VAULT_PASSPHRASE"))
    // Nor the owner's password; and a short one is refused before anything is made.
    let noPassword = vault(
      environment: ["VAULT_PASSPHRASE": cliPassphrase], "init", dir.file("np.vault"), "--owner",
      "o")
    #expect(noPassword.status == 64 && noPassword.errors.contains("VAULT_PASSWORD"))
    let short = vault(
      environment: ["VAULT_PASSPHRASE": cliPassphrase, "VAULT_PASSWORD": "short"], "init",
      dir.file("sp.vault"), "--owner", "o", "--kdf", "interactive")
    #expect(short.status == 64 && short.errors.contains("15 characters"))
    #expect(!FileManager.default.fileExists(atPath: dir.file("sp.vault")))
    #expect(vault("init", dir.file("no-owner.vault")).status == 64)
    #expect(vault("init", dir.file("c.vault"), "--owner", "o", "--currency", "XYZ").status == 64)
    #expect(vault("init", dir.file("k.vault"), "--kdf", "extreme").status == 64)
    let fromFile = dir.file("passphrase.txt")
    try Data("from a file\n".utf8).write(to: URL(fileURLWithPath: fromFile))
    let viaFile = vault(
      environment: ["VAULT_PASSWORD": cliPassword], "init", dir.file("f.vault"), "--owner", "o",
      "--kdf", "interactive", "--passphrase-file", fromFile)
    #expect(viaFile.status == 0, "\(viaFile.errors)")
    _ = try VaultStore.open(at: dir.file("f.vault"), credential: .passphrase("from a file"))
  }

  @Test func infoPrintsTheContractFields() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    #expect(vault("init", path, "--owner", "owner", "--kdf", "interactive").status == 0)
    let result = vault(environment: [:], "info", "--json", path)
    #expect(result.status == 0)
    let info = try parseJSON(result.output)
    for field in [
      "formatVersion", "pageSize", "pageCount", "transactionId", "vaultId", "createdAt", "kdf",
      "auditVerifierKey",
    ] {
      #expect(info[field] != nil, "missing \(field)")
    }
    #expect(info["formatVersion"] as? Int == 1)
    let kdf = try #require(info["kdf"] as? [String: Any])
    #expect(kdf["algorithm"] as? String == "argon2id" && kdf["level"] as? String == "interactive")
    #expect(kdf["memLimitBytes"] as? Int == 64 << 20)
    #expect(info["pageSize"] as? Int == 4096)
    #expect((info["vaultId"] as? String)?.count == 36)
    // Options may follow the path, and the document is deterministic (sorted keys).
    #expect(vault("info", path, "--json").output == result.output)
    // Keys print in sorted order at every level.
    let keys = result.output.matches(of: /"([a-zA-Z]+)":/).map { String($0.1) }
    #expect(keys.count == info.count + kdf.count)
    #expect(Array(keys.filter { info[$0] != nil }) == info.keys.sorted())
    #expect(vault("info", dir.file("missing.vault")).status == 66)
    let notVault = dir.file("notes.txt")
    try Data("hello".utf8).write(to: URL(fileURLWithPath: notVault))
    #expect(vault("info", notVault).status == 65)
  }

  @Test func checkReportsDamageWithPageAndExitCodeOne() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    do {
      let store = try VaultStore.create(at: path, credential: testCredential)
      try store.write { tx in
        let tree = try tx.createTree(named: "clients")
        for index in 0..<400 {
          try tree.insert([UInt8](repeating: 3, count: 100), forKey: bytes("c\(index)"))
        }
      }
    }
    let clean = vault("check", path, "--json")
    #expect(clean.status == 0)
    let report = try parseJSON(clean.output)
    #expect(report["ok"] as? Bool == true)
    #expect((report["pagesChecked"] as? Int ?? 0) > 10)
    #expect((report["problems"] as? [Any])?.isEmpty == true)

    // Damage one leaf in the middle of the file.
    let inspection = try VaultStore.open(
      at: path, credential: testCredential, options: .init(readOnly: true)
    ).read {
      Inspection(snapshot: $0)
    }
    let leaf = try #require(inspection.reachable.first { $0.value.type == .leaf }?.key)
    // Flip the byte's bits (writing a constant would change nothing 1 time in 256: the
    // page is ciphertext, any byte value is as likely as any other).
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    try handle.seek(toOffset: leaf * 4096 + 700)
    let original = try #require(try handle.read(upToCount: 1)?.first)
    try handle.seek(toOffset: leaf * 4096 + 700)
    try handle.write(contentsOf: Data([original ^ 0xFF]))
    try handle.close()
    let damaged = vault("check", "--json", path)
    #expect(damaged.status == 1)
    let problems = try #require(try parseJSON(damaged.output)["problems"] as? [[String: Any]])
    #expect(problems.contains { ($0["page"] as? Int).map(UInt64.init) == leaf })
    #expect(problems.allSatisfy { $0["kind"] is String && $0["detail"] is String })
    let text = vault("check", path)
    #expect(text.status == 1 && text.output.contains("page \(leaf)"))
    #expect(vault("check", dir.file("missing")).status == 66)
  }

  @Test func pagesPageAndStatsDescribeTheFile() throws {
    let dir = TemporaryDirectory()
    let path = dir.file("v.vault")
    do {
      let store = try VaultStore.create(at: path, credential: testCredential)
      try store.write { tx in
        let tree = try tx.createTree(named: "media")
        for index in 0..<300 {
          try tree.insert([UInt8](repeating: 1, count: 150), forKey: bytes("m\(index)"))
        }
        try tree.insert([UInt8](repeating: 2, count: 9000), forKey: bytes("big"))
      }
    }
    let pages = try parseJSON(vault("pages", path, "--json").output)
    let list = try #require(pages["pages"] as? [[String: Any]])
    let types = Set(list.compactMap { $0["type"] as? String })
    #expect(types.isSuperset(of: ["header", "meta", "interior", "leaf", "overflow", "free"]))
    #expect(
      list.allSatisfy {
        $0["page"] is Int && $0.keys.contains("transactionId") && $0.keys.contains("fill")
      })
    // Without the key, trees are known by id only: their names are sealed.
    #expect(list.first { $0["type"] as? String == "leaf" }?["tree"] as? String == "16")

    let leafNumber = try #require(list.first { $0["type"] as? String == "leaf" }?["page"] as? Int)
    let page = try parseJSON(vault("page", path, String(leafNumber), "--json").output)
    #expect(page["type"] as? String == "leaf")
    #expect(page["checksumValid"] as? Bool == true)
    #expect(page["sealed"] as? Bool == true && (page["tag"] as? String)?.count == 32)
    #expect((page["hex"] as? String)?.count == 8192)
    #expect(vault("page", path, "999999").status == 64)
    #expect(vault("page", path, "-1").status == 64)
    #expect(vault("page", path).status == 64)
    #expect(vault("page", path, "2").output.contains("meta"))

    let stats = try parseJSON(vault("stats", "--json", path).output)
    let trees = try #require(stats["trees"] as? [[String: Any]])
    #expect(trees.contains { $0["name"] as? String == "16" && ($0["pages"] as? Int ?? 0) > 10 })
    #expect(
      stats["freePages"] is Int && stats["fragmentation"] is Double || stats["fragmentation"] is Int
    )
    #expect(vault("stats", path).status == 0)
  }

  @Test(arguments: [
    "init", "demo", "info", "check", "pages", "page", "stats", "branch", "settings", "import",
    "get", "list", "export", "project", "refund", "billing", "engagement", "key", "erase-client",
    "audit", "blob", "backup", "restore", "recover", "login", "session", "user", "totp", "version",
  ])
  func helpIsTheSameBothWaysAndListsExitCodes(command: String) {
    let viaHelp = vault("help", command)
    let viaFlag = vault(command, "--help")
    #expect(viaHelp.status == 0 && viaFlag.status == 0)
    #expect(viaHelp.output == viaFlag.output)
    #expect(viaHelp.output.contains("usage: vault \(command)"))
    #expect(viaHelp.output.contains("exit codes:"))
  }

  @Test func badInvocationsAreUsageErrors() {
    #expect(vault().status == 64)
    #expect(vault("frobnicate").status == 64)
    #expect(vault("info", "--no-such-option", "x").status == 64)
    #expect(vault("info", "a", "b").status == 64)
    #expect(vault("help", "frobnicate").status == 64)
    #expect(vault("help", "audit", "verify").output == vault("audit", "--help").output)
    #expect(vault("help", "audit", "verify", "more").status == 64)
    // A file to make in a directory that does not exist: an I/O error, not missing input.
    #expect(vault("init", "/nonexistent-dir/v.vault", "--owner", "o").status == 74)
    #expect(vault("help").output.contains("commands:"))
    let version = vault("version", "--json")
    #expect(version.status == 0 && version.output.contains("\"formatVersion\":1"))
  }

  @Test func theVaultBinaryExitsWithTheContractCodes() throws {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let binary = directory.appendingPathComponent("vault").path
    try #require(FileManager.default.isExecutableFile(atPath: binary))
    func run(_ arguments: [String]) throws -> Int32 {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: binary)
      process.arguments = arguments
      // The secrets only, and the sanitizers' options when `make test-sanitize` runs.
      process.environment = cliSecrets.merging(
        ProcessInfo.processInfo.environment.filter { $0.key.hasSuffix("SAN_OPTIONS") }
      ) { $1 }
      process.standardOutput = FileHandle.nullDevice
      process.standardError = FileHandle.nullDevice
      try process.run()
      process.waitUntilExit()
      #expect(process.terminationReason == .exit, "\(arguments) died by a signal")
      return process.terminationStatus
    }
    let dir = TemporaryDirectory()
    #expect(
      try run(["init", dir.file("v.vault"), "--owner", "owner", "--kdf", "interactive"]) == 0)
    #expect(try run(["check", dir.file("v.vault")]) == 0)
    #expect(try run(["info", dir.file("nothing")]) == 66)
    #expect(try run(["bogus"]) == 64)
  }

  /// `audit verify`, `audit checkpoint` and `audit list` keep their contract, and the
  /// verifier key `info` prints checks the checkpoint.
  @Test func auditCommandsVerifyCheckpointAndList() throws {
    let dir = TemporaryDirectory()
    let (path, _) = try initWithClients(dir, count: 3)
    let keyless: [String: String] = [:]
    let info = try parseJSON(vault(environment: keyless, "info", path, "--json").output)
    let verifierKey = try #require(info["auditVerifierKey"] as? String)
    let (name, publicKey) = try SignedNote.parseVerifierKey(verifierKey)
    let checkpoint = vault(environment: keyless, "audit", "checkpoint", path)
    #expect(checkpoint.status == 0)
    #expect(
      try SignedNote.open(checkpoint.output, name: name, publicKey: publicKey).hasPrefix(name))
    let saved = dir.file("checkpoint.txt")
    try checkpoint.output.write(toFile: saved, atomically: true, encoding: .utf8)

    let verified = vault(
      environment: keyless, "audit", "verify", path, "--checkpoint", saved, "--json")
    #expect(verified.status == 0, "\(verified.output)")
    let report = try parseJSON(verified.output)
    #expect(report["ok"] as? Bool == true && (report["entries"] as? Int ?? 0) >= 5)
    #expect(report["treeSize"] as? Int == report["entries"] as? Int)
    #expect((report["rootHash"] as? String)?.count == 64)

    let listed = vault("audit", "list", path, "--user", "owner", "--json")
    #expect(listed.status == 0, "\(listed.errors)")
    let lines = listed.output.split(separator: "\n").map(String.init)
    let entries = try lines.map(parseJSON)
    let actions = entries.compactMap { $0["action"] as? String }
    #expect(actions.prefix(2) == ["vaultCreated", "userCreated"])
    #expect(actions.contains("recordsImported") && actions.last == "auditRead")
    let last = try #require(entries.last)
    let proof = (last["proof"] as? [String] ?? []).compactMap(Hex.decode)
    let stored = try #require((last["entry"] as? String).flatMap(Hex.decode))
    let root = try #require((last["rootHash"] as? String).flatMap(Hex.decode))
    let sequence = try #require(last["sequence"] as? Int)
    let size = try #require(last["treeSize"] as? Int)
    #expect(
      MerkleTree.verifyInclusion(
        leaf: MerkleTree.leafHash(stored), index: UInt64(sequence), size: UInt64(size),
        proof: proof, root: root))
    // Pinning the key: the right one passes, another is a problem, a malformed one a
    // usage error.
    #expect(vault(environment: keyless, "audit", "verify", path, "--key", verifierKey).status == 0)
    let otherKey = try AuditCheckpoint.verifierKey(
      vaultID: [UInt8](repeating: 1, count: 16), publicKey: publicKey)
    let pinned = vault(environment: keyless, "audit", "verify", path, "--key", otherKey, "--json")
    #expect(pinned.status == 1 && pinned.output.contains("\"kind\":\"key\""), "\(pinned.output)")
    #expect(vault(environment: keyless, "audit", "verify", path, "--key", "nonsense").status != 0)
    // The log grew since the checkpoint was saved: it still extends it.
    #expect(vault(environment: keyless, "audit", "verify", path, "--checkpoint", saved).status == 0)
    #expect(vault(environment: keyless, "audit", "bogus", path).status == 64)
    #expect(vault(environment: keyless, "audit", "verify", dir.file("none")).status == 66)
    #expect(vault("audit", "list", path).status == 64)
    #expect(vault(environment: keyless, "check", path).status == 0)
  }

  /// `vault login` prints a session token; `VAULT_SESSION` then stands in for the
  /// password until the session is revoked; sessions are listed and revoked.
  @Test func sessionsReplacePasswordsUntilRevoked() throws {
    let dir = TemporaryDirectory()
    let (path, _) = try initWithClients(dir, count: 2)
    let first = vault("login", path, "--user", "owner", "--device", "laptop")
    #expect(first.status == 0, "\(first.errors)")
    let token = first.output.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(token.hasPrefix("svs_") && token.count == 68)
    let second = vault("login", path, "--user", "owner", "--device", "phone")
    let otherToken = second.output.trimmingCharacters(in: .whitespacesAndNewlines)
    let withSession = ["VAULT_PASSPHRASE": cliPassphrase, "VAULT_SESSION": token]
    #expect(vault(environment: withSession, "list", path, "--collection", "clients").status == 0)
    let listed = vault(environment: withSession, "session", "list", path, "--json")
    let sessions = try #require(try parseJSON(listed.output)["sessions"] as? [[String: Any]])
    #expect(Set(sessions.compactMap { $0["device"] as? String }) == ["laptop", "phone"])
    #expect(
      sessions.filter { $0["current"] as? Bool == true }.compactMap { $0["device"] as? String }
        == ["laptop"])
    // A session alone is not step-up: ending another user's sessions wants a password.
    #expect(
      vault(environment: withSession, "session", "revoke", path, "--user-sessions", "owner").status
        == 77)
    // Revoke all others: the phone's token stops working, the laptop's goes on.
    let revoked = vault(environment: withSession, "session", "revoke", path, "--all-others")
    #expect(
      revoked.status == 0 && revoked.output.contains("1 session revoked"), "\(revoked.errors)")
    let phone = ["VAULT_PASSPHRASE": cliPassphrase, "VAULT_SESSION": otherToken]
    #expect(vault(environment: phone, "list", path, "--collection", "clients").status == 77)
    #expect(vault(environment: withSession, "list", path, "--collection", "clients").status == 0)
    // Revoked by id, the laptop's too.
    let laptopID = try #require(
      sessions.first { $0["device"] as? String == "laptop" }?["id"] as? String)
    #expect(vault(environment: withSession, "session", "revoke", path, laptopID).status == 0)
    #expect(vault(environment: withSession, "list", path, "--collection", "clients").status == 77)
    #expect(vault("session", "sideways", path, "--user", "owner").status == 64)
  }

  /// Users are managed within the granting rules; changes end sessions; all of it is
  /// on the record.
  @Test func userCommandsFollowTheGrantingRules() throws {
    let dir = TemporaryDirectory()
    let (path, _) = try initWithClients(dir, count: 1)
    let newcomer = "a newcomer's password, 2026"
    var adding = cliSecrets
    adding["VAULT_NEW_USER_PASSWORD"] = newcomer
    #expect(
      vault(
        environment: adding, "user", "add", path, "--user", "owner", "--name", "maria",
        "--role", "branchManager", "--branch", "Main"
      ).status == 0)
    let asManager = [
      "VAULT_PASSPHRASE": cliPassphrase, "VAULT_PASSWORD": newcomer,
      "VAULT_NEW_USER_PASSWORD": newcomer,
    ]
    // A branch manager adds staff to their branch, nothing else.
    #expect(
      vault(
        environment: asManager, "user", "add", path, "--user", "maria", "--name", "tom",
        "--role", "staff", "--branch", "Main"
      ).status == 0)
    #expect(
      vault(
        environment: asManager, "user", "add", path, "--user", "maria", "--name", "eve",
        "--role", "hq"
      ).status == 77)
    let asTom = ["VAULT_PASSPHRASE": cliPassphrase, "VAULT_PASSWORD": newcomer]
    #expect(
      vault(environment: asTom, "list", path, "--user", "tom", "--collection", "clients").status
        == 0)
    // Disabled, tom cannot log in; enabled again, he can.
    // Branch managers invite staff, nothing more; the owner disables and enables.
    #expect(
      vault(environment: asManager, "user", "disable", path, "--user", "maria", "tom").status == 77)
    #expect(vault("user", "disable", path, "--user", "owner", "tom").status == 0)
    #expect(
      vault(environment: asTom, "list", path, "--user", "tom", "--collection", "clients").status
        == 77)
    #expect(vault("user", "enable", path, "--user", "owner", "tom").status == 0)
    #expect(
      vault(environment: asTom, "list", path, "--user", "tom", "--collection", "clients").status
        == 0)
    // Staff manage nobody; the owner re-roles tom.
    #expect(
      vault(environment: asTom, "user", "disable", path, "--user", "tom", "maria").status == 77)
    #expect(vault("user", "role", path, "--user", "owner", "tom", "branchManager").status == 0)
    // His own password: the old one stops working.
    var changing = asTom
    changing["VAULT_NEW_USER_PASSWORD"] = "tom's brand new password!"
    #expect(vault(environment: changing, "user", "passwd", path, "--user", "tom").status == 0)
    #expect(
      vault(environment: asTom, "list", path, "--user", "tom", "--collection", "clients").status
        == 77)
    let listed = vault("audit", "list", path, "--user", "owner", "--json").output
    for action in [
      "userCreated", "userDisabled", "userEnabled", "roleChanged", "passwordChanged",
      "accessDenied",
    ] {
      #expect(listed.contains("\"\(action)\""), "\(action)")
    }
  }

  @Test func keyCommandsChangeThePassphraseRotateAndErase() throws {
    let dir = TemporaryDirectory()
    let (path, clients) = try initWithClients(dir, count: 50)
    // Rotation: every data key re-wrapped (the clients', the branch's, the owner's, the
    // settings', and the organization's audit detail key), the first KEK retired.
    let rotated = vault("key", "rotate", path, "--user", "owner", "--batch", "7", "--json")
    #expect(rotated.status == 0, "\(rotated.errors)")
    let report = try parseJSON(rotated.output)
    #expect(report["rewrapped"] as? Int == 54 && report["retired"] as? [Int] == [1])
    #expect(vault("key", "rotate", path, "--user", "owner", "--batch", "0").status == 64)
    // Acting as a user is required, with the right password.
    #expect(vault("key", "rotate", path).status == 64)
    let wrongPassword = vault(
      environment: ["VAULT_PASSPHRASE": cliPassphrase, "VAULT_PASSWORD": "not the password!!"],
      "key", "rotate", path, "--user", "owner")
    #expect(wrongPassword.status == 77 && wrongPassword.errors.contains("wrong password"))
    let nobody = vault("key", "rotate", path, "--user", "nobody")
    #expect(nobody.status == 77 && nobody.errors == wrongPassword.errors)

    // Passphrase change: the new one from the environment, never an argument.
    let newPassphrase = "a brand new passphrase"
    let missing = vault("key", "passphrase", path, "--user", "owner")
    #expect(missing.status == 64 && missing.errors.contains("VAULT_NEW_PASSPHRASE"))
    var withNewPassphrase = cliSecrets
    withNewPassphrase["VAULT_NEW_PASSPHRASE"] = newPassphrase
    let changed = vault(
      environment: withNewPassphrase, "key", "passphrase", path, "--user", "owner", "--kdf",
      "interactive")
    #expect(changed.status == 0, "\(changed.errors)")
    #expect(!changed.output.contains(newPassphrase) && !changed.errors.contains(newPassphrase))
    // The old passphrase is refused with the authentication exit code.
    let refused = vault("key", "rotate", path, "--user", "owner")
    #expect(refused.status == 77 && refused.errors.contains("passphrase"))
    #expect(!refused.errors.contains(cliPassphrase))

    // Erasure.
    let withNew = ["VAULT_PASSPHRASE": newPassphrase, "VAULT_PASSWORD": cliPassword]
    let erased = vault(
      environment: withNew, "erase-client", path, "--user", "owner", clients[3].description,
      "--json")
    #expect(erased.status == 0, "\(erased.errors)")
    #expect(
      vault(environment: withNew, "erase-client", path, "--user", "owner", "nobody").status == 64)
    let unknown = RecordID.random().description
    #expect(
      vault(environment: withNew, "erase-client", path, "--user", "owner", unknown).status == 65)
    let store = try RecordStore.open(at: path, credential: .passphrase(newPassphrase))
    try store.read { snapshot throws(VaultError) in
      #expect(throws: VaultError.self) {
        try snapshot.get(.clients, clients[3], scope: .organization)
      }
      #expect(
        try snapshot.get(.clients, clients[4], scope: .organization)?.text("displayName")
          == "Client 4")
    }
    #expect(vault(environment: [:], "check", path).status == 0)
    #expect(vault("key", "sideways", path, "--user", "owner").status == 64)
    // Each of these is on the record, with who did it; the refused login too.
    let listed = vault(environment: withNew, "audit", "list", path, "--user", "owner", "--json")
    let entries = try listed.output.split(separator: "\n").map { try parseJSON(String($0)) }
    let actions = entries.compactMap { $0["action"] as? String }
    for action in ["keyRotated", "passphraseChanged", "clientErased", "loginFailed"] {
      #expect(actions.contains(action), "\(action) missing from \(actions)")
    }
    let rotation = try #require(entries.first { $0["action"] as? String == "keyRotated" })
    #expect((rotation["actor"] as? [String: Any])?["role"] as? String == "owner")
  }

  @Test func deepCheckAuthenticatesWhatAKeylessCheckCannot() throws {
    let dir = TemporaryDirectory()
    let (path, _) = try initWithClients(dir, count: 200)
    #expect(vault(environment: [:], "check", path).status == 0)
    #expect(vault("check", "--deep", path).status == 0)
    // A meta page forged with a valid checksum: keyless, it looks fine; deep, it fails.
    let store = try VaultStore.open(
      at: path, credential: nil, options: .init(readOnly: true))
    let slot = FileFormat.metaPage(for: try store.newestMeta().transaction).rawValue
    let image = try forgingSealedMetaBit(
      try fileBytes(path), slot: slot, pageSize: store.pageSize, bodyByte: 3)
    let copy = dir.file("forged.vault")
    try Data(image).write(to: URL(fileURLWithPath: copy))
    try FileManager.default.copyItem(atPath: path + "-lock", toPath: copy + "-lock")
    #expect(vault(environment: [:], "check", copy).status == 0)
    let deep = vault("check", "--deep", copy, "--json")
    #expect(deep.status == 1, "\(deep.output) \(deep.errors)")
    #expect(deep.output.contains("authentication"))
    let wrong = vault(environment: ["VAULT_PASSPHRASE": "nope"], "check", "--deep", path)
    #expect(wrong.status == 77)
  }

  @Test func deepInspectionShowsSealedNamesAndCounts() throws {
    let dir = TemporaryDirectory()
    let (path, _) = try initWithClients(dir, count: 120)
    let keyless = try parseJSON(vault(environment: [:], "stats", "--json", path).output)
    let keylessTrees = try #require(keyless["trees"] as? [[String: Any]])
    #expect(!keylessTrees.contains { $0["name"] as? String == "clients" })
    let deep = try parseJSON(vault("stats", "--deep", "--json", path).output)
    let trees = try #require(deep["trees"] as? [[String: Any]])
    #expect(trees.contains { $0["name"] as? String == "clients" && $0["keys"] as? Int == 120 })
    let pages = try parseJSON(vault("pages", "--deep", "--json", path).output)
    let list = try #require(pages["pages"] as? [[String: Any]])
    #expect(list.contains { $0["tree"] as? String == "clients" })
    #expect(vault(environment: ["VAULT_PASSPHRASE": "nope"], "pages", "--deep", path).status == 77)
  }

  @Test func eraseClientFinishesAnInterruptedErasure() throws {
    let dir = TemporaryDirectory()
    let (path, clients) = try initWithClients(dir, count: 10)
    // An erasure whose scrub never finished (as a crash would leave it).
    do {
      let store = try SealedStore.open(at: path, credential: .passphrase(cliPassphrase))
      try store.write { tx throws(VaultError) in
        _ = try tx.destroyKey(of: clients[1].bytes, in: "clients")
        try tx.keyring().insert([], forKey: Keyring.scrubPendingKey)
      }
      #expect(try store.isScrubPending)
    }
    // Rerunning the command finishes it (its writable open does), and says so.
    let rerun = vault("erase-client", path, "--user", "owner", clients[1].description)
    #expect(rerun.status == 0, "\(rerun.errors)")
    #expect(rerun.output.contains("already erased"))
    let store = try SealedStore.open(
      at: path, credential: .passphrase(cliPassphrase), options: .init(readOnly: true))
    #expect(try !store.isScrubPending)
  }

  /// The record commands as a script drives them: import (from a file and standard
  /// input is not testable in-process, so a file), list, search, get, export and
  /// re-import, settings, project completion under billing enforcement, deletion.
  @Test func recordCommandsWorkTogether() throws {
    let dir = TemporaryDirectory()
    let (path, clients) = try initWithClients(dir, count: 3)
    #expect(vault("branch", "add", path, "--user", "owner", "main").status == 65)  // taken
    #expect(vault("branch", "add", path, "--user", "owner", "Harbor").status == 0)
    func write(_ name: String, _ lines: [String]) throws -> String {
      let file = dir.file(name)
      try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: file))
      return file
    }
    let projectFile = try write(
      "p.jsonl",
      [
        #"{"title": "Wedding", "client": "\#(clients[0])", "sessions": [{"start": "2027-06-13T15:30:00-04:00"}]}"#
      ])
    let imported = vault(
      "import", path, "--user", "owner", "--collection", "projects", "--branch", "Main",
      projectFile, "--json")
    #expect(imported.status == 0, "\(imported.errors)")
    let project = try #require(
      (try JSONSerialization.jsonObject(with: Data(imported.output.utf8)) as? [String])?.first)
    let invoiceFile = try write(
      "i.jsonl",
      [
        #"{"project": "\#(project)", "lineItems": [{"description": "Gold", "amount": {"amount": 1000}}]}"#
      ])
    #expect(
      vault("import", path, "--user", "owner", "--collection", "invoices", invoiceFile).status == 0)

    // A bad line: exit 65, line and field named, nothing written.
    let bad = try write(
      "bad.jsonl",
      [#"{"displayName": "Ok", "branch": "Main"}"#, #"{"displayName": 5, "branch": "Main"}"#])
    let refused = vault("import", path, "--user", "owner", "--collection", "clients", bad)
    #expect(refused.status == 65)
    #expect(refused.errors.contains("line 2: displayName: expected a string, got a number"))
    #expect(vault("import", path, "--user", "owner", "--collection", "kittens", bad).status == 64)
    #expect(
      vault("import", path, "--user", "owner", "--collection", "clients", dir.file("none")).status
        == 66)

    let listed = vault("list", path, "--user", "owner", "--collection", "clients", "--json")
    #expect(listed.status == 0 && listed.output.split(separator: "\n").count == 3)
    let found = vault(
      "list", path, "--user", "owner", "--collection", "clients", "--search", "client")
    #expect(found.output.split(separator: "\n").count == 3)
    #expect(
      vault("list", path, "--user", "owner", "--collection", "clients", "--search", "cl").status
        == 64)
    let june = vault(
      "list", path, "--user", "owner", "--collection", "projects", "--from", "2027-06-01", "--to",
      "2027-06-30")
    #expect(june.output.contains(project) && june.output.contains("Wedding"))
    let got = vault(
      "get", path, "--user", "owner", "--collection", "clients", clients[1].description, "--json")
    #expect(got.status == 0)
    #expect(try parseJSON(got.output)["displayName"] as? String == "Client 1")
    #expect(
      vault(
        "get", path, "--user", "owner", "--collection", "clients", RecordID.random().description
      ).status == 65)

    // Export, then import into a fresh vault: the same clients come back.
    let export = dir.file("clients.export")
    #expect(
      vault("export", path, "--user", "owner", "--collection", "clients", "--out", export).status
        == 0)
    let copy = dir.file("copy.vault")
    #expect(vault("init", copy, "--owner", "owner", "--kdf", "interactive").status == 0)
    #expect(vault("branch", "add", copy, "--user", "owner", "Main").status == 0)
    var lines = try String(contentsOfFile: export, encoding: .utf8)
    let mainID = try #require((try parseJSON(got.output))["branch"] as? String)
    lines = lines.replacingOccurrences(of: mainID, with: "Main")
    let reimport = try write("re.jsonl", [lines])
    #expect(
      vault("import", copy, "--user", "owner", "--collection", "clients", reimport).status == 0)
    let copied = vault(
      "get", copy, "--user", "owner", "--collection", "clients", clients[1].description, "--json")
    #expect(try parseJSON(copied.output)["displayName"] as? String == "Client 1")

    // Settings, and billing enforcement on completion.
    let shown = try parseJSON(vault("settings", "show", path, "--user", "owner", "--json").output)
    #expect(shown["currency"] as? String == "USD" && shown["billingEnforcement"] as? Bool == true)
    #expect(vault("settings", "set", path, "--user", "owner", "nonsense=1").status == 64)
    #expect(vault("settings", "set", path, "--user", "owner", "stepUpMinutes=99").status == 65)
    let blocked = vault("project", "complete", path, "--user", "owner", project)
    #expect(blocked.status == 77 && blocked.errors.contains("unpaid invoice"))
    #expect(
      vault("settings", "set", path, "--user", "owner", "billingEnforcement=false").status == 0)
    #expect(vault("project", "complete", path, "--user", "owner", project).status == 0)
    let deleted = vault("project", "delete", path, "--user", "owner", project, "--json")
    #expect(deleted.status == 0, "\(deleted.errors)")
    let report = try parseJSON(deleted.output)
    #expect((report["retained"] as? [String: Int])?["invoices"] == 1)
    #expect(vault("project", "delete", path, "--user", "owner", project).status == 65)
    #expect(vault(environment: [:], "check", path).status == 0)
  }

  /// Refunds, billing overrides, engagement extension and project deletion from the
  /// command line: each a password run whose password is the step-up, none with a
  /// session alone; every run's own session ends with it.
  @Test func blobCommandsStoreReadRetainAndRefuseToDelete() throws {
    let dir = TemporaryDirectory()
    let (path, clients) = try initWithClients(dir, count: 1)
    let projectFile = dir.file("project.jsonl")
    try Data(#"{"title": "Wedding", "client": "\#(clients[0])"}"#.utf8).write(
      to: URL(fileURLWithPath: projectFile))
    let imported = vault(
      "import", path, "--user", "owner", "--collection", "projects", "--branch", "Main",
      projectFile)
    #expect(imported.status == 0, "\(imported.errors)")
    let project = imported.output.trimmingCharacters(in: .whitespacesAndNewlines)
    // Five and a bit megabytes: two chunks.
    var random = SeededGenerator(seed: testSeed(0xB1))
    let content = random.bytes(5 * 1_048_576 + 123)
    let file = dir.file("IMG_0001.CR3")
    try Data(content).write(to: URL(fileURLWithPath: file))

    let put = vault("blob", "put", path, "--user", "owner", "--project", project, file)
    #expect(put.status == 0, "\(put.errors)")
    let receipt = try parseJSON(put.output)
    #expect(Set(receipt.keys) == ["blob", "size", "sha256"])
    #expect(receipt["size"] as? Int == content.count)
    #expect(receipt["sha256"] as? String == Hex.encode(SHA256.hash(content)))
    let blob = try #require(receipt["blob"] as? String)

    // An upload that stopped after one chunk continues with --resume.
    let store = try RecordStore.open(at: path, credential: .passphrase(cliPassphrase))
    let (owner, _) = try store.login(user: "owner", password: SecretBytes(utf8: cliPassword))
    let stopped = try owner.beginUpload(
      into: try RecordID(project), fileName: "IMG_0001.CR3", kind: .raw)
    try stopped.write(Array(content[..<(4 * 1_048_576 + 1)]))
    #expect(stopped.bytesCommitted == 4 * 1_048_576)
    let resumed = vault(
      "blob", "put", path, "--user", "owner", "--project", project, file, "--resume",
      stopped.blob.description)
    #expect(resumed.status == 0, "\(resumed.errors)")
    #expect(try parseJSON(resumed.output)["sha256"] as? String == receipt["sha256"] as? String)

    let out = dir.file("copy.CR3")
    let got = vault("blob", "get", path, "--user", "owner", blob, "--out", out)
    #expect(got.status == 0, "\(got.errors)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(content))
    let info = try parseJSON(vault("blob", "info", path, "--user", "owner", blob, "--json").output)
    #expect(info["name"] as? String == "IMG_0001.CR3" && info["legalHold"] as? Bool == false)
    let listed = vault("blob", "list", path, "--user", "owner", "--project", project)
    #expect(listed.status == 0 && listed.output.contains(blob))

    // Compliance retention: extended, never shortened; deletion refused until it ends.
    #expect(
      vault(
        "blob", "retain", path, "--user", "owner", blob, "--mode", "compliance", "--until",
        "2099-01-01"
      ).status == 0)
    let shortened = vault(
      "blob", "retain", path, "--user", "owner", blob, "--mode", "compliance", "--until",
      "2098-01-01")
    #expect(shortened.status == 77 && shortened.errors.contains("extended"))
    let deleted = vault("blob", "delete", path, "--user", "owner", blob)
    #expect(deleted.status == 77 && deleted.errors.contains("compliance"))
    #expect(vault("blob", "hold", path, "--user", "owner", blob).status == 0)
    #expect(vault("blob", "release", path, "--user", "owner", blob).status == 0)
    let audit = vault("audit", "list", path, "--user", "owner").output
    #expect(audit.contains("wormRefused") && audit.contains("legalHoldPlaced"))
    #expect(vault("check", path).status == 0)
    let stats = try parseJSON(vault("stats", path, "--json").output)
    let blobs = try #require(stats["blobs"] as? [String: Any])
    // Two blobs (the first put, the resumed one) of two chunks each.
    #expect(blobs["extents"] as? Int == 4 && (blobs["pages"] as? Int ?? 0) > 2_560)
    #expect(vault("blob", "frobnicate", path).status == 64)
    #expect(
      vault("blob", "get", path, "--user", "owner", RecordID.random().description).status == 65)
  }

  @Test func highRiskWorkflowsTakeThePasswordAsStepUp() throws {
    let dir = TemporaryDirectory()
    let (path, clients) = try initWithClients(dir, count: 1)
    func write(_ name: String, _ lines: [String]) throws -> String {
      let file = dir.file(name)
      try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: file))
      return file
    }
    func importOne(_ collection: String, _ line: String) throws -> String {
      let file = try write(collection + ".jsonl", [line])
      let imported = vault(
        "import", path, "--user", "owner", "--collection", collection, "--branch", "Main", file,
        "--json")
      #expect(imported.status == 0, "\(imported.errors)")
      return try #require(
        (try JSONSerialization.jsonObject(with: Data(imported.output.utf8)) as? [String])?.first)
    }
    let project = try importOne(
      "projects", #"{"title": "Wedding", "client": "\#(clients[0])"}"#)
    let invoice = try importOne(
      "invoices",
      #"{"project": "\#(project)", "lineItems": [{"description": "Gold", "amount": {"amount": 50000}}]}"#
    )
    let payment = try importOne(
      "payments", #"{"invoice": "\#(invoice)", "amount": {"amount": 50000}}"#)
    // A second owner to approve what the first requested.
    var adding = cliSecrets
    adding["VAULT_NEW_USER_PASSWORD"] = "the second owner's password"
    #expect(
      vault(
        environment: adding, "user", "add", path, "--user", "owner", "--name", "ines", "--role",
        "owner"
      ).status == 0)
    let asInes = [
      "VAULT_PASSPHRASE": cliPassphrase, "VAULT_PASSWORD": "the second owner's password",
    ]

    let requested = vault(
      "refund", "request", path, "--user", "owner", "--payment", payment, "--amount", "12500",
      "--reason", "a late album", "--json")
    #expect(requested.status == 0, "\(requested.errors)")
    let refund = try #require(try parseJSON(requested.output)["id"] as? String)
    // The requester never approves; too much is refused; a session is no step-up.
    let selfApproved = vault("refund", "approve", path, "--user", "owner", refund)
    #expect(selfApproved.status == 77 && selfApproved.errors.contains("requester"))
    #expect(
      vault(
        "refund", "request", path, "--user", "owner", "--payment", payment, "--amount", "99999",
        "--reason", "too much"
      ).status == 65)
    let token = vault(environment: asInes, "login", path, "--user", "ines").output
      .trimmingCharacters(in: .whitespacesAndNewlines)
    let inesSession = ["VAULT_PASSPHRASE": cliPassphrase, "VAULT_SESSION": token]
    let bySession = vault(environment: inesSession, "refund", "approve", path, refund)
    #expect(bySession.status == 77 && bySession.errors.contains("step-up"))
    #expect(
      vault(environment: asInes, "refund", "reject", path, "--user", "ines", refund).status == 64)
    #expect(
      vault(
        environment: asInes, "refund", "approve", path, "--user", "ines", refund, "--reason",
        "agreed with the client"
      ).status == 0)
    let executed = vault(
      environment: asInes, "refund", "execute", path, "--user", "ines", refund,
      "--gateway-reference", "re_123", "--json")
    #expect(executed.status == 0, "\(executed.errors)")
    let record = try parseJSON(executed.output)
    #expect(
      record["state"] as? String == "executed" && record["gatewayReference"] as? String == "re_123")
    #expect(record["decisionReason"] as? String == "agreed with the client")

    // Billing: completion is refused while the invoice is unpaid, until an override.
    let blocked = vault("project", "complete", path, "--user", "owner", project)
    #expect(blocked.status == 77 && blocked.errors.contains("unpaid invoice"))
    #expect(
      vault(
        "billing", "override", path, "--user", "owner", "--branch", "Main", "--reason", "VIP",
        "--until", "2020-01-01"
      ).status == 65)
    let until = Timestamp.now().day.description
    let overridden = vault(
      "billing", "override", path, "--user", "owner", "--branch", "Main", "--reason", "VIP",
      "--until", until)
    #expect(overridden.status == 0, "\(overridden.errors)")

    // An engagement, ended by the completion, extended afterwards.
    adding["VAULT_NEW_USER_PASSWORD"] = "the vendor's password, long"
    #expect(
      vault(
        environment: adding, "user", "add", path, "--user", "owner", "--name", "lens", "--role",
        "vendor"
      ).status == 0)
    let users = vault("list", path, "--user", "owner", "--collection", "users", "--json").output
    let vendorID = try #require(
      try users.split(separator: "\n").map { try parseJSON(String($0)) }.first {
        $0["name"] as? String == "lens"
      }?["id"] as? String)
    let engagement = try importOne(
      "engagements",
      #"{"vendor": "\#(vendorID)", "project": "\#(project)", "role": "editor"}"#)
    // The vendor sees the engaged project and its client's name, nothing financial,
    // no audit log.
    let asVendor = [
      "VAULT_PASSPHRASE": cliPassphrase, "VAULT_PASSWORD": "the vendor's password, long",
    ]
    let seen = vault(
      environment: asVendor, "list", path, "--user", "lens", "--collection", "projects", "--json")
    #expect(seen.status == 0 && seen.output.contains("Wedding"), "\(seen.errors)")
    let client = vault(
      environment: asVendor, "get", path, "--user", "lens", "--collection", "clients",
      clients[0].description, "--json")
    #expect(
      try parseJSON(client.output).keys.sorted() == [
        "branch", "createdAt", "displayName", "id", "updatedAt", "version",
      ])
    for collection in ["invoices", "payments", "refunds", "contracts"] {
      let listed = vault(
        environment: asVendor, "list", path, "--user", "lens", "--collection", collection)
      #expect(listed.status == 0 && listed.output.isEmpty, "\(collection)")
    }
    #expect(vault(environment: asVendor, "audit", "list", path, "--user", "lens").status == 77)
    let completed = vault("project", "complete", path, "--user", "owner", project, "--json")
    #expect(completed.status == 0, "\(completed.errors)")
    #expect(try parseJSON(completed.output)["underBillingOverride"] as? Bool == true)
    #expect(
      vault(environment: inesSession, "engagement", "extend", path, engagement, "--until", until)
        .status == 77)
    #expect(
      vault(environment: asVendor, "list", path, "--user", "lens", "--collection", "projects")
        .output.isEmpty)
    #expect(
      vault("engagement", "extend", path, "--user", "owner", engagement, "--until", until).status
        == 0)
    #expect(
      vault(environment: asVendor, "list", path, "--user", "lens", "--collection", "projects")
        .output.contains("Wedding"))
    #expect(vault("billing", "clear", path, "--user", "owner", "--branch", "Main").status == 0)

    // Deletion: not with a session, not under a legal hold, then with the password.
    #expect(vault(environment: inesSession, "project", "delete", path, project).status == 77)
    #expect(
      vault("project", "hold", path, "--user", "owner", project, "--reason", "subpoena").status
        == 0)
    let held = vault("project", "delete", path, "--user", "owner", project)
    #expect(held.status == 77 && held.errors.contains("legal hold"))
    #expect(vault("project", "release", path, "--user", "owner", project).status == 0)
    #expect(vault("project", "delete", path, "--user", "owner", project).status == 0)

    // Only the session `vault login` opened is left; every run's own ended with it.
    let sessions = vault(environment: inesSession, "session", "list", path, "--json").output
    #expect((try parseJSON(sessions)["sessions"] as? [Any])?.count == 1)
    let listed = vault("audit", "list", path, "--user", "owner", "--json").output
    for action in [
      "refundRequested", "refundApproved", "refundExecuted", "billingOverrideSet",
      "billingOverrideCleared", "engagementExtended", "projectDeleted", "deliveredUnderOverride",
      "legalHoldPlaced", "legalHoldReleased",
      "stepUpSucceeded", "sessionRevoked", "accessDenied",
    ] {
      #expect(listed.contains("\"\(action)\""), "\(action)")
    }
    // Before the password is checked, nothing is looked up: an unknown user and a wrong
    // password read alike, whatever the command names.
    let ghost = vault("user", "role", path, "--user", "ghost", "nobody", "staff")
    var wrongPassword = cliSecrets
    wrongPassword["VAULT_PASSWORD"] = "not the owner's password at all"
    let wrong = vault(
      environment: wrongPassword, "user", "role", path, "--user", "owner", "nobody", "staff")
    #expect(ghost.status == 77 && wrong.status == 77 && ghost.errors == wrong.errors)
    #expect(vault(environment: [:], "check", path).status == 0)
  }
}

/// Every command against files that are not vaults, or not whole: a clean error with
/// a contract exit code, never a trap, never success.
@Suite struct HostileFileCommandTests {
  /// Every command that opens a vault, with `P` where the vault's path goes.
  static let commandLines: [[String]] = [
    ["info", "P"], ["info", "P", "--json"], ["check", "P"], ["check", "P", "--json"],
    ["check", "P", "--deep"], ["pages", "P"], ["page", "P", "3"], ["page", "P", "0", "--json"],
    ["stats", "P"], ["stats", "P", "--deep"], ["audit", "verify", "P"],
    ["audit", "checkpoint", "P"],
    ["audit", "list", "P", "--user", "owner"], ["backup", "P", "OUT"],
    ["backup", "P", "OUT", "--incremental-from", "P"], ["restore", "P", "OUT"],
    ["recover", "P", "OUT"],
    ["init", "P", "--owner", "owner"], ["login", "P", "--user", "owner"],
    ["session", "list", "P", "--user", "owner"], ["settings", "show", "P", "--user", "owner"],
    ["branch", "add", "P", "--user", "owner", "North"],
    ["user", "add", "P", "--user", "owner", "--name", "x", "--role", "hq"],
    ["totp", "enroll", "P", "--user", "owner"],
    ["import", "P", "--user", "owner", "--collection", "clients", "IN"],
    [
      "get", "P", "--user", "owner", "--collection", "clients",
      "00000000-0000-0000-0000-000000000001",
    ],
    ["list", "P", "--user", "owner", "--collection", "clients"],
    ["export", "P", "--user", "owner", "--collection", "clients"],
    [
      "refund", "request", "P", "--user", "owner", "--payment",
      "00000000-0000-0000-0000-000000000001",
      "--amount", "100", "--reason", "r",
    ],
    ["project", "complete", "P", "--user", "owner", "00000000-0000-0000-0000-000000000001"],
    [
      "engagement", "extend", "P", "--user", "owner", "00000000-0000-0000-0000-000000000001",
      "--until", "2030-01-01",
    ],
    [
      "billing", "override", "P", "--user", "owner", "--branch", "Main", "--reason", "r",
      "--until", "2030-01-01",
    ],
    [
      "blob", "put", "P", "--user", "owner", "--project", "00000000-0000-0000-0000-000000000001",
      "IN",
    ],
    ["blob", "get", "P", "--user", "owner", "00000000-0000-0000-0000-000000000001"],
    ["blob", "list", "P", "--user", "owner", "--project", "00000000-0000-0000-0000-000000000001"],
    ["key", "rotate", "P", "--user", "owner"], ["key", "passphrase", "P", "--user", "owner"],
    ["erase-client", "P", "--user", "owner", "00000000-0000-0000-0000-000000000001"],
  ]

  @Test(arguments: ["empty", "random", "truncated", "header only", "missing"])
  func everyCommandFailsCleanly(kind: String) throws {
    let dir = TemporaryDirectory()
    let path = dir.file("hostile.vault")
    let input = dir.file("input.jsonl")
    try Data(#"{"displayName": "A"}"#.utf8).write(to: URL(fileURLWithPath: input))
    let seed = testSeed(0x4057_11E)
    var random = SeededGenerator(seed: seed)
    switch kind {
    case "empty":
      FileManager.default.createFile(atPath: path, contents: Data())
    case "random":
      FileManager.default.createFile(atPath: path, contents: Data(random.bytes(64 << 10)))
    case "truncated", "header only":
      let whole = dir.file("whole.vault")
      #expect(vault("init", whole, "--owner", "owner", "--kdf", "interactive").status == 0)
      let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
      // Cut inside the newest commit's last page (the file may run on past it).
      let pages = try parseJSON(vault("info", whole, "--json").output)["pageCount"] as? Int ?? 0
      let keep = kind == "truncated" ? (pages - 1) * 4096 + 100 : 4096
      #expect(keep < bytes.count)
      FileManager.default.createFile(atPath: path, contents: bytes.prefix(keep))
    default:
      break
    }
    // `init` would create the missing file.
    for (index, template) in Self.commandLines.enumerated()
    where kind != "missing" || template[0] != "init" {
      let arguments = template.map {
        switch $0 {
        case "P": path
        case "OUT": dir.file("out-\(index).vault")
        case "IN": input
        default: $0
        }
      }
      let result = vault(
        environment: cliSecrets.merging([
          "VAULT_NEW_PASSPHRASE": "another passphrase, 2026",
          "VAULT_NEW_USER_PASSWORD": "a new user's password, 2026",
        ]) { $1 }, arguments)
      // A file cut inside its newest commit opens like one a crash interrupted: on the
      // commit before (where the owner may not exist yet), and `check` says what is
      // wrong. Files that are no vault at all never succeed.
      let allowed: Set<Int32> =
        switch (kind, template[0]) {
        case (_, "init"): [64]
        case ("missing", _): [66]
        case ("truncated", "check"): [1]
        case ("truncated", _): [0, 65, 74, 77]
        case (_, "check"): [1, 65]
        default: [65, 74]
        }
      #expect(
        allowed.contains(result.status),
        "\(kind) (seed \(seed)): vault \(arguments.joined(separator: " ")) exited \(result.status): \(result.errors)"
      )
      guard result.status > 1 else { continue }
      #expect(result.errors.hasPrefix("vault: error: "), "\(kind): \(arguments)")
      // The message says what is wrong with the file.
      let says: [String] =
        switch (kind, template[0]) {
        case (_, "init"): ["already exists"]
        case ("missing", _): ["no such file"]
        case ("empty", _), ("random", _):
          ["not a StudioVault file", "not a vault", "too short to be a vault"]
        default: []
        }
      #expect(
        says.isEmpty || says.contains { result.errors.contains($0) },
        "\(kind): vault \(template.joined(separator: " ")) said \(result.errors)")
      #expect(!FileManager.default.fileExists(atPath: dir.file("out-\(index).vault")))
    }
  }
}

/// Commands that need the key, given the wrong passphrase; commands a staff member may
/// not run: 77 and a message that says so, and nothing changed.
@Suite struct RefusedCommandTests {
  @Test func aWrongPassphraseIsRefusedByEveryCommandThatNeedsTheKey() throws {
    let dir = TemporaryDirectory()
    let (path, ids) = try initWithClients(dir, count: 3)
    let wrong = ["VAULT_PASSPHRASE": "not the passphrase", "VAULT_PASSWORD": cliPassword]
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    for arguments in [
      ["list", path, "--user", "owner", "--collection", "clients"],
      ["get", path, "--user", "owner", "--collection", "clients", ids[0].description],
      ["export", path, "--user", "owner", "--collection", "clients"],
      ["login", path, "--user", "owner"], ["settings", "show", path, "--user", "owner"],
      ["key", "rotate", path, "--user", "owner"], ["audit", "list", path, "--user", "owner"],
      ["check", path, "--deep"], ["stats", path, "--deep"], ["recover", path, dir.file("r.vault")],
    ] {
      let result = vault(environment: wrong, arguments)
      #expect(result.status == 77, "\(arguments): \(result.status) \(result.errors)")
      #expect(result.errors.contains("passphrase"), "\(arguments): \(result.errors)")
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
  }

  @Test func aStaffMemberIsRefusedWhatTheRoleMayNotDo() throws {
    let dir = TemporaryDirectory()
    let (path, ids) = try initWithClients(dir, count: 3)
    let staffPassword = "the staff member's password, 2026"
    let added = vault(
      environment: cliSecrets.merging(["VAULT_NEW_USER_PASSWORD": staffPassword]) { $1 },
      "user", "add", path, "--user", "owner", "--name", "sam", "--role", "staff", "--branch",
      "Main")
    #expect(added.status == 0, "\(added.errors)")
    let staff = ["VAULT_PASSPHRASE": cliPassphrase, "VAULT_PASSWORD": staffPassword]
    #expect(
      vault(environment: staff, "list", path, "--user", "sam", "--collection", "clients").status
        == 0)
    for arguments in [
      ["export", path, "--user", "sam", "--collection", "clients"],
      ["branch", "add", path, "--user", "sam", "North"],
      ["settings", "set", path, "--user", "sam", "stepUpMinutes=10"],
      ["key", "rotate", path, "--user", "sam"],
      ["erase-client", path, "--user", "sam", ids[0].description],
      ["user", "add", path, "--user", "sam", "--name", "eve", "--role", "owner"],
      ["blob", "purge", path, "--user", "sam"],
    ] {
      let result = vault(
        environment: staff.merging(["VAULT_NEW_USER_PASSWORD": staffPassword]) { $1 }, arguments)
      #expect(result.status == 77, "\(arguments): \(result.status) \(result.errors)")
      #expect(result.errors.hasPrefix("vault: error: "), "\(arguments)")
      #expect(!result.errors.contains(staffPassword))
    }
    // The refusals are in the log.
    let log = vault("audit", "list", path, "--user", "owner", "--json").output
    #expect(log.components(separatedBy: "\"accessDenied\"").count - 1 >= 5)
  }
}
