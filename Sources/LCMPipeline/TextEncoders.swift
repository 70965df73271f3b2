import CLIPTokenizer
import DiffusionModels
import Foundation
import Torch

/// The text side of a pipeline: prompts to what the UNet is conditioned on.
protocol PipelineTextEncoder: AnyObject {
  /// Encoder hidden states [B, L, D] and, for SDXL, the pooled text embeddings [B, P].
  func encode(_ prompts: [String], warnings: inout [String]) throws -> (hidden: Tensor, pooled: Tensor?)
  /// CFG's negative branch when no negative prompt was given, when it is not the encoded "".
  func defaultNegative(like hidden: Tensor, pooled: Tensor?) throws -> (hidden: Tensor, pooled: Tensor?)?
}

/// SD 1.x / 2.x: the text encoder's last hidden state (diffusers' encode_prompt, clip_skip None).
final class CLIPPromptEncoder: PipelineTextEncoder {
  let tokenizer: CLIPTokenizer
  let textEncoder: CLIPTextModel

  init(tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel) { (self.tokenizer, self.textEncoder) = (tokenizer, textEncoder) }

  func encode(_ prompts: [String], warnings: inout [String]) throws -> (hidden: Tensor, pooled: Tensor?) {
    let (embeddings, truncated) = try textEncoder.encode(prompts, tokenizer: tokenizer)
    for removed in truncated.compactMap({ $0 }) {
      warnings.append(CLIPTokenizer.truncationWarning(removedText: removed, maxLength: tokenizer.modelMaxLength))
    }
    return (embeddings, nil)
  }

  func defaultNegative(like hidden: Tensor, pooled: Tensor?) throws -> (hidden: Tensor, pooled: Tensor?)? { nil }
}

/// SDXL, as StableDiffusionXLPipeline.encode_prompt: each tokenizer with its encoder, the
/// penultimate hidden states concatenated, the pooled (projected) embeddings of the second;
/// with force_zeros_for_empty_prompt and no negative prompt, CFG's negatives are zeros.
final class SDXLPromptEncoder: PipelineTextEncoder {
  let tokenizers: [CLIPTokenizer]
  let encoders: [CLIPTextModel]
  let forceZerosForEmptyPrompt: Bool

  init(tokenizers: [CLIPTokenizer], encoders: [CLIPTextModel], forceZerosForEmptyPrompt: Bool) {
    (self.tokenizers, self.encoders, self.forceZerosForEmptyPrompt) = (tokenizers, encoders, forceZerosForEmptyPrompt)
  }

  func encode(_ prompts: [String], warnings: inout [String]) throws -> (hidden: Tensor, pooled: Tensor?) {
    var hidden: [Tensor] = []
    var pooled: Tensor?
    for (tokenizer, encoder) in zip(tokenizers, encoders) {
      let out = try encoder.encodeAll(prompts, tokenizer: tokenizer)
      for removed in out.truncated.compactMap({ $0 }) {
        warnings.append(CLIPTokenizer.truncationWarning(removedText: removed, maxLength: tokenizer.modelMaxLength))
      }
      guard out.output.hiddenStates.count >= 2 else { throw ConfigError("text encoder", "SDXL takes the penultimate layer: it needs two or more layers") }
      hidden.append(out.output.hiddenStates[out.output.hiddenStates.count - 2])
      // only the final encoder's pooled output is used (a 2-dim projection)
      if encoder.config.withProjection { pooled = out.output.pooled }
    }
    guard let pooled else { throw ConfigError("text_encoder_2", "SDXL needs a CLIPTextModelWithProjection for the pooled embeddings") }
    return (try Tensor.cat(hidden, dim: -1), pooled)
  }

  func defaultNegative(like hidden: Tensor, pooled: Tensor?) throws -> (hidden: Tensor, pooled: Tensor?)? {
    guard forceZerosForEmptyPrompt else { return nil }
    return (try hidden.zerosLike(), try pooled?.zerosLike())
  }
}

extension CLIPTextModel {
  /// The whole output (every hidden state, pooled) for prompts padded to model_max_length.
  func encodeAll(_ prompts: [String], tokenizer: CLIPTokenizer) throws -> (output: Output, truncated: [String?]) {
    guard tokenizer.modelMaxLength <= config.maxPositionEmbeddings else {
      throw ConfigError(tokenizer.config.configFile ?? "tokenizer_config.json", "model_max_length = \(tokenizer.modelMaxLength) is more than the text encoder's max_position_embeddings = \(config.maxPositionEmbeddings)")
    }
    let batch = tokenizer(prompts)
    let device = store.device.kind == .meta ? Device.cpu : store.device
    let ids = try Tensor(batch.inputIds.flatMap { $0.map(Int64.init) }, shape: [prompts.count, batch.inputIds[0].count], device: device)
    return (try callAsFunction(ids), batch.truncations.map { $0?.removedText })
  }
}
