import DiffusionModels
import Foundation
import Torch
import TorchNN

/// LoRA settings of train_lcm_distill_lora_sd_wds.py (S2), and swift-lcm's additions.
public struct LoRASettings: Sendable {
  /// PEFT's targets of the script (§8.1): attention projections, Transformer2D in/out projections,
  /// the feed-forward, resnet convs and time projections, down/up-sample convs.
  public static let defaultTargetModules = [
    "to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2", "conv1", "conv2",
    "conv_shortcut", "downsamplers.0.conv", "upsamplers.0.conv", "time_emb_proj",
  ]
  public var rank = 64
  public var alpha = 64.0
  public var dropout = 0.0
  public var targetModules = LoRASettings.defaultTargetModules
  /// --use_target_model: an EMA copy of the adapters is the target (S2 has none: the target is the
  /// online LoRA model under no-grad).
  public var useTargetModel = false
  /// --lora_export_format: the final files besides PEFT's adapter folder.
  public var exportFormats: [LoRAWriter.Format] = [.diffusers, .kohya]
  public init() {}
}

/// S2 on one UNet, as S5 does it: the teacher is the base UNet with its adapters switched off (S2
/// holds a second full UNet), the student the same UNet with them on; no w-embedding (w enters
/// the teacher's CFG only); the target is the online model under no-grad, or with
/// `useTargetModel` an EMA copy of the adapters. The adapters live in their own store, in fp32.
public final class LoRADistillation: DistillationMethod {
  public let unet: UNet2DConditionModel
  public let adapterStore: ParameterStore
  public let adapters: [(module: String, adapter: LoRAAdapter)]
  public let settings: LoRASettings
  let baseModel: String?
  /// The target's adapters (useTargetModel), in the adapters' order.
  public private(set) var emaAdapters: [(down: Tensor, up: Tensor)]?

  public init(unet: UNet2DConditionModel, settings: LoRASettings, generator: Generator?, baseModel: String? = nil) throws {
    let targets = unet.store.loraTargets(matching: settings.targetModules)
    guard !targets.isEmpty else {
      throw ConfigError("--lora_target_modules", "\(settings.targetModules.joined(separator: ",")) match no Linear or Conv2d module of the UNet")
    }
    guard settings.rank > 0 else { throw ConfigError("--lora_rank", "must be positive, got \(settings.rank)") }
    try unet.store.setTrainable(false)
    let store = ParameterStore(device: unet.store.device)
    var made: [(String, LoRAAdapter)] = []
    for (name, layer) in targets {
      made.append((name, try layer.addLoRA(
        rank: settings.rank, alpha: settings.alpha, dropout: settings.dropout, store: store, generator: generator)))
    }
    (self.unet, adapterStore, adapters, self.settings, self.baseModel) = (unet, store, made, settings, baseModel)
    unet.store.isTraining = true  // the LoRA dropout of the online and target passes (PeftModel.train())
    if settings.useTargetModel {
      emaAdapters = try made.map { (try $0.1.down.tensor.detach().clone(), try $0.1.up.tensor.detach().clone()) }
    }
  }

  public var guidanceEmbeddingDim: Int? { nil }
  public var trainableParameters: [Parameter] { adapterStore.trainableParameters }
  public var teacherDType: DType { unet.store.dtype }
  public var studentUNet: UNet2DConditionModel { unet }
  public var targetUNet: UNet2DConditionModel { unet }
  public var teacherUNet: UNet2DConditionModel { unet }
  public var trainingStore: ParameterStore { unet.store }
  /// S2 validates at guidance 1.0, S4/S5 at 0.0: both without CFG on a base UNet.
  public var validationGuidanceScale: Double { 1.0 }

  public func student(_ x: Tensor, timestep: Tensor, conditioning c: Conditioning, timestepCond: Tensor?) throws -> Tensor {
    try unet(x, timestep: timestep, encoderHiddenStates: c.promptEmbeds, addedConditions: c.addedConditions)
  }

  /// The base UNet: adapters off (PEFT's disable_adapters), on again afterwards.
  public func teacher(_ x: Tensor, timestep: Tensor, conditioning c: Conditioning) throws -> Tensor {
    unet.store.adaptersEnabled = false
    defer { unet.store.adaptersEnabled = true }
    return try unet(x, timestep: timestep, encoderHiddenStates: c.promptEmbeds, addedConditions: c.addedConditions)
  }

  /// The online model (or the EMA adapters) under no-grad; an accelerate-prepared model returns fp32.
  public func target(_ x: Tensor, timestep: Tensor, conditioning c: Conditioning, timestepCond: Tensor?) throws -> Tensor {
    if let ema = emaAdapters { for (a, e) in zip(adapters, ema) { a.adapter.substitute = e } }
    defer { for a in adapters { a.adapter.substitute = nil } }
    return try unet(x, timestep: timestep, encoderHiddenStates: c.promptEmbeds, addedConditions: c.addedConditions).to(.float32)
  }

