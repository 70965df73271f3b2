import Foundation

/// `--train_shards_path_or_url` as webdataset reads it: split on `::`, `$VAR`/`${VAR}` replaced from
/// the environment (unset names kept, like `os.path.expandvars`), then brace-expanded
/// (`{000..099}` zero-padded, `{a,b}`, `{a..e}`, nested and several groups, like `braceexpand`).
public enum ShardSpec {
  public static func expand(
    _ spec: String, environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws(DataError) -> [String] {
    let parts = spec.components(separatedBy: "::").filter { !$0.isEmpty }.map { expandVariables($0, environment) }
    for part in parts where !balanced(part) {
      throw DataError.badSpec("--train_shards_path_or_url '\(part)': unbalanced braces")
    }
    let urls = parts.flatMap { braceExpand($0) }
    guard !urls.isEmpty else { throw DataError.badSpec("--train_shards_path_or_url '\(spec)' names no shards") }
    return urls
  }

  static func balanced(_ s: String) -> Bool {
    var depth = 0
    var escaped = false
    for c in s {
      if escaped { escaped = false; continue }
      if c == "\\" { escaped = true } else if c == "{" { depth += 1 } else if c == "}" { depth -= 1; if depth < 0 { return false } }
    }
    return depth == 0
  }

  static func expandVariables(_ s: String, _ env: [String: String]) -> String {
    let chars = Array(s)
    var out = ""
    var i = 0
    while i < chars.count {
      if chars[i] == "$", i + 1 < chars.count {
        var j = i + 1
        let braced = chars[j] == "{"
        if braced { j += 1 }
        let start = j
        while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
        let name = String(chars[start..<j])
        let closed = !braced || (j < chars.count && chars[j] == "}")
        if !name.isEmpty, closed, let value = env[name] {
          out += value
          i = braced ? j + 1 : j
          continue
        }
      }
      out.append(chars[i])
      i += 1
    }
    return out
  }

  /// Brace expansion: the first well-formed top-level group is expanded and the rest recursed on.
  public static func braceExpand(_ s: String) -> [String] {
    let chars = Array(s)
    var i = 0
    while i < chars.count {
      if chars[i] == "\\" { i += 2; continue }
      if chars[i] == "{", let close = matchingBrace(chars, i), let options = groupOptions(Array(chars[(i + 1)..<close])) {
        let prefix = String(chars[..<i]), suffix = String(chars[(close + 1)...])
        let tails = braceExpand(suffix)
        return options.flatMap { option in braceExpand(option).flatMap { o in tails.map { prefix + o + $0 } } }
      }
      i += 1
    }
    return [s.replacingOccurrences(of: "\\{", with: "{").replacingOccurrences(of: "\\}", with: "}")]
  }

  static func matchingBrace(_ c: [Character], _ open: Int) -> Int? {
    var depth = 0
    var i = open
    while i < c.count {
      if c[i] == "\\" { i += 2; continue }
      if c[i] == "{" { depth += 1 }
      if c[i] == "}" { depth -= 1; if depth == 0 { return i } }
      i += 1
    }
    return nil
  }

  /// `a,b,c` (top-level commas) or a sequence `x..y[..step]`; nil leaves the braces literal.
  static func groupOptions(_ body: [Character]) -> [String]? {
    var parts: [String] = []
    var depth = 0, start = 0, i = 0
    while i < body.count {
      if body[i] == "\\" { i += 2; continue }
      if body[i] == "{" { depth += 1 }
      if body[i] == "}" { depth -= 1 }
      if body[i] == ",", depth == 0 { parts.append(String(body[start..<i])); start = i + 1 }
      i += 1
    }
    if !parts.isEmpty { return parts + [String(body[start...])] }
    return sequence(String(body))
  }

  static func sequence(_ body: String) -> [String]? {
    let p = body.components(separatedBy: "..")
    guard p.count == 2 || p.count == 3 else { return nil }
    let step = p.count == 3 ? Int(p[2]).map(abs) : 1
    guard let step, step > 0 else { return nil }
    if let a = Int(p[0]), let b = Int(p[1]) {
      // Zero padding when either bound has a leading zero, to the longer bound's width.
      let padded = [p[0], p[1]].contains { $0.count > 1 && ($0.hasPrefix("0") || $0.hasPrefix("-0")) }
      let width = padded ? max(p[0].count, p[1].count) : 0
      let values = a <= b ? Array(stride(from: a, through: b, by: step)) : Array(stride(from: a, through: b, by: -step))
      return values.map { v in
        let digits = String(abs(v))
        let sign = v < 0 ? "-" : ""
        return sign + String(repeating: "0", count: max(0, width - digits.count - sign.count)) + digits
      }
    }
    if p[0].count == 1, p[1].count == 1, let a = p[0].unicodeScalars.first?.value, let b = p[1].unicodeScalars.first?.value,
      p[0].first!.isLetter, p[1].first!.isLetter
    {
      let values = a <= b ? Array(stride(from: a, through: b, by: step)) : Array(stride(from: a, through: b, by: -step))
      return values.compactMap { Unicode.Scalar($0).map { String(Character($0)) } }
    }
    return nil
  }
}
