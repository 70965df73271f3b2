/// A small strict JSON (RFC 8259) reader and writer for headers and index files.
///
/// Hand-written rather than Foundation's so that untrusted input gets exact rules: integers
/// keep their text (no silent Double/Bool coercion), duplicate keys stay visible, nesting is
/// capped (no stack overflow), and every failure is an error with a byte offset, never a trap.
enum JSONValue {
  case object([JSONMember])
  case array([JSONValue])
  case string(String)
  /// The number's literal text, validated against the JSON grammar.
  case number(String)
  case bool(Bool)
  case null

  /// "an object", "a number", ... for error messages.
  var kindName: String {
    switch self {
    case .object: "an object"
    case .array: "an array"
    case .string: "a string"
    case .number: "a number"
    case .bool: "a boolean"
    case .null: "null"
    }
  }

  /// The value as a non-negative `Int`, if it is a plain integer literal that fits.
  var nonNegativeInt: Int? {
    guard case .number(let text) = self, !text.isEmpty,
      text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
    else { return nil }
    return Int(text)
  }

  /// Short rendering for error messages.
  var snippet: String {
    switch self {
    case .string(let s): quoted(s, limit: 40)
    case .number(let n): n.count > 24 ? String(n.prefix(24)) + "…" : n
    case .bool(let b): b ? "true" : "false"
    case .null: "null"
    case .object: "{…}"
    case .array(let items):
      "[" + items.prefix(8).map(\.snippet).joined(separator: ", ") + (items.count > 8 ? ", …]" : "]")
    }
  }
}

/// One `"key": value` pair; objects keep their order and any duplicate keys.
struct JSONMember {
  var key: String
  var value: JSONValue
}

struct JSONSyntaxError: Error {
  var message: String
  var offset: Int
}

struct JSONParser {
  /// Far deeper than any header or index needs, far shallower than the stack allows.
  static let maxDepth = 64

  private let bytes: UnsafeRawBufferPointer
  private var pos = 0

