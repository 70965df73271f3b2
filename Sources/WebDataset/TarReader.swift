/// One regular file of a tar stream.
public struct TarEntry: Sendable {
  public var name: String
  public var data: [UInt8]
  /// Offset of the entry's first header block (its GNU long-name or pax header, if any).
  public var headerOffset: Int64
}

/// A streaming tar reader: ustar, GNU long names (`L`), pax headers (`x`, `g`); directories,
/// links and other entry types skipped. Only the current member is held in memory.
public final class TarReader {
  let source: any ByteSource
  let shard: String
  var buffer: [UInt8]
  var start = 0, end = 0
  /// Stream offset of buffer[start].
  public private(set) var offset: Int64
  /// The largest member accepted, so that a corrupt size field cannot ask for terabytes.
  let maxMemberSize: Int
  /// 256 MiB: far above any training image, so that one corrupt size field costs little.
  public static let defaultMaxMemberSize = 256 << 20

  public init(source: any ByteSource, shard: String, startOffset: Int64 = 0, maxMemberSize: Int = TarReader.defaultMaxMemberSize) {
    self.source = source
    self.shard = shard
    self.offset = startOffset
    self.maxMemberSize = maxMemberSize
    buffer = [UInt8](repeating: 0, count: 1 << 20)
  }

  func fail(_ fault: DataFault, _ message: String) -> DataError {
    DataError.shard(fault: fault, shard: shard, message: message)
  }

  /// Fills the buffer to hold at least `count` bytes; false at the end of the stream.
  func fill(_ count: Int) throws(DataError) -> Bool {
    if end - start >= count { return true }
    if start > 0 {
      buffer.withUnsafeMutableBytes { b in
        b.baseAddress!.copyMemory(from: b.baseAddress! + start, byteCount: end - start)
      }
      end -= start
      start = 0
    }
    if buffer.count < count { buffer += [UInt8](repeating: 0, count: count - buffer.count) }
    while end < count {
      let n = try buffer.withUnsafeMutableBytes { b in
        Result { () throws(DataError) in try source.read(into: UnsafeMutableRawBufferPointer(rebasing: b[end...])) }
      }.get()
      if n == 0 { return false }
      end += n
    }
    return true
  }

  func take(_ count: Int) throws(DataError) -> [UInt8]? {
    if count <= buffer.count {
      guard try fill(count) else { return nil }
      let out = Array(buffer[start..<(start + count)])
      start += count
      offset += Int64(count)
      return out
    }
    // Large member: what is buffered, then straight from the source, growing the array as the
    // bytes arrive, so that a size field larger than what the stream holds costs no more memory
    // than the stream itself.
    var out = Array(buffer[start..<end])
    start = 0; end = 0
    var chunk = max(out.count, 1 << 20)
    while out.count < count {
      let have = out.count
      let grow = min(count - have, chunk)
      out += repeatElement(0, count: grow)
      let n = try out.withUnsafeMutableBytes { o in
        Result { () throws(DataError) in try source.read(into: UnsafeMutableRawBufferPointer(rebasing: o[have..<(have + grow)])) }
      }.get()
      if n == 0 { return nil }
      out.removeLast(grow - n)
      chunk = min(chunk * 2, 64 << 20)
    }
    offset += Int64(count)
    return out
  }

  func skip(_ count: Int64) throws(DataError) -> Bool {
    let buffered = Int64(end - start)
    if count <= buffered {
      start += Int(count); offset += count
      return true
    }
    start = 0; end = 0
    guard try source.skip(count - buffered) else { return false }
    offset += count
    return true
  }

