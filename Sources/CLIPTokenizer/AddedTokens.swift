/// A token matched in the text before BPE, as `tokenizers`' AddedToken (special tokens such as
/// "<|endoftext|>", or SDXL tokenizer_2's pad token "!").
public struct CLIPAddedToken: Sendable, Equatable {
  public var content: String
  /// Skipped by `decode(_:skipSpecialTokens: true)`.
  public var special: Bool
  /// Matched in the normalized (lower-cased, NFC) text rather than the raw prompt. A named special
  /// token given as a plain string in the config files is not normalized.
  public var normalized: Bool
  public var lstrip: Bool
  public var rstrip: Bool
  public var singleWord: Bool
  /// Id to use when `content` is not in vocab.json (from added_tokens_decoder).
  public var id: Int?

  public init(
    _ content: String, special: Bool = true, normalized: Bool = false, lstrip: Bool = false, rstrip: Bool = false,
    singleWord: Bool = false, id: Int? = nil
  ) {
    self.content = content
    self.special = special
    self.normalized = normalized
    self.lstrip = lstrip
    self.rstrip = rstrip
    self.singleWord = singleWord
    self.id = id
  }
}

/// One piece of a split: plain text to tokenize further, or an added token's id.
enum Segment {
  case text([Unicode.Scalar])
  case token(Int32)
}

/// Leftmost-longest, non-overlapping matching of added tokens (the Aho-Corasick `find_iter` with
/// MatchKind::LeftmostLongest in `tokenizers`' AddedVocabulary::find_matches), with its
/// single_word / lstrip / rstrip rules.
struct AddedTokenMatcher: Sendable {
  struct Pattern: Sendable {
    let scalars: [Unicode.Scalar]
    let id: Int32
    let token: CLIPAddedToken
  }

  let patterns: [Pattern]
  private let firstScalars: Set<Unicode.Scalar>

  init(_ patterns: [Pattern]) {
    self.patterns = patterns.filter { !$0.scalars.isEmpty }
    self.firstScalars = Set(self.patterns.map { $0.scalars[0] })
  }

  func split(_ text: [Unicode.Scalar]) -> [Segment] {
    if patterns.isEmpty || !text.contains(where: firstScalars.contains) { return [.text(text)] }
    var segments: [Segment] = []
    var emitted = 0  // end of the last emitted piece
    var i = 0
    while i < text.count {
      guard firstScalars.contains(text[i]), let pattern = longestMatch(in: text, at: i) else {
        i += 1
        continue
      }
      var start = i
      var stop = i + pattern.scalars.count
      i = stop  // find_iter resumes after the match, even when the match is discarded below
      let token = pattern.token
      if token.singleWord {
        let startOK = start == 0 || !TextProcessing.isWordScalar(text[start - 1])
        let stopOK = stop == text.count || !TextProcessing.isWordScalar(text[stop])
        if !startOK || !stopOK { continue }
      }
      if token.lstrip {
        while start > emitted, text[start - 1].properties.isWhitespace { start -= 1 }
      }
      if token.rstrip {
        while stop < text.count, text[stop].properties.isWhitespace { stop += 1 }
      }
      if emitted < start { segments.append(.text(Array(text[emitted..<start]))) }
      segments.append(.token(pattern.id))
      emitted = stop
    }
    if emitted < text.count { segments.append(.text(Array(text[emitted...]))) }
    return segments
  }

  private func longestMatch(in text: [Unicode.Scalar], at i: Int) -> Pattern? {
    var best: Pattern?
    for pattern in patterns where pattern.scalars.count > (best?.scalars.count ?? 0) {
      if text[i...].starts(with: pattern.scalars) { best = pattern }
    }
    return best
  }
}
