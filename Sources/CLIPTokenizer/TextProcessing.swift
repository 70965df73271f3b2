import Foundation

// CLIP's normalizer and pre-tokenizer as transformers 5.17 configures them on the `tokenizers`
// backend: normalizers.Sequence([NFC, Replace(\s+ -> " "), Lowercase]) and
// pre_tokenizers.Sequence([Split(CLIP regex, removed, invert), ByteLevel(add_prefix_space=False)]).
// Hand-written instead of Foundation regex: it is faster and the classes below are explicit.

enum ScalarClass: UInt8 {
  case whitespace, letter, number, other
}

enum TextProcessing {
  private static let asciiClasses: [ScalarClass] = (0..<128).map { value in
    switch value {
    case 0x09...0x0D, 0x20: .whitespace
    case 0x41...0x5A, 0x61...0x7A: .letter
    case 0x30...0x39: .number
    default: .other
    }
  }

  /// Oniguruma's Unicode classes: \s is White_Space (so U+0085, U+00A0, U+3000 but not U+001C-1F
  /// nor U+200B), \p{L} is L*, \p{N} is N* (Nd, Nl, No: "²", "½", "Ⅻ" are single number tokens).
  @inline(__always)
  static func classify(_ scalar: Unicode.Scalar) -> ScalarClass {
    if scalar.value < 128 { return asciiClasses[Int(scalar.value)] }
    let properties = scalar.properties
    if properties.isWhitespace { return .whitespace }
    switch properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
    case .decimalNumber, .letterNumber, .otherNumber: return .number
    default: return .other
    }
  }

  /// NFC, then every whitespace run becomes one " ", then per-scalar lower-casing (Rust's
  /// char::to_lowercase: full mappings such as "İ" -> "i̇", no final-sigma context).
  /// No strip, no ftfy, no HTML unescaping: leading/trailing spaces vanish in the pre-tokenizer.
  static func normalize<C: Collection<Unicode.Scalar>>(_ input: C) -> [Unicode.Scalar] {
    var composed: [Unicode.Scalar]
    // Text below U+0300 (before the first combining mark) is already NFC.
    if input.allSatisfy({ $0.value < 0x300 }) {
      composed = Array(input)
    } else {
      var string = ""
      string.unicodeScalars.append(contentsOf: input)
      composed = Array(string.precomposedStringWithCanonicalMapping.unicodeScalars)
    }
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(composed.count)
    var inSpace = false
    for scalar in composed {
      if classify(scalar) == .whitespace {
        if !inSpace { out.append(" ") }
        inSpace = true
        continue
      }
      inSpace = false
      if scalar.value < 128 {
        let v = scalar.value
        out.append((0x41...0x5A).contains(v) ? Unicode.Scalar(v + 32)! : scalar)
      } else {
        let lower = scalar.properties.lowercaseMapping.unicodeScalars
        if lower.count == 1, lower.first == scalar { out.append(scalar) } else { out.append(contentsOf: lower) }
      }
    }
    return out
  }

  private static let specialWords: [([Unicode.Scalar], [Range<Int>])] = ["<|startoftext|>", "<|endoftext|>"].map {
    let scalars = Array($0.unicodeScalars)
    // The ByteLevel pre-tokenizer's GPT-2 regex re-splits this match into "<|", "...", "|>".
    return (scalars, [0..<2, 2..<(scalars.count - 2), (scalars.count - 2)..<scalars.count])
  }

  /// Calls `body` with the range of each word that the CLIP pattern keeps, in order:
  /// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
  /// with leftmost-first alternation. Whitespace between matches is dropped.
  static func preTokenize(_ s: [Unicode.Scalar], _ body: (Range<Int>) -> Void) {
    var i = 0
    let n = s.count
    outer: while i < n {
      let scalar = s[i]
      let cls = classify(scalar)
      if cls == .whitespace {
        i += 1
        continue
      }
      if scalar == "<" {
        for (word, parts) in specialWords where s[i...].starts(with: word) {
          for part in parts { body((i + part.lowerBound)..<(i + part.upperBound)) }
          i += word.count
          continue outer
        }
      }
      if scalar == "'", i + 1 < n {
        let next = s[i + 1]
        if next == "s" || next == "t" || next == "m" || next == "d" {
          body(i..<(i + 2))
          i += 2
          continue
        }
        if i + 2 < n {
          let pair = (next, s[i + 2])
          if pair == ("r", "e") || pair == ("v", "e") || pair == ("l", "l") {
            body(i..<(i + 3))
            i += 3
            continue
          }
        }
      }
      let start = i
      switch cls {
      case .letter:
        i += 1
        while i < n, classify(s[i]) == .letter { i += 1 }
      case .number:
        i += 1
      default:
        i += 1
        while i < n, classify(s[i]) == .other { i += 1 }
      }
      body(start..<i)
    }
  }

  /// Python's str.isspace (what `.strip()` removes in the decode wrapper): White_Space plus U+001C-1F.
  static func isPythonSpace(_ scalar: Unicode.Scalar) -> Bool {
    (0x1C...0x1F).contains(scalar.value) || scalar.properties.isWhitespace
  }

  /// Rust regex's Unicode \w, used by added tokens with single_word.
  static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
    let p = scalar.properties
    if p.isAlphabetic || p.isJoinControl { return true }
    switch p.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
    default: return false
    }
  }
}
