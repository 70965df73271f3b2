#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// `lcm`: answers --version and --help from the generated HelpTexts (no libtorch is loaded, so
// they take milliseconds), and runs every other command in `lcm-core` beside this binary.

let arguments = Array(CommandLine.arguments.dropFirst())

/// The help a request asks for: `--help`/`-h` after a (possibly empty) chain of subcommand
/// names, or `help <subcommands>`; nil for anything else.
func requestedHelp(_ args: [String]) -> String? {
  if args == ["--version"] { return HelpTexts.version }
  if args.first == "help" { return HelpTexts.commands[args.dropFirst().joined(separator: " ")] }
  guard let flag = args.firstIndex(where: { $0 == "--help" || $0 == "-h" }),
    !args[..<flag].contains("--")
  else { return nil }
  var path: [String] = []
  for word in args[..<flag] {
    guard HelpTexts.commands[(path + [word]).joined(separator: " ")] != nil else { break }
    path.append(word)
  }
  return HelpTexts.commands[path.joined(separator: " ")]
}

if let text = requestedHelp(arguments) {
  print(text)
  exit(0)
}

/// lcm-core in this binary's folder (symbolic links to `lcm` are followed first).
func corePath() -> String {
  var buffer = [CChar](repeating: 0, count: 4096)
  let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
  var me = n > 0 ? String(cString: buffer) : CommandLine.arguments[0]
  if n <= 0, let resolved = realpath(me, nil) {
    me = String(cString: resolved)
    free(resolved)
  }
  let dir = me.lastIndex(of: "/").map { String(me[..<$0]) } ?? "."
  return dir + "/lcm-core"
}

let core = corePath()
var argv: [UnsafeMutablePointer<CChar>?] = ([core] + arguments).map { strdup($0) } + [nil]
execv(core, &argv)
let reason = String(cString: strerror(errno))
let message = "Error: cannot run \(core): \(reason) (build it with `swift build --product lcm-core`, beside lcm)\n"
_ = message.withCString { write(2, $0, strlen($0)) }
exit(127)
