import Foundation

/// PIL's resampling filters (`Image.Resampling`), with the support radii of Pillow's Resample.c.
public enum ResampleFilter: String, Sendable, CaseIterable {
  case nearest, box, bilinear, hamming, bicubic, lanczos

  var support: Double {
    switch self {
    case .nearest: 0
    case .box: 0.5
    case .bilinear, .hamming: 1
    case .bicubic: 2
    case .lanczos: 3
    }
  }

  func weight(_ x: Double) -> Double {
    switch self {
    case .nearest: return 0
    case .box: return x > -0.5 && x <= 0.5 ? 1 : 0
    case .bilinear:
      let a = abs(x)
      return a < 1 ? 1 - a : 0
    case .hamming:
      let a = abs(x)
      if a == 0 { return 1 }
      if a >= 1 { return 0 }
      let p = a * .pi
      return sin(p) / p * (0.54 + 0.46 * cos(p))
    case .bicubic:
      let a = abs(x), c = -0.5
      if a < 1 { return ((c + 2) * a - (c + 3)) * a * a + 1 }
      if a < 2 { return (((a - 5) * a + 8) * a - 4) * c }
      return 0
    case .lanczos:
      return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0
    }
  }

  private func sinc(_ x: Double) -> Double {
    if x == 0 { return 1 }
    let p = x * .pi
    return sin(p) / p
  }
}

/// One axis of a PIL resample: for each output index of `window`, the first input index, the tap
/// count and the fixed-point weights (Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`). Only
/// the window is computed: a 1-pixel-high strip resized to a short side of 512 has billions of
/// output columns, of which the crop needs 512.
struct ResampleAxis {
  static let precisionBits = 32 - 8 - 2
  var ksize: Int
  let first: Int
  var bounds: [(min: Int, count: Int)]
  var weights: [Int32]  // ksize per output index of the window

  /// Bounds and weights offset of output index `xx` (inside the window).
  func bound(_ xx: Int) -> (min: Int, count: Int) { bounds[xx - first] }
  func weightOffset(_ xx: Int) -> Int { (xx - first) * ksize }

  init(inSize: Int, outSize: Int, filter: ResampleFilter, window: Range<Int>) {
    let scale = Double(Float(inSize)) / Double(outSize)
    let filterscale = max(scale, 1)
    let support = filter.support * filterscale
    ksize = Int(support.rounded(.up)) * 2 + 1
    first = window.lowerBound
    bounds = []
    bounds.reserveCapacity(window.count)
    weights = [Int32](repeating: 0, count: window.count * ksize)
    var k = [Double](repeating: 0, count: ksize)
    for xx in window {
      let center = (Double(xx) + 0.5) * scale
      let ss = 1 / filterscale
      let xmin = max(Int(center - support + 0.5), 0)
      let xmax = min(Int(center + support + 0.5), inSize) - xmin
      var ww = 0.0
      for x in 0..<xmax {
        let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
        k[x] = w
        ww += w
      }
      for x in 0..<ksize {
        var v = x < xmax ? k[x] : 0
        if x < xmax, ww != 0 { v /= ww }
        let scaled = v * Double(1 << Self.precisionBits)
        weights[(xx - first) * ksize + x] = Int32(v < 0 ? Int(-0.5 + scaled) : Int(0.5 + scaled))
      }
      bounds.append((xmin, xmax))
    }
  }
}

@inline(__always) func clip8(_ v: Int32) -> UInt8 {
  if v >= Int32(1) << 30 { return 255 }
  if v <= 0 { return 0 }
  return UInt8(truncatingIfNeeded: v >> Int32(ResampleAxis.precisionBits))
}

extension RGBImage {
  /// PIL's `Image.resize((width, height), filter)` on an RGB image.
  public func resized(width: Int, height: Int, filter: ResampleFilter) -> RGBImage {
    resizedCrop(width: width, height: height, filter: filter, top: 0, left: 0, cropHeight: height, cropWidth: width)
  }

  /// The window [top, top+cropHeight) × [left, left+cropWidth) of `resized(width:height:filter:)`,
  /// computing only the pixels inside it: each output pixel depends only on its own weights, so the
  /// result is bit-identical to resizing everything and cropping after.
  public func resizedCrop(
    width outW: Int, height outH: Int, filter: ResampleFilter, top: Int, left: Int, cropHeight: Int, cropWidth: Int
  ) -> RGBImage {
    precondition(outW > 0 && outH > 0 && top >= 0 && left >= 0 && top + cropHeight <= outH && left + cropWidth <= outW)
    if outW == width && outH == height {  // PIL copies
      return cropped(top: top, left: left, height: cropHeight, width: cropWidth)
    }
    if filter == .nearest { return nearestCrop(outW, outH, top, left, cropHeight, cropWidth) }
    let needH = outW != width, needV = outH != height
    let vert = needV ? ResampleAxis(inSize: height, outSize: outH, filter: filter, window: top..<(top + cropHeight)) : nil
    // Source rows the vertical pass reads for the window's rows.
    let rowFirst = vert.map { $0.bound(top).min } ?? top
    let rowEnd = vert.map { $0.bound(top + cropHeight - 1).min + $0.bound(top + cropHeight - 1).count } ?? (top + cropHeight)
    // Horizontal pass: rows [rowFirst, rowEnd), window columns only.
    var temp: [UInt8]
    if needH {
      let horiz = ResampleAxis(inSize: width, outSize: outW, filter: filter, window: left..<(left + cropWidth))
      temp = horizontalPass(horiz, rows: rowFirst..<rowEnd, left: left, count: cropWidth)
    } else {
      temp = cropped(top: rowFirst, left: left, height: rowEnd - rowFirst, width: cropWidth).pixels
    }
    guard let vert else {
      return RGBImage(width: cropWidth, height: cropHeight, pixels: temp)
    }
    return RGBImage(width: cropWidth, height: cropHeight,
      pixels: verticalPass(vert, temp, tempFirstRow: rowFirst, top: top, count: cropHeight, rowWidth: cropWidth))
  }

