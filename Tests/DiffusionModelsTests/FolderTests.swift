import Foundation
import Testing
import Torch
import TorchNN

@testable import DiffusionModels

@Suite("model folders and the hub cache")
struct FolderTests {
  /// A pipeline folder of the tiny fixtures, and a fake hub cache holding it at two revisions.
  func makeHub() throws -> (hubHome: String, snapshot: String) {
    let fm = FileManager.default
    let home = NSTemporaryDirectory() + "hf-\(UInt32.random(in: 0...UInt32.max))"
    let repo = "\(home)/hub/models--tiny--lcm-pipe"
    let snapshot = "\(repo)/snapshots/0123abcd"
    try fm.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
    try fm.createDirectory(atPath: "\(repo)/refs", withIntermediateDirectories: true)
    try "0123abcd".write(toFile: "\(repo)/refs/main", atomically: true, encoding: .utf8)
    let f = "\(repoRoot)/Tests/Fixtures"
    try fm.createSymbolicLink(atPath: "\(snapshot)/unet", withDestinationPath: "\(f)/unet/lcm")
    try fm.createSymbolicLink(atPath: "\(snapshot)/vae", withDestinationPath: "\(f)/vae/vae")
    try fm.createSymbolicLink(atPath: "\(snapshot)/text_encoder", withDestinationPath: "\(f)/clip/clip_sd1")
    let index = #"{"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1", "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"], "safety_checker": [null, null]}"#
    try index.write(toFile: "\(snapshot)/model_index.json", atomically: true, encoding: .utf8)
    return (home, snapshot)
  }

  @Test func resolvesHubIdsThroughRefs() throws {
    let (home, snapshot) = try makeHub()
    let env = ["HF_HOME": home]
    #expect(try ModelLocator.resolve("tiny/lcm-pipe", environment: env) == snapshot)
    #expect(try ModelLocator.resolve("tiny/lcm-pipe", revision: "0123abcd", environment: env) == snapshot)
    #expect(try ModelLocator.resolve("tiny/lcm-pipe", environment: ["HF_HUB_CACHE": "\(home)/hub"]) == snapshot)
    #expect { try ModelLocator.resolve("tiny/lcm-pipe", revision: "v2", environment: env) } throws: {
      "\($0)".contains("revision 'v2' is not in the Hugging Face cache")
    }
    #expect { try ModelLocator.resolve("nobody/nothing", environment: env) } throws: { "\($0)".hasPrefix("nobody/nothing: ") }
    #expect { try ModelLocator.resolve("./missing/folder", environment: env) } throws: { "\($0)".contains("no such model folder") }
  }

  @Test func pipelineFolderComponents() throws {
    let (_, snapshot) = try makeHub()
    let pipe = try DiffusersPipelineFolder(snapshot)
    #expect(pipe.pipelineClass == "StableDiffusionPipeline")
    #expect(pipe.has("unet") && pipe.has("vae") && !pipe.has("safety_checker"))
    let unet = try UNet2DConditionModel.load(folder: try pipe.component("unet"))
    #expect(unet.config.timeCondProjDim == 6)
    _ = try CLIPTextModel.load(folder: try pipe.component("text_encoder"))
    #expect { try pipe.component("text_encoder_2") } throws: { "\($0)".contains("has no text_encoder_2/ component") }
    #expect { try DiffusersPipelineFolder("\(repoRoot)/Tests/Fixtures/unet/sd1") } throws: {
      "\($0)".contains("model_index.json: missing")
    }
  }

  @Test func loadsWithDTypeConversion() throws {
    let unet = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/unet/sd1", dtype: .bfloat16)
    #expect(unet.store.parameters.allSatisfy { $0.tensor.dtype == .bfloat16 })
  }
}

/// Full-size VAEs and text encoders on the meta device have exactly the key → shape sets of
/// diffusers / transformers (scripts/fixtures/make_arch_keys.py).
@Suite("full-size VAE and text encoder architectures")
struct ArchitectureKeyTests {
  @Test(arguments: ["vae_sd", "vae_sdxl", "clip_l", "clip_h", "clip_bigg"])
  func keysAndShapes(name: String) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: "\(repoRoot)/Tests/Fixtures/arch/keys_\(name).json"))
    let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    let reader = ConfigReader(file: "keys_\(name).json", values: json["config"] as! [String: Any])
    let store = ParameterStore(device: .meta)
    if name.hasPrefix("vae") {
      _ = try AutoencoderKL(config: AutoencoderKLConfig(reader: reader), store: store)
    } else {
      _ = try CLIPTextModel(config: CLIPTextConfig(reader: reader), store: store)
    }
    let expected = json["shapes"] as! [String: [Int]]
    let actual = Dictionary(uniqueKeysWithValues: store.parameters.map { ($0.name, $0.tensor.shape) })
    #expect(Set(expected.keys).subtracting(actual.keys).isEmpty, "missing: \(Set(expected.keys).subtracting(actual.keys).sorted().prefix(5))")
    #expect(Set(actual.keys).subtracting(expected.keys).isEmpty, "unexpected: \(Set(actual.keys).subtracting(expected.keys).sorted().prefix(5))")
    #expect(expected.allSatisfy { actual[$0.key] == nil || actual[$0.key] == $0.value })
  }
}

@Suite("weight file variants and shards")
struct WeightFileTests {
  @Test func fp16VariantAndShardedIndex() throws {
    let fm = FileManager.default
    let dir = NSTemporaryDirectory() + "variants-\(UInt32.random(in: 0...UInt32.max))"
    try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let src = "\(repoRoot)/Tests/Fixtures/unet/sd1"
    try fm.copyItem(atPath: "\(src)/config.json", toPath: "\(dir)/config.json")
    let reference = try UNet2DConditionModel.load(folder: src)
    // an fp16 variant beside a sharded fp32 checkpoint
    let half = ParameterStore()
    _ = try UNet2DConditionModel(config: reference.config, store: half)
    try half.load(Dictionary(uniqueKeysWithValues: reference.store.stateDict()), source: "reference")
    try half.to(dtype: .float16)
    try half.save(safetensors: "\(dir)/diffusion_pytorch_model.fp16.safetensors")
    let all = reference.store.stateDict()
    let (first, second) = (Array(all.prefix(all.count / 2)), Array(all.dropFirst(all.count / 2)))
    try writeSafeTensors(first, to: "\(dir)/diffusion_pytorch_model-00001-of-00002.safetensors")
    try writeSafeTensors(second, to: "\(dir)/diffusion_pytorch_model-00002-of-00002.safetensors")
    var map: [String: String] = [:]
    for (k, _) in first { map[k] = "diffusion_pytorch_model-00001-of-00002.safetensors" }
    for (k, _) in second { map[k] = "diffusion_pytorch_model-00002-of-00002.safetensors" }
    let index = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 0], "weight_map": map])
    try index.write(to: URL(fileURLWithPath: "\(dir)/diffusion_pytorch_model.safetensors.index.json"))

    let sharded = try UNet2DConditionModel.load(folder: dir)
    let variant = try UNet2DConditionModel.load(folder: dir, variant: "fp16")
    let w = "down_blocks.0.attentions.0.proj_in.weight"
    #expect(try sharded.store[w]!.tensor.equal(reference.store[w]!.tensor))
    #expect(try maxAbsDiff(variant.store[w]!.tensor, reference.store[w]!.tensor) < 1e-3)
    #expect(try !variant.store[w]!.tensor.equal(reference.store[w]!.tensor))  // really the fp16 file
  }
}
