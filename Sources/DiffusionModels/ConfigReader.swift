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

  public init(file: String, values: [String: Any]) {
    self.file = file
    self.values = values
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
    if let n = values[key] as? NSNumber, n.doubleValue == n.doubleValue.rounded() {
      return n.intValue
    }
    throw ConfigError(file, "\(key) must be an integer, got \(String(describing: values[key]!))")
  }

  public func double(_ key: String, _ fallback: Double) throws -> Double {
    if isNull(key) { return fallback }
    if let n = values[key] as? NSNumber { return n.doubleValue }
    throw ConfigError(file, "\(key) must be a number, got \(String(describing: values[key]!))")
  }

  public func bool(_ key: String, _ fallback: Bool) throws -> Bool {
    if isNull(key) { return fallback }
    if let b = values[key] as? Bool { return b }
    throw ConfigError(file, "\(key) must be true or false, got \(String(describing: values[key]!))")
  }

  public func string(_ key: String) throws -> String? {
    if isNull(key) { return nil }
    if let s = values[key] as? String { return s }
    throw ConfigError(file, "\(key) must be a string, got \(String(describing: values[key]!))")
  }

  public func string(_ key: String, _ fallback: String) throws -> String { try string(key) ?? fallback }

  public func strings(_ key: String, _ fallback: [String]) throws -> [String] {
    if isNull(key) { return fallback }
    if let a = values[key] as? [String] { return a }
    throw ConfigError(file, "\(key) must be a list of strings")
  }

  /// An int or a list of ints (one per block); an int is repeated `count` times.
  public func intOrList(_ key: String, count: Int, _ fallback: Int?) throws -> [Int]? {
    if isNull(key) { return fallback.map { Array(repeating: $0, count: count) } }
    if let n = values[key] as? NSNumber { return Array(repeating: n.intValue, count: count) }
    if let a = values[key] as? [NSNumber] {
      guard a.count == count else {
        throw ConfigError(file, "\(key) has \(a.count) entries, expected \(count) (one per block)")
      }
      return a.map(\.intValue)
    }
    throw ConfigError(file, "\(key) must be an integer or a list of \(count) integers")
  }

  /// A key the project does not implement: only its default (or null) is accepted.
  public func unsupported(_ key: String, allowed: [AnyHashable?] = [nil]) throws {
    let value: AnyHashable? = isNull(key) ? nil : (values[key] as? AnyHashable)
    if allowed.contains(where: { $0 == value }) { return }
    if let n = value as? NSNumber, allowed.contains(where: { ($0 as? NSNumber) == n }) { return }
    throw ConfigError(file, "\(key) = \(String(describing: values[key]!)) is not supported by swift-lcm")
  }

  /// The raw JSON object (for saving configs back).
  public var raw: [String: Any] { values }
}