  private func horizontalPass(_ axis: ResampleAxis, rows: Range<Int>, left: Int, count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: rows.count * count * 3)
    let ksize = axis.ksize
    let half = Int32(1) << Int32(ResampleAxis.precisionBits - 1)
    pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        axis.weights.withUnsafeBufferPointer { kk in
          for (r, y) in rows.enumerated() {
            let srcRow = src.baseAddress! + y * width * 3
            let dstRow = dst.baseAddress! + r * count * 3
            for xo in 0..<count {
              let xx = left + xo
              let (xmin, xmax) = axis.bound(xx)
              let k = kk.baseAddress! + axis.weightOffset(xx)
              var s0 = half, s1 = half, s2 = half
              var p = srcRow + xmin * 3
              for x in 0..<xmax {
                let w = k[x]
                s0 &+= Int32(p[0]) &* w
                s1 &+= Int32(p[1]) &* w
                s2 &+= Int32(p[2]) &* w
                p += 3
              }
              dstRow[xo * 3] = clip8(s0)
              dstRow[xo * 3 + 1] = clip8(s1)
              dstRow[xo * 3 + 2] = clip8(s2)
            }
          }
        }
      }
    }
    return out
  }

  private func verticalPass(
    _ axis: ResampleAxis, _ temp: [UInt8], tempFirstRow: Int, top: Int, count: Int, rowWidth: Int
  ) -> [UInt8] {
    let stride = rowWidth * 3
    var out = [UInt8](repeating: 0, count: count * stride)
    let ksize = axis.ksize
    let half = Int32(1) << Int32(ResampleAxis.precisionBits - 1)
    var acc = [Int32](repeating: 0, count: stride)
    temp.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        axis.weights.withUnsafeBufferPointer { kk in
          acc.withUnsafeMutableBufferPointer { acc in
            for yo in 0..<count {
              let yy = top + yo
              let (ymin, ymax) = axis.bound(yy)
              let k = kk.baseAddress! + axis.weightOffset(yy)
              for i in 0..<stride { acc[i] = half }
              // Row by row over the taps: contiguous, vectorisable inner loop; same sums as PIL's order.
              for y in 0..<ymax {
                let w = k[y]
                let row = src.baseAddress! + (ymin + y - tempFirstRow) * stride
                for i in 0..<stride { acc[i] &+= Int32(row[i]) &* w }
              }
              let d = dst.baseAddress! + yo * stride
              for i in 0..<stride { d[i] = clip8(acc[i]) }
            }
          }
        }
      }
    }
    return out
  }

  /// PIL's NEAREST resize goes through `ImagingScaleAffine`: positions accumulated in doubles.
  private func nearestCrop(_ outW: Int, _ outH: Int, _ top: Int, _ left: Int, _ cropH: Int, _ cropW: Int) -> RGBImage {
    // Source index of each output index of the window; the positions are accumulated from 0 as
    // PIL does (bit-identical), but only the window's are kept.
    func table(_ inSize: Int, _ outSize: Int, _ window: Range<Int>) -> [Int] {
      let a = Double(Float(inSize)) / Double(outSize)
      var o = a * 0.5
      var result = [Int](repeating: -1, count: window.count)
      for x in 0..<window.upperBound {
        if x >= window.lowerBound {
          let i = o < 0 ? -1 : Int(o)
          if i >= 0 && i < inSize { result[x - window.lowerBound] = i }
        }
        o += a
      }
      return result
    }
    let xs = table(width, outW, left..<(left + cropW)), ys = table(height, outH, top..<(top + cropH))
    var out = [UInt8](repeating: 0, count: cropW * cropH * 3)
    for yo in 0..<cropH {
      let y = ys[yo]
      guard y >= 0 else { continue }
      for xo in 0..<cropW {
        let x = xs[xo]
        guard x >= 0 else { continue }
        for c in 0..<3 { out[(yo * cropW + xo) * 3 + c] = pixels[(y * width + x) * 3 + c] }
      }
    }
    return RGBImage(width: cropW, height: cropH, pixels: out)
  }
}
