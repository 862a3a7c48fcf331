import Foundation
import Glibc

/// The machine a run measured, for the report: results from another machine do not
/// compare.
func machineDescription() -> [String: Any] {
  func firstLine(of path: String, starting prefix: String) -> String? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.map {
      String($0.dropFirst(prefix.count)).trimmingCharacters(
        in: .whitespaces.union(.init(charactersIn: ":")))
    }
  }
  var names = utsname()
  uname(&names)
  let release = withUnsafeBytes(of: &names.release) {
    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
  }
  return [
    "cpu": firstLine(of: "/proc/cpuinfo", starting: "model name") ?? "unknown",
    "cores": sysconf(Int32(_SC_NPROCESSORS_ONLN)),
    "memory": firstLine(of: "/proc/meminfo", starting: "MemTotal") ?? "unknown",
    "kernel": "Linux " + release,
    "date": ISO8601DateFormatter().string(from: Date()),
  ]
}

/// `vault-bench --report RESULTS.json BENCHMARKS.md CHART.svg`: renders a `--json`
/// document as a Markdown report (the machine, then a table of the vault, its peers
/// and limits, each ratio against its target, met or not) and an SVG bar chart of the
/// ratios, drawn here, each bar as a fraction of its target.
enum Report {
  struct Row {
    var id: String
    var title: String
    var unit: String
    var vault: Double
    var figures: [String: Double]
    /// Each judged comparison: against what, the ratio, the target, met.
    var judged: [(against: String, ratio: Double, target: Double, met: Bool)]
    var ceiling: Double?
    var met: Bool?
  }

