import ImageCodecs

/// Draws a `ShapeScene`: the shape in its colour over the plain background, anti-aliased by 4 × 4
/// samples a pixel (the fraction inside the shape blends the two colours).
public enum ShapeRenderer {
  static let samples = 4

  /// Whether the point (u, v) — relative to the shape's centre, in units of its side, so the
  /// shape spans [-0.5, 0.5] — is inside `shape`.
  static func inside(_ shape: Shape, _ u: Double, _ v: Double) -> Bool {
    switch shape {
    case .square: return abs(u) <= 0.5 && abs(v) <= 0.5
    case .circle: return u * u + v * v <= 0.25
    case .ring:
      let r2 = u * u + v * v
      return r2 <= 0.25 && r2 >= 0.28 * 0.28
    case .diamond: return abs(u) + abs(v) <= 0.5
    case .cross: return (abs(u) <= 0.5 && abs(v) <= 0.17) || (abs(u) <= 0.17 && abs(v) <= 0.5)
    case .triangle:
      // apex at the top, base at the bottom (v grows downwards)
      guard v >= -0.5 && v <= 0.5 else { return false }
      return abs(u) <= (v + 0.5) / 2
    }
  }

  public static func render(_ scene: ShapeScene, resolution n: Int) -> RGBImage {
    let bg = scene.labels.background.rgb, fg = scene.labels.color.rgb
    let (cx, cy) = scene.centre
    let side = scene.side * Double(n)
    var pixels = [UInt8](repeating: 0, count: n * n * 3)
    let k = samples
    for y in 0..<n {
      for x in 0..<n {
        var hits = 0
        for sy in 0..<k {
          for sx in 0..<k {
            let px = Double(x) + (Double(sx) + 0.5) / Double(k), py = Double(y) + (Double(sy) + 0.5) / Double(k)
            if inside(scene.labels.shape, (px - cx * Double(n)) / side, (py - cy * Double(n)) / side) { hits += 1 }
          }
        }
        let a = Double(hits) / Double(k * k)
        let i = (y * n + x) * 3
        pixels[i] = UInt8((bg.0 * (1 - a) + fg.0 * a).rounded())
        pixels[i + 1] = UInt8((bg.1 * (1 - a) + fg.1 * a).rounded())
        pixels[i + 2] = UInt8((bg.2 * (1 - a) + fg.2 * a).rounded())
      }
    }
    return RGBImage(width: n, height: n, pixels: pixels)
  }
}
