import Foundation
import SafeTensors
import Testing
import Torch
import TorchNN

@testable import DiffusionModels

// Expected values: scripts/fixtures/make_lora_fixtures.py (diffusers 0.42.1, peft 0.21.2): a PEFT
// LoRA (r=4, alpha=8) on the tiny SD1-like UNet, loaded by diffusers' load_lora_adapter.
@Suite("LoRA files load as diffusers loads them")
struct LoRATests {
  let io = try! SafeTensorsFile(path: "\(repoRoot)/Tests/Fixtures/lora/io.safetensors")

  func run(_ unet: UNet2DConditionModel) throws -> Tensor {
    try Torch.noGrad {
      try unet(Tensor.load("sample", from: io), timestep: Tensor.load("timestep", from: io),
               encoderHiddenStates: Tensor.load("encoder_hidden_states", from: io))
    }
  }

  @Test(arguments: ["peft", "kohya.safetensors"])
  func unfusedMatchesDiffusers(file: String) throws {
    let unet = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/unet/sd1")
    try unet.loadLoRA(path: "\(repoRoot)/Tests/Fixtures/lora/\(file)")
    #expect(try maxAbsDiff(run(unet), Tensor.load("out_lora", from: io)) < 1e-4)
    // the adapters apply, but their tensors live apart: saving the UNet writes no LoRA keys
    #expect(unet.store.loraTargets["down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"]?.lora.count == 1)
    #expect(!unet.store.names.contains { $0.contains("lora_") })
  }

  @Test func fusedAtHalfScaleMatchesDiffusers() throws {
    let unet = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/unet/sd1")
    let before = try run(unet)
    try unet.loadLoRA(path: "\(repoRoot)/Tests/Fixtures/lora/peft", scale: 0.5, fuse: true)
    #expect(try maxAbsDiff(run(unet), Tensor.load("out_fused_half", from: io)) < 1e-4)
    for (_, layer) in unet.store.loraTargets { try layer.unfuseLoRA() }
    for (_, layer) in unet.store.loraTargets { for a in layer.lora { a.scaling = 0 } }
    #expect(try maxAbsDiff(run(unet), before) < 1e-4)
  }

  @Test func keysMatchingNoModuleAreListed() throws {
    // the SDXL-like UNet has other modules: the sd1 LoRA's keys do not all fit
    let unet = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/unet/sdxl")
    #expect { try unet.loadLoRA(path: "\(repoRoot)/Tests/Fixtures/lora/kohya.safetensors") } throws: {
      let s = "\($0)"
      return s.contains("LoRA keys match no UNet module, e.g. 'lora_unet_") && !s.contains("\n")
    }
    #expect { try unet.loadLoRA(path: "\(repoRoot)/Tests/Fixtures/lora/peft") } throws: {
      "\($0)".contains("match no UNet module") || "\($0)".contains("do not fit")
    }
  }

  @Test func keySpellings() {
    #expect(LoRAFile.split("unet.a.attn1.processor.to_out_lora.down.weight")! == ("unet.a.attn1.to_out.0", .down))
    #expect(LoRAFile.split("lora_unet_x_y.alpha")! == ("lora_unet_x_y", .alpha))
    #expect(LoRAFile.split("unet.m.lora_B.default.weight")! == ("unet.m", .up))
    #expect(LoRAFile.split("unet.m.weight") == nil)
  }
}

/// The files the upstream LoRA script (train_lcm_distill_lora_sd_wds.py) writes, made with its own
/// steps and its kohya helper by scripts/fixtures/make_upstream_lora_fixtures.py (r 4, lora_alpha
/// 8): each loads and reproduces the PEFT model's output.
@Suite("the upstream LoRA script's files load", .serialized)
struct UpstreamLoRATests {
  static let made = LiveFixture.make("scripts/fixtures/make_upstream_lora_fixtures.py", name: "upstream-lora")

  /// run/: PEFT's save_pretrained (base_model.model.… keys, alpha in adapter_config.json);
  /// run/unet_lora: unet.base_model.model.… keys (diffusers refuses them), alpha from the run
  /// folder's adapter_config.json; kohya.safetensors: lora_unet_… keys with .alpha.
  @Test(arguments: ["run", "run/unet_lora", "kohya.safetensors"])
  func reproducesThePEFTModel(file: String) throws {
    let dir = try Self.made.get()
    // the kohya file needs the upstream script itself (kohya keys are covered by LoRATests too)
    if file == "kohya.safetensors", !FileManager.default.fileExists(atPath: "\(dir)/\(file)") {
      print("skipped: the upstream script was not found, so \(file) was not made")
      return
    }
    let io = try SafeTensorsFile(path: "\(dir)/expected.safetensors")
    let unet = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/pipeline/base/unet")
    try unet.loadLoRA(path: "\(dir)/\(file)")
    let out = try Torch.noGrad {
      try unet(Tensor.load("sample", from: io), timestep: Tensor.load("timestep", from: io),
               encoderHiddenStates: Tensor.load("encoder_hidden_states", from: io))
    }
    let expected = try Tensor.load("out", from: io)
    let d = try maxAbsDiff(out, expected)
    #expect(d < 1e-4, "\(file): \(d)")
    #expect(try (expected - UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/pipeline/base/unet")(
      Tensor.load("sample", from: io), timestep: Tensor.load("timestep", from: io),
      encoderHiddenStates: Tensor.load("encoder_hidden_states", from: io))).abs().amax().item() > 1e-2, "the LoRA changes the output")
  }
}
