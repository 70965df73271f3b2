/// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC), as PIL's `convert("RGB")` holds it.
public struct RGBImage: Sendable, Equatable {
  public var width: Int
  public var height: Int
  public var pixels: [UInt8]

  public init(width: Int, height: Int, pixels: [UInt8]) {
    precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)x\(height)")
    self.width = width
    self.height = height
    self.pixels = pixels
  }

  /// The pixels of rows [top, top+height) and columns [left, left+width); like PIL's crop inside the image.
  public func cropped(top: Int, left: Int, height h: Int, width w: Int) -> RGBImage {
    precondition(top >= 0 && left >= 0 && top + h <= height && left + w <= width, "crop outside the image")
    var out = [UInt8](repeating: 0, count: w * h * 3)
    pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        for y in 0..<h {
          let s = ((top + y) * width + left) * 3
          for i in 0..<(w * 3) { dst[y * w * 3 + i] = src[s + i] }
        }
      }
    }
    return RGBImage(width: w, height: h, pixels: out)
  }

  /// Mirrored left-right (torchvision's hflip).
  public func flippedHorizontally() -> RGBImage {
    var out = pixels
    out.withUnsafeMutableBufferPointer { dst in
      pixels.withUnsafeBufferPointer { src in
        for y in 0..<height {
          let row = y * width * 3
          for x in 0..<width {
            let s = row + (width - 1 - x) * 3, d = row + x * 3
            dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
          }
        }
      }
    }
    return RGBImage(width: width, height: height, pixels: out)
  }

  /// torchvision's `Normalize([0.5],[0.5])(ToTensor()(img))`: CHW float32 in [-1, 1], computed in
  /// float32 exactly as torch does it (`x / 255`, then `(x - 0.5) / 0.5`).
  public func normalizedCHW() -> [Float] {
    let plane = width * height
    var out = [Float](repeating: 0, count: plane * 3)
    let table = normalizeTable
    out.withUnsafeMutableBufferPointer { dst in
      pixels.withUnsafeBufferPointer { src in
        table.withUnsafeBufferPointer { lut in
          for i in 0..<plane {
            dst[i] = lut[Int(src[3 * i])]
            dst[plane + i] = lut[Int(src[3 * i + 1])]
            dst[2 * plane + i] = lut[Int(src[3 * i + 2])]
          }
        }
      }
    }
    return out
  }
}

/// The 256 values torch computes for each byte; a table keeps the per-pixel work to a load.
let normalizeTable: [Float] = (0..<256).map { (Float($0) / 255 - 0.5) / 0.5 }
