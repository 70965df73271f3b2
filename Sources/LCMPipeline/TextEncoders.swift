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
    let e = try SDXLPromptEncoding.encode(prompts, tokenizers: tokenizers, encoders: encoders)
    warnings += e.truncated.map { CLIPTokenizer.truncationWarning(removedText: $0.removed, maxLength: $0.tokenizer.modelMaxLength) }
    return (e.hidden, e.pooled)
  }

  func defaultNegative(like hidden: Tensor, pooled: Tensor?) throws -> (hidden: Tensor, pooled: Tensor?)? {
    guard forceZerosForEmptyPrompt else { return nil }
    return (try hidden.zerosLike(), try pooled?.zerosLike())
  }
}
