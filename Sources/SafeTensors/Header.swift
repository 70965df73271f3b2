/// A validated safetensors header: the rules of the Rust crate behind Python's `safetensors`,
/// with a specific one-line message for each way a file can be wrong.
struct Header {
  /// Same cap as the Rust crate, so a hostile length cannot make us allocate or scan gigabytes.
  static let maxHeaderLength = 100_000_000

  var metadata: [String: String] = [:]
  var tensors: [String: TensorInfo] = [:]
  /// Offset of the data section from the start of the file (8 + header length).
  var dataStart = 0
  var dataSize = 0

  /// Validates the whole file image `file` (8-byte length, JSON header, data section).
  static func parse(file: UnsafeRawBufferPointer, path: String) throws(SafeTensorsError) -> Header {
    func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(path, problem) }

    if file.isEmpty { throw fail("file is empty (0 bytes); a safetensors file starts with an 8-byte header length") }
    guard file.count >= 8 else {
      throw fail("file is only \(file.count) bytes, too short for the 8-byte header length")
    }
    var length: UInt64 = 0
    for i in (0..<8).reversed() { length = length << 8 | UInt64(file[i]) }  // little-endian
    guard length <= UInt64(maxHeaderLength) else {
      throw fail("header length \(length) exceeds the \(maxHeaderLength)-byte limit")
    }
    let headerLength = Int(length)  // fits: checked against the limit above
    guard headerLength <= file.count - 8 else {
      throw fail("header length \(headerLength) runs past the end of the file (\(file.count) bytes)")
    }

    let json: JSONValue
    do {
      json = try JSONParser.parse(UnsafeRawBufferPointer(rebasing: file[8..<(8 + headerLength)]))
    } catch {
      throw fail("header is not valid JSON: \(error.message) at byte \(error.offset) of the header")
    }
    guard case .object(let members) = json else {
      throw fail("header is \(json.kindName), not a JSON object")
    }

