import Foundation
import Testing
import TestSupport
import Torch
import TorchNN

@testable import DiffusionModels

/// A fixture component folder (under Tests/Fixtures) with one config.json field set to a bad
/// value, and the field the error must name.
struct BadConfigValue: Sendable, CustomTestStringConvertible {
  let fixture: String
  let key: String
  /// The value, as JSON text.
  let json: String
  /// What the one-line error must contain (the key, or the entry `key[i]`).
  let field: String

  init(_ fixture: String, _ key: String, _ json: String, field: String? = nil) {
    self.fixture = fixture
    self.key = key
    self.json = json
    self.field = field ?? key
  }

  var testDescription: String { "\(fixture): \(key) = \(json)" }
}

let int64Max = "9223372036854775807"  // 2^63-1
let twoTo62 = "4611686018427387904"
let twoTo64 = "18446744073709551616"

/// Copies a fixture folder as links, with config.json rewritten; the caller removes it.
func fixtureCopy(_ fixture: String, setting changes: [String: Any]) throws -> String {
  let fm = FileManager.default
  let src = "\(repoRoot)/Tests/Fixtures/\(fixture)"
  let dir = NSTemporaryDirectory() + "cfg-\(UInt64.random(in: 0...UInt64.max))"
  try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
  for name in try fm.contentsOfDirectory(atPath: src) where name != "config.json" {
    try fm.createSymbolicLink(atPath: "\(dir)/\(name)", withDestinationPath: "\(src)/\(name)")
  }
  let data = try Data(contentsOf: URL(fileURLWithPath: "\(src)/config.json"))
  var config = try JSONSerialization.jsonObject(with: data) as! [String: Any]
  for (key, value) in changes { config[key] = value }
  try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: "\(dir)/config.json"))
  return dir
}

/// Loads a component folder with the loader of its kind (named by the fixture's first folder).
func loadComponent(_ fixture: String, folder: String) throws -> ParameterStore {
  if fixture.hasPrefix("unet") || fixture.hasSuffix("/unet") { return try UNet2DConditionModel.load(folder: folder).store }
  if fixture.hasPrefix("vae") || fixture.hasSuffix("/vae") { return try AutoencoderKL.load(folder: folder).store }
  return try CLIPTextModel.load(folder: folder).store
}

func jsonValue(_ text: String) throws -> Any {
  try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}

