import Foundation

// Reading a diffusers `tokenizer/` folder the way transformers 5.17's
// `CLIPTokenizer.from_pretrained(dir)` does (tokenization_utils_base._from_pretrained and
// TokenizersBackend.__init__): vocab.json + merges.txt, or the tokenizers library's
// tokenizer.json (all transformers 5 `save_pretrained` writes).

extension CLIPTokenizer {
  /// Loads vocab.json and merges.txt, or else tokenizer.json, and tokenizer_config.json /
  /// special_tokens_map.json (optional; CLIP's defaults otherwise) from `directory`.
  public convenience init(directory: String) throws(CLIPTokenizerError) {
    let url = URL(fileURLWithPath: directory)
    let vocabPath = url.appendingPathComponent("vocab.json").path
    let mergesPath = url.appendingPathComponent("merges.txt").path
    let jsonPath = url.appendingPathComponent("tokenizer.json").path
    let configPath = url.appendingPathComponent("tokenizer_config.json").path
    let specialPath = url.appendingPathComponent("special_tokens_map.json").path

    var tokenizerConfig = try Self.readJSONObject(configPath, required: false) ?? [:]
    let specialMap = try Self.readJSONObject(specialPath, required: false)
    let fm = FileManager.default
    if !fm.fileExists(atPath: vocabPath), !fm.fileExists(atPath: mergesPath), fm.fileExists(atPath: jsonPath) {
      let file = try Self.readTokenizerJSON(jsonPath)
      // tokenizer.json's added tokens carry their ids and flags, as added_tokens_decoder does
      if tokenizerConfig["added_tokens_decoder"] == nil, !file.addedTokens.isEmpty {
        tokenizerConfig["added_tokens_decoder"] = file.addedTokens
      }
      let config = try Self.resolveConfig(tokenizerConfig: tokenizerConfig, specialTokensMap: specialMap, configFile: configPath)
      try self.init(vocab: file.vocab, merges: file.merges, config: config, files: .init(vocab: jsonPath, merges: jsonPath))
      return
    }
    let vocab = try Self.readVocab(vocabPath)
    let (merges, lines) = try Self.readMerges(mergesPath)
    let config = try Self.resolveConfig(
      tokenizerConfig: tokenizerConfig, specialTokensMap: specialMap, configFile: configPath)
    try self.init(
      vocab: vocab, merges: merges, config: config,
      files: .init(vocab: vocabPath, merges: mergesPath, mergeLines: lines))
  }

  /// The BPE model of a tokenizers-library tokenizer.json: `model.vocab`, `model.merges` (strings
  /// "a b", or pairs [a, b] as tokenizers ≥ 0.20 writes) and `added_tokens` (as an
  /// added_tokens_decoder dictionary). Only CLIP's BPE (end-of-word suffix "</w>") is accepted.
  static func readTokenizerJSON(_ path: String) throws(CLIPTokenizerError)
    -> (vocab: [String: Int], merges: [(String, String)], addedTokens: [String: Any])
  {
    guard let root = try parseJSON(try readData(path), path: path) as? [String: Any],
      let model = root["model"] as? [String: Any]
    else { throw CLIPTokenizerError(file: path, "expected a JSON object with a \"model\"") }
    guard model["type"] as? String == "BPE" else {
      throw CLIPTokenizerError(file: path, "model.type is \(quoted("\(model["type"] ?? "missing")")), not BPE (a CLIP tokenizer)")
    }
    guard model["end_of_word_suffix"] as? String == "</w>" else {
      throw CLIPTokenizerError(file: path, "model.end_of_word_suffix is not \"</w>\" (not a CLIP tokenizer)")
    }
    guard let rawVocab = model["vocab"] as? [String: Any] else { throw CLIPTokenizerError(file: path, "model.vocab is not an object") }
    var vocab: [String: Int] = [:]
    vocab.reserveCapacity(rawVocab.count)
    for (token, value) in rawVocab {
      guard let n = value as? NSNumber, let id = Int(exactly: n.doubleValue), id >= 0 else {
        throw CLIPTokenizerError(file: path, "model.vocab: token \(quoted(token)) has no non-negative integer id")
      }
      vocab[token] = id
    }
    guard let rawMerges = model["merges"] as? [Any] else { throw CLIPTokenizerError(file: path, "model.merges is not a list") }
    var merges: [(String, String)] = []
    merges.reserveCapacity(rawMerges.count)
    for (i, entry) in rawMerges.enumerated() {
      if let pair = entry as? [Any], pair.count == 2, let a = pair[0] as? String, let b = pair[1] as? String, !a.isEmpty, !b.isEmpty {
        merges.append((a, b))
      } else if let text = entry as? String, case let parts = text.split(separator: " ", omittingEmptySubsequences: false),
        parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty {
        merges.append((String(parts[0]), String(parts[1])))
      } else {
        throw CLIPTokenizerError(file: path, "model.merges[\(i)] is not two tokens")
      }
    }
    var added: [String: Any] = [:]
    for (i, entry) in ((root["added_tokens"] as? [Any]) ?? []).enumerated() {
      guard let token = entry as? [String: Any], let n = token["id"] as? NSNumber, let id = Int(exactly: n.doubleValue),
        token["content"] is String
      else { throw CLIPTokenizerError(file: path, "added_tokens[\(i)] needs an integer id and a content string") }
      added[String(id)] = token
    }
    return (vocab, merges, added)
  }