  static func render(results: String, markdown: String, chart: String) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: results))
    guard let document = try JSONSerialization.jsonObject(with: data) as? [String: Any],
      let workloads = document["workloads"] as? [[String: Any]]
    else { throw SQLiteError(description: "\(results) is not a vault-bench --json document") }
    let rows = workloads.map(row)
    let machine = document["machine"] as? [String: Any] ?? [:]
    try markdownReport(rows, machine: machine, chartName: (chart as NSString).lastPathComponent)
      .write(toFile: markdown, atomically: true, encoding: .utf8)
    try svgChart(rows).write(toFile: chart, atomically: true, encoding: .utf8)
  }

  static func row(_ entry: [String: Any]) -> Row {
    func median(_ key: String) -> Double? { (entry[key] as? [String: Any])?["median"] as? Double }
    var figures: [String: Double] = [:]
    for key in ["sqlite", "sqlcipher", "no-handle", "limit"] {
      if let value = median(key) { figures[key] = value }
    }
    let judged = (entry["comparisons"] as? [[String: Any]] ?? []).compactMap {
      comparison -> (String, Double, Double, Bool)? in
      guard let target = comparison["target"] as? Double, let ratio = comparison["ratio"] as? Double
      else { return nil }
      return (
        comparison["peer"] as? String ?? "?", ratio, target, comparison["met"] as? Bool ?? false
      )
    }
    return Row(
      id: entry["id"] as? String ?? "?", title: entry["title"] as? String ?? "",
      unit: entry["unit"] as? String ?? "", vault: median("vault") ?? 0, figures: figures,
      judged: judged.map { (against: $0.0, ratio: $0.1, target: $0.2, met: $0.3) },
      ceiling: entry["ceiling"] as? Double, met: entry["met"] as? Bool)
  }

  static func number(_ value: Double?) -> String {
    guard let value else { return "" }
    return value >= 100 ? String(Int(value.rounded())) : String(format: "%.3g", value)
  }

  static func markdownReport(_ rows: [Row], machine: [String: Any], chartName: String) -> String {
    var text = """
      # Benchmarks

      Written by `make bench-report` (`Benchmarks/`, workloads and targets of
      ../shared/spec/benchmarks.md): every workload run against StudioVault and its
      peers in one run, alternating, after a warm-up; medians of the samples. Ratios
      are the vault's figure over the peer's (or the limit's): above 1 the vault is
      faster. Where less is better (W4-rss in MiB, W6 in ms) the target is a ceiling.
      The raw document is `Benchmarks/results.json`; the chart is [\(chartName)](Benchmarks/\(chartName)).

      ## Machine

      """
    for key in ["cpu", "cores", "memory", "kernel", "date"] {
      text += "- \(key): \(machine[key].map { "\($0)" } ?? "unknown")\n"
    }
    text += """

      ## Results

      | workload | unit | vault | SQLite | SQLCipher | limit | ratio (target) | met |
      |---|---|---:|---:|---:|---:|---|---|

      """
    for row in rows {
      var ratios = row.judged.map {
        "\($0.against) \(String(format: "%.2f", $0.ratio)) (≥ \(number($0.target)))"
      }
      if let ceiling = row.ceiling { ratios.append("≤ \(number(ceiling)) \(row.unit)") }
      let met = row.met.map { $0 ? "yes" : "**no**" } ?? "(orientation)"
      text +=
        "| \(row.id): \(row.title) | \(row.unit) | \(number(row.vault)) | "
        + "\(number(row.figures["sqlite"])) | \(number(row.figures["sqlcipher"])) | "
        + "\(number(row.figures["limit"] ?? row.figures["no-handle"])) | "
        + "\(ratios.joined(separator: "; ")) | \(met) |\n"
    }
    let judged = rows.filter { $0.met != nil }
    text +=
      "\n\(judged.filter { $0.met == true }.count) of \(judged.count) judged workloads meet "
      + "their targets.\n"
    return text
  }

  /// One bar per judged comparison: the ratio as a fraction of its target (a ceiling
  /// turns around: ceiling / figure), so the target line is at 1 for every bar.
  static func svgChart(_ rows: [Row]) -> String {
    var bars: [(label: String, value: Double, note: String, met: Bool)] = []
    for row in rows {
      for judged in row.judged {
        bars.append(
          (
            "\(row.id) vs \(judged.against)", judged.ratio / judged.target,
            "\(String(format: "%.2f", judged.ratio)) (target \(number(judged.target)))",
            judged.met
          ))
      }
      if let ceiling = row.ceiling, row.vault > 0 {
        bars.append(
          (
            "\(row.id)", ceiling / row.vault,
            "\(number(row.vault)) \(row.unit) (at most \(number(ceiling)))", row.met ?? false
          ))
      }
    }
    func coordinate(_ value: Double) -> String { String(format: "%.1f", value) }
    let width = 900.0
    let left = 190.0
    let barHeight = 18.0
    let gap = 6.0
    let top = 40.0
    let scale = (width - left - 180) / 3  // 3 × target fills the plot
    let height = top + Double(bars.count) * (barHeight + gap) + 30
    var svg = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
      font-family="sans-serif" font-size="12">
      <rect width="100%" height="100%" fill="white"/>
      <text x="\(coordinate(left))" y="20" font-size="14">StudioVault: each figure as a \
      fraction of its target (the dashed line: met exactly; green: met)</text>

      """
    for (index, bar) in bars.enumerated() {
      let y = top + Double(index) * (barHeight + gap)
      let length = min(bar.value, 3) * scale
      let color = bar.met ? "#2e7d32" : "#c62828"
      svg += """
        <text x="\(coordinate(left - 8))" y="\(coordinate(y + 13))" text-anchor="end">\
        \(escape(bar.label))</text>
        <rect x="\(coordinate(left))" y="\(coordinate(y))" width="\(coordinate(max(length, 1)))" \
        height="\(coordinate(barHeight))" fill="\(color)"/>
        <text x="\(coordinate(left + max(length, 1) + 4))" y="\(coordinate(y + 13))">\
        \(escape(bar.note))</text>

        """
    }
    let targetX = left + scale
    svg += """
      <line x1="\(coordinate(targetX))" y1="\(coordinate(top - 6))" x2="\(coordinate(targetX))" \
      y2="\(coordinate(height - 24))" stroke="black" stroke-dasharray="4 3"/>
      <text x="\(coordinate(targetX))" y="\(coordinate(height - 8))" text-anchor="middle">target</text>
      </svg>

      """
    return svg
  }

  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;")
  }
}
