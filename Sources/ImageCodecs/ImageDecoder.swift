import CImageLibs

public enum ImageFormat: String, Sendable, CaseIterable {
  case jpeg, png, webp
}

/// Why bytes did not become an image; `kind` is what the data pipeline counts.
public struct ImageDecodeError: Error, Sendable, CustomStringConvertible {
  public enum Kind: String, Sendable {
    case empty  // zero bytes
    case unknownFormat  // not JPEG, PNG or WebP (PIL would also reject most such bytes)
    case corrupt  // the library refused it, or it ends early
    case tooManyPixels  // over the decompression-bomb limit
  }
  public var kind: Kind
  public var message: String
  public var description: String { message }

  public init(_ kind: Kind, _ message: String) {
    self.kind = kind
    self.message = message
  }
}

/// Decodes JPEG (libjpeg-turbo), PNG (libpng) and WebP (libwebp) to RGB with PIL's semantics:
/// format from the bytes (not the file suffix), EXIF orientation not applied, alpha dropped.
public enum ImageDecoder {
  /// PIL's `Image.MAX_IMAGE_PIXELS`; PIL refuses images over twice this (DecompressionBombError).
  public static let pilMaxImagePixels = 89_478_485
  public static let defaultMaxPixels = 2 * pilMaxImagePixels
  /// The longest side accepted (JPEG's own limit): with a short side of 1, the resize to the
  /// training resolution would otherwise ask for billions of columns.
  public static let maxSide = 65_535

  public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
    let b = bytes.bindMemory(to: UInt8.self)
    if b.count >= 3, b[0] == 0xFF, b[1] == 0xD8, b[2] == 0xFF { return .jpeg }
    if b.count >= 8, Array(b[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
    if b.count >= 12, Array(b[0..<4]) == Array("RIFF".utf8), Array(b[8..<12]) == Array("WEBP".utf8) { return .webp }
    return nil
  }

  /// The width and height from the header alone, without decoding the pixels.
  public static func size(of bytes: [UInt8]) throws(ImageDecodeError) -> (width: Int, height: Int) {
    try bytes.withUnsafeBytes { raw in
      Result { () throws(ImageDecodeError) in
        switch sniff(raw) {
        case .jpeg: return try JPEG.header(raw).size
        case .png: return try PNG.size(raw)
        case .webp: return try WebP.features(raw).size
        case nil: throw unknown(raw)
        }
      }
    }.get()
  }

  /// Decodes to RGB; images with more than `maxPixels` pixels are refused before any pixel is decoded.
  public static func decode(_ bytes: [UInt8], maxPixels: Int = defaultMaxPixels) throws(ImageDecodeError) -> RGBImage {
    try bytes.withUnsafeBytes { raw in
      Result { () throws(ImageDecodeError) in
        switch sniff(raw) {
        case .jpeg: return try JPEG.decode(raw, maxPixels: maxPixels)
        case .png: return try PNG.decode(raw, maxPixels: maxPixels)
        case .webp: return try WebP.decode(raw, maxPixels: maxPixels)
        case nil: throw unknown(raw)
        }
      }
    }.get()
  }

  static func unknown(_ raw: UnsafeRawBufferPointer) -> ImageDecodeError {
    if raw.isEmpty { return ImageDecodeError(.empty, "zero-byte image") }
    let head = raw.prefix(4).map { String($0, radix: 16) }.joined(separator: " ")
    return ImageDecodeError(.unknownFormat, "not a JPEG, PNG or WebP image (starts with \(head))")
  }

  static func checkPixels(_ w: Int, _ h: Int, _ maxPixels: Int) throws(ImageDecodeError) {
    guard w > 0, h > 0 else { throw ImageDecodeError(.corrupt, "image has size \(w)x\(h)") }
    if w > maxSide || h > maxSide {
      throw ImageDecodeError(.tooManyPixels, "image of \(w)x\(h) has a side over the limit of \(maxSide) pixels")
    }
    if w * h > maxPixels {
      throw ImageDecodeError(.tooManyPixels, "image of \(w)x\(h) = \(w * h) pixels is over the limit of \(maxPixels) (decompression bomb?)")
    }
  }
}

enum JPEG {
  struct Header { var size: (width: Int, height: Int); var colorspace: Int32 }

  static func header(_ raw: UnsafeRawBufferPointer) throws(ImageDecodeError) -> Header {
    guard let handle = tjInitDecompress() else { throw ImageDecodeError(.corrupt, "cannot start libjpeg-turbo") }
    defer { tjDestroy(handle) }
    return try header(handle, raw)
  }

  static func header(_ handle: tjhandle, _ raw: UnsafeRawBufferPointer) throws(ImageDecodeError) -> Header {
    var w: Int32 = 0, h: Int32 = 0, subsamp: Int32 = 0, colorspace: Int32 = 0
    let base = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
    guard tjDecompressHeader3(handle, base, UInt(raw.count), &w, &h, &subsamp, &colorspace) == 0 else {
      throw ImageDecodeError(.corrupt, "bad JPEG header: \(String(cString: tjGetErrorStr2(handle)))")
    }
    return Header(size: (Int(w), Int(h)), colorspace: colorspace)
  }