  private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  /// Parses exactly one JSON value, surrounded by optional whitespace.
  static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONValue {
    var parser = JSONParser(bytes)
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 0)
    parser.skipWhitespace()
    if parser.pos < bytes.count {
      throw parser.error("unexpected \(parser.describeCurrent()) after the JSON value")
    }
    return value
  }

  private func error(_ message: String) -> JSONSyntaxError {
    JSONSyntaxError(message: message, offset: pos)
  }

  private func describeCurrent() -> String {
    guard pos < bytes.count else { return "end of input" }
    let byte = bytes[pos]
    if byte >= 0x21 && byte < 0x7F { return "character '\(Character(Unicode.Scalar(byte)))'" }
    return "byte 0x" + String(byte, radix: 16, uppercase: true)
  }

  private mutating func skipWhitespace() {
    while pos < bytes.count {
      switch bytes[pos] {
      case 0x20, 0x09, 0x0A, 0x0D: pos += 1
      default: return
      }
    }
  }

  private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONSyntaxError) {
    guard pos < bytes.count, bytes[pos] == byte else {
      throw error("expected \(what), found \(describeCurrent())")
    }
    pos += 1
  }

  private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    guard pos < bytes.count else { throw error("unexpected end of input") }
    switch bytes[pos] {
    case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
    case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
    case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
    case UInt8(ascii: "n"): try parseLiteral("null"); return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
    default: throw error("unexpected \(describeCurrent())")
    }
  }

  private mutating func parseLiteral(_ word: StaticString) throws(JSONSyntaxError) {
    let count = word.utf8CodeUnitCount
    guard bytes.count - pos >= count,
      (0..<count).allSatisfy({ bytes[pos + $0] == word.utf8Start[$0] })
    else { throw error("unexpected \(describeCurrent())") }
    pos += count
  }

  private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    guard depth <= Self.maxDepth else { throw error("JSON nested deeper than \(Self.maxDepth) levels") }
    pos += 1  // "{"
    var members: [JSONMember] = []
    skipWhitespace()
    if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
      pos += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else {
        throw error("expected a string key, found \(describeCurrent())")
      }
      let key = try parseString()
      skipWhitespace()
      try expect(UInt8(ascii: ":"), "':'")
      skipWhitespace()
      let value = try parseValue(depth: depth)
      members.append(JSONMember(key: key, value: value))
      skipWhitespace()
      guard pos < bytes.count else { throw error("unterminated object") }
      if bytes[pos] == UInt8(ascii: ",") {
        pos += 1
      } else if bytes[pos] == UInt8(ascii: "}") {
        pos += 1
        return .object(members)
      } else {
        throw error("expected ',' or '}', found \(describeCurrent())")
      }
    }
  }

  private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    guard depth <= Self.maxDepth else { throw error("JSON nested deeper than \(Self.maxDepth) levels") }
    pos += 1  // "["
    var items: [JSONValue] = []
    skipWhitespace()
    if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
      pos += 1
      return .array(items)
    }
    while true {
      skipWhitespace()
      items.append(try parseValue(depth: depth))
      skipWhitespace()
      guard pos < bytes.count else { throw error("unterminated array") }
      if bytes[pos] == UInt8(ascii: ",") {
        pos += 1
      } else if bytes[pos] == UInt8(ascii: "]") {
        pos += 1
        return .array(items)
      } else {
        throw error("expected ',' or ']', found \(describeCurrent())")
      }
    }
  }

  private mutating func parseDigits() throws(JSONSyntaxError) {
    let start = pos
    while pos < bytes.count, bytes[pos] >= UInt8(ascii: "0"), bytes[pos] <= UInt8(ascii: "9") { pos += 1 }
    if pos == start { throw error("expected a digit, found \(describeCurrent())") }
  }

  private mutating func parseNumber() throws(JSONSyntaxError) -> String {
    let start = pos
    if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
    if pos < bytes.count, bytes[pos] == UInt8(ascii: "0") {
      pos += 1  // no leading zeros
    } else {
      try parseDigits()
    }
    if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
      pos += 1
      try parseDigits()
    }
    if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
      pos += 1
      if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
      try parseDigits()
    }
    return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
  }

  private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
    guard bytes.count - pos >= 4 else { throw error("truncated \\u escape") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let b = bytes[pos]
      let digit: UInt8
      switch b {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
      default: throw error("invalid \\u escape")
      }
      value = value << 4 | UInt32(digit)
      pos += 1
    }
    return value
  }

  private mutating func parseString() throws(JSONSyntaxError) -> String {
    pos += 1  // opening quote
    let start = pos
    var buffer: [UInt8] = []  // only filled once an escape shows up
    var escaped = false
    while true {
      guard pos < bytes.count else { throw error("unterminated string") }
      let byte = bytes[pos]
      if byte == UInt8(ascii: "\"") {
        let end = pos
        pos += 1
        let decoded: String?
        if escaped {
          decoded = String(validating: buffer, as: UTF8.self)
        } else {
          decoded = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
        guard let decoded else {
          pos = start
          throw error("string is not valid UTF-8")
        }
        return decoded
      }
      if byte < 0x20 { throw error("unescaped control character in string") }
      if byte != UInt8(ascii: "\\") {
        if escaped { buffer.append(byte) }
        pos += 1
        continue
      }
      if !escaped {
        buffer = Array(bytes[start..<pos])
        escaped = true
      }
      pos += 1
      guard pos < bytes.count else { throw error("unterminated string") }
      let escape = bytes[pos]
      pos += 1
      switch escape {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(escape)
      case UInt8(ascii: "b"): buffer.append(0x08)
      case UInt8(ascii: "f"): buffer.append(0x0C)
      case UInt8(ascii: "n"): buffer.append(0x0A)
      case UInt8(ascii: "r"): buffer.append(0x0D)
      case UInt8(ascii: "t"): buffer.append(0x09)
      case UInt8(ascii: "u"):
        var code = try parseHex4()
        if (0xD800..<0xDC00).contains(code) {
          guard bytes.count - pos >= 2, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u")
          else { throw error("unpaired surrogate in \\u escape") }
          pos += 2
          let low = try parseHex4()
          guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(code) {
          throw error("unpaired surrogate in \\u escape")
        }
        guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
        buffer.append(contentsOf: String(Character(scalar)).utf8)
      default:
        pos -= 2
        throw error("invalid escape sequence in string")
      }
    }
  }
}

// MARK: - Writing

enum JSONWriter {
  /// Appends `text` as a JSON string literal, escaping exactly as serde_json does (so headers
  /// match Python's byte for byte): `"` `\` and control characters; everything else raw UTF-8.
  static func appendString(_ text: String, to out: inout [UInt8]) {
    let hex = Array("0123456789abcdef".utf8)
    out.append(UInt8(ascii: "\""))
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
      case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
      case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
      case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
      case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
      case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
      case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
      case 0..<0x20:
        out += Array("\\u00".utf8)
        out += [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
      default: out.append(byte)
      }
    }
    out.append(UInt8(ascii: "\""))
  }

  /// Compact JSON text of a parsed value (used to keep nested index metadata as a string).
  static func text(of value: JSONValue) -> String {
    var out: [UInt8] = []
    append(value, to: &out)
    return String(decoding: out, as: UTF8.self)
  }

  private static func append(_ value: JSONValue, to out: inout [UInt8]) {
    switch value {
    case .string(let s): appendString(s, to: &out)
    case .number(let n): out += Array(n.utf8)
    case .bool(let b): out += Array((b ? "true" : "false").utf8)
    case .null: out += Array("null".utf8)
    case .array(let items):
      out.append(UInt8(ascii: "["))
      for (i, item) in items.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        append(item, to: &out)
      }
      out.append(UInt8(ascii: "]"))
    case .object(let members):
      out.append(UInt8(ascii: "{"))
      for (i, member) in members.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        appendString(member.key, to: &out)
        out.append(UInt8(ascii: ":"))
        append(member.value, to: &out)
      }
      out.append(UInt8(ascii: "}"))
    }
  }
}
