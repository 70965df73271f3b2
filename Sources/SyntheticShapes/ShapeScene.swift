import Foundation

/// The captioned-shapes data set (`lcm data synth`): one shape a picture, its kind, colour, place
/// in a 3 × 3 grid and size on a plain background, described in words. Small enough that a tiny
/// teacher learns it on a CPU, rich enough that a detector can say whether an image shows what its
/// prompt says (`ShapeDetector`).
public enum Shape: String, CaseIterable, Codable, Sendable {
  case circle, square, triangle, diamond, cross, ring
}

public enum ShapeColor: String, CaseIterable, Codable, Sendable {
  case red, green, blue, yellow, purple, orange

  public var rgb: (Double, Double, Double) {
    switch self {
    case .red: (220, 40, 40)
    case .green: (40, 170, 60)
    case .blue: (40, 80, 220)
    case .yellow: (240, 210, 40)
    case .purple: (140, 60, 190)
    case .orange: (245, 140, 30)
    }
  }
}

public enum Background: String, CaseIterable, Codable, Sendable {
  case white, black, gray

  public var rgb: (Double, Double, Double) {
    switch self {
    case .white: (245, 245, 245)
    case .black: (20, 20, 20)
    case .gray: (128, 128, 128)
    }
  }
}

/// Row-major cells of the 3 × 3 grid.
public enum Position: String, CaseIterable, Codable, Sendable {
  case topLeft = "top left", top, topRight = "top right"
  case left, center, right
  case bottomLeft = "bottom left", bottom, bottomRight = "bottom right"

  public var column: Int { Position.allCases.firstIndex(of: self)! % 3 }
  public var row: Int { Position.allCases.firstIndex(of: self)! / 3 }

  public init(row: Int, column: Int) { self = Position.allCases[row * 3 + column] }

  /// "at the top left", "on the left", "in the center".
  var phrase: String {
    switch self {
    case .left, .right: "on the \(rawValue)"
    case .center: "in the center"
    default: "at the \(rawValue)"
    }
  }
}

public enum ShapeSize: String, CaseIterable, Codable, Sendable {
  case small, large

  /// The shape's side as a fraction of the image side.
  var side: Double { self == .small ? 0.24 : 0.38 }
}

/// What a picture shows (and what its caption says).
public struct ShapeLabels: Codable, Hashable, Sendable {
  public var shape: Shape
  public var color: ShapeColor
  public var position: Position
  public var size: ShapeSize
  public var background: Background

  public init(shape: Shape, color: ShapeColor, position: Position, size: ShapeSize, background: Background) {
    (self.shape, self.color, self.position, self.size, self.background) = (shape, color, position, size, background)
  }

  /// "a small red triangle at the top left on a white background".
  public var caption: String { "a \(size.rawValue) \(color.rawValue) \(shape.rawValue) \(position.phrase) on a \(background.rawValue) background" }

  /// The labels a caption of this form names; nil for any other text.
  public init?(caption: String) {
    let words = caption.lowercased().split(whereSeparator: { $0 == " " || $0 == "," || $0 == "." }).map(String.init)
    func find<T: RawRepresentable & CaseIterable>(_: T.Type, in w: ArraySlice<String>) -> T? where T.RawValue == String {
      T.allCases.first { w.contains($0.rawValue) }
    }
    guard let on = words.lastIndex(of: "on"), on + 3 < words.count, words[on + 3] == "background",
          let background = Background(rawValue: words[on + 2]) else { return nil }
    let head = words[..<on]
    guard let shape = find(Shape.self, in: head), let color = find(ShapeColor.self, in: head),
          let size = find(ShapeSize.self, in: head) else { return nil }
    let row = head.contains("top") ? 0 : head.contains("bottom") ? 2 : 1
    let column = head.contains("left") ? 0 : head.contains("right") ? 2 : 1
    guard row != 1 || column != 1 || head.contains("center") else { return nil }
    self.init(shape: shape, color: color, position: Position(row: row, column: column), size: size, background: background)
  }

  /// The held-out prompts for evaluation: 54 distinct label sets (every shape, colour and
  /// position many times over) that the training shards never show.
  public static let heldOut: [ShapeLabels] = (0..<54).map { i in
    ShapeLabels(
      shape: Shape.allCases[i % 6], color: ShapeColor.allCases[i / 9], position: Position.allCases[i % 9],
      size: ShapeSize.allCases[(i / 3) % 2], background: Background.allCases[(i / 2) % 3])
  }
  static let heldOutSet = Set(heldOut)

  public var isHeldOut: Bool { Self.heldOutSet.contains(self) }

  public var json: [String: String] {
    ["shape": shape.rawValue, "color": color.rawValue, "position": position.rawValue, "size": size.rawValue, "background": background.rawValue]
  }
}

/// A picture to render: its labels and the small random offsets that keep pictures of the same
/// labels apart (centre and side jitter, a fraction of the image side).
public struct ShapeScene: Sendable, Equatable {
  public var labels: ShapeLabels
  public var dx = 0.0, dy = 0.0, dside = 0.0

  public init(labels: ShapeLabels, dx: Double = 0, dy: Double = 0, dside: Double = 0) {
    (self.labels, self.dx, self.dy, self.dside) = (labels, dx, dy, dside)
  }

  /// The centre of each grid cell along an axis, as a fraction of the image side.
  static let cellCentres = [0.22, 0.5, 0.78]
  static let jitter = 0.03

  public var centre: (x: Double, y: Double) {
    (Self.cellCentres[labels.position.column] + dx, Self.cellCentres[labels.position.row] + dy)
  }

  public var side: Double { labels.size.side + dside }

  /// A scene drawn from `next()` (a source of uniform values in [0, 1)): labels uniform over the
  /// training set (held-out label sets redrawn), offsets uniform within ±jitter.
  public static func random(_ next: () -> Double, includeHeldOut: Bool = false) -> ShapeScene {
    func pick<T: CaseIterable>(_: T.Type) -> T where T.AllCases.Index == Int {
      let all = T.allCases
      return all[min(Int(next() * Double(all.count)), all.count - 1)]
    }
    var labels: ShapeLabels
    repeat {
      labels = ShapeLabels(shape: pick(Shape.self), color: pick(ShapeColor.self), position: pick(Position.self), size: pick(ShapeSize.self), background: pick(Background.self))
    } while !includeHeldOut && labels.isHeldOut
    func j() -> Double { (next() * 2 - 1) * jitter }
    return ShapeScene(labels: labels, dx: j(), dy: j(), dside: j() / 2)
  }
}
