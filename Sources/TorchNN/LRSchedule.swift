import Foundation

/// diffusers' `get_scheduler(name, num_warmup_steps, num_training_steps)`: the learning-rate
/// multiplier of LambdaLR at a step (lr = base_lr · multiplier(step)).
public struct LRSchedule: Sendable {
  public enum Kind: String, Sendable, CaseIterable {
    case constant, constantWithWarmup = "constant_with_warmup", linear, cosine
    case cosineWithRestarts = "cosine_with_restarts", polynomial, piecewiseConstant = "piecewise_constant"
  }

  public let kind: Kind
  public let warmupSteps: Int
  public let trainingSteps: Int
  public let baseLR: Double
  /// cosine_with_restarts: get_scheduler's num_cycles (1); cosine uses its own default 0.5.
  public var numCycles = 1.0
  /// polynomial: get_scheduler's power (1) and the function's lr_end (1e-7).
  public var power = 1.0
  public var lrEnd = 1e-7
  /// piecewise_constant: "1:10,0.1:20,0.01".
  public var stepRules: String?

  public init(_ kind: Kind, warmupSteps: Int, trainingSteps: Int, baseLR: Double) {
    self.kind = kind
    self.warmupSteps = warmupSteps
    self.trainingSteps = trainingSteps
    self.baseLR = baseLR
  }

  /// Parses the scripts' --lr_scheduler names.
  public init(name: String, warmupSteps: Int, trainingSteps: Int, baseLR: Double) throws {
    guard let kind = Kind(rawValue: name) else {
      throw LRScheduleError("--lr_scheduler '\(name)' is not one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    self.init(kind, warmupSteps: warmupSteps, trainingSteps: trainingSteps, baseLR: baseLR)
  }

  public func learningRate(step: Int) throws -> Double { baseLR * (try multiplier(step: step)) }

  public func multiplier(step s: Int) throws -> Double {
    let step = Double(s), warm = Double(warmupSteps), total = Double(trainingSteps)
    func warmup() -> Double { step / Double(max(1, warmupSteps)) }
    switch kind {
    case .constant: return 1
    case .constantWithWarmup: return s < warmupSteps ? step / max(1.0, warm) : 1
    case .linear:
      if s < warmupSteps { return warmup() }
      return max(0, (total - step) / Double(max(1, trainingSteps - warmupSteps)))
    case .cosine:
      if s < warmupSteps { return warmup() }
      let progress = (step - warm) / Double(max(1, trainingSteps - warmupSteps))
      return max(0, 0.5 * (1 + cos(Double.pi * 0.5 * 2 * progress)))
    case .cosineWithRestarts:
      if s < warmupSteps { return warmup() }
      let progress = (step - warm) / Double(max(1, trainingSteps - warmupSteps))
      if progress >= 1 { return 0 }
      return max(0, 0.5 * (1 + cos(Double.pi * (numCycles * progress).truncatingRemainder(dividingBy: 1))))
    case .polynomial:
      guard lrEnd < baseLR else { throw LRScheduleError("lr_end (\(lrEnd)) must be smaller than initial lr (\(baseLR))") }
      if s < warmupSteps { return warmup() }
      if s > trainingSteps { return lrEnd / baseLR }
      let remaining = 1 - (step - warm) / (total - warm)
      return ((baseLR - lrEnd) * pow(remaining, power) + lrEnd) / baseLR
    case .piecewiseConstant:
      guard let rules = stepRules else { throw LRScheduleError("piecewise_constant needs step rules") }
      let parts = rules.split(separator: ",")
      var pairs: [(Int, Double)] = []
      for rule in parts.dropLast() {
        let kv = rule.split(separator: ":")
        guard kv.count == 2, let v = Double(kv[0]), let n = Int(kv[1]) else { throw LRScheduleError("bad step rule '\(rule)'") }
        pairs.append((n, v))
      }
      guard let last = parts.last.flatMap({ Double($0) }) else { throw LRScheduleError("bad step rules '\(rules)'") }
      for (n, v) in pairs.sorted(by: { $0.0 < $1.0 }) where s < n { return v }
      return last
    }
  }
}

public struct LRScheduleError: Error, CustomStringConvertible, Sendable {
  public let description: String
  init(_ d: String) { description = d }
}
