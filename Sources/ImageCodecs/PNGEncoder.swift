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