  /// The next regular file, or nil at the end of the archive.
  public func next() throws(DataError) -> TarEntry? {
    var longName: String?
    var paxPath: String?
    var paxSize: Int?
    var entryStart: Int64?
    while true {
      let headerAt = offset
      guard let header = try take(512) else {
        if end > start { throw fail(.truncatedTar, "ends inside a header at byte \(headerAt)") }
        if headerAt == 0 && entryStart == nil { throw fail(.truncatedTar, "empty file, not a tar archive") }
        // A stream that stops cleanly at a block boundary without end blocks (as many writers do).
        if entryStart == nil { return nil }
        throw fail(.truncatedTar, "ends inside a member's headers at byte \(headerAt)")
      }
      if header.allSatisfy({ $0 == 0 }) { return nil }
      if headerAt == 0 && header[0] == 0x1F && header[1] == 0x8B {
        throw fail(.unreadableShard, "gzip-compressed tar is not supported; decompress it or use pipe:gunzip -c FILE")
      }
      try verifyChecksum(header, at: headerAt)
      if entryStart == nil { entryStart = headerAt }
      let type = header[156]
      guard let fieldSize = parseNumber(header[124..<136]) else {
        throw fail(.corruptTar, "invalid size field in the header at byte \(headerAt)")
      }
      let size = (type == UInt8(ascii: "0") || type == 0 || type == UInt8(ascii: "7")) ? (paxSize ?? fieldSize) : fieldSize
      guard size >= 0, size <= maxMemberSize else {
        throw fail(.corruptTar, "member size \(size) in the header at byte \(headerAt) is out of range")
      }
      let padded = Int64((size + 511) / 512 * 512)
      switch type {
      case UInt8(ascii: "L"), UInt8(ascii: "x"), UInt8(ascii: "g"):
        guard let data = try take(size), try skip(padded - Int64(size)) else {
          throw fail(.truncatedTar, "ends inside an extended header at byte \(headerAt)")
        }
        if type == UInt8(ascii: "L") { longName = cString(data[...]) }
        if type == UInt8(ascii: "x") {
          let pax = try parsePax(data, at: headerAt)
          if let p = pax["path"] { paxPath = p }
          if let s = pax["size"] {
            guard let n = Int(s), n >= 0 else { throw fail(.corruptTar, "pax size '\(s.prefix(40))' in the extended header at byte \(headerAt) is not a size") }
            paxSize = n
          }
        }
        continue
      case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
        let name = paxPath ?? longName ?? ustarName(header)
        guard let data = try take(size), try skip(padded - Int64(size)) else {
          throw fail(.truncatedTar, "ends inside member '\(name)' (\(size) bytes at byte \(headerAt + 512))")
        }
        return TarEntry(name: name, data: data, headerOffset: entryStart!)
      default:  // directory, link, device, fifo, ...: skipped with its data
        guard try skip(padded) else { throw fail(.truncatedTar, "ends inside a member at byte \(headerAt)") }
        longName = nil; paxPath = nil; paxSize = nil; entryStart = nil
      }
    }
  }

  func verifyChecksum(_ h: [UInt8], at position: Int64) throws(DataError) {
    guard let stored = parseNumber(h[148..<156]) else {
      throw fail(.corruptTar, "invalid header checksum field at byte \(position)")
    }
    var unsigned = 0, signed = 0
    for i in 0..<512 {
      let b = (148..<156).contains(i) ? UInt8(ascii: " ") : h[i]
      unsigned += Int(b)
      signed += Int(Int8(bitPattern: b))
    }
    guard stored == unsigned || stored == signed else {
      throw fail(.corruptTar, "header checksum mismatch at byte \(position) (not a tar, or corrupt)")
    }
  }

  /// Octal (NUL/space padded) or GNU base-256 (high bit set).
  func parseNumber(_ field: ArraySlice<UInt8>) -> Int? {
    if let first = field.first, first & 0x80 != 0 {
      var v = Int(first & 0x7F)
      for b in field.dropFirst() {
        guard v < (Int.max >> 8) else { return nil }
        v = v << 8 | Int(b)
      }
      return v
    }
    var v = 0
    var seen = false
    for b in field {
      if b == 0 || b == UInt8(ascii: " ") { if seen { break } else { continue } }
      guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "7") else { return nil }
      v = v * 8 + Int(b - UInt8(ascii: "0"))
      seen = true
    }
    return v
  }

  func cString(_ bytes: ArraySlice<UInt8>) -> String {
    String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
  }

  func ustarName(_ h: [UInt8]) -> String {
    let name = cString(h[0..<100])
    let magic = cString(h[257..<263])
    guard magic.hasPrefix("ustar") else { return name }
    let prefix = cString(h[345..<500])
    return prefix.isEmpty ? name : prefix + "/" + name
  }

  /// pax records: "LEN key=value\n", LEN counting the whole record. A record that does not have
  /// this shape is an error (Python's tarfile raises InvalidHeaderError for it), never a guess.
  func parsePax(_ data: [UInt8], at position: Int64) throws(DataError) -> [String: String] {
    var out: [String: String] = [:]
    var i = 0
    while i < data.count, data[i] != 0 {
      var j = i
      while j < data.count, j - i < 20, data[j] >= UInt8(ascii: "0"), data[j] <= UInt8(ascii: "9") { j += 1 }
      guard j > i, j < data.count, data[j] == UInt8(ascii: " "), let len = Int(String(decoding: data[i..<j], as: UTF8.self)),
        len > j - i + 1, len <= data.count - i, data[i + len - 1] == UInt8(ascii: "\n")
      else { throw fail(.corruptTar, "malformed pax record at byte \(i) of the extended header at byte \(position)") }
      let record = data[(j + 1)..<(i + len - 1)]  // without the trailing newline
      guard let eq = record.firstIndex(of: UInt8(ascii: "=")), eq > record.startIndex else {
        throw fail(.corruptTar, "pax record without key=value at byte \(i) of the extended header at byte \(position)")
      }
      out[String(decoding: record[..<eq], as: UTF8.self)] = String(decoding: record[(eq + 1)...], as: UTF8.self)
      i += len
    }
    return out
  }
}
