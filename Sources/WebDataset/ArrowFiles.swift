import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// libLCMArrow.so (Sources/CArrowReader, on Apache Arrow's C++ library from pyarrow's wheel),
/// opened on first use: only `--dataset_name` needs Arrow, so lcm-core starts without it.
final class ArrowLibrary: Sendable {
  typealias Open = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafePointer<CChar>) -> OpaquePointer?
  typealias Close = @convention(c) (OpaquePointer) -> Void
  typealias Rows = @convention(c) (OpaquePointer) -> Int64
  typealias Image = @convention(c) (
    OpaquePointer, Int64, UnsafeMutablePointer<UnsafePointer<UInt8>?>, UnsafeMutablePointer<Int64>,
    UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafeMutablePointer<Int64>
  ) -> Int32
  typealias CaptionCount = @convention(c) (OpaquePointer, Int64) -> Int64
  typealias Caption = @convention(c) (OpaquePointer, Int64, Int64, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafeMutablePointer<Int64>) -> Int32
  typealias Text = @convention(c) () -> UnsafePointer<CChar>

  let open: Open, close: Close, rows: Rows, image: Image, captionCount: CaptionCount, caption: Caption
  let lastError: Text
  let version: String
  let path: String

  static let fileName = "libLCMArrow.so"
  static let shared: Result<ArrowLibrary, DataError> = load()

  /// Beside the running executable (lcm-core, or the test runner), or `$SWIFT_LCM_ARROW_LIBRARY`.
  static func candidates() -> [String] {
    var list: [String] = []
    if let env = ProcessInfo.processInfo.environment["SWIFT_LCM_ARROW_LIBRARY"], !env.isEmpty { list.append(env) }
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
      list.append((exe as NSString).deletingLastPathComponent + "/" + fileName)
    }
    return list
  }

  private init(handle: UnsafeMutableRawPointer, path: String) throws(DataError) {
    func symbol<T>(_ name: String, _: T.Type) throws(DataError) -> T {
      guard let p = dlsym(handle, name) else { throw DataError.badConfig("\(path): no symbol \(name) (rebuild it: scripts/setup.sh)") }
      return unsafeBitCast(p, to: T.self)
    }
    open = try symbol("lcm_arrow_open", Open.self)
    close = try symbol("lcm_arrow_close", Close.self)
    rows = try symbol("lcm_arrow_num_rows", Rows.self)
    image = try symbol("lcm_arrow_image", Image.self)
    captionCount = try symbol("lcm_arrow_caption_count", CaptionCount.self)
    caption = try symbol("lcm_arrow_caption", Caption.self)
    lastError = try symbol("lcm_arrow_last_error", Text.self)
    version = String(cString: try symbol("lcm_arrow_version", Text.self)())
    self.path = path
  }

  private static func load() -> Result<ArrowLibrary, DataError> {
    var reasons: [String] = []
    for path in candidates() {
      guard FileManager.default.fileExists(atPath: path) else { reasons.append("\(path): not found"); continue }
      guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
        reasons.append(dlerror().map { String(cString: $0) } ?? "\(path): dlopen failed")
        continue
      }
      do { return .success(try ArrowLibrary(handle: handle, path: path)) } catch { return .failure(error) }
    }
    return .failure(DataError.badConfig(
      "--dataset_name needs \(fileName) (Apache Arrow, built by scripts/setup.sh): \(reasons.joined(separator: "; "))"))
  }

  static func get() throws(DataError) -> ArrowLibrary { try shared.get() }

  var error: String { String(cString: lastError()) }
}

/// One parquet or Arrow IPC file, open for reading rows of its image and caption columns. Not
/// thread-safe: each data worker opens its own.
final class ArrowFile {
  let lib: ArrowLibrary
  let handle: OpaquePointer
  let path: String
  let rows: Int

  init(path: String, imageColumn: String, captionColumn: String) throws(DataError) {
    lib = try ArrowLibrary.get()
    guard let h = lib.open(path, imageColumn, captionColumn) else { throw DataError.badConfig(lib.error) }
    handle = h
    self.path = path
    rows = Int(lib.rows(h))
  }

  deinit { lib.close(handle) }

  struct Image {
    var bytes: [UInt8]?
    var path: String?
  }

  func image(_ row: Int) throws(DataError) -> Image {
    var data: UnsafePointer<UInt8>?
    var size: Int64 = 0
    var p: UnsafePointer<CChar>?
    var pathSize: Int64 = 0
    guard lib.image(handle, Int64(row), &data, &size, &p, &pathSize) == 0 else { throw DataError.badConfig(lib.error) }
    var image = Image()
    if let data, size >= 0 { image.bytes = Array(UnsafeBufferPointer(start: data, count: Int(size))) }
    if let p, pathSize >= 0 {
      image.path = String(decoding: UnsafeRawBufferPointer(start: p, count: Int(pathSize)).bindMemory(to: UInt8.self), as: UTF8.self)
    }
    return image
  }

  /// The row's captions as raw UTF-8 (nil entries for null list items).
  func captions(_ row: Int) throws(DataError) -> [[UInt8]?] {
    let n = lib.captionCount(handle, Int64(row))
    guard n >= 0 else { throw DataError.badConfig(lib.error) }
    var out: [[UInt8]?] = []
    for i in 0..<n {
      var text: UnsafePointer<CChar>?
      var size: Int64 = 0
      guard lib.caption(handle, Int64(row), i, &text, &size) == 0 else { throw DataError.badConfig(lib.error) }
      out.append(text.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(size)).bindMemory(to: UInt8.self)) })
    }
    return out
  }
}
