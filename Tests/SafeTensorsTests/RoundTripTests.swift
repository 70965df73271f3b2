import Foundation
import SafeTensors
import Testing

@Suite("Swift write -> Swift read")
struct RoundTripTests {
  @Test("every dtype, with empty, scalar and zero-dim shapes", arguments: DType.allCases)
  func roundTrip(dtype: DType) throws {
    let dir = try TempDir()
    let path = dir.file("\(dtype).safetensors")
    let tensors = [
      sampleTensor("matrix", dtype, [3, 4]),
      sampleTensor("empty", dtype, [0]),
      sampleTensor("scalar", dtype, []),
      sampleTensor("hollow", dtype, [2, 0, 3]),
      sampleTensor("one", dtype, [1]),
    ]
    let metadata = ["format": "pt", "note": "dtype \(dtype)"]
    try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)

    let file = try SafeTensorsFile(path: path)
    #expect(file.path == path)
    #expect(file.metadata == metadata)
    #expect(file.keys == ["empty", "hollow", "matrix", "one", "scalar"])
    for tensor in tensors {
      let info = try #require(file.info(tensor.name))
      #expect(info.dtype == dtype)
      #expect(info.shape == tensor.shape)
      #expect(info.byteRange.count == tensor.bytes.count)
      #expect(info.elementCount == tensor.shape.reduce(1, *))
      #expect(try file.bytes(tensor.name) == tensor.bytes)
      try file.withBytes(tensor.name) { raw in
        #expect(raw.count == tensor.bytes.count)
        if let base = raw.baseAddress, raw.count > 0 {
          // Python's layout keeps every tensor aligned to its element size.
          #expect(UInt(bitPattern: base) % UInt(dtype.byteSize) == 0)
        }
      }
    }
    #expect(file.info("missing") == nil)
  }

  @Test func mixedFileUsesPythonLayout() throws {
    let dir = try TempDir()
    let path = dir.file("mixed.safetensors")
    let tensors = DType.allCases.reversed().enumerated().flatMap { index, dtype in
      [sampleTensor("b\(index)", dtype, [3]), sampleTensor("a\(index)", dtype, [2, 1])]
    }
    try SafeTensorsWriter.write(tensors, to: path)
    let file = try SafeTensorsFile(path: path)
    #expect(file.metadata.isEmpty)
    #expect(file.dataStart % 8 == 0)

    let byOffset = file.keys.sorted { file.info($0)!.byteRange.lowerBound < file.info($1)!.byteRange.lowerBound }
    let pythonOrder: [DType] = [.I64, .F64, .F32, .I32, .BF16, .F16, .I16, .I8, .U8, .BOOL]
    let expected = pythonOrder.flatMap { dtype in
      tensors.filter { $0.dtype == dtype }.map(\.name).sorted()
    }
    #expect(byOffset == expected)
    for tensor in tensors { #expect(try file.bytes(tensor.name) == tensor.bytes) }
    #expect(try Array(Data(contentsOf: URL(fileURLWithPath: path))) == SafeTensorsWriter.serialize(tensors))
  }

  /// Byte images from the Rust crate's own tests (safetensors/src/tensor.rs).
  @Test func matchesRustTestVectors() throws {
    #expect(try SafeTensorsWriter.serialize([]) == [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])
    let framework = try SafeTensorsWriter.serialize([], metadata: ["framework": "pt"])
    #expect(framework.count == 48)
    #expect(Array(framework[8...]) == Array(#"{"__metadata__":{"framework":"pt"}}     "#.utf8))

    var floats: [UInt8] = []
    for value: Float in [0, 1, 2, 3, 4, 5] { appendLE(value.bitPattern, to: &floats) }
    let attn = try SafeTensorsWriter.serialize([TensorToWrite(name: "attn.0", dtype: .F32, shape: [1, 2, 3], bytes: floats)])
    let header = #"{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}"#
    #expect(attn == rawFile(header: header, data: floats))
  }

  @Test func unusualNamesAndMetadata() throws {
    let dir = try TempDir()
    let path = dir.file("names.safetensors")
    let names = ["ü.权重", "quote\"back\\slash/", "tab\tnew\nline\u{1}", "🙂", "", "__metadata__x"]
    let tensors = names.map { sampleTensor($0, .F32, [2]) }
    let metadata = ["ключ": "значение\n\"x\"", "": "", "k\u{7f}": "v"]
    try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)
    let file = try SafeTensorsFile(path: path)
    #expect(Set(file.keys) == Set(names))
    #expect(file.metadata == metadata)
    for tensor in tensors { #expect(try file.bytes(tensor.name) == tensor.bytes) }
  }

  @Test func rawBufferInitCopies() throws {
    var source: [UInt8] = [1, 2, 3, 4]
    let tensor = source.withUnsafeBytes { TensorToWrite(name: "t", dtype: .I16, shape: [2], bytes: $0) }
    source[0] = 99
    #expect(tensor.bytes == [1, 2, 3, 4])
  }

  @Test func overwriteIsAtomicAndLeavesNoTemporaryFiles() throws {
    let dir = try TempDir()
    let path = dir.file("model.safetensors")
    try SafeTensorsWriter.write([sampleTensor("a", .F32, [4])], to: path)
    let before = try SafeTensorsFile(path: path)  // keeps the old inode mapped
    try SafeTensorsWriter.write([sampleTensor("b", .I8, [3])], metadata: ["v": "2"], to: path)
    #expect(before.keys == ["a"])
    #expect(try before.bytes("a") == sampleTensor("a", .F32, [4]).bytes)
    let after = try SafeTensorsFile(path: path)
    #expect(after.keys == ["b"])
    #expect(after.metadata == ["v": "2"])
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model.safetensors"])
  }

  @Test func openSafeTensorsOnAFile() throws {
    let dir = try TempDir()
    let path = dir.file("model.safetensors")
    try SafeTensorsWriter.write([sampleTensor("w", .BF16, [2, 2])], metadata: ["m": "1"], to: path)
    for opened in [try openSafeTensors(path: path), try openSafeTensors(path: dir.path)] {
      #expect(opened is SafeTensorsFile)
      #expect(opened.keys == ["w"])
      #expect(opened.metadata == ["m": "1"])
      #expect(try opened.tensorInfo("w") == TensorInfo(dtype: .BF16, shape: [2, 2], byteRange: 0..<8))
    }
  }

  @Test func missingKeyIsAnError() throws {
    let dir = try TempDir()
    let path = dir.file("model.safetensors")
    try SafeTensorsWriter.write([sampleTensor("w", .F32, [1])], to: path)
    let file = try SafeTensorsFile(path: path)
    let error = expectSafeTensorsError { _ = try file.withBytes("nope") { $0.count } }
    #expect(error?.description == "model.safetensors: no tensor named 'nope'")
    let infoError = expectSafeTensorsError { _ = try file.tensorInfo("nope") }
    #expect(infoError?.description == "model.safetensors: no tensor named 'nope'")
  }

  struct BadWrite: Sendable, CustomTestStringConvertible {
    let label: String
    let tensors: [TensorToWrite]
    let problem: String
    var testDescription: String { label }
  }

  static let badWrites: [BadWrite] = [
    BadWrite(
      label: "byte count", tensors: [TensorToWrite(name: "a", dtype: .F32, shape: [2, 3], bytes: [0, 0, 0, 0])],
      problem: "tensor 'a' shape [2, 3] of F32 needs 24 bytes but 4 were given"),
    BadWrite(
      label: "negative dimension", tensors: [TensorToWrite(name: "a", dtype: .U8, shape: [-1], bytes: [])],
      problem: "tensor 'a' shape [-1] has a negative dimension"),
    BadWrite(
      label: "overflow", tensors: [TensorToWrite(name: "a", dtype: .F64, shape: [Int.max / 2, 3], bytes: [])],
      problem: "overflows the byte count"),
    BadWrite(
      label: "duplicate", tensors: [sampleTensor("a", .U8, [1]), sampleTensor("a", .I8, [1])],
      problem: "tensor 'a' is given twice"),
    BadWrite(
      label: "reserved name", tensors: [sampleTensor("__metadata__", .U8, [1])],
      problem: "a tensor cannot be named __metadata__"),
  ]

  @Test("writer rejects bad input", arguments: badWrites)
  func writerRejects(_ bad: BadWrite) throws {
    let dir = try TempDir()
    let path = dir.file("out.safetensors")
    let error = expectSafeTensorsError { try SafeTensorsWriter.write(bad.tensors, to: path) }
    #expect(error?.description.hasPrefix("out.safetensors: ") == true)
    #expect(error?.problem.contains(bad.problem) == true, "\(String(describing: error))")
    #expect(!FileManager.default.fileExists(atPath: path))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
  }

  @Test func writingIntoAMissingFolderFails() throws {
    let dir = try TempDir()
    let error = expectSafeTensorsError {
      try SafeTensorsWriter.write([sampleTensor("a", .U8, [1])], to: dir.file("no/such/dir/w.safetensors"))
    }
    #expect(error?.description.hasPrefix("w.safetensors: cannot create temporary file") == true)
  }
}
