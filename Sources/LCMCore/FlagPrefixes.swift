import ArgumentParser

/// Python argparse's allow_abbrev for long flags: an unambiguous prefix (`--max_train_step`)
/// stands for its flag, as in the scripts; an ambiguous one and an unknown flag are errors,
/// reported before any other check (all unknown flags in one line).
enum FlagPrefixes {
  /// The long flags a command's help lists (every option line starts with them).
  static func longFlags(of command: ParsableCommand.Type) -> Set<String> {
    var flags: Set<String> = ["--help", "--version"]
    for line in command.helpMessage(columns: 10_000).split(separator: "\n") {
      let text = line.drop { $0 == " " }
      guard text.hasPrefix("--") else { continue }
      for token in text.split(separator: " ") where token.hasPrefix("--") {
        flags.insert(String(token.prefix { $0 != "," && $0 != "=" }))
        break
      }
    }
    return flags
  }

  /// `arguments` with prefixes spelled out; throws for ambiguous or unknown long flags. Stops at
  /// a bare `--`. Values are not inspected beyond their leading `--`.
  static func expand(_ arguments: [String], flags: Set<String>, hint: ((String) -> String?)? = nil) throws -> [String] {
    var out: [String] = []
    var unknown: [String] = []
    var rest = false
    for arg in arguments {
      if rest || !arg.hasPrefix("--") || arg == "--" {
        rest = rest || arg == "--"
        out.append(arg)
        continue
      }
      let name = String(arg.prefix { $0 != "=" }), value = arg.dropFirst(name.count)
      if flags.contains(name) {
        out.append(arg)
        continue
      }
      let matches = flags.filter { $0.hasPrefix(name) }.sorted()
      if matches.count == 1 {
        out.append(matches[0] + value)
      } else if matches.isEmpty {
        unknown.append(name)
        out.append(arg)
      } else {
        throw ValidationError("ambiguous option: \(name) could match \(matches.joined(separator: ", "))")
      }
    }
    if !unknown.isEmpty {
      let hints = Set(unknown.compactMap { hint?($0) }).sorted()
      throw ValidationError((unknown.count == 1 ? "Unknown option '\(unknown[0])'"
        : "Unknown options \(unknown.map { "'\($0)'" }.joined(separator: ", "))") + hints.map { ": \($0)" }.joined())
    }
    return out
  }
}
