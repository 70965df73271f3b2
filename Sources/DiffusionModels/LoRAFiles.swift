import Foundation
import SafeTensors
import Torch
import TorchNN

/// A LoRA file's UNet adapters, read from the formats diffusers' load_lora_weights accepts:
/// PEFT (`unet.<module>.lora_A.weight` / `lora_B.weight`, alpha in the `lora_adapter_metadata`
/// header or `<module>.alpha`), the older diffusers names (`<module>.lora.down.weight`,
/// `processor.to_q_lora.down.weight`) and kohya (`lora_unet_<module_with_underscores>.lora_down.weight`,
/// `.lora_up.weight`, `.alpha`), and the PeftModel names the upstream LoRA script writes
/// (`base_model.model.<module>`, `unet.base_model.model.<module>`; alpha from adapter_config.json).
public struct LoRAFile {
  public struct Entry {
    public let module: String
    public let down: Tensor
    public let up: Tensor
    public let alpha: Double?
  }

  public let path: String
  public let entries: [Entry]

  public init(path: String, modules: [String]) throws {
    let file = path.hasSuffix(".safetensors") ? path : try Self.findWeights(in: path)
    self = try ModelFiles.step(file, "reading the LoRA file") { try Self(file: file, modules: modules) }
  }

  private init(file: String, modules: [String]) throws {
    self.path = file
    let source = try openSafeTensors(path: file)
    let kohyaNames = Dictionary(modules.map { ("lora_unet_" + $0.replacingOccurrences(of: ".", with: "_"), $0) }, uniquingKeysWith: { a, _ in a })
    var defaultAlpha: Double?
    var alphaPattern: [String: Double] = [:]
    if let meta = source.metadata["lora_adapter_metadata"],
      let obj = try? JSONSerialization.jsonObject(with: Data(meta.utf8)) as? [String: Any] {
      // diffusers writes one adapter config, or per component with "unet."-prefixed keys
      var cfg = (obj["unet"] as? [String: Any]) ?? obj
      if obj.keys.contains(where: { $0.hasPrefix("unet.") }) {
        cfg = Dictionary(obj.compactMap { $0.key.hasPrefix("unet.") ? (String($0.key.dropFirst(5)), $0.value) : nil }, uniquingKeysWith: { a, _ in a })
      }
      defaultAlpha = (cfg["lora_alpha"] as? NSNumber)?.doubleValue
      for (k, v) in (cfg["alpha_pattern"] as? [String: Any]) ?? [:] { alphaPattern[k] = (v as? NSNumber)?.doubleValue }
    }
    let peftKeys = source.keys.contains { $0.hasPrefix("base_model.model.") || $0.hasPrefix("unet.base_model.model.") }
    if defaultAlpha == nil, let (alpha, pattern) = try Self.peftAdapterConfig(for: file, peftKeys: peftKeys) {
      defaultAlpha = alpha
      alphaPattern.merge(pattern) { a, _ in a }
    }
    var downs: [String: String] = [:], ups: [String: String] = [:], alphas: [String: Double] = [:]
    var unmatched: [String] = []
    for key in source.keys {
      guard let (raw, kind) = Self.split(key) else {
        unmatched.append(key)
        continue
      }
      var module = raw
      if module.hasPrefix("lora_unet_") {
        guard let m = kohyaNames[module] else {
          unmatched.append(key)
          continue
        }
        module = m
      } else if module.hasPrefix("unet.") {
        module = String(module.dropFirst(5))
      }
      // a PeftModel's own names (PEFT's save_pretrained, the upstream LoRA script's unet_lora/)
      if module.hasPrefix("base_model.model.") { module = String(module.dropFirst(17)) } else if module.hasPrefix("text_encoder") || module.hasPrefix("lora_te") {
        throw ConfigError(file, "holds text-encoder LoRA weights ('\(key)'), which swift-lcm does not load yet")
      }
      switch kind {
      case .down: downs[module] = key
      case .up: ups[module] = key
      case .alpha: alphas[module] = try Tensor.load(key, from: source).item()
      }
    }
    let known = Set(modules)
    unmatched += downs.keys.filter { !known.contains($0) }.map { downs[$0]! }
    guard unmatched.isEmpty else {
      throw ConfigError(file, "\(unmatched.count) LoRA keys match no UNet module, e.g. \(unmatched.sorted().prefix(3).map { "'\($0)'" }.joined(separator: ", "))")
    }
    guard Set(downs.keys) == Set(ups.keys), !downs.isEmpty else {
      throw ConfigError(file, downs.isEmpty ? "holds no LoRA weights" : "has lora_A/down weights without lora_B/up weights or the reverse")
    }
    var entries: [Entry] = []
    for (module, downKey) in downs.sorted(by: { $0.key < $1.key }) {
      let pattern = alphaPattern.first { module == $0.key || module.hasSuffix("." + $0.key) }?.value
      entries.append(Entry(
        module: module, down: try Tensor.load(downKey, from: source), up: try Tensor.load(ups[module]!, from: source),
        alpha: alphas[module] ?? pattern ?? defaultAlpha))
    }
    self.entries = entries
  }