    var header = Header()
    header.dataStart = 8 + headerLength
    header.dataSize = file.count - header.dataStart
    header.tensors.reserveCapacity(members.count)
    var sawMetadata = false
    for member in members {
      let (name, value) = (member.key, member.value)
      if name == "__metadata__" {
        guard !sawMetadata else { throw fail("header lists __metadata__ twice") }
        sawMetadata = true
        header.metadata = try parseMetadata(value, fail)
      } else {
        let info = try parseEntry(name, value, dataSize: header.dataSize, fail)
        guard header.tensors.updateValue(info, forKey: name) == nil else {
          throw fail("header lists tensor \(quoted(name)) twice")
        }
      }
    }
    try checkLayout(header.tensors, dataSize: header.dataSize, fail)
    return header
  }

  private static func parseMetadata(
    _ value: JSONValue, _ fail: (String) -> SafeTensorsError
  ) throws(SafeTensorsError) -> [String: String] {
    switch value {
    case .null: return [:]  // Rust's Option accepts null
    case .object(let members):
      var metadata: [String: String] = [:]
      for member in members {
        let (key, item) = (member.key, member.value)
        guard case .string(let text) = item else {
          throw fail("__metadata__ value for \(quoted(key)) is \(item.kindName), expected a string")
        }
        guard metadata.updateValue(text, forKey: key) == nil else {
          throw fail("__metadata__ lists key \(quoted(key)) twice")
        }
      }
      return metadata
    default:
      throw fail("__metadata__ is \(value.kindName), expected an object of strings")
    }
  }

  private static func parseEntry(
    _ name: String, _ value: JSONValue, dataSize: Int, _ fail: (String) -> SafeTensorsError
  ) throws(SafeTensorsError) -> TensorInfo {
    var tensor: String { "tensor \(quoted(name))" }  // built only when there is an error
    guard case .object(let fields) = value else {
      throw fail("\(tensor) entry is \(value.kindName), expected an object")
    }
    // Unknown extra fields are ignored, as serde does.
    func field(_ key: String) throws(SafeTensorsError) -> JSONValue {
      let matches = fields.filter { $0.key == key }
      if matches.count > 1 { throw fail("\(tensor) lists \(key) twice") }
      guard let match = matches.first else { throw fail("\(tensor) has no \(key)") }
      return match.value
    }

    let dtypeValue = try field("dtype")
    guard case .string(let dtypeName) = dtypeValue else {
      throw fail("\(tensor) dtype is \(dtypeValue.kindName), expected a string")
    }
    guard let dtype = DType(rawValue: dtypeName) else {
      throw fail("\(tensor) has unknown dtype \(quoted(dtypeName, limit: 40)) (supported: \(DType.supportedList))")
    }

    let shapeValue = try field("shape")
    guard case .array(let dims) = shapeValue else {
      throw fail("\(tensor) shape is \(shapeValue.kindName), expected an array of non-negative integers")
    }
    var shape: [Int] = []
    shape.reserveCapacity(dims.count)
    for dim in dims {
      guard let size = dim.nonNegativeInt else {
        throw fail("\(tensor) shape \(shapeValue.snippet) has \(dim.snippet), expected a non-negative integer")
      }
      shape.append(size)
    }

    let offsetsValue = try field("data_offsets")
    guard case .array(let offsets) = offsetsValue, offsets.count == 2,
      let begin = offsets[0].nonNegativeInt, let end = offsets[1].nonNegativeInt
    else {
      throw fail("\(tensor) data_offsets \(offsetsValue.snippet) must be [begin, end], two non-negative integers")
    }
    guard begin <= end else {
      throw fail("\(tensor) data_offsets [\(begin), \(end)] end before they begin")
    }
    guard let expected = byteCount(shape: shape, elementSize: dtype.byteSize) else {
      throw fail("\(tensor) shape \(render(shape: shape)) of \(dtype) overflows the byte count")
    }
    guard expected == end - begin else {
      throw fail(
        "\(tensor) shape \(render(shape: shape)) of \(dtype) needs \(expected) bytes but data_offsets [\(begin), \(end)] span \(end - begin)"
      )
    }
    guard end <= dataSize else {
      throw fail("\(tensor) data_offsets [\(begin), \(end)] lie past the end of the data section (\(dataSize) bytes)")
    }
    return TensorInfo(dtype: dtype, shape: shape, byteRange: begin..<end)
  }

  /// Python's safetensors requires the spans to tile the data section exactly: no overlaps, no
  /// gaps, no trailing bytes. Matching that keeps "loads here" equal to "loads in Python".
  private static func checkLayout(
    _ tensors: [String: TensorInfo], dataSize: Int, _ fail: (String) -> SafeTensorsError
  ) throws(SafeTensorsError) {
    // Sort plain integers (names only break ties): sorting the strings themselves is slow on
    // headers with hundreds of thousands of tensors.
    let entries = Array(tensors)
    let spans = entries.indices.map { (lower: entries[$0].value.byteRange.lowerBound, upper: entries[$0].value.byteRange.upperBound, index: $0) }
      .sorted { a, b in
        if a.lower != b.lower { return a.lower < b.lower }
        if a.upper != b.upper { return a.upper < b.upper }
        return utf8Less(entries[a.index].key, entries[b.index].key)
      }
    var covered = 0
    var previous: (lower: Int, upper: Int, index: Int)? = nil
    for span in spans {
      if span.lower < covered, let previous {
        throw fail(
          "tensor \(quoted(entries[span.index].key)) data_offsets [\(span.lower), \(span.upper)] overlap tensor \(quoted(entries[previous.index].key)) [\(previous.lower), \(previous.upper)]"
        )
      }
      if span.lower > covered {
        throw fail(
          "data section has a gap: bytes [\(covered), \(span.lower)) before tensor \(quoted(entries[span.index].key)) belong to no tensor"
        )
      }
      covered = span.upper
      previous = span
    }
    if covered != dataSize {
      throw fail("data section has \(dataSize - covered) trailing bytes after the last tensor (tensors cover \(covered) of \(dataSize))")
    }
  }
}
