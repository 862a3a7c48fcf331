import VaultCore
import VaultCrypto
import VaultFormat

/// The result of ``Checker/check(path:)``.
package struct CheckReport: Sendable {
  package var pagesChecked = 0
  package var problems: [CheckProblem] = []
  /// The commit that was checked, when the vault could be opened.
  package var transaction: TransactionID?
  package var ok: Bool { problems.isEmpty }
}

/// `vault check`: verifies a vault and lists every problem. Without a key it verifies
/// what a keyless reader can (checksums, identities, links, page counts); with one it
/// also authenticates and decodes every page.
package enum Checker {
  /// Checks the header copies, both meta pages, every page reachable from the newest
  /// intact commit (checksum, identity, type, owner, structure, key order) and the
  /// free-page accounting. Goes on past damaged pages.
  ///
  /// Runs beside a live writer: it reads a snapshot like any reader, takes no write
  /// lock, and only judges meta pages a writer might be rewriting when no other process
  /// has the vault open.
  package static func check(
    path: String, credential: VaultCredential? = nil,
    progress: (_ done: Int, _ total: UInt64) -> Void = { _, _ in }
  ) -> CheckReport {
    var report = CheckReport()
    let store: VaultStore
    do throws(VaultError) {
      store = try VaultStore.open(
        at: path, credential: credential, options: .init(readOnly: true))
    } catch {
      let kind =
        switch error.code {
        case .notAVault: "notAVault"
        case .wrongPassphrase: "wrongPassphrase"
        default: "open"
        }
      report.problems.append(CheckProblem(error, kind: kind))
      return report
    }
    report.pagesChecked += 2
    for problem in store.headerProblems {
      report.problems.append(CheckProblem(problem, kind: "header"))
    }
    report.problems += store.recoveryProblems.map { CheckProblem($0, kind: "meta") }
    do throws(VaultError) {
      let snapshot = try store.makeSnapshot()
      defer { snapshot.close() }
      report.transaction = snapshot.meta.transaction
      report.pagesChecked += 2
      if store.lock.isFirstOpener {
        let other = FileFormat.metaPage(for: snapshot.meta.transaction.next)
        do throws(VaultError) {
          _ = try store.reader.readMetaSlot(other, vaultID: store.header.vaultID)
        } catch {
          if !store.recoveryProblems.contains(where: { $0.page == other.rawValue }) {
            report.problems.append(CheckProblem(error, kind: "meta"))
          }
        }
      }
      let total = snapshot.meta.pageCount
      let inspection = Inspection(snapshot: snapshot) { progress($0, total) }
      report.pagesChecked += inspection.pagesChecked
      report.problems += inspection.problems
      let fileSize = (try? store.file.size()) ?? 0
      if fileSize < snapshot.meta.pageCount * UInt64(store.pageSize) {
        report.problems.append(
          CheckProblem(
            page: nil, kind: "truncated",
            detail: "file has \(fileSize) bytes, the vault needs \(snapshot.meta.pageCount) pages"))
      }
    } catch {
      report.problems.append(CheckProblem(error))
    }
    return report
  }
}