  static func readData(_ path: String) throws(CLIPTokenizerError) -> Data {
    guard FileManager.default.fileExists(atPath: path) else { throw CLIPTokenizerError(file: path, "file not found") }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CLIPTokenizerError(file: path, "cannot read file")
    }
    return data
  }

  static func parseJSON(_ data: Data, path: String) throws(CLIPTokenizerError) -> Any {
    do {
      return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    } catch {
      throw CLIPTokenizerError(file: path, "malformed JSON (\(error.localizedDescription))")
    }
  }

  static func readVocab(_ path: String) throws(CLIPTokenizerError) -> [String: Int] {
    let data = try readData(path)
    if let vocab = try? JSONDecoder().decode([String: Int].self, from: data) { return vocab }
    // Tell a syntax error apart from valid JSON of the wrong shape.
    guard let object = try parseJSON(data, path: path) as? [String: Any] else {
      throw CLIPTokenizerError(file: path, "expected a JSON object mapping tokens to ids")
    }
    let bad = object.first { !($0.value is NSNumber) || Int(exactly: ($0.value as! NSNumber).doubleValue) == nil }
    throw CLIPTokenizerError(file: path, "token \(quoted(bad?.key ?? "?")) has a non-integer id")
  }

  /// merges.txt as the Rust BPE reader takes it: lines starting with "#version" are skipped, every
  /// other line (blank ones included) must be exactly two tokens separated by one space.
  static func readMerges(_ path: String) throws(CLIPTokenizerError) -> ([(String, String)], [Int]) {
    let data = [UInt8](try readData(path))
    guard String(validating: data, as: UTF8.self) != nil else {
      throw CLIPTokenizerError(file: path, "not valid UTF-8")
    }
    // Work on bytes: as Characters, "\r\n" and " " + a combining mark would each be one unit.
    var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
    if lines.last?.isEmpty == true { lines.removeLast() }  // the final newline ends the last line
    var merges: [(String, String)] = []
    var lineNumbers: [Int] = []
    merges.reserveCapacity(lines.count)
    let version = Array("#version".utf8)
    for (index, rawLine) in lines.enumerated() {
      let line = rawLine.last == 0x0D ? rawLine.dropLast() : rawLine
      if line.starts(with: version) { continue }
      let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        let text = String(decoding: line, as: UTF8.self)
        let shown = text.count > 60 ? text.prefix(60) + "..." : Substring(text)
        throw CLIPTokenizerError(
          file: path, "line \(index + 1): expected two tokens separated by one space, got \(quoted(String(shown)))")
      }
      merges.append((String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self)))
      lineNumbers.append(index + 1)
    }
    return (merges, lineNumbers)
  }

  static func readJSONObject(_ path: String, required: Bool) throws(CLIPTokenizerError) -> [String: Any]? {
    if !required, !FileManager.default.fileExists(atPath: path) { return nil }
    guard let object = try parseJSON(try readData(path), path: path) as? [String: Any] else {
      throw CLIPTokenizerError(file: path, "expected a JSON object")
    }
    return object
  }

  /// The largest model_max_length accepted (CLIP text encoders have 77 positions).
  public static let maxModelMaxLength = 65_536

  static let namedTokens = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]
  /// CLIPTokenizer.__init__ defaults (plain strings, so special and not normalized).
  static let defaultTokens = [
    "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
    "pad_token": "<|endoftext|>",
  ]

  /// The named special tokens and added tokens that transformers 5.17 ends up with:
  /// - with `added_tokens_decoder` in tokenizer_config.json, those entries (with their flags) are
  ///   the added tokens, named tokens refer to them by content and special_tokens_map.json is unused;
  /// - otherwise (older files) special_tokens_map.json values replace tokenizer_config.json's.
  /// A named token given as a string is special and not normalized; as a dict it keeps its flags.
  /// `do_lower_case` is not read: transformers 5.17 lower-cases regardless.
  static func resolveConfig(tokenizerConfig: [String: Any], specialTokensMap: [String: Any]?, configFile: String)
    throws(CLIPTokenizerError) -> CLIPTokenizerConfig
  {
    func parse(_ value: Any, forceSpecial: Bool, key: String) throws(CLIPTokenizerError) -> CLIPAddedToken {
      if let s = value as? String { return CLIPAddedToken(s) }
      guard let d = value as? [String: Any], let content = d["content"] as? String else {
        throw CLIPTokenizerError(file: configFile, "\(key) must be a string or an object with \"content\"")
      }
      // Python's AddedToken(**d): normalized defaults to `not special` at construction.
      let special = d["special"] as? Bool ?? false
      return CLIPAddedToken(
        content, special: special || forceSpecial, normalized: d["normalized"] as? Bool ?? !(special || forceSpecial),
        lstrip: d["lstrip"] as? Bool ?? false, rstrip: d["rstrip"] as? Bool ?? false,
        singleWord: d["single_word"] as? Bool ?? false)
    }

    var added: [CLIPAddedToken] = []
    var named: [String: CLIPAddedToken] = [:]
    if let decoder = tokenizerConfig["added_tokens_decoder"] as? [String: Any] {
      var byContent: [String: CLIPAddedToken] = [:]
      for (key, value) in decoder {
        guard let id = Int(key) else {
          throw CLIPTokenizerError(file: configFile, "added_tokens_decoder key \(quoted(key)) is not an id")
        }
        var token = try parse(value, forceSpecial: false, key: "added_tokens_decoder[\(key)]")
        token.id = id
        added.append(token)
        byContent[token.content] = token
      }
      added.sort { $0.id! < $1.id! }
      for key in namedTokens {
        guard let value = tokenizerConfig[key], !(value is NSNull) else { continue }
        var token = try parse(value, forceSpecial: true, key: key)
        if let known = byContent[token.content] { token = known }
        token.special = true
        named[key] = token
      }
    } else {
      var values = tokenizerConfig
      for (key, value) in specialTokensMap ?? [:] where namedTokens.contains(key) {
        // special_tokens_map.json dicts become AddedToken(**value, special=True).
        values[key] = (value as? [String: Any]).map { d in d.merging(["special": true]) { _, new in new } } ?? value
      }
      for key in namedTokens {
        guard let value = values[key], !(value is NSNull) else { continue }
        var token = try parse(value, forceSpecial: false, key: key)
        token.special = true
        named[key] = token
      }
    }
    for (key, content) in defaultTokens where named[key] == nil { named[key] = CLIPAddedToken(content) }
    added += namedTokens.compactMap { named[$0] }

    var maxLength = 77  // CLIP's context; transformers would use 1e30 when the key is absent
    if let value = tokenizerConfig["model_max_length"] {
      guard let number = value as? NSNumber, let n = Int(exactly: number.doubleValue), n >= 2 else {
        throw CLIPTokenizerError(file: configFile, "model_max_length must be an integer >= 2")
      }
      // every prompt is padded to it: a bound before anything is allocated (CLIP has 77)
      guard n <= maxModelMaxLength else {
        throw CLIPTokenizerError(file: configFile, "model_max_length = \(n) is more than swift-lcm accepts (\(maxModelMaxLength))")
      }
      maxLength = n
    }
    var config = CLIPTokenizerConfig(
      bosToken: named["bos_token"]!.content, eosToken: named["eos_token"]!.content,
      padToken: named["pad_token"]!.content, unkToken: named["unk_token"]!.content,
      modelMaxLength: maxLength, addedTokens: added)
    config.configFile = configFile
    return config
  }
}
