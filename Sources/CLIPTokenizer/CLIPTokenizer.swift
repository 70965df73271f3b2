import Synchronization

/// Special tokens and length of a CLIP tokenizer, as read from a diffusers `tokenizer/` folder.
public struct CLIPTokenizerConfig: Sendable, Equatable {
  public var bosToken: String
  public var eosToken: String
  public var padToken: String
  public var unkToken: String
  /// Padding/truncation length used by diffusers (77 for every Stable Diffusion tokenizer).
  public var modelMaxLength: Int
  /// Tokens split out of the text before BPE. When several share a content, the last one's flags
  /// apply (transformers registers bos, eos, unk, pad in that order and the last registration wins).
  public var addedTokens: [CLIPAddedToken]
  /// The tokenizer_config.json it was read from (for messages; nil when built in code).
  public var configFile: String? = nil

  /// `addedTokens` nil: the four named tokens as plain strings, i.e. special and not normalized.
  public init(
    bosToken: String = "<|startoftext|>", eosToken: String = "<|endoftext|>", padToken: String = "<|endoftext|>",
    unkToken: String = "<|endoftext|>", modelMaxLength: Int = 77, addedTokens: [CLIPAddedToken]? = nil
  ) {
    self.bosToken = bosToken
    self.eosToken = eosToken
    self.padToken = padToken
    self.unkToken = unkToken
    self.modelMaxLength = modelMaxLength
    self.addedTokens = addedTokens ?? [bosToken, eosToken, unkToken, padToken].map { CLIPAddedToken($0) }
  }
}

/// A load error with a one-line message naming the file and the problem.
public struct CLIPTokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
  public let file: String
  public let message: String

  public init(file: String, _ message: String) {
    self.file = file
    self.message = message.split(whereSeparator: \.isNewline).joined(separator: " ")
  }

  public var description: String { "\(file): \(message)" }
}

/// CLIP's byte-level BPE tokenizer, producing the same ids as transformers 5.17's `CLIPTokenizer`
/// (the `tokenizers`-backed class) loaded from the same files.
public final class CLIPTokenizer: Sendable {
  /// Result of `tokenizer(prompts)`: what diffusers gets from `tokenizer(prompts, padding="max_length",
  /// max_length=..., truncation=True, return_tensors="pt")`.
  public struct Batch: Sendable, Equatable {
    public let inputIds: [[Int]]
    public let attentionMask: [[Int]]
    /// Per prompt: what truncation cut off, nil when the prompt fit.
    public let truncations: [Truncation?]
    /// Per prompt: the removed text diffusers logs, nil when nothing was removed.
    public var truncated: [String?] { truncations.map { $0?.removedText } }
  }

  /// Tokens past `maxLength - 2` content tokens. `removedText` is diffusers'
  /// `tokenizer.batch_decode(untruncated_ids[:, max_length - 1 : -1])` for this prompt.
  public struct Truncation: Sendable, Equatable {
    public let removedIds: [Int]
    public let removedText: String
    public var removedTokenCount: Int { removedIds.count }
  }

  public let config: CLIPTokenizerConfig
  public let bosTokenId: Int
  public let eosTokenId: Int
  public let padTokenId: Int
  public let unkTokenId: Int
  /// Number of entries in vocab.json.
  public let vocabSize: Int
  public var modelMaxLength: Int { config.modelMaxLength }

  let model: BPEModel
  let rawMatcher: AddedTokenMatcher
  let normalizedMatcher: AddedTokenMatcher
  let vocab: [String: Int]
  let idToToken: [Int: String]
  let decodeBytes: [Int: [UInt8]]
  let specialIds: Set<Int>
  /// Word -> ids, like the BPE cache in `tokenizers` (same 10k-entry capacity; full means no inserts).
  private let cache = Mutex<[[UInt8]: [Int32]]>([:])
  private static let cacheCapacity = 10_000

