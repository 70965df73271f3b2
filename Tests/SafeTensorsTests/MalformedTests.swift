import Foundation
import SafeTensors
import Testing

/// One malformed file: its bytes and the words the error must contain.
struct MalformedCase: Sendable, CustomTestStringConvertible {
  let label: String
  let bytes: [UInt8]
  let problem: String
  var testDescription: String { label }
  var fileName: String { label + ".safetensors" }
}

private func entry(_ name: String, _ dtype: String, _ shape: String, _ offsets: String) -> String {
  #""\#(name)":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":\#(offsets)}"#
}

/// A valid two-tensor file, for truncation and mutation.
private let validFile: [UInt8] = {
  let tensors = [sampleTensor("w", .F32, [2, 3]), sampleTensor("b", .I8, [5]), sampleTensor("s", .BF16, [])]
  return (try? SafeTensorsWriter.serialize(tensors, metadata: ["format": "pt"])) ?? []
}()

private let deepJSON = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)

let malformedCases: [MalformedCase] = [
  MalformedCase(label: "zero-bytes", bytes: [], problem: "file is empty (0 bytes)"),
  MalformedCase(label: "five-bytes", bytes: [1, 0, 0, 0, 0], problem: "file is only 5 bytes, too short for the 8-byte header length"),
  MalformedCase(
    label: "header-past-eof", bytes: rawFile(header: "{}", length: 1000),
    problem: "header length 1000 runs past the end of the file (10 bytes)"),
  MalformedCase(
    label: "huge-header-claim", bytes: rawFile(header: "{}", length: 100_000_001),
    problem: "header length 100000001 exceeds the 100000000-byte limit"),
  MalformedCase(
    label: "max-u64-header-length", bytes: rawFile(header: "{}", length: .max),
    problem: "header length 18446744073709551615 exceeds the 100000000-byte limit"),
  MalformedCase(
    label: "truncated", bytes: Array(validFile.dropLast(3)),
    problem: "tensor 'b' data_offsets [26, 31] lie past the end of the data section (28 bytes)"),
  MalformedCase(label: "non-json", bytes: rawFile(header: "{not json}"), problem: "header is not valid JSON: expected a string key"),
  MalformedCase(label: "empty-header", bytes: rawFile(header: ""), problem: "header is not valid JSON: unexpected end of input"),
  MalformedCase(label: "trailing-junk", bytes: rawFile(header: "{} x"), problem: "unexpected character 'x' after the JSON value"),
  MalformedCase(label: "json-array", bytes: rawFile(header: "[1, 2]"), problem: "header is an array, not a JSON object"),
  MalformedCase(label: "json-string", bytes: rawFile(header: #""hi""#), problem: "header is a string, not a JSON object"),
  MalformedCase(
    label: "invalid-utf8", bytes: rawFile(headerBytes: Array("{\"a".utf8) + [0xFF] + Array("\":1}".utf8)),
    problem: "string is not valid UTF-8"),
  MalformedCase(label: "lone-surrogate", bytes: rawFile(header: #"{"\ud800":1}"#), problem: "unpaired surrogate"),
  MalformedCase(label: "deep-nesting", bytes: rawFile(header: deepJSON), problem: "nested deeper than 64 levels"),
  MalformedCase(
    label: "unknown-dtype", bytes: rawFile(header: "{" + entry("a", "F8_E4M3", "[2]", "[0,2]") + "}", data: [0, 0]),
    problem: "tensor 'a' has unknown dtype 'F8_E4M3'"),
  MalformedCase(
    label: "dtype-not-string", bytes: rawFile(header: #"{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
    problem: "tensor 'a' dtype is a number, expected a string"),
  MalformedCase(
    label: "shape-size-mismatch", bytes: rawFile(header: "{" + entry("a", "F32", "[2,3]", "[0,20]") + "}", data: .init(repeating: 0, count: 20)),
    problem: "tensor 'a' shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] span 20"),
  MalformedCase(
    label: "span-out-of-range", bytes: rawFile(header: "{" + entry("a.weight", "F32", "[20]", "[0,80]") + "}", data: .init(repeating: 0, count: 64)),
    problem: "tensor 'a.weight' data_offsets [0, 80] lie past the end of the data section (64 bytes)"),
  MalformedCase(
    label: "offsets-reversed", bytes: rawFile(header: "{" + entry("a", "U8", "[0]", "[4,0]") + "}", data: [0, 0, 0, 0]),
    problem: "tensor 'a' data_offsets [4, 0] end before they begin"),
  MalformedCase(
    label: "offsets-too-big", bytes: rawFile(header: "{" + entry("a", "U8", "[1]", "[0,99999999999999999999]") + "}"),
    problem: "tensor 'a' data_offsets [0, 99999999999999999999] must be [begin, end]"),
  MalformedCase(
    label: "offsets-three", bytes: rawFile(header: "{" + entry("a", "U8", "[1]", "[0,1,2]") + "}", data: [0]),
    problem: "tensor 'a' data_offsets [0, 1, 2] must be [begin, end]"),
  MalformedCase(
    label: "overlapping-spans",
    bytes: rawFile(header: "{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]") + "}", data: .init(repeating: 0, count: 12)),
    problem: "tensor 'b' data_offsets [4, 12] overlap tensor 'a' [0, 8]"),
  MalformedCase(
    label: "gap-between-spans",
    bytes: rawFile(header: "{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]") + "}", data: .init(repeating: 0, count: 12)),
    problem: "data section has a gap: bytes [4, 8) before tensor 'b' belong to no tensor"),
  MalformedCase(
    label: "gap-at-start", bytes: rawFile(header: "{" + entry("a", "U8", "[2]", "[2,4]") + "}", data: [0, 0, 0, 0]),
    problem: "data section has a gap: bytes [0, 2) before tensor 'a'"),
  MalformedCase(
    label: "trailing-bytes", bytes: rawFile(header: "{" + entry("a", "F32", "[1]", "[0,4]") + "}", data: .init(repeating: 0, count: 6)),
    problem: "data section has 2 trailing bytes after the last tensor (tensors cover 4 of 6)"),
  MalformedCase(
    label: "negative-shape", bytes: rawFile(header: "{" + entry("a", "U8", "[-1]", "[0,0]") + "}"),
    problem: "tensor 'a' shape [-1] has -1, expected a non-negative integer"),
  MalformedCase(
    label: "fractional-shape", bytes: rawFile(header: "{" + entry("a", "U8", "[2.5]", "[0,2]") + "}", data: [0, 0]),
    problem: "tensor 'a' shape [2.5] has 2.5, expected a non-negative integer"),
  MalformedCase(
    label: "float-shape", bytes: rawFile(header: "{" + entry("a", "U8", "[2.0]", "[0,2]") + "}", data: [0, 0]),
    problem: "tensor 'a' shape [2.0] has 2.0, expected a non-negative integer"),
  MalformedCase(
    label: "string-shape", bytes: rawFile(header: "{" + entry("a", "U8", #"["2"]"#, "[0,2]") + "}", data: [0, 0]),
    problem: "tensor 'a' shape ['2'] has '2', expected a non-negative integer"),
  MalformedCase(
    label: "shape-not-array", bytes: rawFile(header: "{" + entry("a", "U8", "2", "[0,2]") + "}", data: [0, 0]),
    problem: "tensor 'a' shape is a number, expected an array"),
  MalformedCase(
    label: "shape-overflow", bytes: rawFile(header: "{" + entry("a", "F32", "[4294967296,4294967296,4]", "[0,0]") + "}"),
    problem: "tensor 'a' shape [4294967296, 4294967296, 4] of F32 overflows the byte count"),
  MalformedCase(
    label: "missing-data-offsets", bytes: rawFile(header: #"{"a":{"dtype":"U8","shape":[1]}}"#, data: [0]),
    problem: "tensor 'a' has no data_offsets"),
  MalformedCase(
    label: "missing-dtype", bytes: rawFile(header: #"{"a":{"shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
    problem: "tensor 'a' has no dtype"),
  MalformedCase(
    label: "entry-not-object", bytes: rawFile(header: #"{"a":5}"#), problem: "tensor 'a' entry is a number, expected an object"),
  MalformedCase(
    label: "duplicate-tensor", bytes: rawFile(header: "{" + entry("a", "U8", "[1]", "[0,1]") + "," + entry("a", "U8", "[1]", "[1,2]") + "}", data: [0, 0]),
    problem: "header lists tensor 'a' twice"),
  MalformedCase(
    label: "metadata-array", bytes: rawFile(header: #"{"__metadata__":[1]}"#),
    problem: "__metadata__ is an array, expected an object of strings"),
  MalformedCase(
    label: "metadata-number-value", bytes: rawFile(header: #"{"__metadata__":{"x":1}}"#),
    problem: "__metadata__ value for 'x' is a number, expected a string"),
  MalformedCase(
    label: "name-with-newline", bytes: rawFile(header: "{" + entry("evil\\nname", "F8", "[1]", "[0,1]") + "}", data: [0]),
    problem: #"tensor 'evil\nname' has unknown dtype 'F8'"#),
]

@Suite("Malformed files")
struct MalformedTests {
  @Test("each malformed file throws a one-line SafeTensorsError naming file and problem", arguments: malformedCases)
  func rejects(_ bad: MalformedCase) throws {
    let dir = try TempDir()
    let path = try dir.write(bad.fileName, bad.bytes)
    let error = expectSafeTensorsError { _ = try SafeTensorsFile(path: path) }
    #expect(error?.path == path)
    #expect(error?.description.hasPrefix(bad.fileName + ": ") == true, "\(String(describing: error))")
    #expect(error?.problem.contains(bad.problem) == true, "\(String(describing: error))")
    // openSafeTensors must report the same.
    let viaOpen = expectSafeTensorsError { _ = try openSafeTensors(path: path) }
    #expect(viaOpen == error)
  }

  @Test func exactMessagesFromTheIssue() throws {
    let dir = try TempDir()
    let big = try dir.write("model.safetensors", rawFile(header: "{}", length: 104_857_600))
    #expect(
      expectSafeTensorsError { _ = try SafeTensorsFile(path: big) }?.description
        == "model.safetensors: header length 104857600 exceeds the 100000000-byte limit")
    let past = try dir.write(
      "x.safetensors", rawFile(header: "{" + entry("a.weight", "F32", "[20]", "[0,80]") + "}", data: .init(repeating: 0, count: 64)))
    #expect(
      expectSafeTensorsError { _ = try SafeTensorsFile(path: past) }?.description
        == "x.safetensors: tensor 'a.weight' data_offsets [0, 80] lie past the end of the data section (64 bytes)")
  }

  @Test func lenientWhereRustIsLenient() throws {
    let dir = try TempDir()
    // Leading whitespace, null __metadata__, unknown extra fields: all accepted by Python.
    let header = #" {"__metadata__":null,"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"extra":[1]}}"#
    let path = try dir.write("ok.safetensors", rawFile(header: header, data: [7, 9]))
    let file = try SafeTensorsFile(path: path)
    #expect(file.metadata.isEmpty)
    #expect(try file.bytes("a") == [7, 9])
    // Zero-size tensors may share an offset with their neighbours.
    let shared = "{" + entry("z", "F32", "[0]", "[4,4]") + "," + entry("a", "F32", "[1]", "[0,4]") + "," + entry("y", "I8", "[0]", "[4,4]") + "}"
    let zeros = try SafeTensorsFile(path: try dir.write("zeros.safetensors", rawFile(header: shared, data: [0, 0, 0, 0])))
    #expect(zeros.keys == ["a", "y", "z"])
    #expect(try zeros.bytes("z").isEmpty)
  }

  @Test func missingPathAndDirectory() throws {
    let dir = try TempDir()
    let missing = expectSafeTensorsError { _ = try SafeTensorsFile(path: dir.file("gone.safetensors")) }
    #expect(missing?.description == "gone.safetensors: cannot open: No such file or directory")
    try FileManager.default.createDirectory(atPath: dir.file("folder.safetensors"), withIntermediateDirectories: false)
    let folder = expectSafeTensorsError { _ = try SafeTensorsFile(path: dir.file("folder.safetensors")) }
    #expect(folder?.description == "folder.safetensors: not a regular file")
  }

  @Test func everyTruncationIsRejected() throws {
    let dir = try TempDir()
    #expect(validFile.count > 8)
    _ = try SafeTensorsFile(path: try dir.write("whole.safetensors", validFile))
    for length in 0..<validFile.count {
      let path = try dir.write("cut.safetensors", Array(validFile.prefix(length)))
      let error = expectSafeTensorsError { _ = try SafeTensorsFile(path: path) }
      #expect(error?.description.hasPrefix("cut.safetensors: ") == true)
    }
  }

  /// Random byte flips must either load (with every tensor readable) or throw; never trap.
  @Test func randomMutationsNeverCrash() throws {
    let dir = try TempDir()
    var rng = SplitMix64(seed: 0x5AFE_7E45)
    var loaded = 0
    for round in 0..<1500 {
      var bytes = validFile
      for _ in 0..<(1 + round % 3) {
        let at = Int(rng.next() % UInt64(bytes.count))
        // Mostly flip bytes inside the length prefix and header, where the parser lives.
        bytes[round % 4 == 0 ? at : at % min(bytes.count, 120)] = UInt8(truncatingIfNeeded: rng.next())
      }
      let path = try dir.write("fuzz.safetensors", bytes)
      do {
        let file = try SafeTensorsFile(path: path)
        for key in file.keys {
          let info = try #require(file.info(key))
          #expect(try file.bytes(key).count == info.byteRange.count)
        }
        loaded += 1
      } catch let error as SafeTensorsError {
        #expect(!error.description.contains("\n"))
      }
    }
    #expect(loaded > 0)  // data-byte flips leave valid files
  }
}

struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
