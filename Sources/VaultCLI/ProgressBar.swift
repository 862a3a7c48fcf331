/// A one-line progress bar on standard error, drawn only when standard error is a
/// terminal: long work shows it is alive, and pipes and logs stay clean.
final class ProgressBar {
  private let console: any Console
  private let label: String
  private var drawn = false

  init(console: any Console, label: String) {
    self.console = console
    self.label = label
  }

  func update(_ done: Int, of total: UInt64) {
    guard console.isErrorTerminal, total > 0 else { return }
    let fraction = min(1, Double(done) / Double(total))
    let width = 30
    let filled = Int(fraction * Double(width))
    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
    console.writeError("\r\(label) [\(bar)] \(Int(fraction * 100))%")
    drawn = true
  }

  /// Clears the line, so that what follows starts at the left margin.
  func finish() {
    guard drawn else { return }
    console.writeError("\r" + String(repeating: " ", count: label.count + 40) + "\r")
  }
}
