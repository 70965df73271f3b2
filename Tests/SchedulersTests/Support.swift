@_exported import TestSupport
import Foundation
import Schedulers
import Torch

// Expected values: scripts/fixtures/make_scheduler_fixtures.py (diffusers 0.42.1, torch 2.11.0).

let fixtureDir = "\(repoRoot)/Tests/Fixtures/schedulers"

/// The fixture configs, each a scheduler_config.json folder.
let configNames = ["sd15", "sd21v", "lcm", "trailing", "zsnr", "cosine", "linear", "trained"]
func configFolder(_ name: String) -> String { "\(fixtureDir)/configs/\(name)" }

typealias JSON = [String: Any]

/// The float-valued expectations, made again on this machine: libtorch's float32 CPU kernels
/// (AVX2 or AVX-512 paths, vectorised sin/exp) differ in the last bits from one CPU to another,
/// and the parity claim is "identical to torch on the same CPU". The committed copies are the
/// record of the machine that made them; integer timesteps are compared from them directly.
let localFixtureDir = LiveFixture.make("scripts/fixtures/make_scheduler_fixtures.py", name: "scheduler-fixtures")

func loadFixture(_ file: String) throws -> JSON {
  let dir = file == "timesteps.json" ? fixtureDir : try localFixtureDir.get()
  let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(file)"))
  return try JSONSerialization.jsonObject(with: data) as! JSON
}

extension Dictionary where Key == String, Value == Any {
  func obj(_ k: String) -> JSON { self[k] as! JSON }
  func list(_ k: String) -> [JSON] { self[k] as! [JSON] }
  func ints(_ k: String) -> [Int] { (self[k] as! [NSNumber]).map(\.intValue) }
  func floats(_ k: String) -> [Float] { (self[k] as! [NSNumber]).map(\.floatValue) }
  func double(_ k: String) -> Double { (self[k] as! NSNumber).doubleValue }
  func int(_ k: String) -> Int { (self[k] as! NSNumber).intValue }
  func string(_ k: String) -> String { self[k] as! String }
  func tensor(_ k: String) throws -> Tensor { try makeTensor(obj(k)) }
}

/// {"dtype", "shape", "data"} as written by the fixture script's `tensor()`.
func makeTensor(_ j: JSON) throws -> Tensor {
  let shape = j.ints("shape")
  let data = j["data"] as! [NSNumber]
  switch j.string("dtype") {
  case "float64": return try Tensor(data.map(\.doubleValue), shape: shape)
  case "int64": return try Tensor(data.map(\.int64Value), shape: shape)
  case "float16": return try Tensor(data.map(\.floatValue), shape: shape).to(.float16)
  default: return try Tensor(data.map(\.floatValue), shape: shape)
  }
}

func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Double {
  try (a.to(.float64) - b.to(.float64)).abs().amax().item()
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Double {
  zip(a, b).map { abs(Double($0) - Double($1)) }.max() ?? 0
}

/// Largest |a−b| / max(1, |b|): float tables near 1 and tensors of any scale on one footing.
func maxScaledDiff(_ a: Tensor, _ b: Tensor) throws -> Double {
  let a64 = try a.to(.float64), b64 = try b.to(.float64)
  return try ((a64 - b64).abs() / b64.abs().clamp(min: 1)).amax().item()
}
