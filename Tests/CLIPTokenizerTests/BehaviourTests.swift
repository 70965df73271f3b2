import CLIPTokenizer
import Foundation
import Testing

@Suite("Truncation, errors and concurrency")
struct BehaviourTests {
  /// Every over-long fixture prompt reports what diffusers would warn about, and nothing else does.
  @Test(arguments: tokenizerNames)
  func truncationReporting(_ name: String) throws {
    let tokenizer = try Fixtures.tokenizer(name)
    let cases = try Fixtures.expected(name).cases
    let maxContent = tokenizer.modelMaxLength - 2
    #expect(cases.contains { $0.removedText != nil } && cases.contains { $0.removedText == nil })
    for c in cases {
      let truncation = tokenizer([c.prompt]).truncations[0]
      if c.encode.count > maxContent {
        let t = try #require(truncation, "\(c.prompt.prefix(30)) should be truncated")
        #expect(t.removedIds == Array(c.encode[maxContent...]))
        #expect(t.removedTokenCount == c.encode.count - maxContent)
        #expect(t.removedText == c.removedText)
        let warning = CLIPTokenizer.truncationWarning(removedText: t.removedText, maxLength: tokenizer.modelMaxLength)
        #expect(warning.hasSuffix("up to \(tokenizer.modelMaxLength) tokens: \(t.removedText)"))
      } else {
        #expect(truncation == nil)
        #expect(c.removedText == nil)
      }
    }
  }

  @Test func missingFiles() throws {
    let missingDir = NSTemporaryDirectory() + "no-such-tokenizer-\(UUID().uuidString)"
    try expectError(CLIPTokenizer(directory: missingDir), file: "vocab.json", says: "not found")
    let folder = try ScratchFolder(copying: "sd15")
    try FileManager.default.removeItem(atPath: folder.file("merges.txt"))
    try expectError(CLIPTokenizer(directory: folder.path), file: "merges.txt", says: "not found")
  }

  @Test func optionalConfigFilesMayBeAbsent() throws {
    let folder = try ScratchFolder(copying: "sd15")
    try FileManager.default.removeItem(atPath: folder.file("tokenizer_config.json"))
    try FileManager.default.removeItem(atPath: folder.file("special_tokens_map.json"))
    let tokenizer = try CLIPTokenizer(directory: folder.path)
    let expected = try Fixtures.expected("sd15")
    #expect(tokenizer.padTokenId == expected.padTokenId)
    #expect(tokenizer.encode(expected.cases[0].prompt) == expected.cases[0].encode)
  }

  @Test(arguments: [
    ("vocab.json", "{\"a\": 1,", "malformed JSON"),
    ("vocab.json", "[1, 2]", "expected a JSON object"),
    ("vocab.json", "{\"a\": \"one\"}", "non-integer id"),
    ("tokenizer_config.json", "{nope", "malformed JSON"),
    // fuzz seed 23 #717: every prompt is padded to it, so 2^62 tried to allocate 2^64 bytes
    ("tokenizer_config.json", "{\"model_max_length\": 4611686018427387904}", "more than swift-lcm accepts (65536)"),
    ("special_tokens_map.json", "[]", "expected a JSON object"),
  ])
  func malformedJSON(_ file: String, _ contents: String, _ problem: String) throws {
    let folder = try ScratchFolder(copying: "sd15")
    try folder.write(file, contents)
    try expectError(CLIPTokenizer(directory: folder.path), file: file, says: problem)
  }

  /// tokenizer.json (transformers 5's only file): wrong models and malformed entries, one line each.
  @Test(arguments: [
    ("\"type\": \"BPE\"", "\"type\": \"Unigram\"", "not BPE"),
    ("\"end_of_word_suffix\": \"</w>\"", "\"end_of_word_suffix\": null", "end_of_word_suffix"),
    ("\"merges\": [", "\"merges\": [[\"a\"], ", "model.merges[0] is not two tokens"),
    ("\"vocab\": {", "\"vocab\": {\"zz\": -3, ", "has no non-negative integer id"),
  ])
  func badTokenizerJSON(_ old: String, _ new: String, _ problem: String) throws {
    let folder = try ScratchFolder(copying: "sd15_json")
    let text = try folder.read("tokenizer.json")
    #expect(text.contains(old))
    try folder.write("tokenizer.json", text.replacingOccurrences(of: old, with: new))
    try expectError(CLIPTokenizer(directory: folder.path), file: "tokenizer.json", says: problem)
  }

  @Test(arguments: [
    ("i n x", "line 2: expected two tokens"),
    ("", "line 2: expected two tokens"),
    ("i  n", "line 2: expected two tokens"),
    ("12 34", "line 2: token '12' is not in"),
  ])
  func badMergesLine(_ line: String, _ problem: String) throws {
    let folder = try ScratchFolder(copying: "sd15")
    let merges = try folder.read("merges.txt").split(separator: "\n", omittingEmptySubsequences: false)
    try folder.write("merges.txt", ([merges[0], Substring(line)] + merges.dropFirst()).joined(separator: "\n"))
    try expectError(CLIPTokenizer(directory: folder.path), file: "merges.txt", says: problem)
  }

  @Test func specialTokenAbsentFromVocab() throws {
    let folder = try ScratchFolder(copying: "sd15")
    let config = try folder.read("special_tokens_map.json")
    try folder.write(
      "special_tokens_map.json",
      config.replacingOccurrences(of: "\"pad_token\": \"<|endoftext|>\"", with: "\"pad_token\": \"<pad>\""))
    try expectError(CLIPTokenizer(directory: folder.path), file: "vocab.json", says: "no entry for pad_token '<pad>'")
  }

  /// Concurrent callers share the BPE cache and still get the serial results.
  @Test func concurrentEncodingMatchesSerial() async throws {
    let tokenizer = try Fixtures.tokenizer("sd15")
    let cases = try Fixtures.expected("sd15").cases
    let results = await withTaskGroup(of: (Int, [Int]).self) { group in
      for (i, c) in cases.enumerated() { group.addTask { (i, tokenizer.encode(c.prompt)) } }
      var out = [[Int]](repeating: [], count: cases.count)
      for await (i, ids) in group { out[i] = ids }
      return out
    }
    #expect(results == cases.map(\.encode))
  }
}

/// The call throws a CLIPTokenizerError whose one-line description names `file` and the problem.
func expectError<T>(
  _ body: @autoclosure () throws -> T, file: String, says problem: String,
  sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let error = try #require(throws: CLIPTokenizerError.self, sourceLocation: sourceLocation) { _ = try body() }
  let text = error.description
  #expect(text.contains(file), "\(text)", sourceLocation: sourceLocation)
  #expect(text.contains(problem), "\(text)", sourceLocation: sourceLocation)
  #expect(!text.contains("\n"), "\(text)", sourceLocation: sourceLocation)
}
