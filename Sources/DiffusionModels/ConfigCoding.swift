import Foundation

/// A model config that is one Codable round trip with diffusers' / transformers' config.json:
/// encoding writes every key the model is built from (`jsonObject`), decoding reads them back
/// through the same validating reader as a file (`init(reader:)`), so what is saved is what
/// loads, and nothing is kept in a second, hand-written key list.
public protocol DiffusersConfig: Codable, Sendable {
  var jsonObject: [String: Any] { get }
  init(reader: ConfigReader) throws
}

extension DiffusersConfig {
  public func encode(to encoder: Encoder) throws {
    try JSONValue(any: jsonObject).encode(to: encoder)
  }

  public init(from decoder: Decoder) throws {
    guard case .object(let object) = try JSONValue(from: decoder) else {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "a config is a JSON object"))
    }
    try self.init(reader: ConfigReader(file: "<decoded config>", values: object.mapValues(\.any)))
  }

  /// config.json as save_pretrained writes it (sorted keys, indented).
  public func jsonData() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return try encoder.encode(self)
  }
}

extension UNet2DConditionConfig: DiffusersConfig {}
extension AutoencoderKLConfig: DiffusersConfig {}
extension CLIPTextConfig: DiffusersConfig {}

/// A JSON value, to carry config dictionaries through Codable.
enum JSONValue: Codable, Equatable {
  case null, bool(Bool), int(Int), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

  init(any value: Any) throws {
    switch value {
    case is NSNull: self = .null
    case let v as Bool where type(of: value) == Bool.self: self = .bool(v)
    case let v as Int: self = .int(v)
    case let v as Double: self = .double(v)
    case let v as NSNumber:  // from JSONSerialization: its type code tells doubles apart
      let code = String(cString: v.objCType)
      self = code == "d" || code == "f" ? .double(v.doubleValue) : .int(v.intValue)
    case let v as String: self = .string(v)
    case let v as [Any]: self = .array(try v.map(JSONValue.init(any:)))
    case let v as [String: Any]: self = .object(try v.mapValues(JSONValue.init(any:)))
    default: throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "not a JSON value: \(type(of: value))"))
    }
  }

  var any: Any {
    switch self {
    case .null: NSNull()
    case .bool(let v): v
    case .int(let v): v
    case .double(let v): v
    case .string(let v): v
    case .array(let v): v.map(\.any)
    case .object(let v): v.mapValues(\.any)
    }
  }

  init(from decoder: Decoder) throws {
    let c = try decoder.singleValueContainer()
    if c.decodeNil() { self = .null }
    else if let v = try? c.decode(Bool.self) { self = .bool(v) }
    else if let v = try? c.decode(Int.self) { self = .int(v) }
    else if let v = try? c.decode(Double.self) { self = .double(v) }
    else if let v = try? c.decode(String.self) { self = .string(v) }
    else if let v = try? c.decode([JSONValue].self) { self = .array(v) }
    else { self = .object(try c.decode([String: JSONValue].self)) }
  }

  func encode(to encoder: Encoder) throws {
    var c = encoder.singleValueContainer()
    switch self {
    case .null: try c.encodeNil()
    case .bool(let v): try c.encode(v)
    case .int(let v): try c.encode(v)
    case .double(let v): try c.encode(v)
    case .string(let v): try c.encode(v)
    case .array(let v): try c.encode(v)
    case .object(let v): try c.encode(v)
    }
  }
}
