import Foundation

/// A config.json that cannot be used: names the file and key.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
  public let file: String
  public let message: String

  public init(_ file: String, _ message: String) {
    self.file = file
    self.message = message
  }

  public var description: String { "\(file): \(message)" }
}

/// Typed access to a diffusers/transformers config.json, with the Python defaults given at each
/// read, and errors for values the project does not implement.
public struct ConfigReader {
  public let file: String
  let values: [String: Any]
  /// Prepended to keys in error messages, for a nested object (e.g. "text_config.").
  let keyPrefix: String

  public init(file: String, values: [String: Any], keyPrefix: String = "") {
    self.file = file
    self.values = values
    self.keyPrefix = keyPrefix
  }

  public init(path: String) throws {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ConfigError(path, "cannot read the file")
    }
    guard let object = try? JSONSerialization.jsonObject(with: data), let dict = object as? [String: Any] else {
      throw ConfigError(path, "not a JSON object")
    }
    self.init(file: path, values: dict)
  }

  func isNull(_ key: String) -> Bool { values[key] == nil || values[key] is NSNull }

  public func int(_ key: String, _ fallback: Int) throws -> Int {
    try optionalInt(key) ?? fallback
  }

  public func optionalInt(_ key: String) throws -> Int? {
    if isNull(key) { return nil }
    if let n = values[key] as? NSNumber, let i = Self.exactInt(n) { return i }
    throw ConfigError(file, "\(name(key)) must be an integer, got \(Self.show(values[key]!))")
  }

  /// An integer in `range` (the default when absent or null, which is not checked).
  public func int(_ key: String, _ fallback: Int, in range: ClosedRange<Int>) throws -> Int {
    guard let value = try optionalInt(key, in: range) else { return fallback }
    return value
  }

  /// An integer in `range`, or nil when absent or null.
  public func optionalInt(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
    guard let value = try optionalInt(key) else { return nil }
    try check(value, in: range, name(key))
    return value
  }

  /// A value that sizes or counts something must lie in its range: a one-line error naming
  /// the file and the field otherwise.
  public func check(_ value: Int, in range: ClosedRange<Int>, _ field: String) throws {
    guard range.contains(value) else {
      throw ConfigError(file, "\(field) = \(value) is out of range (expected \(Self.show(range)))")
    }
  }

  /// A condition between fields; the message names them.
  public func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ConfigError(file, message()) }
  }

  /// The exact integer a JSON number holds, or nil (a fraction, or beyond Int).
  static func exactInt(_ n: NSNumber) -> Int? {
    switch String(cString: n.objCType) {
    case "q", "l", "i", "s", "c": return Int(exactly: n.int64Value)
    case "Q", "L", "I", "S", "C": return Int(exactly: n.uint64Value)
    default: return Int(exactly: n.doubleValue)  // nil for fractions, infinities and |x| ≥ 2^63
    }
  }

  static func show(_ value: Any) -> String {
    if let n = value as? NSNumber { return n.stringValue }
    if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]) {
      let text = String(decoding: data, as: UTF8.self)
      return text.count > 80 ? String(text.prefix(77)) + "..." : text
    }
    return String(describing: value)
  }

  static func show(_ range: ClosedRange<Int>) -> String {
    if range.upperBound == Int.max { return "at least \(range.lowerBound)" }
    return "\(range.lowerBound)...\(range.upperBound)"
  }

  /// A key as the error names it (nested configs: `text_config.hidden_size`).
  func name(_ key: String) -> String { keyPrefix + key }

  public func double(_ key: String, _ fallback: Double) throws -> Double {
    if isNull(key) { return fallback }
    if let n = values[key] as? NSNumber { return n.doubleValue }
    throw ConfigError(file, "\(name(key)) must be a number, got \(Self.show(values[key]!))")
  }

  public func bool(_ key: String, _ fallback: Bool) throws -> Bool {
    if isNull(key) { return fallback }
    if let b = values[key] as? Bool { return b }
    throw ConfigError(file, "\(name(key)) must be true or false, got \(Self.show(values[key]!))")
  }

  public func string(_ key: String) throws -> String? {
    if isNull(key) { return nil }
    if let s = values[key] as? String { return s }
    throw ConfigError(file, "\(name(key)) must be a string, got \(Self.show(values[key]!))")
  }

  public func string(_ key: String, _ fallback: String) throws -> String { try string(key) ?? fallback }

  public func strings(_ key: String, _ fallback: [String]) throws -> [String] {
    if isNull(key) { return fallback }
    if let a = values[key] as? [String] { return a }
    throw ConfigError(file, "\(name(key)) must be a list of strings")
  }

  /// An int or a list of ints (one per block); an int is repeated `count` times.
  public func intOrList(_ key: String, count: Int, _ fallback: Int?) throws -> [Int]? {
    if isNull(key) { return fallback.map { Array(repeating: $0, count: count) } }
    if let n = values[key] as? NSNumber {
      guard let i = Self.exactInt(n) else { throw ConfigError(file, "\(name(key)) must be an integer, got \(n.stringValue)") }
      return Array(repeating: i, count: count)
    }
    if let a = values[key] as? [Any] {
      guard a.count == count else {
        throw ConfigError(file, "\(name(key)) has \(a.count) entries, expected \(count) (one per block)")
      }
      return try a.enumerated().map { i, v in
        guard let n = v as? NSNumber, let value = Self.exactInt(n) else {
          throw ConfigError(file, "\(name(key))[\(i)] must be an integer, got \(Self.show(v))")
        }
        return value
      }
    }
    throw ConfigError(file, "\(name(key)) must be an integer or a list of \(count) integers")
  }

  /// intOrList with every entry that `isUsed(index)` checked to lie in `range` (entries of
  /// blocks that ignore the field may hold anything, as in diffusers).
  public func intOrList(
    _ key: String, count: Int, _ fallback: Int, in range: ClosedRange<Int>, where isUsed: (Int) -> Bool = { _ in true }
  ) throws -> [Int] {
    let list = try intOrList(key, count: count, fallback)!
    let single = values[key] is NSNumber || isNull(key)
    for (i, v) in list.enumerated() where isUsed(i) {
      try check(v, in: range, single ? name(key) : "\(name(key))[\(i)]")
    }
    return list
  }

  /// A list of integers, each in `range`, with a length in `lengths`.
  public func ints(_ key: String, _ fallback: [Int], lengths: ClosedRange<Int>, in range: ClosedRange<Int>) throws -> [Int] {
    if isNull(key) { return fallback }
    guard let a = values[key] as? [Any] else { throw ConfigError(file, "\(name(key)) must be a list of integers") }
    try check(a.count, in: lengths, "the length of \(name(key))")
    return try a.enumerated().map { i, v in
      guard let n = v as? NSNumber, let value = Self.exactInt(n) else {
        throw ConfigError(file, "\(name(key))[\(i)] must be an integer, got \(Self.show(v))")
      }
      try check(value, in: range, "\(name(key))[\(i)]")
      return value
    }
  }

  /// A number that divides something: finite and not zero.
  public func divisor(_ key: String, _ fallback: Double) throws -> Double {
    let value = try double(key, fallback)
    guard value.isFinite, value != 0 else {
      throw ConfigError(file, "\(name(key)) = \(value) cannot be used (a nonzero number divides by it)")
    }
    return value
  }

  /// A key the project does not implement: only its default (or null) is accepted.
  public func unsupported(_ key: String, allowed: [AnyHashable?] = [nil]) throws {
    let value: AnyHashable? = isNull(key) ? nil : (values[key] as? AnyHashable)
    if allowed.contains(where: { $0 == value }) { return }
    if let n = value as? NSNumber, allowed.contains(where: { ($0 as? NSNumber) == n }) { return }
    throw ConfigError(file, "\(name(key)) = \(Self.show(values[key]!)) is not supported by swift-lcm")
  }

  /// The raw JSON object (for saving configs back).
  public var raw: [String: Any] { values }
}

/// Bounds on config values that size tensors, count layers or divide: far above any released
/// model, and low enough that no size computed from them overflows an Int.
public enum ConfigLimits {
  /// Channels, hidden sizes, embedding and projection dimensions.
  public static let width = 1 << 20
  /// Token vocabularies.
  public static let vocabulary = 1 << 24
  /// Repeat counts: resnets per block, transformer blocks, encoder layers.
  public static let layers = 1 << 10
  /// Down/up blocks (each halves or doubles the resolution).
  public static let blocks = 16
  /// sample_size, in latent (UNet) or image (VAE) pixels.
  public static let sampleSize = 1 << 16
  /// Convolution kernels (odd, so that "same" padding exists).
  public static let kernel = 31
  /// Convolution padding.
  public static let padding = 1 << 10
  /// Token positions.
  public static let positions = 1 << 20
}