  /// - Parameter merges: merge pairs in rank order (merges.txt without its "#version" line).
  public convenience init(vocab: [String: Int], merges: [(String, String)], config: CLIPTokenizerConfig)
    throws(CLIPTokenizerError)
  {
    try self.init(vocab: vocab, merges: merges, config: config, files: .init())
  }

  struct SourceFiles {
    var vocab = "vocab"
    var merges = "merges"
    var mergeLines: [Int]? = nil  // physical line of each merge, for error messages
  }

  init(vocab: [String: Int], merges: [(String, String)], config: CLIPTokenizerConfig, files: SourceFiles)
    throws(CLIPTokenizerError)
  {
    do {
      model = try BPEModel(vocab: vocab, merges: merges, unkToken: config.unkToken)
    } catch {
      let token = error.token
      let index = merges.firstIndex { $0.0 == token || $0.1 == token || $0.0 + $0.1 == token } ?? 0
      let line = files.mergeLines?[index] ?? index + 1
      throw CLIPTokenizerError(file: files.merges, "line \(line): token \(quoted(token)) is not in \(files.vocab)")
    }
    // Added tokens: the last flags given for a content win; ids come from the vocab.
    var flags: [String: CLIPAddedToken] = [:]
    var order: [String] = []
    for token in config.addedTokens {
      if flags[token.content] == nil { order.append(token.content) }
      flags[token.content] = token
    }
    func namedId(_ name: String, _ content: String) throws(CLIPTokenizerError) -> Int {
      guard let id = vocab[content] ?? flags[content]?.id else {
        throw CLIPTokenizerError(file: files.vocab, "has no entry for \(name) \(quoted(content))")
      }
      return id
    }
    bosTokenId = try namedId("bos_token", config.bosToken)
    eosTokenId = try namedId("eos_token", config.eosToken)
    padTokenId = try namedId("pad_token", config.padToken)
    unkTokenId = try namedId("unk_token", config.unkToken)

    var raw: [AddedTokenMatcher.Pattern] = []
    var normalized: [AddedTokenMatcher.Pattern] = []
    var addedIds: [Int: String] = [:]
    var specialIds = Set<Int>()
    for content in order {
      let token = flags[content]!
      guard let id = vocab[content] ?? token.id else {
        throw CLIPTokenizerError(file: files.vocab, "has no entry for added token \(quoted(content))")
      }
      addedIds[id] = content
      if token.special { specialIds.insert(id) }
      if token.normalized {
        normalized.append(.init(scalars: TextProcessing.normalize(content.unicodeScalars), id: Int32(id), token: token))
      } else {
        raw.append(.init(scalars: Array(content.unicodeScalars), id: Int32(id), token: token))
      }
    }

    var idToToken: [Int: String] = [:]
    idToToken.reserveCapacity(vocab.count)
    for (token, id) in vocab { idToToken[id] = token }
    idToToken.merge(addedIds) { _, added in added }
    self.idToToken = idToToken
    self.decodeBytes = idToToken.mapValues(ByteLevel.decodeBytes)
    self.specialIds = specialIds
    self.rawMatcher = AddedTokenMatcher(raw)
    self.normalizedMatcher = AddedTokenMatcher(normalized)
    self.vocab = vocab
    self.vocabSize = vocab.count
    self.config = config
  }

  // MARK: Encoding

  /// Token ids of `text` without BOS/EOS, padding or truncation
  /// (`tokenizer(text, add_special_tokens=False).input_ids`).
  public func encode(_ text: String) -> [Int] {
    var out: [Int] = []
    for segment in rawMatcher.split(Array(text.unicodeScalars)) {
      switch segment {
      case .token(let id): out.append(Int(id))
      case .text(let raw):
        // Normalized added tokens are searched for in each normalized piece, as in `tokenizers`.
        for piece in normalizedMatcher.split(TextProcessing.normalize(raw)) {
          switch piece {
          case .token(let id): out.append(Int(id))
          case .text(let text): appendWords(of: text, to: &out)
          }
        }
      }
    }
    return out
  }

