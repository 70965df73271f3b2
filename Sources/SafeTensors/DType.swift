#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Element types this module reads and writes (the names are safetensors' own dtype strings).
public enum DType: String, Sendable, CaseIterable {
  case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL

  /// Bytes per element.
  public var byteSize: Int {
    switch self {
    case .F64, .I64: 8
    case .F32, .I32: 4
    case .F16, .BF16, .I16: 2
    case .I8, .U8, .BOOL: 1
    }
  }

  /// Position in the Rust crate's `Dtype` enum, which derives `Ord` in increasing alignment;
  /// the writer lays tensors out by this, descending, to match Python's files byte for byte.
  var layoutRank: Int {
    switch self {
    case .BOOL: 0
    case .U8: 1
    case .I8: 2
    case .I16: 3
    case .F16: 4
    case .BF16: 5
    case .I32: 6
    case .F32: 7
    case .F64: 8
    case .I64: 9
    }
  }

  static let supportedList = allCases.map(\.rawValue).joined(separator: ", ")
}

/// Where one tensor lives in a file and how to read it.
public struct TensorInfo: Sendable, Equatable, Hashable {
  public let dtype: DType
  /// Row-major dimensions; `[]` is a scalar.
  public let shape: [Int]
  /// Byte range relative to the start of the data section.
  public let byteRange: Range<Int>

  public init(dtype: DType, shape: [Int], byteRange: Range<Int>) {
    self.dtype = dtype
    self.shape = shape
    self.byteRange = byteRange
  }

  /// Number of elements (validated files guarantee `byteRange.count` is a whole number of them).
  public var elementCount: Int { byteRange.count / dtype.byteSize }
}

/// Byte-wise (UTF-8) order, as Rust sorts `String`s; Swift's `<` compares by Unicode rules instead.
func utf8Less(_ a: String, _ b: String) -> Bool {
  // Over contiguous UTF-8 when possible: the generic UTF8View path is far slower on big headers.
  let fast = a.utf8.withContiguousStorageIfAvailable { x in
    b.utf8.withContiguousStorageIfAvailable { y in
      let common = min(x.count, y.count)
      if common > 0, let p = x.baseAddress, let q = y.baseAddress {
        let order = memcmp(p, q, common)
        if order != 0 { return order < 0 }
      }
      return x.count < y.count
    }
  }
  return (fast ?? nil) ?? a.utf8.lexicographicallyPrecedes(b.utf8)
}

/// Product of `shape` times `elementSize`, or nil on a negative dimension or overflow.
func byteCount(shape: [Int], elementSize: Int) -> Int? {
  var total = elementSize
  for dim in shape {
    guard dim >= 0 else { return nil }
    let (product, overflow) = total.multipliedReportingOverflow(by: dim)
    if overflow { return nil }
    total = product
  }
  return total
}

func render(shape: [Int]) -> String {
  "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
