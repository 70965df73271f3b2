import CLIPTokenizer
import Foundation
import Testing

/// Tests/Fixtures/clip_tokenizer, written by scripts/fixtures/make_clip_tokenizer_fixtures.py
/// (transformers 5.17.0 as the oracle).
let fixtureDir: String = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  .appendingPathComponent("Tests/Fixtures/clip_tokenizer").path

// *_json: the same tokenizers as transformers 5 save_pretrained writes them (tokenizer.json only)
let tokenizerNames = ["sd15", "sdxl2", "sd15_json", "sdxl2_json"]

struct ExpectedFile: Decodable {
  let transformers: String
  let tokenizersExpected: [String: ExpectedTokenizer]
}

struct ExpectedTokenizer: Decodable {
  struct Added: Decodable {
    let content: String
    let special: Bool
    let normalized: Bool
  }
  let bosTokenId: Int
  let eosTokenId: Int
  let padTokenId: Int
  let unkTokenId: Int
  let modelMaxLength: Int
  let vocabSize: Int
  let addedTokens: [String: Added]
  let cases: [ExpectedCase]
  let decodeCases: [DecodeCase]
}

struct ExpectedCase: Decodable {
  let prompt: String
  let encode: [Int]
  let inputIds: [Int]
  let attentionMask: [Int]
  let inputIdsMax10: [Int]
  let attentionMaskMax10: [Int]
  let removedText: String?
  let decode: String
  let decodeInputIdsSkipSpecial: String
}

struct DecodeCase: Decodable {
  let ids: [Int]
  let text: String
  let textSkipSpecial: String
}

enum Fixtures {
  /// nil when expected.json is missing or unreadable; `fixturesArePresent` fails then.
  static let expected: ExpectedFile? = {
    guard let data = FileManager.default.contents(atPath: fixtureDir + "/expected.json") else { return nil }
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return try? decoder.decode(ExpectedFile.self, from: data)
  }()

  static let tokenizers: [String: CLIPTokenizer] = {
    var out: [String: CLIPTokenizer] = [:]
    for name in tokenizerNames { out[name] = try? CLIPTokenizer(directory: fixtureDir + "/" + name) }
    return out
  }()

  static func tokenizer(_ name: String) throws -> CLIPTokenizer {
    try #require(tokenizers[name], "could not load \(fixtureDir)/\(name)")
  }

  static func expected(_ name: String) throws -> ExpectedTokenizer {
    try #require(expected?.tokenizersExpected[name], "expected.json lacks \(name)")
  }

  /// One (tokenizer, prompt) pair per parameterised test case.
  static let promptCases: [PromptCase] = tokenizerNames.flatMap { name in
    (expected?.tokenizersExpected[name]?.cases ?? []).enumerated().map {
      PromptCase(tokenizer: name, index: $0.offset)
    }
  }
}

struct PromptCase: Sendable, CustomTestStringConvertible {
  let tokenizer: String
  let index: Int

  var testDescription: String {
    let prompt = Fixtures.expected?.tokenizersExpected[tokenizer]?.cases[index].prompt ?? "?"
    let shown = prompt.count > 40 ? String(prompt.prefix(40)) + "…" : prompt
    return "\(tokenizer) #\(index) \(shown.debugDescription)"
  }

  func load() throws -> (CLIPTokenizer, ExpectedCase) {
    (try Fixtures.tokenizer(tokenizer), try Fixtures.expected(tokenizer).cases[index])
  }
}

/// A scratch copy of a fixture tokenizer folder for the error tests.
final class ScratchFolder {
  let path: String

  init(copying name: String) throws {
    path = NSTemporaryDirectory() + "clip-tokenizer-\(UUID().uuidString)"
    try FileManager.default.copyItem(atPath: fixtureDir + "/" + name, toPath: path)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  func file(_ name: String) -> String { path + "/" + name }

  func write(_ name: String, _ text: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: file(name)))
  }

  func read(_ name: String) throws -> String {
    try String(contentsOfFile: file(name), encoding: .utf8)
  }
}
