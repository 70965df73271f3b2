import DiffusionModels
import Foundation
import Schedulers
import Testing
import Torch

@Suite("noise tables match diffusers")
struct TableTests {
  @Test(arguments: configNames)
  func ddpmTables(name: String) throws {
    let expected = try loadFixture("tables.json").obj(name)
    let ddpm = try DDPMScheduler(folder: configFolder(name))
    #expect(ddpm.betas.count == expected.floats("ddpm_betas").count)
    #expect(maxAbsDiff(ddpm.betas, expected.floats("ddpm_betas")) <= 1e-6, "\(name) betas")
    #expect(maxAbsDiff(ddpm.alphasCumprod, expected.floats("ddpm_alphas_cumprod")) <= 1e-6, "\(name) alphas_cumprod")
    #expect(ddpm.config.predictionType.rawValue == expected.string("ddpm_prediction_type"))
    #expect(ddpm.config.clipSample == (expected["ddpm_clip_sample"] as! Bool))
  }

  /// LCMScheduler and DDIMScheduler read the same keys with their own defaults; on these configs
  /// diffusers gives all three the same tables.
  @Test(arguments: configNames)
  func lcmAndDDIMTables(name: String) throws {
    let expected = try loadFixture("tables.json").obj(name)
    let lcm = try LCMScheduler(folder: configFolder(name))
    let ddim = try DDIMScheduler(folder: configFolder(name))
    #expect(maxAbsDiff(lcm.alphasCumprod, expected.floats("ddpm_alphas_cumprod")) <= 1e-6)
    #expect(maxAbsDiff(ddim.alphasCumprod, expected.floats("ddpm_alphas_cumprod")) <= 1e-6)
    #expect(abs(Double(lcm.finalAlphaCumprod) - expected.double("lcm_final_alpha_cumprod")) <= 1e-7)
    #expect(abs(Double(ddim.finalAlphaCumprod) - expected.double("ddim_final_alpha_cumprod")) <= 1e-7)
    #expect(lcm.config.timestepScaling == expected.double("lcm_timestep_scaling"))
    #expect(lcm.config.clipSample == (expected["lcm_clip_sample"] as! Bool))
    #expect(lcm.config.stepsOffset == expected.int("lcm_steps_offset"))
  }

  @Test(arguments: configNames)
  func addNoiseAndVelocity(name: String) throws {
    let c = try loadFixture("tables.json").obj(name).obj("add_noise")
    let ddpm = try DDPMScheduler(folder: configFolder(name))
    let x0 = try c.tensor("x0"), noise = try c.tensor("noise"), t = try c.tensor("timesteps")
    let out = try ddpm.addNoise(originalSamples: x0, noise: noise, timesteps: t)
    #expect(try maxAbsDiff(out, c.tensor("out")) <= 1e-6)
    let half = try ddpm.addNoise(originalSamples: x0.to(.float16), noise: noise.to(.float16), timesteps: t)
    #expect(half.dtype == .float16)
    #expect(try maxAbsDiff(half, c.tensor("out_fp16")) == 0, "fp16 coefficients, as diffusers casts ᾱ first")
    let v = try ddpm.getVelocity(sample: x0, noise: noise, timesteps: t)
    #expect(try maxAbsDiff(v, c.tensor("velocity")) <= 1e-6)
  }

  /// The reference's float64 recomputation (§2.1) agrees with the float32 table to float32 precision.
  @Test func sd15ReferenceValues() throws {
    let acp = try DDPMScheduler(folder: configFolder("sd15")).alphasCumprod
    for (t, v) in [(0, 0.999150), (19, 0.982244), (259, 0.658976), (499, 0.277670), (759, 0.052213), (999, 0.004660)] {
      #expect(abs(Double(acp[t]) - v) < 1e-6, "ᾱ_\(t)")
    }
  }

  @Test func cumprodAccumulatesInDouble() {
    // three factors whose float32 running product rounds differently from torch's
    let x: [Float] = [0.9991, 0.9982, 0.9973, 0.9964]
    var acc = 1.0
    let expected = x.map { acc *= Double($0); return Float(acc) }
    #expect(NoiseSchedule.cumprod(x) == expected)
  }
}

@Suite("bad scheduler configs")
struct BadConfigTests {
  func write(_ values: JSON) throws -> String {
    let dir = "/tmp/swift-lcm-sched-\(UInt64.random(in: 0...UInt64.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let data = try JSONSerialization.data(withJSONObject: values)
    try data.write(to: URL(fileURLWithPath: "\(dir)/scheduler_config.json"))
    return dir
  }

  /// (key, JSON value)
  @Test(arguments: [
    ("beta_schedule", #""cosine""#),
    ("beta_schedule", #""sigmoid""#),
    ("timestep_spacing", #""karras""#),
    ("prediction_type", #""flow_prediction""#),
    ("num_train_timesteps", #""1000""#),
    ("trained_betas", "[0.1, 0.2]"),
    ("clip_sample", #""yes""#),
    ("dynamic_thresholding_ratio", "1.5"),
  ])
  func refusedWithKeyAndFile(key: String, json: String) throws {
    let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
    var values: JSON = ["beta_schedule": "scaled_linear"]
    values[key] = value
    let dir = try write(values)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for load in [
      { _ = try LCMScheduler(folder: dir) }, { _ = try DDIMScheduler(folder: dir) }, { _ = try DDPMScheduler(folder: dir) },
    ] as [() throws -> Void] {
      do {
        try load()
        Issue.record("\(key) = \(value) was accepted")
      } catch {
        let text = "\(error)"
        #expect(text.contains("scheduler_config.json") && text.contains(key), "\(text)")
        #expect(!text.contains("\n"))
      }
    }
  }

  @Test func ddpmVarianceTypeChecked() throws {
    let dir = try write(["variance_type": "fixed_huge"])
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(throws: ConfigError.self) { try DDPMScheduler(folder: dir) }
  }

  @Test func missingFileNamesIt() throws {
    do {
      _ = try LCMScheduler(folder: "/nonexistent/scheduler")
      Issue.record("no error")
    } catch {
      #expect("\(error)".contains("/nonexistent/scheduler/scheduler_config.json"))
    }
  }

  /// diffusers' from_config drops keys listed in `_use_default_values` (fixture "trailing" lists
  /// clip_sample = true): LCM keeps its default false, DDIM its default true.
  @Test func useDefaultValuesHonoured() throws {
    #expect(try LCMScheduler(folder: configFolder("trailing")).config.clipSample == false)
    #expect(try DDIMScheduler(folder: configFolder("trailing")).config.clipSample == true)
  }
}
