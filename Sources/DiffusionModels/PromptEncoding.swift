import CLIPTokenizer
import Torch

extension CLIPTextModel {
  /// diffusers' encode_prompt (clip_skip None): tokenize with padding to model_max_length and
  /// truncation, run the encoder, return the last hidden state [B, 77, D] and, per prompt, the
  /// text cut by truncation (nil when none) for diffusers' warning.
  public func encode(_ prompts: [String], tokenizer: CLIPTokenizer) throws -> (embeddings: Tensor, truncated: [String?]) {
    let (output, truncated) = try encodeAll(prompts, tokenizer: tokenizer)
    return (output.lastHiddenState, truncated)
  }

  /// The whole output (every hidden state, pooled) for prompts padded to model_max_length.
  public func encodeAll(_ prompts: [String], tokenizer: CLIPTokenizer) throws -> (output: Output, truncated: [String?]) {
    // checked before padding to model_max_length allocates anything
    guard tokenizer.modelMaxLength <= config.maxPositionEmbeddings else {
      throw ConfigError(
        tokenizer.config.configFile ?? "tokenizer_config.json", "model_max_length = \(tokenizer.modelMaxLength) is more than the text encoder's "
          + "max_position_embeddings = \(config.maxPositionEmbeddings): the tokenizer and text encoder do not belong together")
    }
    let batch = tokenizer(prompts)
    let device = store.device.kind == .meta ? Device.cpu : store.device
    let ids = try Tensor(batch.inputIds.flatMap { $0.map(Int64.init) }, shape: [prompts.count, batch.inputIds[0].count], device: device)
    return (try callAsFunction(ids), batch.truncations.map { $0?.removedText })
  }
}

/// SDXL's encode_prompt (StableDiffusionXLPipeline and the SDXL scripts): each tokenizer with its
/// encoder, the penultimate hidden states concatenated, the pooled projection of the encoder
/// with a projection (the second). No grad is recorded by the caller's choice.
public enum SDXLPromptEncoding {
  public static func encode(_ prompts: [String], tokenizers: [CLIPTokenizer], encoders: [CLIPTextModel]) throws
    -> (hidden: Tensor, pooled: Tensor, truncated: [(tokenizer: CLIPTokenizer, removed: String)])
  {
    var hidden: [Tensor] = []
    var pooled: Tensor?
    var truncated: [(tokenizer: CLIPTokenizer, removed: String)] = []
    for (tokenizer, encoder) in zip(tokenizers, encoders) {
      let out = try encoder.encodeAll(prompts, tokenizer: tokenizer)
      truncated += out.truncated.compactMap { $0.map { (tokenizer, $0) } }
      guard out.output.hiddenStates.count >= 2 else { throw ConfigError("text encoder", "SDXL takes the penultimate layer: it needs two or more layers") }
      hidden.append(out.output.hiddenStates[out.output.hiddenStates.count - 2])
      if encoder.config.withProjection { pooled = out.output.pooled }
    }
    guard let pooled else { throw ConfigError("text_encoder_2", "SDXL needs a CLIPTextModelWithProjection for the pooled embeddings") }
    return (try Tensor.cat(hidden, dim: -1), pooled, truncated)
  }
}
