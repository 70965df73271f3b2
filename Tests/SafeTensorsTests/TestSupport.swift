import Foundation
@_exported import TestSupport
import SafeTensors
import Testing

/// Runs scripts/fixtures/safetensors_roundtrip.py; returns stdout, throws with stderr on failure.
/// A missing interpreter is a test failure, not a skip: interop is a requirement.
func runRoundTripScript(_ arguments: [String]) throws -> Data {
  try runScript("scripts/fixtures/safetensors_roundtrip.py", arguments)
}

// MARK: - Element values

/// Decoded tensor elements: floats widen to Double, integers and bools to Int64, exactly.
enum Values: Equatable, CustomStringConvertible {
  case floats([Double])
  case ints([Int64])

  var description: String {
    switch self {
    case .floats(let v): "floats\(v)"
    case .ints(let v): "ints\(v)"
    }
  }
}

extension DType {
  var isFloatingPoint: Bool { [.F64, .F32, .F16, .BF16].contains(self) }
}

func halfToDouble(_ bits: UInt16) -> Double {
  let sign: Double = bits & 0x8000 != 0 ? -1 : 1
  let exponent = Int(bits >> 10 & 0x1F)
  let fraction = Double(bits & 0x3FF)
  switch exponent {
  case 0: return sign * fraction * 0x1p-24  // subnormal
  case 31: return fraction == 0 ? sign * .infinity : .nan
  default: return sign * (1 + fraction / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
  }
}

/// Decodes little-endian `bytes` of `dtype`.
func decode(_ bytes: UnsafeRawBufferPointer, _ dtype: DType) -> Values {
  let count = bytes.count / dtype.byteSize
  func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
    T(littleEndian: bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
  }
  switch dtype {
  case .F64: return .floats((0..<count).map { Double(bitPattern: load(UInt64.self, $0)) })
  case .F32: return .floats((0..<count).map { Double(Float(bitPattern: load(UInt32.self, $0))) })
  case .F16: return .floats((0..<count).map { halfToDouble(load(UInt16.self, $0)) })
  case .BF16: return .floats((0..<count).map { Double(Float(bitPattern: UInt32(load(UInt16.self, $0)) << 16)) })
  case .I64: return .ints((0..<count).map { load(Int64.self, $0) })
  case .I32: return .ints((0..<count).map { Int64(load(Int32.self, $0)) })
  case .I16: return .ints((0..<count).map { Int64(load(Int16.self, $0)) })
  case .I8: return .ints((0..<count).map { Int64(load(Int8.self, $0)) })
  case .U8, .BOOL: return .ints((0..<count).map { Int64(load(UInt8.self, $0)) })
  }
}

func decode(_ bytes: [UInt8], _ dtype: DType) -> Values {
  bytes.withUnsafeBytes { decode($0, dtype) }
}

func appendLE<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
  withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
}

/// A deterministic tensor of any dtype, with varied bit patterns (signs, subnormals, infinities).
func sampleTensor(_ name: String, _ dtype: DType, _ shape: [Int]) -> TensorToWrite {
  let count = shape.reduce(1, *)
  var bytes: [UInt8] = []
  for i in 0..<count {
    let odd = i % 2 == 1
    switch dtype {
    case .F64: appendLE((i == 1 ? -Double.infinity : Double(i) * 1.37 - 2.5).bitPattern, to: &bytes)
    case .F32: appendLE((i == 1 ? Float.infinity : Float(i) * 0.37 - 1.5).bitPattern, to: &bytes)
    // Masks keep the exponent below all-ones, so no NaN (which would not compare equal).
    case .F16: appendLE(UInt16(truncatingIfNeeded: i &* 2731 &+ 0x3001) & 0x7BFF | (odd ? 0x8000 : 0), to: &bytes)
    case .BF16: appendLE(UInt16(truncatingIfNeeded: i &* 4099 &+ 0x3F01) & 0x7F7F | (odd ? 0x8000 : 0), to: &bytes)
    case .I64: appendLE(Int64(i) * -3_000_000_000_007 + 123, to: &bytes)
    case .I32: appendLE(Int32(truncatingIfNeeded: i &* 97_531 &- 1_000_000), to: &bytes)
    case .I16: appendLE(Int16(truncatingIfNeeded: i &* 4_567 &- 20_000), to: &bytes)
    case .I8: appendLE(Int8(truncatingIfNeeded: i &* 37 &- 100), to: &bytes)
    case .U8: appendLE(UInt8(truncatingIfNeeded: i &* 53 &+ 11), to: &bytes)
    case .BOOL: bytes.append(i % 3 == 0 ? 1 : 0)
    }
  }
  return TensorToWrite(name: name, dtype: dtype, shape: shape, bytes: bytes)
}

/// Builds a raw file image: little-endian header length (or `length`), header text, data.
func rawFile(header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
  rawFile(headerBytes: Array(header.utf8), data: data, length: length)
}

func rawFile(headerBytes: [UInt8], data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
  var bytes: [UInt8] = []
  appendLE(length ?? UInt64(headerBytes.count), to: &bytes)
  return bytes + headerBytes + data
}

/// Runs `body` and returns the `SafeTensorsError` it throws, recording an issue otherwise.
func expectSafeTensorsError(
  sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) -> SafeTensorsError? {
  do {
    try body()
    Issue.record("expected a SafeTensorsError, but nothing was thrown", sourceLocation: sourceLocation)
  } catch let error as SafeTensorsError {
    #expect(!error.description.contains("\n"), "error description spans lines: \(error)", sourceLocation: sourceLocation)
    return error
  } catch {
    Issue.record("expected a SafeTensorsError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
  }
  return nil
}
