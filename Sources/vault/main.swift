import Glibc
import VaultCLI

// A reader that goes away (`vault blob get … | head`) makes writes fail with EPIPE, which
// the command reports, instead of killing it with a signal.
signal(SIGPIPE, SIG_IGN)
// Flush stdout even when it is a pipe and the process exits right away.
let status = CommandLineTool.run(
  Array(CommandLine.arguments.dropFirst()), console: StandardConsole())

exit(status)
