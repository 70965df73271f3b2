// Byte-level BPE with CLIP's "</w>" end-of-word suffix, mirroring the `tokenizers` BPE model that
// transformers 5.17's CLIPTokenizer builds (continuing_subword_prefix "", fuse_unk false, no dropout).

/// GPT-2/CLIP `bytes_to_unicode`: every byte maps to a printable scalar so that vocab entries are text.
enum ByteLevel {
  static let byteToScalar: [Unicode.Scalar] = {
    var printable: [Int] = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
    var scalars = printable
    var extra = 0
    for byte in 0..<256 where !printable.contains(byte) {
      printable.append(byte)
      scalars.append(256 + extra)
      extra += 1
    }
    var table = [Unicode.Scalar](repeating: " ", count: 256)
    for (byte, scalar) in zip(printable, scalars) { table[byte] = Unicode.Scalar(UInt32(scalar))! }
    return table
  }()

  static let scalarToByte: [UInt32: UInt8] = {
    var map: [UInt32: UInt8] = [:]
    for (byte, scalar) in byteToScalar.enumerated() { map[scalar.value] = UInt8(byte) }
    return map
  }()

  /// The byte-level string of one byte, as it appears in vocab.json.
  static func string(_ byte: UInt8) -> String { String(Character(byteToScalar[Int(byte)])) }

  /// What the `tokenizers` ByteLevel decoder produces for one token: each scalar mapped back to its
  /// byte, or the token's own UTF-8 when some scalar is outside the table (e.g. an added token).
  static func decodeBytes(_ token: String) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(token.unicodeScalars.count)
    for scalar in token.unicodeScalars {
      guard let byte = scalarToByte[scalar.value] else { return Array(token.utf8) }
      bytes.append(byte)
    }
    return bytes
  }
}

/// Merge table keyed by token ids, as `tokenizers` stores it: (left, right) -> (rank, merged id).
struct BPEModel: Sendable {
  static let endOfWordSuffix = "</w>"

  /// Vocab id of each byte's token inside a word, and at the end of a word ("x</w>"); -1 if absent.
  let byteIds: [Int32]
  let byteEndIds: [Int32]
  /// Key: left << 32 | right. Value: rank << 32 | merged id.
  let merges: [UInt64: UInt64]
  let unkId: Int32?

  /// A merge names a token (or gives a merged token) that vocab.json lacks.
  struct MergeError: Error {
    let token: String
  }

  init(vocab: [String: Int], merges mergeList: [(String, String)], unkToken: String?) throws(MergeError) {
    var byteIds = [Int32](repeating: -1, count: 256)
    var byteEndIds = [Int32](repeating: -1, count: 256)
    for byte in 0..<256 {
      let s = ByteLevel.string(UInt8(byte))
      if let id = vocab[s] { byteIds[byte] = Int32(id) }
      if let id = vocab[s + Self.endOfWordSuffix] { byteEndIds[byte] = Int32(id) }
    }
    var table: [UInt64: UInt64] = [:]
    table.reserveCapacity(mergeList.count)
    for (rank, (a, b)) in mergeList.enumerated() {
      guard let left = vocab[a] else { throw MergeError(token: a) }
      guard let right = vocab[b] else { throw MergeError(token: b) }
      guard let merged = vocab[a + b] else { throw MergeError(token: a + b) }
      // A repeated pair keeps its last rank, as a HashMap built from the list does in `tokenizers`.
      table[UInt64(left) << 32 | UInt64(right)] = UInt64(rank) << 32 | UInt64(merged)
    }
    self.byteIds = byteIds
    self.byteEndIds = byteEndIds
    self.merges = table
    self.unkId = unkToken.flatMap { vocab[$0] }.map { Int32($0) }
  }

  /// Token ids of one pre-tokenized word given as raw UTF-8 bytes.
  func tokenize(_ word: [UInt8]) -> [Int32] {
    guard !word.isEmpty else { return [] }
    var symbols: [Int32] = []
    symbols.reserveCapacity(word.count)
    for (i, byte) in word.enumerated() {
      let id = i == word.count - 1 ? byteEndIds[Int(byte)] : byteIds[Int(byte)]
      if id >= 0 {
        symbols.append(id)
      } else if let unkId {
        symbols.append(unkId)  // fuse_unk is false: one unk per missing symbol
      }
    }
    // Repeatedly merge the lowest-rank pair, leftmost first on ties: the same order as the
    // priority queue (rank, position) in `tokenizers`' Word::merge_all.
    while symbols.count > 1 {
      var bestRank = UInt64.max
      var bestIndex = -1
      var bestId: Int32 = 0
      for i in 0..<(symbols.count - 1) {
        let key = UInt64(UInt32(bitPattern: symbols[i])) << 32 | UInt64(UInt32(bitPattern: symbols[i + 1]))
        if let value = merges[key], value >> 32 < bestRank {
          bestRank = value >> 32
          bestIndex = i
          bestId = Int32(truncatingIfNeeded: value & 0xFFFF_FFFF)
        }
      }
      if bestIndex < 0 { break }
      symbols[bestIndex] = bestId
      symbols.remove(at: bestIndex + 1)
    }
    return symbols
  }
}
