import Foundation
import SafeTensors
import Torch
import TorchNN

/// Where a diffusers/transformers component keeps its weights, and how to load them.
public enum ModelFiles {
  /// The safetensors weights of a component folder: `<base>[.<variant>].safetensors` or its
  /// sharded `.safetensors.index.json`. Pickle-only checkpoints are refused without reading them.
  public static func weights(in dir: String, base: String, variant: String? = nil) throws -> String {
    let fm = FileManager.default
    var names: [String] = []
    if let variant { names += ["\(base).\(variant).safetensors", "\(base).safetensors.index.\(variant).json", "\(base).\(variant).safetensors.index.json"] }
    names += ["\(base).safetensors", "\(base).safetensors.index.json"]
    for name in names where fm.fileExists(atPath: "\(dir)/\(name)") { return "\(dir)/\(name)" }
    for pickle in ["\(base).bin", "pytorch_model.bin", "\(base).ckpt", "model.ckpt"] where fm.fileExists(atPath: "\(dir)/\(pickle)") {
      throw ConfigError("\(dir)/\(pickle)", "only a pickle checkpoint is present; swift-lcm never executes pickles. Convert it once with Python: `from diffusers import ...; m = X.from_pretrained(dir); m.save_pretrained(dir, safe_serialization=True)`")
    }
    throw ConfigError(dir, "no weights found (looked for \(names.joined(separator: ", ")))")
  }

  /// Runs one step of building a model from its config or loading its weights; a libtorch or
  /// safetensors error names the full path and the step
  /// ("<dir>/unet/diffusion_pytorch_model.safetensors: loading the UNet weights failed: ...").
  public static func step<T>(_ file: String, _ what: String, _ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch let error as TorchError {
      throw ConfigError(file, "\(what) failed: \(error)")
    } catch let error as SafeTensorsError {
      // its own description names only the file's base name
      throw ConfigError(error.path.isEmpty ? file : error.path, "\(what) failed: \(error.problem)")
    }
  }
}

extension UNet2DConditionModel {
  /// Loads a diffusers `unet/` folder: config.json and its safetensors weights (strictly), on a
  /// device, with floating-point weights converted to dtype.
  public static func load(
    folder: String, device: Device = .cpu, dtype: TensorDType = .float32, variant: String? = nil
  ) throws -> UNet2DConditionModel {
    let configPath = "\(folder)/config.json"
    let config = try UNet2DConditionConfig(path: configPath)
    let store = ParameterStore(device: .meta)
    let model = try ModelFiles.step(configPath, "building the UNet") {
      let model = try UNet2DConditionModel(config: config, store: store)
      try store.to(device: device, dtype: dtype)
      return model
    }
    let path = try ModelFiles.weights(in: folder, base: "diffusion_pytorch_model", variant: variant)
    try ModelFiles.step(path, "loading the UNet weights") { try store.load(from: try openSafeTensors(path: path), name: path) }
    return model
  }
}