  public func afterStep(emaDecay: Double) throws {
    guard let ema = emaAdapters else { return }
    let targets = ema.flatMap { [$0.down, $0.up] }
    let sources = adapters.flatMap { [$0.adapter.down.tensor, $0.adapter.up.tensor] }
    try Torch.noGrad { () throws(TorchError) in
      try Foreach.mul_(targets, emaDecay)
      try Foreach.add_(targets, sources, alpha: 1 - emaDecay)
    }
  }

  // MARK: files

  /// A checkpoint holds PEFT's adapter folder (the upstream script's layout) and, with a target
  /// model, its EMA adapters beside it.
  public func writeCheckpointModels(to dir: String) throws {
    try LoRAWriter.write(adapters, format: .peft, to: dir, baseModel: baseModel)
    if let ema = emaAdapters {
      let tensors = zip(adapters, ema).flatMap { a, e in
        [("base_model.model.\(a.module).lora_A.weight", e.down), ("base_model.model.\(a.module).lora_B.weight", e.up)]
      }
      try writeSafeTensors(tensors, to: "\(dir)/target_adapter_model.safetensors")
    }
  }

  public func loadCheckpointModels(from dir: String) throws {
    let path = "\(dir)/adapter_model.safetensors"
    try fileOperation("loading the checkpoint's LoRA adapters from", path) {
      try load(path, into: adapters.map { ($0.module, $0.adapter.down.tensor, $0.adapter.up.tensor) })
    }
    if let ema = emaAdapters {
      let emaPath = "\(dir)/target_adapter_model.safetensors"
      try fileOperation("loading the checkpoint's target LoRA adapters from", emaPath) {
        try load(emaPath, into: zip(adapters, ema).map { ($0.module, $1.down, $1.up) })
      }
    }
  }

  func load(_ path: String, into targets: [(String, Tensor, Tensor)]) throws {
    let file = try openSafeTensorsFile(path)
    var expected = Set<String>()
    for (module, down, up) in targets {
      for (suffix, t) in [("lora_A.weight", down), ("lora_B.weight", up)] {
        let key = "base_model.model.\(module).\(suffix)"
        expected.insert(key)
        let value = try Tensor.load(key, from: file)
        guard value.shape == t.shape else { throw ConfigError(path, "\(key) has shape \(value.shape), the run's adapter \(t.shape) (other --lora_rank?)") }
        _ = try Torch.noGrad { () throws(TorchError) in try t.copy_(value) }
      }
    }
    let extra = file.keys.filter { !expected.contains($0) }
    guard extra.isEmpty else { throw ConfigError(path, "\(extra.count) adapters the run does not have, e.g. '\(extra.sorted()[0])' (other --lora_target_modules?)") }
  }

  /// The final LoRA: `pytorch_lora_weights.safetensors` (diffusers), `pytorch_lora_weights_kohya
  /// .safetensors` (kohya/ComfyUI) as --lora_export_format asks, and PEFT's adapter folder. With a
  /// target model these are its EMA adapters (the online ones go to `online/`).
  public func saveFinal(to dir: String) throws -> [String] {
    var written: [String] = []
    func export(_ weights: [LoRAWriter.Weights], to folder: String) throws {
      func write(_ format: LoRAWriter.Format, _ path: String) throws {
        try LoRAWriter.write(
          weights, rank: settings.rank, alpha: settings.alpha, dropout: settings.dropout, format: format, to: path, baseModel: baseModel)
      }
      for format in settings.exportFormats where format != .peft {
        let path = "\(folder)/\(format == .kohya ? "pytorch_lora_weights_kohya" : "pytorch_lora_weights").safetensors"
        try fileOperation("saving the final LoRA to", path) {
          try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
          try write(format, path)
        }
        written.append(path)
      }
      try fileOperation("saving the final PEFT adapter to", folder) { try write(.peft, folder) }
      written.append("\(folder)/adapter_model.safetensors")
    }
    let online = adapters.map { LoRAWriter.Weights(module: $0.module, down: $0.adapter.down.tensor, up: $0.adapter.up.tensor) }
    if let ema = emaAdapters {
      try export(online, to: "\(dir)/online")
      try export(zip(adapters, ema).map { LoRAWriter.Weights(module: $0.module, down: $1.down, up: $1.up) }, to: dir)
    } else {
      try export(online, to: dir)
    }
    return written
  }

  public var validationUNets: [(name: String, unet: UNet2DConditionModel)] { [("online", unet)] }
}
