/// The one error type of this module: which file, and what is wrong with it.
///
/// `description` is always a single line, `<file name>: <problem>`, e.g.
/// `model.safetensors: header length 104857600 exceeds the 100000000-byte limit`.
public struct SafeTensorsError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The path of the file the problem is in, as the caller gave it.
  public let path: String
  /// What is wrong, one line, without the file name.
  public let problem: String

  init(_ path: String, _ problem: String) {
    self.path = path
    // Untrusted text (tensor names, JSON snippets) can carry newlines; keep the message one line.
    self.problem = oneLine(problem)
  }

  /// The last path component, or the whole path when it has none.
  public var fileName: String {
    let name = path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init)
    return oneLine(name ?? (path.isEmpty ? "<memory>" : path))
  }

  public var description: String { "\(fileName): \(problem)" }
}

/// Escapes control and line-breaking characters so a message stays on one line.
func oneLine(_ text: String) -> String {
  var out = ""
  out.reserveCapacity(text.utf8.count)
  for scalar in text.unicodeScalars {
    switch scalar.value {
    case 0x0A: out += "\\n"
    case 0x0D: out += "\\r"
    case 0x09: out += "\\t"
    case 0..<0x20, 0x7F, 0x85, 0x2028, 0x2029:
      out += "\\u{" + String(scalar.value, radix: 16) + "}"
    default: out.unicodeScalars.append(scalar)
    }
  }
  return out
}

/// Quotes an untrusted name for a message: one line, and cut short when very long.
func quoted(_ text: String, limit: Int = 120) -> String {
  let shown = text.count > limit ? String(text.prefix(limit)) + "…" : text
  return "'" + oneLine(shown) + "'"
}
