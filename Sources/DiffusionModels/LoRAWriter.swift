import Foundation
import Torch
import TorchNN

/// Writes trained UNet adapters in the formats the LCM-LoRA world loads.
public enum LoRAWriter {
  public enum Format: String, CaseIterable, Sendable {
    /// `pytorch_lora_weights.safetensors` with `unet.<module>.lora_A/B.weight` keys and the PEFT
    /// config in the `lora_adapter_metadata` header: diffusers' `load_lora_weights` honours its alpha.
    case diffusers
    /// `lora_unet_<module_with_underscores>.lora_down/up.weight` + `.alpha`: the key style of the
    /// published latent-consistency/lcm-lora-* files (ComfyUI, A1111, kohya tools).
    case kohya
    /// PEFT's `adapter_model.safetensors` (`base_model.model.<module>…` keys) + `adapter_config.json`,
    /// as the upstream script's `save_pretrained` writes them.
    case peft
  }

  /// One module's lora_A (down) and lora_B (up) weights.
  public struct Weights {
    public let module: String
    public let down: Tensor
    public let up: Tensor
    public init(module: String, down: Tensor, up: Tensor) { (self.module, self.down, self.up) = (module, down, up) }
  }

  /// The adapters by module name (one per module), all of one rank and alpha.
  public static func write(
    _ adapters: [(module: String, adapter: LoRAAdapter)], format: Format, to path: String, baseModel: String? = nil,
    dtype: DType? = nil
  ) throws {
    guard let first = adapters.first?.adapter else { throw ConfigError(path, "no LoRA adapters to write") }
    try write(
      adapters.map { Weights(module: $0.module, down: $0.adapter.down.tensor, up: $0.adapter.up.tensor) },
      rank: first.rank, alpha: first.alpha, dropout: first.dropout, format: format, to: path, baseModel: baseModel, dtype: dtype)
  }

  /// Weights of one rank and alpha (an EMA copy's as well as the adapters' own).
  public static func write(
    _ weights: [Weights], rank: Int, alpha: Double, dropout: Double, format: Format, to path: String, baseModel: String? = nil,
    dtype: DType? = nil
  ) throws {
    guard !weights.isEmpty else { throw ConfigError(path, "no LoRA adapters to write") }
    func cast(_ t: Tensor) throws -> Tensor { try dtype.map { try t.to($0) } ?? t }
    let sorted = weights.sorted { $0.module < $1.module }
    let config: [String: Any] = [
      "r": rank, "lora_alpha": alpha, "lora_dropout": dropout, "target_modules": sorted.map(\.module),
      "bias": "none", "use_rslora": false, "use_dora": false, "init_lora_weights": true, "fan_in_fan_out": false,
      "rank_pattern": [String: Any](), "alpha_pattern": [String: Any](), "peft_type": "LORA",
    ]
    switch format {
    case .diffusers:
      var tensors: [(String, Tensor)] = []
      for w in sorted {
        tensors += [("unet.\(w.module).lora_A.weight", try cast(w.down)), ("unet.\(w.module).lora_B.weight", try cast(w.up))]
      }
      let prefixed = Dictionary(uniqueKeysWithValues: config.map { ("unet.\($0.key)", $0.value) })
      let meta = String(decoding: try JSONSerialization.data(withJSONObject: prefixed, options: [.sortedKeys]), as: UTF8.self)
      try writeSafeTensors(tensors, to: path, metadata: ["format": "pt", "lora_adapter_metadata": meta])
    case .kohya:
      var tensors: [(String, Tensor)] = []
      for w in sorted {
        let key = "lora_unet_" + w.module.replacingOccurrences(of: ".", with: "_")
        tensors += [
          ("\(key).alpha", try cast(Tensor(scalar: alpha))), ("\(key).lora_down.weight", try cast(w.down)),
          ("\(key).lora_up.weight", try cast(w.up)),
        ]
      }
      try writeSafeTensors(tensors, to: path, metadata: ["format": "pt", "ss_network_dim": "\(rank)", "ss_network_alpha": "\(alpha)"])
    case .peft:
      var tensors: [(String, Tensor)] = []
      for w in sorted {
        tensors += [
          ("base_model.model.\(w.module).lora_A.weight", try cast(w.down)),
          ("base_model.model.\(w.module).lora_B.weight", try cast(w.up)),
        ]
      }
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
      try writeSafeTensors(tensors, to: "\(path)/adapter_model.safetensors", metadata: ["format": "pt"])
      var peft = config
      peft["base_model_name_or_path"] = baseModel ?? NSNull()
      peft["inference_mode"] = true
      peft["task_type"] = NSNull()
      let data = try JSONSerialization.data(withJSONObject: peft, options: [.prettyPrinted, .sortedKeys])
      try data.write(to: URL(fileURLWithPath: "\(path)/adapter_config.json"), options: .atomic)
    }
  }
}
