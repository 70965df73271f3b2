#if canImport(Glibc)
  import Glibc
#endif

/// Reads the version of the libtorch that is loaded, from the files beside its lib/ folder.
enum RuntimeVersion {
  static func read(libraryPath: String) -> String? {
    guard let slash = libraryPath.lastIndex(of: "/") else { return nil }
    let libDir = libraryPath[..<slash]
    guard let up = libDir.lastIndex(of: "/") else { return nil }
    let root = String(libDir[..<up])
    if let text = readFile(root + "/version.py") {
      // __version__ = '2.11.0+cu130'
      for line in text.split(separator: "\n") where line.hasPrefix("__version__") {
        let quoted = line.split(separator: "'").dropFirst().first ?? line.split(separator: "\"").dropFirst().first
        if let quoted { return String(quoted) }
      }
    }
    if let text = readFile(root + "/build-version") {
      return text.trimmingSpaces()
    }
    return nil
  }

  static func readFile(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var bytes = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = fread(&buf, 1, buf.count, f)
      if n <= 0 { break }
      bytes.append(contentsOf: buf[0..<n])
      if bytes.count > 1 << 20 { break }
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

extension String {
  func trimmingSpaces() -> String {
    var s = Substring(self)
    while let c = s.first, c.isWhitespace { s = s.dropFirst() }
    while let c = s.last, c.isWhitespace { s = s.dropLast() }
    return String(s)
  }
}
