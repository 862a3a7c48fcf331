import Glibc
import StudioVault
import VaultCore
import VaultStorage

/// A vault file of any bytes, opened as a backup tool or an auditor would, without the
/// key: reading the header and newest commit, verifying the audit log. Any damage must
/// be a `VaultError` or a listed problem, never a trap. Seed it with Format/vectors.
private let directory: String = {
  var template = Array("/tmp/vault-fuzz-XXXXXX".utf8CString)
  guard let made = mkdtemp(&template) else { return "/tmp" }
  return String(cString: made)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
  let path = directory + "/input.vault"
  unlink(path)
  unlink(path + "-lock")
  let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  guard fd >= 0 else { return 0 }
  _ = write(fd, data, size)
  close(fd)
  guard
    let store = try? VaultStore.open(at: path, credential: nil, options: .init(readOnly: true))
  else { return 0 }
  _ = try? store.newestMeta()
  _ = try? AuditVerification.verify(store)
  _ = try? AuditVerification.newestCheckpoint(store)
  return 0
}
