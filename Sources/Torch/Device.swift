import CTorch

/// Where a tensor lives: cpu, cuda:N, or meta (shapes only, no memory).
public struct Device: Hashable, Sendable, CustomStringConvertible {
  public enum Kind: Int32, Sendable { case cpu = 0, cuda = 1, meta = 2 }

  public let kind: Kind
  /// nil: the current device of that kind.
  public let index: Int?

  public init(_ kind: Kind, index: Int? = nil) {
    self.kind = kind
    self.index = index
  }

  public static let cpu = Device(.cpu)
  public static let meta = Device(.meta)
  public static func cuda(_ index: Int = 0) -> Device { Device(.cuda, index: index) }

  public var isCUDA: Bool { kind == .cuda }

  /// Parses "cpu", "meta", "cuda", "cuda:1".
  public init?(parsing text: String) {
    let parts = text.lowercased().split(separator: ":", maxSplits: 1)
    guard let head = parts.first else { return nil }
    switch head {
    case "cpu" where parts.count == 1: self = .cpu
    case "meta" where parts.count == 1: self = .meta
    case "cuda":
      if parts.count == 1 {
        self = Device(.cuda, index: nil)
      } else if let i = Int(parts[1]), i >= 0 {
        self = .cuda(i)
      } else {
        return nil
      }
    default: return nil
    }
  }

  public var description: String {
    switch kind {
    case .cpu: "cpu"
    case .meta: "meta"
    case .cuda: index.map { "cuda:\($0)" } ?? "cuda"
    }
  }

  var c: CTDevice { CTDevice(type: kind.rawValue, index: Int32(index ?? -1)) }

  init(_ c: CTDevice) {
    self.init(Kind(rawValue: c.type) ?? .cpu, index: c.index < 0 ? nil : Int(c.index))
  }
}