  /// libjpeg's defaults, as PIL uses them: accurate integer IDCT, fancy upsampling.
  static func decode(_ raw: UnsafeRawBufferPointer, maxPixels: Int) throws(ImageDecodeError) -> RGBImage {
    guard let handle = tjInitDecompress() else { throw ImageDecodeError(.corrupt, "cannot start libjpeg-turbo") }
    defer { tjDestroy(handle) }
    let head = try header(handle, raw)
    let (w, h) = head.size
    try ImageDecoder.checkPixels(w, h, maxPixels)
    let cmyk = head.colorspace == Int32(TJCS_CMYK.rawValue) || head.colorspace == Int32(TJCS_YCCK.rawValue)
    let channels = cmyk ? 4 : 3
    let format = cmyk ? TJPF_CMYK : TJPF_RGB
    var decoded = [UInt8](repeating: 0, count: w * h * channels)
    let base = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
    let rc = decoded.withUnsafeMutableBufferPointer {
      tjDecompress2(handle, base, UInt(raw.count), $0.baseAddress, Int32(w), Int32(w * channels), Int32(h), format.rawValue, 0)
    }
    if rc != 0 {
      let message = String(cString: tjGetErrorStr2(handle))
      // PIL decodes through harmless warnings (extraneous bytes) but refuses data that ends early.
      let fatal = tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) || message.contains("Premature end")
      if fatal { throw ImageDecodeError(.corrupt, "JPEG decode failed: \(message)") }
    }
    guard cmyk else { return RGBImage(width: w, height: h, pixels: decoded) }
    return RGBImage(width: w, height: h, pixels: cmykToRGB(decoded, count: w * h))
  }

  /// PIL reads CMYK JPEGs as Adobe-inverted ("CMYK;I") and converts with its `cmyk2rgb`.
  static func cmykToRGB(_ cmyk: [UInt8], count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count * 3)
    func muldiv255(_ a: Int, _ b: Int) -> Int { let t = a * b + 128; return ((t >> 8) + t) >> 8 }
    for i in 0..<count {
      let k = 255 - Int(cmyk[4 * i + 3])
      let nk = 255 - k
      for c in 0..<3 {
        let v = 255 - Int(cmyk[4 * i + c])
        out[3 * i + c] = UInt8(clamping: nk - muldiv255(v, nk))
      }
    }
    return out
  }
}

enum PNG {
  static func size(_ raw: UnsafeRawBufferPointer) throws(ImageDecodeError) -> (width: Int, height: Int) {
    // IHDR is the first chunk: 8-byte signature, length, "IHDR", width, height (big-endian).
    guard raw.count >= 24, Array(raw[12..<16]) == Array("IHDR".utf8) else {
      throw ImageDecodeError(.corrupt, "PNG without an IHDR chunk")
    }
    func be32(_ o: Int) -> Int { (0..<4).reduce(0) { $0 << 8 | Int(raw[o + $1]) } }
    return (be32(16), be32(20))
  }

  static func decode(_ raw: UnsafeRawBufferPointer, maxPixels: Int) throws(ImageDecodeError) -> RGBImage {
    let (width, height) = try size(raw)  // refused on the header alone, as PIL does at open
    try ImageDecoder.checkPixels(width, height, maxPixels)
    var out: UnsafeMutablePointer<UInt8>? = nil
    var w: Int32 = 0, h: Int32 = 0
    var err = [CChar](repeating: 0, count: 256)
    let rc = lcm_png_decode_rgb(
      raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count, Int64(maxPixels), &out, &w, &h, &err, 256)
    if rc == -2 { try ImageDecoder.checkPixels(Int(w), Int(h), maxPixels) }
    guard rc == 0, let out else {
      let message = String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      throw ImageDecodeError(.corrupt, "PNG decode failed: \(message)")
    }
    defer { free(out) }
    let count = Int(w) * Int(h) * 3
    let pixels = [UInt8](UnsafeBufferPointer(start: out, count: count))
    return RGBImage(width: Int(w), height: Int(h), pixels: pixels)
  }
}

enum WebP {
  struct Features { var size: (width: Int, height: Int); var animated: Bool }

  static func features(_ raw: UnsafeRawBufferPointer) throws(ImageDecodeError) -> Features {
    var features = WebPBitstreamFeatures()
    let status = WebPGetFeaturesInternal(
      raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count, &features, WEBP_DECODER_ABI_VERSION)
    guard status == VP8_STATUS_OK else { throw ImageDecodeError(.corrupt, "bad WebP header (status \(status.rawValue))") }
    return Features(size: (Int(features.width), Int(features.height)), animated: features.has_animation != 0)
  }

  static func decode(_ raw: UnsafeRawBufferPointer, maxPixels: Int) throws(ImageDecodeError) -> RGBImage {
    let f = try features(raw)
    let (w, h) = f.size
    try ImageDecoder.checkPixels(w, h, maxPixels)
    guard !f.animated else { throw ImageDecodeError(.corrupt, "animated WebP is not supported") }
    var pixels = [UInt8](repeating: 0, count: w * h * 3)
    let ok = pixels.withUnsafeMutableBufferPointer {
      WebPDecodeRGBInto(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count, $0.baseAddress, $0.count, Int32(w * 3))
    }
    guard ok != nil else { throw ImageDecodeError(.corrupt, "WebP decode failed") }
    return RGBImage(width: w, height: h, pixels: pixels)
  }
}
