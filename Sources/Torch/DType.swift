import CTorch

/// Element types, numbered as the shim numbers them.
public enum DType: Int32, Sendable, CaseIterable, CustomStringConvertible {
  case float32 = 0, float16, bfloat16, float64, int64, int32, uint8, bool, int16, int8

  public var byteSize: Int {
    switch self {
    case .float64, .int64: 8
    case .float32, .int32: 4
    case .float16, .bfloat16, .int16: 2
    case .uint8, .bool, .int8: 1
    }
  }

  public var isFloatingPoint: Bool {
    switch self {
    case .float32, .float16, .bfloat16, .float64: true
    default: false
    }
  }

  /// The name torch prints (`torch.float32` → "float32").
  public var description: String {
    switch self {
    case .float32: "float32"
    case .float16: "float16"
    case .bfloat16: "bfloat16"
    case .float64: "float64"
    case .int64: "int64"
    case .int32: "int32"
    case .uint8: "uint8"
    case .bool: "bool"
    case .int16: "int16"
    case .int8: "int8"
    }
  }

  /// Parses torch/diffusers spellings: "fp16", "float16", "bf16", "fp32", ...
  public init?(name: String) {
    switch name.lowercased() {
    case "float32", "fp32", "float": self = .float32
    case "float16", "fp16", "half": self = .float16
    case "bfloat16", "bf16": self = .bfloat16
    case "float64", "fp64", "double": self = .float64
    case "int64", "long": self = .int64
    case "int32", "int": self = .int32
    case "uint8": self = .uint8
    case "bool": self = .bool
    case "int16": self = .int16
    case "int8": self = .int8
    default: return nil
    }
  }
}

/// Swift types that map one-to-one to a tensor element type.
public protocol TensorElement: Sendable {
  static var dtype: DType { get }
}
extension Float: TensorElement { public static var dtype: DType { .float32 } }
extension Double: TensorElement { public static var dtype: DType { .float64 } }
extension Int64: TensorElement { public static var dtype: DType { .int64 } }
extension Int32: TensorElement { public static var dtype: DType { .int32 } }
extension Int16: TensorElement { public static var dtype: DType { .int16 } }
extension Int8: TensorElement { public static var dtype: DType { .int8 } }
extension UInt8: TensorElement { public static var dtype: DType { .uint8 } }
extension Bool: TensorElement { public static var dtype: DType { .bool } }