@Suite("config values that size or divide are validated")
struct ConfigValidationTests {
  static let cases: [BadConfigValue] = [
    // UNet2DConditionModel
    .init("unet/sd1", "norm_num_groups", "0"),
    .init("unet/sd1", "norm_num_groups", "-4"),
    .init("unet/sd1", "norm_num_groups", "3"),  // 8 channels are not divisible by 3
    .init("unet/sd1", "norm_num_groups", int64Max),
    .init("unet/sd1", "layers_per_block", "-1"),
    .init("unet/sd1", "layers_per_block", "[2, -1]", field: "layers_per_block[1]"),
    .init("unet/sd1", "layers_per_block", int64Max),
    .init("unet/sd1", "layers_per_block", "1.5"),
    .init("unet/sd1", "layers_per_block", "1e30"),
    .init("unet/sd1", "layers_per_block", twoTo64),
    .init("unet/sd1", "transformer_layers_per_block", "-1"),
    .init("unet/sd1", "transformer_layers_per_block", twoTo62),
    .init("unet/sdxl", "transformer_layers_per_block", "[1, -1]", field: "transformer_layers_per_block[1]"),
    .init("unet/sd1", "in_channels", int64Max),
    .init("unet/sd1", "in_channels", "0"),
    .init("unet/sd1", "in_channels", "-4"),
    .init("unet/sd1", "out_channels", "0"),
    .init("unet/sd1", "out_channels", int64Max),
    .init("unet/sd1", "conv_in_kernel", int64Max),
    .init("unet/sd1", "conv_in_kernel", "0"),
    .init("unet/sd1", "conv_in_kernel", "-3"),
    .init("unet/sd1", "conv_out_kernel", int64Max),
    .init("unet/sd1", "conv_out_kernel", "4"),  // even: no "same" padding
    .init("unet/sd1", "sample_size", twoTo62),
    .init("unet/sd1", "sample_size", "0"),
    .init("unet/sd1", "block_out_channels", "[8, -16]", field: "block_out_channels[1]"),
    .init("unet/sd1", "block_out_channels", "[\(int64Max), 16]", field: "block_out_channels[0]"),
    .init("unet/sd1", "block_out_channels", "[0, 16]", field: "block_out_channels[0]"),
    .init("unet/sd1", "block_out_channels", "[]", field: "block_out_channels"),
    .init("unet/sd1", "block_out_channels", "[8, 18]", field: "norm_num_groups"),  // 18 is not divisible by 4
    .init("unet/sd1", "down_block_types", "[]"),
    .init("unet/sd1", "attention_head_dim", "0"),
    .init("unet/sd1", "attention_head_dim", "-2"),
    .init("unet/sd1", "attention_head_dim", "100"),  // more heads than the 8 channels
    .init("unet/sd1", "attention_head_dim", int64Max),
    .init("unet/sd1", "attention_head_dim", #""8""#),
    .init("unet/sdxl", "attention_head_dim", "[2, 0]", field: "attention_head_dim[1]"),
    .init("unet/sd1", "cross_attention_dim", "0"),
    .init("unet/sd1", "cross_attention_dim", "-12"),
    .init("unet/sd1", "cross_attention_dim", int64Max),
    .init("unet/lcm", "time_cond_proj_dim", "0"),
    .init("unet/lcm", "time_cond_proj_dim", int64Max),
    .init("unet/sd1", "downsample_padding", "-1"),
    .init("unet/sd1", "downsample_padding", int64Max),
    .init("unet/sd1", "freq_shift", int64Max),
    .init("unet/sd1", "mid_block_scale_factor", "0"),
    .init("unet/sd1", "resnet_out_scale_factor", "0"),
    .init("unet/sd1", "dropout", "2"),
    .init("unet/sdxl", "addition_time_embed_dim", "0"),
    .init("unet/sdxl", "addition_time_embed_dim", int64Max),
    .init("unet/sdxl", "projection_class_embeddings_input_dim", "-1"),
    // AutoencoderKL
    .init("vae/vae", "layers_per_block", "-1"),
    .init("vae/vae", "layers_per_block", int64Max),
    .init("vae/vae", "norm_num_groups", "0"),
    .init("vae/vae", "norm_num_groups", "3"),
    .init("vae/vae", "block_out_channels", "[8, 0]", field: "block_out_channels[1]"),
    .init("vae/vae", "block_out_channels", "[8, 18]", field: "norm_num_groups"),
    .init("vae/vae", "block_out_channels", "-8"),
    .init("vae/vae", "down_block_types", "[]"),
    .init("vae/vae", "in_channels", int64Max),
    .init("vae/vae", "out_channels", "0"),
    .init("vae/vae", "latent_channels", "0"),
    .init("vae/vae", "latent_channels", int64Max),
    .init("vae/vae", "sample_size", twoTo62),
    .init("vae/vae", "scaling_factor", "0"),
    // CLIP text encoders
    .init("clip/clip_sd1", "num_hidden_layers", "-1"),
    .init("clip/clip_sd1", "num_hidden_layers", twoTo62),
    .init("clip/clip_sd1", "num_attention_heads", "0"),
    .init("clip/clip_sd1", "num_attention_heads", "5"),  // 32 is not divisible by 5
    .init("clip/clip_sd1", "num_attention_heads", "64"),  // more heads than hidden_size 32
    .init("clip/clip_sd1", "hidden_size", "0"),
    .init("clip/clip_sd1", "hidden_size", int64Max),
    .init("clip/clip_sd1", "intermediate_size", "-1"),
    .init("clip/clip_sd1", "vocab_size", "0"),
    .init("clip/clip_sd1", "vocab_size", int64Max),
    .init("clip/clip_sd1", "max_position_embeddings", "0"),
    .init("clip/clip_sdxl2", "projection_dim", "0"),
    .init("clip/clip_sdxl2", "projection_dim", int64Max),
  ]

  @Test(arguments: cases)
  func badValueIsAOneLineErrorNamingFileAndField(_ c: BadConfigValue) throws {
    let dir = try fixtureCopy(c.fixture, setting: [c.key: try jsonValue(c.json)])
    defer { try? FileManager.default.removeItem(atPath: dir) }
    do {
      _ = try loadComponent(c.fixture, folder: dir)
      Issue.record("\(c.testDescription) was accepted")
    } catch let error as ConfigError {
      let text = "\(error)"
      #expect(error.file == "\(dir)/config.json", "\(text)")
      #expect(text.hasPrefix("\(dir)/config.json: "), "\(text)")
      #expect(text.contains(c.field), "\(text)")
      #expect(!text.contains("\n"))
    } catch {
      Issue.record("\(c.testDescription): not a ConfigError: \(error)")
    }
  }

  /// A full CLIPConfig nests the text side; its errors name the nested key.
  @Test func nestedTextConfigNamesTheNestedKey() throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: "\(repoRoot)/Tests/Fixtures/clip/clip_sd1/config.json"))
    var text = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    text["num_attention_heads"] = 0
    #expect { _ = try CLIPTextConfig(reader: ConfigReader(file: "clip/config.json", values: ["text_config": text])) } throws: {
      "\($0)".hasPrefix("clip/config.json: text_config.num_attention_heads = 0 is out of range")
    }
  }

  /// Every component config of the fixtures still loads, with its weights.
  @Test(arguments: [
    "unet/sd1", "unet/sd2", "unet/sdxl", "unet/lcm", "vae/vae", "vae/vae_legacy", "vae/vae_noquant", "clip/clip_sd1",
    "clip/clip_sdxl2", "pipeline/base/unet", "pipeline/base/vae", "pipeline/base/text_encoder", "pipeline/lcm/unet",
    "pipeline/lcm/vae", "pipeline/lcm/text_encoder",
  ])
  func fixturesStillLoad(_ fixture: String) throws {
    _ = try loadComponent(fixture, folder: "\(repoRoot)/Tests/Fixtures/\(fixture)")
  }

  /// Blocks without attention ignore their attention settings, as diffusers does: any value loads.
  /// In the sdxl fixture block 0 is DownBlock2D / UpBlock2D and the mid block uses block 1's.
  @Test func attentionSettingsOfBlocksWithoutAttentionAreIgnored() throws {
    let dir = try fixtureCopy("unet/sdxl", setting: [
      "attention_head_dim": [0, 4], "cross_attention_dim": [-5, 16], "transformer_layers_per_block": [-1, 2],
    ])
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let unet = try UNet2DConditionModel.load(folder: dir)
    let reference = try UNet2DConditionModel.load(folder: "\(unetFixtures)/sdxl")
    #expect(unet.store.names == reference.store.names)
  }

  /// diffusers floors channels / heads: heads need not divide the channels (diffusers builds it).
  @Test func headsNeedNotDivideChannels() throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: "\(unetFixtures)/sd1/config.json"))
    var values = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    values["attention_head_dim"] = 3
    let config = try UNet2DConditionConfig(reader: ConfigReader(file: "unet/config.json", values: values))
    let store = ParameterStore(device: .meta)
    _ = try UNet2DConditionModel(config: config, store: store)
    // 8 channels, 3 heads of 2 dims: proj_in maps 8 → 6
    #expect(store["down_blocks.0.attentions.0.proj_in.weight"]?.tensor.shape == [6, 8, 1, 1])
  }

  /// libtorch errors raised while building or loading name the file and the step.
  @Test func torchErrorsNameTheFile() throws {
    #expect {
      try ModelFiles.step("/m/unet/config.json", "building the UNet") { () throws -> Int in
        throw TorchError(op: "Conv2d", message: "first line\nsecond line")
      }
    } throws: {
      "\($0)" == "/m/unet/config.json: building the UNet failed: Conv2d: first line second line"
    }
    // other errors pass through unchanged
    #expect {
      try ModelFiles.step("/m/unet/config.json", "building the UNet") { () throws -> Int in throw ConfigError("x", "y") }
    } throws: { "\($0)" == "x: y" }
  }

  /// Integers are read exactly: no silent wrap or truncation of big or fractional numbers.
  @Test func integersAreExact() throws {
    let values = try JSONSerialization.jsonObject(
      with: Data(#"{"a": 9223372036854775807, "b": 9223372036854775808, "c": 1e30, "d": 2.0, "e": 2.5, "f": [1, 2.5]}"#.utf8))
      as! [String: Any]
    let r = ConfigReader(file: "f.json", values: values)
    #expect(try r.optionalInt("a") == Int.max)
    #expect(throws: ConfigError.self) { try r.optionalInt("b") }
    #expect(throws: ConfigError.self) { try r.optionalInt("c") }
    #expect(try r.optionalInt("d") == 2)
    #expect(throws: ConfigError.self) { try r.optionalInt("e") }
    #expect { try r.intOrList("f", count: 2, nil) } throws: { "\($0)".contains("f[1] must be an integer") }
    #expect { try r.int("a", 1, in: 0...10) } throws: { "\($0)" == "f.json: a = 9223372036854775807 is out of range (expected 0...10)" }
  }
}

/// Each config is one Codable round trip: decoding what encoding wrote gives the same config
/// (nothing lost to a hand-kept key list), and a fixture's file decodes to what its re-encoding
/// decodes to.
@Suite("configs round-trip through Codable")
struct ConfigRoundTripTests {
  static let unets = ["sd1", "sd2", "sdxl", "lcm"].map { "\(repoRoot)/Tests/Fixtures/unet/\($0)/config.json" }
    .filter { FileManager.default.fileExists(atPath: $0) }

  func roundTrip<C: DiffusersConfig>(_ type: C.Type, _ path: String) throws {
    let original = try C(reader: ConfigReader(path: path))
    let encoded = try original.jsonData()
    let decoded = try JSONDecoder().decode(C.self, from: encoded)
    #expect(try decoded.jsonData() == encoded, "\(path): a second round trip changes the config")
    let fromFile = try JSONDecoder().decode(C.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(try fromFile.jsonData() == encoded, "\(path): decoding the file and the encoding differ")
  }

  @Test func unetConfigs() throws {
    #expect(Self.unets.count >= 3)
    for path in Self.unets { try roundTrip(UNet2DConditionConfig.self, path) }
  }

  @Test func vaeAndTextEncoderConfigs() throws {
    for name in ["base", "lcm"] {
      try roundTrip(AutoencoderKLConfig.self, "\(repoRoot)/Tests/Fixtures/pipeline/\(name)/vae/config.json")
      try roundTrip(CLIPTextConfig.self, "\(repoRoot)/Tests/Fixtures/pipeline/\(name)/text_encoder/config.json")
    }
  }

  @Test func aBadValueStillFailsWhenDecoding() throws {
    let data = Data(#"{"block_out_channels": [32, 64], "norm_num_groups": 0}"#.utf8)
    #expect(throws: (any Error).self) { try JSONDecoder().decode(UNet2DConditionConfig.self, from: data) }
  }
}
