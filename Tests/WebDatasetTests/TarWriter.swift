import Foundation

/// Builds tar archives in memory for tests: ustar members, GNU long names, pax paths, and
/// non-file entries (directories, symlinks) that readers must skip.
struct TarWriter {
  var bytes: [UInt8] = []

  enum LongName { case gnu, pax }

  mutating func file(_ name: String, _ data: [UInt8], longName: LongName = .gnu) {
    if name.utf8.count > 99 {
      switch longName {
      case .gnu: entry("././@LongLink", Array(name.utf8) + [0], type: "L")
      case .pax:
        let record = "path=\(name)\n"
        var len = record.utf8.count + 3
        while "\(len) \(record)".utf8.count != len { len += 1 }
        entry("PaxHeaders/x", Array("\(len) \(record)".utf8), type: "x")
      }
      entry(String(name.prefix(99)), data, type: "0")
    } else {
      entry(name, data, type: "0")
    }
  }

  mutating func directory(_ name: String) { entry(name, [], type: "5") }
  mutating func symlink(_ name: String, to target: String) { entry(name, [], type: "2", link: target) }

  mutating func entry(_ name: String, _ data: [UInt8], type: Character, link: String = "") {
    var h = [UInt8](repeating: 0, count: 512)
    func put(_ s: String, _ at: Int, _ len: Int) {
      for (i, b) in s.utf8.prefix(len).enumerated() { h[at + i] = b }
    }
    func octal(_ v: Int, _ at: Int, _ len: Int) {
      let digits = String(v, radix: 8)
      put(String(repeating: "0", count: max(0, len - 1 - digits.count)) + digits, at, len - 1)
    }
    put(name, 0, 100)
    octal(0o644, 100, 8); octal(0, 108, 8); octal(0, 116, 8)
    octal(data.count, 124, 12); octal(1_700_000_000, 136, 12)
    put("        ", 148, 8)
    h[156] = type.asciiValue!
    put(link, 157, 100)
    put("ustar", 257, 6); put("00", 263, 2)
    let sum = h.reduce(0) { $0 + Int($1) }
    octal(sum, 148, 7)
    bytes += h + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
  }

  func finished() -> [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
}