  private func appendWords(of text: [Unicode.Scalar], to out: inout [Int]) {
    var word: [UInt8] = []
    TextProcessing.preTokenize(text) { range in
      word.removeAll(keepingCapacity: true)
      for scalar in text[range] { UTF8.encode(scalar) { word.append($0) } }
      for id in bpe(word) { out.append(Int(id)) }
    }
  }

  private func bpe(_ word: [UInt8]) -> [Int32] {
    if let hit = cache.withLock({ $0[word] }) { return hit }
    let ids = model.tokenize(word)
    cache.withLock { cache in
      if cache.count < Self.cacheCapacity { cache[word] = ids }
    }
    return ids
  }

  /// BOS + ids + EOS, truncated and padded to `maxLength` (default `modelMaxLength`), with the
  /// attention mask; what diffusers pipelines and training scripts feed the text encoder.
  public func callAsFunction(_ texts: [String], maxLength: Int? = nil) -> Batch {
    let length = maxLength ?? modelMaxLength
    precondition(length >= 2, "maxLength must leave room for BOS and EOS")
    var inputIds: [[Int]] = []
    var masks: [[Int]] = []
    var truncations: [Truncation?] = []
    for text in texts {
      var content = encode(text)
      var truncation: Truncation?
      if content.count > length - 2 {
        // transformers drops tokens from the right before adding BOS/EOS.
        let removed = Array(content[(length - 2)...])
        truncation = Truncation(removedIds: removed, removedText: decode(removed))
        content.removeLast(removed.count)
      }
      var ids = [bosTokenId] + content + [eosTokenId]
      let used = ids.count
      ids += Array(repeating: padTokenId, count: length - used)
      inputIds.append(ids)
      masks.append(Array(repeating: 1, count: used) + Array(repeating: 0, count: length - used))
      truncations.append(truncation)
    }
    return Batch(inputIds: inputIds, attentionMask: masks, truncations: truncations)
  }

  public func callAsFunction(_ text: String, maxLength: Int? = nil) -> Batch {
    self([text], maxLength: maxLength)
  }

  /// diffusers' warning for a truncated prompt (it prints the batch_decode list; this takes one text).
  public static func truncationWarning(removedText: String, maxLength: Int) -> String {
    "The following part of your input was truncated because CLIP can only handle sequences up to \(maxLength) tokens: \(removedText)"
  }

  // MARK: Decoding

  /// Text of `ids` as transformers' `tokenizer.decode(ids, skip_special_tokens=...)`: byte-level
  /// decoding with U+FFFD for invalid UTF-8, every "</w>" becomes a space, then Python's strip().
  /// Unknown ids are skipped. Like transformers, special tokens are kept unless asked otherwise.
  public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
    var bytes: [UInt8] = []
    for id in ids {
      if skipSpecialTokens, specialIds.contains(id) { continue }
      if let b = decodeBytes[id] { bytes.append(contentsOf: b) }
    }
    let suffix = Array(BPEModel.endOfWordSuffix.utf8)
    var replaced: [UInt8] = []
    replaced.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
      if bytes[i] == suffix[0], bytes[i...].starts(with: suffix) {
        replaced.append(0x20)
        i += suffix.count
      } else {
        replaced.append(bytes[i])
        i += 1
      }
    }
    let scalars = String(decoding: replaced, as: UTF8.self).unicodeScalars
    guard let first = scalars.firstIndex(where: { !TextProcessing.isPythonSpace($0) }),
      let last = scalars.lastIndex(where: { !TextProcessing.isPythonSpace($0) })
    else { return "" }
    return String(Substring(scalars[first...last]))
  }

  /// The vocab (or added token) string of `id`, e.g. "photo</w>".
  public func token(forId id: Int) -> String? { idToToken[id] }

  public func id(forToken token: String) -> Int? { vocab[token] }
}

func quoted(_ s: String) -> String { "'\(s.unicodeScalars.map { $0.escaped(asASCII: false) }.joined())'" }
