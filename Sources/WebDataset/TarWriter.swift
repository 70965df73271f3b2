import Foundation

/// Writes a WebDataset shard: a POSIX ustar archive of regular files, members in the order given,
/// fixed owner and time so that the same members give the same bytes. Written to `path.tmp` and
/// renamed on `finish()`, so a shard is whole or absent.
public final class TarWriter {
  public let path: String
  private let handle: FileHandle
  private var finished = false

  public init(path: String) throws(DataError) {
    self.path = path
    let tmp = path + ".tmp"
    guard FileManager.default.createFile(atPath: tmp, contents: nil), let h = FileHandle(forWritingAtPath: tmp) else {
      throw DataError.badConfig("\(tmp): cannot create the shard")
    }
    handle = h
  }

  deinit { if !finished { try? handle.close(); try? FileManager.default.removeItem(atPath: path + ".tmp") } }

  /// One member; names are ASCII, at most 100 bytes (a WebDataset key and its extension).
  public func add(_ name: String, _ data: [UInt8]) throws(DataError) {
    let nameBytes = Array(name.utf8)
    guard !nameBytes.isEmpty, nameBytes.count <= 100, nameBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
      throw DataError.badConfig("\(name): a tar member name must be 1 to 100 printable ASCII bytes")
    }
    var header = [UInt8](repeating: 0, count: 512)
    func put(_ s: String, at offset: Int) { for (i, b) in s.utf8.enumerated() { header[offset + i] = b } }
    func octal(_ v: Int, width: Int) -> String {
      let s = String(v, radix: 8)
      return String(repeating: "0", count: max(0, width - 1 - s.count)) + s
    }
    for (i, b) in nameBytes.enumerated() { header[i] = b }
    put(octal(0o644, width: 8), at: 100)  // mode
    put(octal(0, width: 8), at: 108)  // uid
    put(octal(0, width: 8), at: 116)  // gid
    put(octal(data.count, width: 12), at: 124)
    put(octal(0, width: 12), at: 136)  // mtime
    header[156] = UInt8(ascii: "0")
    put("ustar", at: 257)
    put("00", at: 263)
    for i in 148..<156 { header[i] = 0x20 }
    let sum = header.reduce(0) { $0 + Int($1) }
    put(octal(sum, width: 7), at: 148)
    header[155] = 0x20
    let padding = (512 - data.count % 512) % 512
    try write(header + data + [UInt8](repeating: 0, count: padding))
  }

  /// The end-of-archive blocks; then the shard takes its name.
  public func finish() throws(DataError) {
    try write([UInt8](repeating: 0, count: 1024))
    do {
      try handle.close()
      if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
      try FileManager.default.moveItem(atPath: path + ".tmp", toPath: path)
    } catch {
      throw DataError.badConfig("\(path): \(error.localizedDescription)")
    }
    finished = true
  }

  private func write(_ bytes: [UInt8]) throws(DataError) {
    do { try handle.write(contentsOf: Data(bytes)) } catch { throw DataError.badConfig("\(path + ".tmp"): \(error.localizedDescription)") }
  }
}
