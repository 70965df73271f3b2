import CImageLibs

public struct ImageEncodeError: Error, Sendable, CustomStringConvertible {
  public var description: String
}

extension RGBImage {
  /// Writes an 8-bit RGB PNG (libpng's simplified API, which reports errors without longjmp).
  public func writePNG(to path: String) throws(ImageEncodeError) {
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    image.width = UInt32(width)
    image.height = UInt32(height)
    image.format = UInt32(PNG_FORMAT_RGB)
    let ok = pixels.withUnsafeBufferPointer {
      png_image_write_to_file(&image, path, 0, $0.baseAddress, Int32(width * 3), nil)
    }
    guard ok != 0 else {
      let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      throw ImageEncodeError(description: "\(path): cannot write PNG: \(message)")
    }
  }
}

extension RGBImage {
  /// The PNG file's bytes, encoded in memory (for TensorBoard image summaries).
  public func pngData() throws(ImageEncodeError) -> [UInt8] {
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    image.width = UInt32(width)
    image.height = UInt32(height)
    image.format = UInt32(PNG_FORMAT_RGB)
    var size = 0
    // first call sizes the buffer, second fills it
    let sized = pixels.withUnsafeBufferPointer { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, Int32(width * 3), nil) }
    var out = [UInt8](repeating: 0, count: size)
    let ok = sized != 0 ? pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBytes { png_image_write_to_memory(&image, $0.baseAddress, &size, 0, src.baseAddress, Int32(width * 3), nil) }
    } : 0
    guard ok != 0 else {
      let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      throw ImageEncodeError(description: "cannot encode PNG: \(message)")
    }
    return Array(out.prefix(size))
  }

  /// Images of one size tiled row by row, `columns` per row (make_image_grid).
  public static func grid(_ images: [RGBImage], columns: Int) -> RGBImage {
    guard let first = images.first else { return RGBImage(width: 0, height: 0, pixels: []) }
    let (w, h) = (first.width, first.height)
    let rows = (images.count + columns - 1) / columns
    var pixels = [UInt8](repeating: 0, count: rows * h * columns * w * 3)
    for (i, image) in images.enumerated() {
      let (r, c) = (i / columns, i % columns)
      for y in 0..<h {
        let dst = ((r * h + y) * columns * w + c * w) * 3
        pixels.replaceSubrange(dst..<(dst + w * 3), with: image.pixels[(y * w * 3)..<((y + 1) * w * 3)])
      }
    }
    return RGBImage(width: columns * w, height: rows * h, pixels: pixels)
  }
}
