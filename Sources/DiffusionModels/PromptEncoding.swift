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
    let (ids, truncated) = try tokenize(prompts, tokenizer: tokenizer)
    return (try callAsFunction(ids), truncated)
  }

  /// The prompts' ids padded to model_max_length, on the encoder's device, and the text each lost.
  public func tokenize(_ prompts: [String], tokenizer: CLIPTokenizer) throws -> (ids: Tensor, truncated: [String?]) {
    // checked before padding to model_max_length allocates anything
    guard tokenizer.modelMaxLength <= config.maxPositionEmbeddings else {
      throw ConfigError(
        tokenizer.config.configFile ?? "tokenizer_config.json", "model_max_length = \(tokenizer.modelMaxLength) is more than the text encoder's "
          + "max_position_embeddings = \(config.maxPositionEmbeddings): the tokenizer and text encoder do not belong together")
    }
    let batch = tokenizer(prompts)
    let device = store.device.kind == .meta ? Device.cpu : store.device
    let ids = try Tensor(batch.inputIds.flatMap { $0.map(Int64.init) }, shape: [prompts.count, batch.inputIds[0].count], device: device)
    return (ids, batch.truncations.map { $0?.removedText })
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
      guard encoder.config.numHiddenLayers >= 1 else { throw ConfigError("text encoder", "SDXL takes the penultimate layer: it needs one or more layers") }
      if encoder.config.withProjection {
        let out = try encoder.encodeAll(prompts, tokenizer: tokenizer)
        truncated += out.truncated.compactMap { $0.map { (tokenizer, $0) } }
        hidden.append(out.output.hiddenStates[out.output.hiddenStates.count - 2])
        pooled = out.output.pooled
      } else {
        // only the penultimate state of an encoder without projection is used: its last layer is not run
        let (ids, cut) = try encoder.tokenize(prompts, tokenizer: tokenizer)
        truncated += cut.compactMap { $0.map { (tokenizer, $0) } }
        hidden.append(try encoder.penultimate(ids))
      }
    }
    guard let pooled else { throw ConfigError("text_encoder_2", "SDXL needs a CLIPTextModelWithProjection for the pooled embeddings") }
    return (try Tensor.cat(hidden, dim: -1), pooled, truncated)
  }
}
