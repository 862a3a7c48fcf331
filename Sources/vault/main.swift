import Glibc
import VaultCLI

// Flush stdout even when it is a pipe and the process exits right away.
let status = CommandLineTool.run(
  Array(CommandLine.arguments.dropFirst()), console: StandardConsole())

exit(status)
