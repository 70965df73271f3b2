import Foundation
import SafeTensors
import Testing

/// What `safetensors_roundtrip.py check FILE` prints.
struct PythonSummary: Decodable {
  struct Tensor: Decodable {
    let dtype: String
    let shape: [Int]
    /// float.hex() strings for float dtypes, decimal strings otherwise.
    let values: [String]
  }
  let metadata: [String: String]
  let reserialized_identical: Bool
  let tensors: [String: Tensor]
}

func pythonCheck(_ path: String) throws -> PythonSummary {
  try JSONDecoder().decode(PythonSummary.self, from: runRoundTripScript(["check", path]))
}

func parsePythonValues(_ strings: [String], _ dtype: DType) -> Values? {
  if dtype.isFloatingPoint {
    let values = strings.compactMap(Double.init)  // Double(String) reads float.hex()'s hex floats
    return values.count == strings.count ? .floats(values) : nil
  }
  let values = strings.compactMap { Int64($0) }
  return values.count == strings.count ? .ints(values) : nil
}

/// Mirrors SPECS in scripts/fixtures/safetensors_roundtrip.py.
let pythonSpecs: [(name: String, dtype: DType, shape: [Int])] = [
  ("f64", .F64, [7]), ("f32.weight", .F32, [3, 4]), ("f16", .F16, [5]), ("bf16", .BF16, [2, 3]),
  ("i64", .I64, [4]), ("i32", .I32, [2, 2]), ("i16", .I16, [3]), ("i8", .I8, [6]), ("u8", .U8, [2, 5]),
  ("bool", .BOOL, [9]), ("scalar", .F32, []), ("empty", .F32, [0]), ("empty2d", .I64, [2, 0]),
]

/// Mirrors value() in the Python script: element i of a tensor of `dtype`.
func pythonValues(_ dtype: DType, count: Int) -> Values {
  let indices = 0..<count
  switch dtype {
  case .F64: return .floats(indices.map { Double($0) / 3.0 + 0.1 })
  case .F32, .F16, .BF16: return .floats(indices.map { Double(($0 * 7 + 3) % 17 - 8) / 4.0 })
  case .I64: return .ints(indices.map { Int64($0) * 3_000_000_000_000_001 - 4_611_686_018_427_387_904 })
  case .I32: return .ints(indices.map { Int64($0 * 1_000_003 - 2_000_000) })
  case .I16: return .ints(indices.map { Int64($0 * 1001 - 1500) })
  case .I8: return .ints(indices.map { Int64(($0 * 37) % 256 - 128) })
  case .U8: return .ints(indices.map { Int64(($0 * 53 + 11) % 256) })
  case .BOOL: return .ints(indices.map { $0 % 3 == 0 ? 1 : 0 })
  }
}

/// Checks every spec'd tensor in `source` against the Python formula.
func expectPythonTensors(_ source: any TensorSource, names: Set<String>) throws {
  for spec in pythonSpecs where names.contains(spec.name) {
    let info = try #require(source.info(spec.name), "missing \(spec.name)")
    #expect(info.dtype == spec.dtype, "\(spec.name)")
    #expect(info.shape == spec.shape, "\(spec.name)")
    let values = try source.withBytes(spec.name) { decode($0, spec.dtype) }
    #expect(values == pythonValues(spec.dtype, count: spec.shape.reduce(1, *)), "\(spec.name)")
  }
}

@Suite("Interop with Python's safetensors", .serialized)
struct PythonInteropTests {
  static let metadataCases: [[String: String]] = [[:], ["format": "pt"], ["format": "pt", "ключ": "значение", "empty": ""]]

  @Test("Swift writes, Python reads", arguments: metadataCases)
  func swiftToPython(metadata: [String: String]) throws {
    let dir = try TempDir()
    let path = dir.file("swift.safetensors")
    var tensors = DType.allCases.map { sampleTensor("t.\($0.rawValue.lowercased())", $0, [3, 5]) }
    tensors += [
      sampleTensor("scalar", .F64, []), sampleTensor("empty", .BF16, [0]), sampleTensor("hollow", .I32, [4, 0]),
      sampleTensor("ü \"quoted\" \\ tab\t", .I16, [2]),
    ]
    try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)

    let summary = try pythonCheck(path)
    #expect(summary.metadata == metadata)
    #expect(Set(summary.tensors.keys) == Set(tensors.map(\.name)))
    for tensor in tensors {
      let loaded = try #require(summary.tensors[tensor.name], "Python lost \(tensor.name)")
      #expect(loaded.dtype == tensor.dtype.rawValue, "\(tensor.name)")
      #expect(loaded.shape == tensor.shape, "\(tensor.name)")
      #expect(parsePythonValues(loaded.values, tensor.dtype) == decode(tensor.bytes, tensor.dtype), "\(tensor.name)")
    }
    if metadata.count <= 1 {
      // Python's own writer produces exactly our bytes (layout, escaping, padding).
      #expect(summary.reserialized_identical)
    }
  }

  @Test func pythonWritesSwiftReads() throws {
    let dir = try TempDir()
    _ = try runRoundTripScript(["write", dir.path])
    let file = try SafeTensorsFile(path: dir.file("python.safetensors"))
    #expect(file.metadata == ["format": "pt", "source": "python"])
    #expect(file.keys == pythonSpecs.map(\.name).sorted())
    try expectPythonTensors(file, names: Set(pythonSpecs.map(\.name)))
  }

  @Test func pythonShardedCheckpoint() throws {
    let dir = try TempDir()
    _ = try runRoundTripScript(["write", dir.path])
    let sharded = dir.file("sharded")
    for path in [sharded + "/model.safetensors.index.json", sharded] {
      let source = try openSafeTensors(path: path)
      let index = try #require(source as? SafeTensorsIndex)
      #expect(index.shardFiles == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
      let expectedKeys = ["bf16", "bool", "empty", "f16", "f32.weight", "i64", "scalar", "u8"]
      #expect(source.keys == expectedKeys)
      let totalSize = try expectedKeys.reduce(0) { $0 + (try source.tensorInfo($1)).byteRange.count }
      #expect(source.metadata == ["total_size": String(totalSize)])
      try expectPythonTensors(source, names: Set(expectedKeys))
      #expect(source.info("f64") == nil)
    }

    // Each shard has one metadata entry, so our writer must reproduce Python's bytes exactly.
    for shardName in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
      let shard = try SafeTensorsFile(path: sharded + "/" + shardName)
      #expect(shard.metadata == ["format": "pt"])
      let tensors = try shard.keys.map { key in
        let info = try shard.tensorInfo(key)
        return TensorToWrite(name: key, dtype: info.dtype, shape: info.shape, bytes: try shard.bytes(key))
      }
      let original = try Array(Data(contentsOf: URL(fileURLWithPath: shard.path)))
      #expect(try SafeTensorsWriter.serialize(tensors, metadata: shard.metadata) == original, "\(shardName)")
    }
  }
}
