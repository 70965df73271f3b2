@_exported import TestSupport
import Foundation
import SafeTensors
import Testing
import Torch
import TorchNN

@testable import DiffusionModels

let unetFixtures = "\(repoRoot)/Tests/Fixtures/unet"

func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Double {
  try (a.to(.float64) - b.to(.float64)).abs().amax().item()
}

// Expected values: scripts/fixtures/make_unet_fixtures.py (diffusers 0.42.1, torch 2.11.0),
// tiny configs with every parameter perturbed.
@Suite("UNet2DConditionModel matches diffusers")
struct UNetParityTests {
  struct Inputs {
    let io: SafeTensorsFile
    let tag: String
    func t(_ k: String) throws -> Tensor { try Tensor.load("\(tag).\(k)", from: io) }
    func optional(_ k: String) throws -> Tensor? { io.info("\(tag).\(k)") == nil ? nil : try t(k) }
  }

  func forward(_ unet: UNet2DConditionModel, _ x: Inputs) throws -> Tensor {
    let added = try x.optional("text_embeds").map {
      UNet2DConditionModel.AddedConditions(textEmbeds: $0, timeIds: try x.t("time_ids"))
    }
    return try unet(
      x.t("sample"), timestep: x.t("timestep"), encoderHiddenStates: x.t("encoder_hidden_states"),
      timestepCond: x.optional("timestep_cond"), addedConditions: added)
  }

  @Test(arguments: ["sd1", "sd2", "lcm", "sdxl", "ssd"], ["a", "b"])
  func forwardMatches(name: String, tag: String) throws {
    let unet = try UNet2DConditionModel.load(folder: "\(unetFixtures)/\(name)")
    let io = try SafeTensorsFile(path: "\(unetFixtures)/\(name)/io.safetensors")
    let x = Inputs(io: io, tag: tag)
    let out = try Torch.noGrad { try forward(unet, x) }
    let expected = try x.t("out")
    #expect(out.shape == expected.shape)
    let diff = try maxAbsDiff(out, expected)
    #expect(diff < 1e-4, "\(name) \(tag): max abs diff \(diff)")
  }

  @Test(arguments: ["sd1", "sdxl", "ssd"], [false, true])
  func gradientsMatch(name: String, checkpointing: Bool) throws {
    let unet = try UNet2DConditionModel.load(folder: "\(unetFixtures)/\(name)")
    unet.store.isTraining = true
    unet.gradientCheckpointing = checkpointing
    let io = try SafeTensorsFile(path: "\(unetFixtures)/\(name)/io.safetensors")
    try forward(unet, Inputs(io: io, tag: "a")).square().mean().backward()
    for key in ["conv_in.weight", "time_embedding.linear_1.weight", "conv_out.bias"] {
      let diff = try maxAbsDiff(unet.store[key]!.tensor.grad!, Tensor.load("grad.\(key)", from: io))
      #expect(diff < 1e-5, "\(name) grad \(key): max abs diff \(diff)")
    }
  }
}

/// Per-layer depths (SSD-1B / Vega-style) are saved back as diffusers reads them.
@Suite("asymmetric UNet config")
struct AsymmetricConfigTests {
  @Test func perLayerDepthsRoundTrip() throws {
    let unet = try UNet2DConditionModel.load(folder: "\(unetFixtures)/ssd")
    let dir = NSTemporaryDirectory() + "ssd-\(UInt32.random(in: 0...UInt32.max))"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try unet.save(folder: dir)
    let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
    #expect("\(saved["transformer_layers_per_block"]!)" == "\([[1, 1], [1, 2], [2, 1]] as [Any])")
    #expect("\(saved["reverse_transformer_layers_per_block"]!)" == "\([[1, 2, 3], [2, 1, 1], [1, 1, 1]] as [Any])")
    let again = try UNet2DConditionModel.load(folder: dir)
    #expect(again.config.upTransformerLayers == unet.config.upTransformerLayers && again.config.downTransformerLayers == unet.config.downTransformerLayers)
  }
}

