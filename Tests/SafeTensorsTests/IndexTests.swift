import Foundation
import Testing

@testable import SafeTensors

@Suite("Sharded checkpoints")
struct IndexTests {
  /// Two Swift-written shards plus an HF-style index; returns the index path.
  func makeCheckpoint(in dir: TempDir, index: String? = nil) throws -> String {
    try SafeTensorsWriter.write(
      [sampleTensor("layer.0.w", .F32, [2, 2]), sampleTensor("layer.0.b", .F16, [2])], metadata: ["format": "pt"],
      to: dir.file("model-00001-of-00002.safetensors"))
    try SafeTensorsWriter.write(
      [sampleTensor("layer.1.w", .BF16, [3]), sampleTensor("embed", .I64, [4])],
      to: dir.file("model-00002-of-00002.safetensors"))
    let text =
      index ?? """
      {
        "metadata": {"total_size": 52, "note": "hi", "nested": {"a": [1, true]}, "skip": null},
        "weight_map": {
          "layer.0.w": "model-00001-of-00002.safetensors",
          "layer.0.b": "model-00001-of-00002.safetensors",
          "layer.1.w": "model-00002-of-00002.safetensors",
          "embed": "model-00002-of-00002.safetensors"
        }
      }
      """
    return try dir.write("model.safetensors.index.json", Array(text.utf8))
  }

  @Test func readsAcrossShardsLazily() throws {
    let dir = try TempDir()
    let path = try makeCheckpoint(in: dir)
    let index = try SafeTensorsIndex(path: path)
    #expect(index.keys == ["embed", "layer.0.b", "layer.0.w", "layer.1.w"])
    #expect(index.metadata == ["total_size": "52", "note": "hi", "nested": #"{"a":[1,true]}"#])
    #expect(index.shardFiles == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
    #expect(index.openedShardCount == 0)

    #expect(try index.bytes("layer.1.w") == sampleTensor("layer.1.w", .BF16, [3]).bytes)
    #expect(index.openedShardCount == 1)
    #expect(index.info("embed") == TensorInfo(dtype: .I64, shape: [4], byteRange: 0..<32))
    #expect(index.openedShardCount == 1)  // same shard, opened once
    let shard = try index.file(for: "embed")
    #expect(try index.file(for: "layer.1.w") === shard)
    #expect(shard.path.hasSuffix("/model-00002-of-00002.safetensors"))

    #expect(try index.bytes("layer.0.w") == sampleTensor("layer.0.w", .F32, [2, 2]).bytes)
    #expect(index.openedShardCount == 2)
    #expect(index.info("nope") == nil)
    try index.validate()
  }

  @Test func openSafeTensorsDispatches() throws {
    let dir = try TempDir()
    let path = try makeCheckpoint(in: dir)
    for source in [try openSafeTensors(path: path), try openSafeTensors(path: dir.path + "/")] {
      #expect(source is SafeTensorsIndex)
      #expect(source.keys.count == 4)
      #expect(try source.bytes("layer.0.b") == sampleTensor("layer.0.b", .F16, [2]).bytes)
    }
  }

  @Test func concurrentFirstUseOpensEachShardOnce() async throws {
    let dir = try TempDir()
    let index = try SafeTensorsIndex(path: try makeCheckpoint(in: dir))
    let files = try await withThrowingTaskGroup(of: ObjectIdentifier.self) { group in
      for i in 0..<32 {
        group.addTask { ObjectIdentifier(try index.file(for: i % 2 == 0 ? "embed" : "layer.1.w")) }
      }
      return try await group.reduce(into: Set()) { $0.insert($1) }
    }
    #expect(files.count == 1)
    #expect(index.openedShardCount == 1)
  }

  @Test func keyMissingFromItsShard() throws {
    let dir = try TempDir()
    let path = try makeCheckpoint(
      in: dir,
      index: #"{"weight_map": {"ghost": "model-00001-of-00002.safetensors", "embed": "model-00002-of-00002.safetensors"}}"#)
    let index = try SafeTensorsIndex(path: path)
    #expect(index.metadata.isEmpty)
    #expect(index.info("ghost") == nil)
    let expected =
      "model.safetensors.index.json: weight_map puts tensor 'ghost' in shard 'model-00001-of-00002.safetensors', but that shard has no such tensor"
    #expect(expectSafeTensorsError { _ = try index.bytes("ghost") }?.description == expected)
    #expect(expectSafeTensorsError { try index.validate() }?.description == expected)
    #expect(try index.bytes("embed").count == 32)
  }

  @Test func malformedShardReportsTheShard() throws {
    let dir = try TempDir()
    let path = try makeCheckpoint(in: dir)
    try dir.write("model-00002-of-00002.safetensors", rawFile(header: "{", length: 1))
    let index = try SafeTensorsIndex(path: path)
    #expect(try index.bytes("layer.0.b").count == 4)
    let error = expectSafeTensorsError { _ = try index.bytes("embed") }
    #expect(error?.description.hasPrefix("model-00002-of-00002.safetensors: header is not valid JSON") == true)
  }

  struct BadIndex: Sendable, CustomTestStringConvertible {
    let label: String
    let json: String
    let problem: String
    var testDescription: String { label }
  }

  static let badIndexes: [BadIndex] = [
    BadIndex(
      label: "missing shard", json: #"{"weight_map": {"w": "model-00003-of-00003.safetensors"}}"#,
      problem: "weight_map puts 'w' in shard 'model-00003-of-00003.safetensors', which cannot be opened: No such file or directory"),
    BadIndex(label: "no weight_map", json: #"{"metadata": {}}"#, problem: "index has no weight_map"),
    BadIndex(label: "not JSON", json: "weight_map", problem: "index is not valid JSON: unexpected character 'w' at byte 0"),
    BadIndex(label: "array", json: "[]", problem: "index is an array, not a JSON object"),
    BadIndex(
      label: "weight_map array", json: #"{"weight_map": []}"#,
      problem: "index weight_map is an array, expected an object of file names"),
    BadIndex(
      label: "file not string", json: #"{"weight_map": {"w": 3}}"#,
      problem: "weight_map entry for 'w' is a number, expected a file name"),
    BadIndex(
      label: "absolute file", json: #"{"weight_map": {"w": "/etc/passwd"}}"#,
      problem: "weight_map entry for 'w' is '/etc/passwd', expected a file name relative to the index"),
    BadIndex(label: "metadata string", json: #"{"metadata": "x", "weight_map": {}}"#, problem: "index metadata is a string, expected an object"),
  ]

  @Test("bad index files", arguments: badIndexes)
  func rejects(_ bad: BadIndex) throws {
    let dir = try TempDir()
    let path = try makeCheckpoint(in: dir, index: bad.json)
    let error = expectSafeTensorsError { _ = try SafeTensorsIndex(path: path) }
    #expect(error?.description == "model.safetensors.index.json: " + bad.problem)
    #expect(expectSafeTensorsError { _ = try openSafeTensors(path: path) } == error)
  }

  @Test func directoryWithoutCheckpoint() throws {
    let dir = try TempDir()
    let error = expectSafeTensorsError { _ = try openSafeTensors(path: dir.path) }
    #expect(error?.problem == "directory has neither model.safetensors.index.json nor model.safetensors")
  }
}
