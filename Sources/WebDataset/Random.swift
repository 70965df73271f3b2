/// Seeded random numbers whose whole state can be saved (data position) and restored.
/// xoshiro256** seeded through SplitMix64; bounded draws by rejection (no modulo bias) so that the
/// sequence is fixed by this file alone, never by the standard library's version.
public struct DataRNG: Sendable, Codable, Equatable {
  public var s: [UInt64]

  public init(seed: UInt64) {
    var x = seed
    s = (0..<4).map { _ in DataRNG.splitMix(&x) }
  }

  /// A generator for a named sub-stream (worker, sample index, ...) of `seed`.
  public init(seed: UInt64, stream: [UInt64]) {
    var x = seed
    var h = DataRNG.splitMix(&x)
    for v in stream {
      var y = h ^ v &* 0x9E37_79B9_7F4A_7C15
      h = DataRNG.splitMix(&y)
    }
    self.init(seed: h)
  }

  static func splitMix(_ x: inout UInt64) -> UInt64 {
    x &+= 0x9E37_79B9_7F4A_7C15
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  public mutating func next() -> UInt64 {
    let result = ((s[1] &* 5) << 7 | (s[1] &* 5) >> 57) &* 9
    let t = s[1] << 17
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
    s[2] ^= t
    s[3] = s[3] << 45 | s[3] >> 19
    return result
  }

  /// Uniform in 0..<n.
  public mutating func below(_ n: Int) -> Int {
    precondition(n > 0)
    let bound = UInt64(n)
    let limit = UInt64.max - UInt64.max % bound
    while true {
      let v = next()
      if v < limit { return Int(v % bound) }
    }
  }

  /// Uniform in [0, 1) with 53 random bits.
  public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
