import CLIPTokenizer
import Torch

extension CLIPTextModel {
  /// diffusers' encode_prompt (clip_skip None): tokenize with padding to model_max_length and
  /// truncation, run the encoder, return the last hidden state [B, 77, D] and, per prompt, the
  /// text cut by truncation (nil when none) for diffusers' warning.
  public func encode(_ prompts: [String], tokenizer: CLIPTokenizer) throws -> (embeddings: Tensor, truncated: [String?]) {
    // checked before padding to model_max_length allocates anything
    guard tokenizer.modelMaxLength <= config.maxPositionEmbeddings else {
      throw ConfigError(
        tokenizer.config.configFile ?? "tokenizer_config.json", "model_max_length = \(tokenizer.modelMaxLength) is more than the text encoder's "
          + "max_position_embeddings = \(config.maxPositionEmbeddings): the tokenizer and text encoder do not belong together")
    }
    let batch = tokenizer(prompts)
    let device = store.device.kind == .meta ? Device.cpu : store.device
    let ids = try Tensor(batch.inputIds.flatMap { $0.map(Int64.init) }, shape: [prompts.count, batch.inputIds[0].count], device: device)
    return (try callAsFunction(ids).lastHiddenState, batch.truncations.map { $0?.removedText })
  }
}