  enum Kind { case down, up, alpha }

  /// Module name and kind of a LoRA key, in any of the accepted spellings.
  static func split(_ key: String) -> (String, Kind)? {
    let suffixes: [(String, Kind)] = [
      (".lora_A.weight", .down), (".lora_B.weight", .up), (".lora_A.default.weight", .down), (".lora_B.default.weight", .up),
      (".lora_down.weight", .down), (".lora_up.weight", .up), (".lora.down.weight", .down), (".lora.up.weight", .up),
      (".lora_linear_layer.down.weight", .down), (".lora_linear_layer.up.weight", .up), (".alpha", .alpha),
      ("_lora.down.weight", .down), ("_lora.up.weight", .up),
    ]
    for (suffix, kind) in suffixes where key.hasSuffix(suffix) {
      var module = String(key.dropLast(suffix.count))
      // attention-processor spelling: attn1.processor.to_q_lora.down.weight → attn1.to_q
      for (old, new) in [(".processor.to_q", ".to_q"), (".processor.to_k", ".to_k"),
                         (".processor.to_v", ".to_v"), (".processor.to_out", ".to_out.0")]
      where module.hasSuffix(old) {
        module = String(module.dropLast(old.count)) + new
      }
      return (module, kind)
    }
    return nil
  }

  /// lora_alpha and alpha_pattern of PEFT's adapter_config.json: beside the file, or, for a file
  /// with PeftModel key names (the upstream LoRA script's `unet_lora/`), in the run folder above.
  static func peftAdapterConfig(for file: String, peftKeys: Bool) throws -> (Double, [String: Double])? {
    let dir = (file as NSString).deletingLastPathComponent
    let candidates = [dir] + (peftKeys ? [(dir as NSString).deletingLastPathComponent] : [])
    guard let configPath = candidates.map({ "\($0)/adapter_config.json" }).first(where: FileManager.default.fileExists) else {
      return nil
    }
    guard let data = FileManager.default.contents(atPath: configPath),
      let cfg = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    else { throw ConfigError(configPath, "is not a JSON object") }
    if cfg["use_rslora"] as? Bool == true {
      throw ConfigError(configPath, "use_rslora (scaling alpha / sqrt(r)) is not supported by swift-lcm")
    }
    guard let alpha = (cfg["lora_alpha"] as? NSNumber)?.doubleValue, alpha.isFinite else {
      throw ConfigError(configPath, "has no numeric lora_alpha")
    }
    var pattern: [String: Double] = [:]
    for (k, v) in (cfg["alpha_pattern"] as? [String: Any]) ?? [:] { pattern[k] = (v as? NSNumber)?.doubleValue }
    return (alpha, pattern)
  }

  static func findWeights(in dir: String) throws -> String {
    for name in ["pytorch_lora_weights.safetensors", "adapter_model.safetensors"]
    where FileManager.default.fileExists(atPath: "\(dir)/\(name)") {
      return "\(dir)/\(name)"
    }
    throw ConfigError(dir, "no LoRA weights (pytorch_lora_weights.safetensors) found")
  }
}

extension UNet2DConditionModel {
  /// Loads a LoRA onto this UNet (diffusers' load_lora_weights), scaled by `scale`; with `fuse`
  /// the weights are merged into the base layers (fuse_lora). Scaling: alpha / rank · scale.
  public func loadLoRA(path: String, scale: Double = 1, fuse: Bool = false) throws {
    let targets = store.loraTargets
    let file = try LoRAFile(path: path, modules: Array(targets.keys))
    // the adapters' tensors stay out of the UNet's store: saving the UNet writes no LoRA keys
    let adapterStore = ParameterStore(device: store.device, dtype: store.dtype)
    for e in file.entries {
      let layer = targets[e.module]!
      guard layer.lora.isEmpty else { throw ConfigError(file.path, "a LoRA is already loaded on \(e.module)") }
      let rank = e.down.size(0)
      let w = layer.weight.tensor.shape
      let expectDown = w.count == 4 ? [rank, w[1], w[2], w[3]] : [rank, w[1]]
      let expectUp = w.count == 4 ? [w[0], rank, 1, 1] : [w[0], rank]
      guard e.down.shape == expectDown, e.up.shape == expectUp else {
        throw ConfigError(file.path, "LoRA shapes for \(e.module) (down \(e.down.shape), up \(e.up.shape)) do not fit its weight \(w)")
      }
      let alpha = e.alpha ?? Double(rank)
      let adapter = try layer.addLoRA(rank: rank, alpha: alpha, trainable: false, store: adapterStore)
      adapter.scaling *= scale
      _ = try Torch.noGrad { () throws(TorchError) in
        try adapter.down.tensor.copy_(e.down)
        try adapter.up.tensor.copy_(e.up)
      }
      if fuse { try layer.fuseLoRA() }
    }
  }
}