/// Full-size architectures built on the meta device have exactly diffusers' key → shape sets.
@Suite("full-size UNet architectures")
struct UNetArchitectureTests {
  @Test(arguments: ["sd15", "sd21", "sdxl", "lcm_sd15", "lcm_sdxl", "sdxl_refiner", "ssd_1b", "vega"])
  func keysAndShapes(name: String) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: "\(unetFixtures)/keys_\(name).json"))
    let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    let config = try UNet2DConditionConfig(reader: ConfigReader(file: "keys_\(name).json", values: json["config"] as! [String: Any]))
    let store = ParameterStore(device: .meta)
    _ = try UNet2DConditionModel(config: config, store: store)
    let expected = (json["shapes"] as! [String: [Int]])
    let actual = Dictionary(uniqueKeysWithValues: store.parameters.map { ($0.name, $0.tensor.shape) })
    let missing = Set(expected.keys).subtracting(actual.keys).sorted()
    let extra = Set(actual.keys).subtracting(expected.keys).sorted()
    #expect(missing.isEmpty, "missing: \(missing.prefix(5))")
    #expect(extra.isEmpty, "unexpected: \(extra.prefix(5))")
    let wrong = expected.filter { actual[$0.key] != nil && actual[$0.key] != $0.value }.keys.sorted()
    #expect(wrong.isEmpty, "shape mismatches: \(wrong.prefix(5))")
  }
}

@Suite("UNet bad input")
struct UNetBadInputTests {
  func reader(_ values: [String: Any]) -> ConfigReader { ConfigReader(file: "unet/config.json", values: values) }

  @Test(arguments: [
    (#"{"class_embed_type": "timestep"}"#, "class_embed_type"),
    (#"{"resnet_time_scale_shift": "scale_shift"}"#, "resnet_time_scale_shift"),
    (#"{"down_block_types": ["AttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"], "block_out_channels": [32, 64]}"#, "AttnDownBlock2D"),
    (#"{"num_attention_heads": 8}"#, "num_attention_heads"),
    (#"{"layers_per_block": [1, 2]}"#, "layers_per_block"),
    (#"{"transformer_layers_per_block": [1, [1, 1], 1, 1]}"#, "reverse_transformer_layers_per_block"),
    (#"{"transformer_layers_per_block": [1, [1], 1, 1], "reverse_transformer_layers_per_block": [1, 1, 1, 1]}"#, "transformer_layers_per_block[1] has 1 entries for 2 layers"),
    (#"{"addition_embed_type": "text"}"#, "addition_embed_type"),
    (#"{"block_out_channels": [32, 64, 48, 128], "norm_num_groups": 32}"#, "norm_num_groups"),
  ])
  func unsupportedValuesAreRefused(json: String, key: String) throws {
    let values = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
    do {
      _ = try UNet2DConditionConfig(reader: reader(values))
      Issue.record("config \(json) was accepted")
    } catch {
      let text = "\(error)"
      #expect(text.hasPrefix("unet/config.json: "))
      #expect(text.contains(key), "\(text)")
      #expect(!text.contains("\n"))
    }
  }

  @Test func missingWeightsAndPickles() throws {
    let dir = NSTemporaryDirectory() + "unet-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: "\(unetFixtures)/sd1/config.json", toPath: "\(dir)/config.json")
    #expect { _ = try UNet2DConditionModel.load(folder: dir) } throws: { "\($0)".contains("no weights found") }
    FileManager.default.createFile(atPath: "\(dir)/diffusion_pytorch_model.bin", contents: Data([0x80]))
    #expect { _ = try UNet2DConditionModel.load(folder: dir) } throws: { "\($0)".contains("diffusion_pytorch_model.bin: only a pickle") }
  }

  @Test func wrongShapesAreReportedTogether() throws {
    // sd1 weights into the lcm architecture: cond_proj is missing from the file
    let store = ParameterStore(device: .meta)
    _ = try UNet2DConditionModel(config: UNet2DConditionConfig(path: "\(unetFixtures)/lcm/config.json"), store: store)
    let path = "\(unetFixtures)/sd1/diffusion_pytorch_model.safetensors"
    #expect { try store.load(safetensors: path) } throws: { "\($0)".contains("missing keys: 'time_embedding.cond_proj.weight'") }
  }
}
