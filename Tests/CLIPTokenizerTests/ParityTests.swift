import CLIPTokenizer
import Foundation
import Testing

// Every expected value here comes from expected.json, which transformers' CLIPTokenizer wrote.

@Suite("Parity with transformers 5.17 CLIPTokenizer")
struct ParityTests {
  @Test func fixturesArePresent() throws {
    let expected = try #require(Fixtures.expected, "missing or unreadable \(fixtureDir)/expected.json")
    #expect(expected.transformers == "5.17.0")
    for name in tokenizerNames {
      _ = try Fixtures.tokenizer(name)
      #expect(try Fixtures.expected(name).cases.count >= 40)
    }
    #expect(Fixtures.promptCases.count >= 80)
  }

  @Test(arguments: Fixtures.promptCases)
  func encodeMatches(_ c: PromptCase) throws {
    let (tokenizer, expected) = try c.load()
    #expect(tokenizer.encode(expected.prompt) == expected.encode)
  }

  @Test(arguments: Fixtures.promptCases)
  func paddedBatchMatches(_ c: PromptCase) throws {
    let (tokenizer, expected) = try c.load()
    let batch = tokenizer([expected.prompt])
    #expect(batch.inputIds == [expected.inputIds])
    #expect(batch.attentionMask == [expected.attentionMask])
    #expect(batch.truncated == [expected.removedText])
    let short = tokenizer([expected.prompt], maxLength: 10)
    #expect(short.inputIds == [expected.inputIdsMax10])
    #expect(short.attentionMask == [expected.attentionMaskMax10])
  }

  @Test(arguments: Fixtures.promptCases)
  func decodeMatches(_ c: PromptCase) throws {
    let (tokenizer, expected) = try c.load()
    #expect(tokenizer.decode(expected.encode) == expected.decode)
    #expect(tokenizer.decode(expected.inputIds, skipSpecialTokens: true) == expected.decodeInputIdsSkipSpecial)
  }

  @Test(arguments: tokenizerNames)
  func wholeCorpusInOneBatch(_ name: String) throws {
    let tokenizer = try Fixtures.tokenizer(name)
    let cases = try Fixtures.expected(name).cases
    let batch = tokenizer(cases.map(\.prompt))
    #expect(batch.inputIds == cases.map(\.inputIds))
    #expect(batch.attentionMask == cases.map(\.attentionMask))
    #expect(batch.truncated == cases.map(\.removedText))
  }

  @Test(arguments: tokenizerNames)
  func decoderEdgeCases(_ name: String) throws {
    let tokenizer = try Fixtures.tokenizer(name)
    for c in try Fixtures.expected(name).decodeCases {
      #expect(tokenizer.decode(c.ids) == c.text, "ids \(c.ids)")
      #expect(tokenizer.decode(c.ids, skipSpecialTokens: true) == c.textSkipSpecial, "ids \(c.ids)")
    }
  }

  @Test(arguments: tokenizerNames)
  func specialTokensAndPadding(_ name: String) throws {
    let tokenizer = try Fixtures.tokenizer(name)
    let expected = try Fixtures.expected(name)
    #expect(tokenizer.bosTokenId == expected.bosTokenId)
    #expect(tokenizer.eosTokenId == expected.eosTokenId)
    #expect(tokenizer.padTokenId == expected.padTokenId)
    #expect(tokenizer.unkTokenId == expected.unkTokenId)
    #expect(tokenizer.modelMaxLength == expected.modelMaxLength)
    #expect(tokenizer.vocabSize == expected.vocabSize)
    // The added tokens transformers ends up with, with the flags that decide matching and skipping.
    var effective: [String: CLIPAddedToken] = [:]
    for token in tokenizer.config.addedTokens { effective[token.content] = token }
    #expect(Set(effective.keys) == Set(expected.addedTokens.values.map(\.content)))
    for (id, added) in expected.addedTokens {
      #expect(tokenizer.id(forToken: added.content) == Int(id))
      #expect(effective[added.content]?.special == added.special, "\(added.content)")
      #expect(effective[added.content]?.normalized == added.normalized, "\(added.content)")
    }
    // Short prompts end in EOS followed by this tokenizer's pad id.
    let row = tokenizer(["a"]).inputIds[0]
    #expect(row.count == expected.modelMaxLength)
    #expect(Array(row[2...3]) == [expected.eosTokenId, expected.padTokenId])
  }

  /// The public memberwise initializer gives the same ids when fed the same files and flags.
  @Test func initFromParsedFiles() throws {
    let expected = try Fixtures.expected("sdxl2")
    let vocab = try JSONDecoder().decode(
      [String: Int].self, from: try Data(contentsOf: URL(fileURLWithPath: fixtureDir + "/sdxl2/vocab.json")))
    let merges = try String(contentsOfFile: fixtureDir + "/sdxl2/merges.txt", encoding: .utf8)
      .split(separator: "\n").dropFirst().map { line in
        let parts = line.split(separator: " ")
        return (String(parts[0]), String(parts[1]))
      }
    let added = expected.addedTokens.sorted { Int($0.key)! < Int($1.key)! }.map {
      CLIPAddedToken($0.value.content, special: $0.value.special, normalized: $0.value.normalized)
    }
    let padToken = try #require(expected.addedTokens[String(expected.padTokenId)]?.content)
    let config = CLIPTokenizerConfig(
      padToken: padToken, modelMaxLength: expected.modelMaxLength, addedTokens: added)
    let tokenizer = try CLIPTokenizer(vocab: vocab, merges: merges, config: config)
    let batch = tokenizer(expected.cases.map(\.prompt))
    #expect(batch.inputIds == expected.cases.map(\.inputIds))
    #expect(expected.cases.map { tokenizer.encode($0.prompt) } == expected.cases.map(\.encode))
  }
}
