#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif
import Synchronization

/// A sharded checkpoint: a Hugging Face `*.safetensors.index.json`,
/// `{"metadata": {...}, "weight_map": {tensor name: shard file name}}`.
///
/// Shard files are resolved relative to the index's folder and opened lazily, once each, on
/// first use. `init` only checks that every shard exists; a key missing from the shard the
/// weight map names is reported when that key is first used.
public final class SafeTensorsIndex: TensorSource, Sendable {
  public let path: String
  /// The index's "metadata"; non-string values (e.g. HF's numeric "total_size") as JSON text.
  public let metadata: [String: String]
  /// Tensor names in byte-wise (UTF-8) order.
  public let keys: [String]
  /// Tensor name -> shard file name, as written in the index.
  public let weightMap: [String: String]
  private let directory: String
  private let opened = Mutex<[String: SafeTensorsFile]>([:])

  public init(path: String) throws(SafeTensorsError) {
    func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(path, problem) }
    self.path = path
    if let slash = path.lastIndex(of: "/") {
      directory = String(path[..<slash]).isEmpty ? "/" : String(path[..<slash])
    } else {
      directory = "."
    }

    let text = try readWholeFile(path, limit: Header.maxHeaderLength)
    let parsed = text.withUnsafeBytes { bytes in Result { () throws(JSONSyntaxError) in try JSONParser.parse(bytes) } }
    let json: JSONValue
    switch parsed {
    case .success(let value): json = value
    case .failure(let error): throw fail("index is not valid JSON: \(error.message) at byte \(error.offset)")
    }
    guard case .object(let members) = json else { throw fail("index is \(json.kindName), not a JSON object") }

    var metadata: [String: String] = [:]
    var weightMap: [String: String]? = nil
    for member in members {
      let (key, value) = (member.key, member.value)
      switch key {
      case "metadata":
        switch value {
        case .null: break
        case .object(let items):
          for member in items {
            let (name, item) = (member.key, member.value)
            switch item {
            case .string(let s): metadata[name] = s
            case .null: continue
            default: metadata[name] = JSONWriter.text(of: item)
            }
          }
        default: throw fail("index metadata is \(value.kindName), expected an object")
        }
      case "weight_map":
        guard case .object(let items) = value else {
          throw fail("index weight_map is \(value.kindName), expected an object of file names")
        }
        var map: [String: String] = [:]
        for member in items {
          let (name, item) = (member.key, member.value)
          guard case .string(let file) = item else {
            throw fail("weight_map entry for \(quoted(name)) is \(item.kindName), expected a file name")
          }
          guard !file.isEmpty, !file.hasPrefix("/") else {
            throw fail("weight_map entry for \(quoted(name)) is \(quoted(file)), expected a file name relative to the index")
          }
          guard map.updateValue(file, forKey: name) == nil else {
            throw fail("weight_map lists tensor \(quoted(name)) twice")
          }
        }
        weightMap = map
      default: continue  // other top-level keys are not ours to judge
      }
    }
    guard let weightMap else { throw fail("index has no weight_map") }

    // Cheap existence check now, so a broken checkpoint fails at open rather than mid-load.
    for file in Set(weightMap.values).sorted(by: utf8Less) {
      let full = directory + "/" + file
      var status = stat()
      guard stat(full, &status) == 0 else {
        let key = weightMap.filter { $0.value == file }.keys.min(by: utf8Less) ?? ""
        throw fail("weight_map puts \(quoted(key)) in shard \(quoted(file)), which cannot be opened: \(systemError())")
      }
    }
    self.metadata = metadata
    self.weightMap = weightMap
    self.keys = weightMap.keys.sorted(by: utf8Less)
  }

  /// Shard file names, each once, in byte-wise order.
  public var shardFiles: [String] { Set(weightMap.values).sorted(by: utf8Less) }

  /// The (opened, validated) shard that holds `key`; throws if the key is unknown, the shard is
  /// malformed, or the shard lacks the key.
  public func file(for key: String) throws(SafeTensorsError) -> SafeTensorsFile {
    guard let shard = weightMap[key] else { throw SafeTensorsError(path, "no tensor named \(quoted(key))") }
    let file = try shardFile(shard)
    guard file.info(key) != nil else {
      throw SafeTensorsError(
        path, "weight_map puts tensor \(quoted(key)) in shard \(quoted(shard)), but that shard has no such tensor")
    }
    return file
  }

  /// nil when the key is unknown or its shard cannot be read (`withBytes` says which).
  public func info(_ key: String) -> TensorInfo? {
    try? file(for: key).info(key)
  }

  public func withBytes<R>(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    try file(for: key).withBytes(key, body)
  }

  /// Opens every shard and checks every key, for callers who want all errors up front.
  public func validate() throws(SafeTensorsError) {
    for key in keys { _ = try file(for: key) }
  }

  /// How many shards have been opened so far (lazy loading is observable in tests).
  var openedShardCount: Int { opened.withLock { $0.count } }

  private func shardFile(_ name: String) throws(SafeTensorsError) -> SafeTensorsFile {
    // Opening under the lock makes "once each" hold even with concurrent first uses.
    try opened.withLock { cache throws(SafeTensorsError) -> SafeTensorsFile in
      if let file = cache[name] { return file }
      let file = try SafeTensorsFile(path: directory + "/" + name)
      cache[name] = file
      return file
    }
  }
}

/// Reads a whole (small) file, refusing ones larger than `limit` bytes.
func readWholeFile(_ path: String, limit: Int) throws(SafeTensorsError) -> [UInt8] {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { throw SafeTensorsError(path, "cannot open: \(systemError())") }
  defer { close(fd) }
  var status = stat()
  guard fstat(fd, &status) == 0 else { throw SafeTensorsError(path, "cannot stat: \(systemError())") }
  guard (status.st_mode & S_IFMT) == S_IFREG else { throw SafeTensorsError(path, "not a regular file") }
  guard status.st_size <= limit else {
    throw SafeTensorsError(path, "file is \(status.st_size) bytes, over the \(limit)-byte limit")
  }
  var result: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 1 << 16)
  while true {
    let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n < 0 {
      if errno == EINTR { continue }
      throw SafeTensorsError(path, "cannot read: \(systemError())")
    }
    if n == 0 { return result }
    result.append(contentsOf: chunk[0..<n])
    if result.count > limit { throw SafeTensorsError(path, "file is over the \(limit)-byte limit") }
  }
}
