import Foundation
import SafeTensors
import Testing
import Torch
import TorchNN

@testable import DiffusionModels

// Expected values: scripts/fixtures/make_vae_clip_fixtures.py (diffusers 0.42.1, transformers
// 5.17.0, torch 2.11.0), tiny models with every parameter perturbed.
@Suite("AutoencoderKL matches diffusers")
struct AutoencoderKLTests {
  @Test(arguments: ["vae", "vae_noquant", "vae_legacy"])
  func encodeDecode(name: String) throws {
    let folder = "\(repoRoot)/Tests/Fixtures/vae/\(name)"
    let vae = try AutoencoderKL.load(folder: folder)
    let io = try SafeTensorsFile(path: "\(repoRoot)/Tests/Fixtures/vae/\(name == "vae_legacy" ? "vae" : name)/io.safetensors")
    func t(_ k: String) throws -> Tensor { try Tensor.load(k, from: io) }
    try Torch.noGrad {
      let posterior = try vae.encode(t("x"))
      #expect(try maxAbsDiff(posterior.mean, t("mean")) < 1e-4)
      #expect(try maxAbsDiff(posterior.logvar, t("logvar")) < 1e-4)
      let sample = try posterior.sample(generator: Generator(seed: 123))
      #expect(try maxAbsDiff(sample, t("sample_seed123")) < 1e-4)
      #expect(try maxAbsDiff(vae.decode(t("z")), t("decoded")) < 1e-4)
      // encoding in slices of one image gives the same posterior
      #expect(try maxAbsDiff(vae.encode(t("x"), sliceSize: 1).mean, t("mean")) < 1e-4)
    }
  }

  @Test func configValues() throws {
    let c = try AutoencoderKLConfig(reader: ConfigReader(path: "\(repoRoot)/Tests/Fixtures/vae/vae_noquant/config.json"))
    #expect(c.scalingFactor == 0.13025)
    #expect(c.shiftFactor == 0.0609)
    #expect(!c.useQuantConv)
  }

  @Test func legacyKeyRewrite() {
    #expect(AutoencoderKL.convertLegacyKeys("encoder.mid_block.attentions.0.proj_attn.weight") == "encoder.mid_block.attentions.0.to_out.0.weight")
    #expect(AutoencoderKL.convertLegacyKeys("decoder.mid_block.attentions.0.query.bias") == "decoder.mid_block.attentions.0.to_q.bias")
    #expect(AutoencoderKL.convertLegacyKeys("encoder.conv_in.weight") == "encoder.conv_in.weight")
  }
}

@Suite("CLIP text models match transformers")
struct CLIPTextModelTests {
  @Test(arguments: ["clip_sd1", "clip_sdxl2"])
  func outputs(name: String) throws {
    let folder = "\(repoRoot)/Tests/Fixtures/clip/\(name)"
    let model = try CLIPTextModel.load(folder: folder)
    let io = try SafeTensorsFile(path: "\(folder)/io.safetensors")
    func t(_ k: String) throws -> Tensor { try Tensor.load(k, from: io) }
    let out = try Torch.noGrad { try model(t("input_ids")) }
    #expect(try maxAbsDiff(out.lastHiddenState, t("last_hidden_state")) < 1e-4)
    let pooledKey = model.config.withProjection ? "text_embeds" : "pooler_output"
    #expect(try maxAbsDiff(out.pooled, t(pooledKey)) < 1e-4)
    #expect(out.hiddenStates.count == model.config.numHiddenLayers + 1)
    for (i, h) in out.hiddenStates.enumerated() {
      #expect(try maxAbsDiff(h, t("hidden_states.\(i)")) < 1e-4, "hidden_states[\(i)]")
    }
  }

  @Test func paddingMaskOnlyChangesPaddedPositions() throws {
    let model = try CLIPTextModel.load(folder: "\(repoRoot)/Tests/Fixtures/clip/clip_sd1")
    let ids = try Tensor([0, 5, 6, 2, 2, 2] as [Int64], shape: [1, 6])
    let mask = try Tensor([1, 1, 1, 1, 0, 0] as [Int64], shape: [1, 6])
    let (a, b) = try Torch.noGrad { (try model(ids), try model(ids, attentionMask: mask)) }
    // causal attention: positions up to the EOS see no padding either way
    #expect(try maxAbsDiff(a.lastHiddenState.slice(dim: 1, end: 4), b.lastHiddenState.slice(dim: 1, end: 4)) < 1e-6)
  }

  /// SDXL's first encoder stops at its penultimate layer: bit for bit the full run's hidden_states[-2].
  @Test(arguments: ["clip_sd1", "clip_sdxl2"])
  func penultimateEqualsTheFullRunsState(name: String) throws {
    let model = try CLIPTextModel.load(folder: "\(repoRoot)/Tests/Fixtures/clip/\(name)")
    let ids = try Tensor([0, 5, 6, 7, 2, 2, 2] as [Int64], shape: [1, 7])
    let (full, short) = try Torch.noGrad { (try model(ids), try model.penultimate(ids)) }
    #expect(try full.hiddenStates[full.hiddenStates.count - 2].equal(short))
  }
}

@Suite("saved models load in diffusers and transformers")
struct SaveTests {
  @Test func savedFilesLoadInPython() throws {
    let dir = NSTemporaryDirectory() + "save-\(UInt32.random(in: 0...UInt32.max))"
    let unet = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/unet/lcm")
    try unet.save(folder: "\(dir)/unet")
    let clip = try CLIPTextModel.load(folder: "\(repoRoot)/Tests/Fixtures/clip/clip_sd1")
    try clip.save(folder: "\(dir)/text_encoder")
    let vae = try AutoencoderKL.load(folder: "\(repoRoot)/Tests/Fixtures/vae/vae_legacy")
    try vae.save(folder: "\(dir)/vae")
    let r = try runCommand(pythonPath, ["\(repoRoot)/scripts/fixtures/check_saved_models.py", dir, repoRoot + "/Tests/Fixtures"])
    #expect(r.status == 0, "\(r.output)")
  }
}
