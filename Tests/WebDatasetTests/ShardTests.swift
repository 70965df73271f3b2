import Foundation
import Testing

@testable import WebDataset

@Suite struct ShardSpecTests {
  @Test(arguments: [
    ("data/{00000..00003}.tar", ["data/00000.tar", "data/00001.tar", "data/00002.tar", "data/00003.tar"]),
    ("s{8..11}.tar", ["s8.tar", "s9.tar", "s10.tar", "s11.tar"]),
    ("s{08..10}.tar", ["s08.tar", "s09.tar", "s10.tar"]),
    ("{a,b}/{0..1}.tar", ["a/0.tar", "a/1.tar", "b/0.tar", "b/1.tar"]),
    ("x{a..c}", ["xa", "xb", "xc"]),
    ("{0..6..3}", ["0", "3", "6"]),
    ("a{b,c{d,e}}f", ["abf", "acdf", "acef"]),
    ("one.tar::two{1..2}.tar", ["one.tar", "two1.tar", "two2.tar"]),
    ("pipe:curl -s https://h/x-{000..001}.tar", ["pipe:curl -s https://h/x-000.tar", "pipe:curl -s https://h/x-001.tar"]),
    ("lit{x}", ["lit{x}"]),
  ])
  func expands(spec: String, expected: [String]) throws {
    #expect(try ShardSpec.expand(spec, environment: [:]) == expected)
  }

  @Test func environmentVariables() throws {
    let env = ["ROOT": "/data", "N": "1"]
    #expect(try ShardSpec.expand("$ROOT/s{0..$N}.tar::${ROOT}/x.tar::$UNSET/y", environment: env) == ["/data/s0.tar", "/data/s1.tar", "/data/x.tar", "$UNSET/y"])
  }

  @Test func emptySpecIsAnError() {
    #expect(throws: DataError.self) { try ShardSpec.expand("::", environment: [:]) }
    #expect(throws: DataError.self) { try ShardSpec.expand("s{0..3.tar", environment: [:]) }  // braceexpand refuses it too
  }

  /// webdataset's base_plus_ext regex, on the names that differ from a naive split.
  @Test(arguments: [
    ("abc.jpg", "abc", "jpg"), ("a/b/c.seg.png", "a/b/c", "seg.png"), ("x.y/z.txt", "x.y/z", "txt"),
    ("dir/000123.JSON", "dir/000123", "JSON"), ("a/b/.c", "a/b/", "c"),
  ])
  func splitsKeys(name: String, key: String, suffix: String) {
    let split = splitKey(name)
    #expect(split?.key == key && split?.suffix == suffix, "\(name) → \(String(describing: split))")
  }

  @Test func namesWithoutSuffixAreSkipped() {
    #expect(splitKey("README") == nil)
    #expect(splitKey("dir/noext") == nil)
    #expect(isMetaName("__key__.txt") == false)
    #expect(isMetaName("__meta__"))
    #expect(isMetaName("__index__/x.json"))
  }
}

func readAll(_ bytes: [UInt8], shard: String = "mem.tar") throws -> [RawSample] {
  let tmp = try TempDir()
  let path = try tmp.write("s.tar", bytes)
  let reader = ShardSampleReader(source: try FileSource(path: path, shard: shard), shard: shard)
  var out: [RawSample] = []
  while let s = try reader.next() { out.append(s) }
  if let e = reader.takeDeferredError() { throw e }
  return out
}

@Suite struct TarAndGroupingTests {
  @Test func groupsByKeyWithEdgeCases() throws {
    var tar = TarWriter()
    tar.directory("sub/")
    tar.file("sub/001.JPG", [1])
    tar.file("sub/001.Txt", [2])
    tar.file("sub/001.json", [3])
    tar.symlink("sub/link.jpg", to: "001.JPG")
    tar.file("sub/002.jpg", [4])
    tar.file("sub/002.jpg", [5])  // repeated suffix: a new sample with the same key
    tar.file("__meta__", [9])
    tar.file("README", [9])  // no suffix: ignored
    tar.file("sub/003.txt", [6])
    let samples = try readAll(tar.finished())
    #expect(samples.map(\.key) == ["sub/001", "sub/002", "sub/002", "sub/003"])
    #expect(samples[0].files == ["jpg": [1], "txt": [2], "json": [3]])
    #expect(samples[1].files == ["jpg": [4]] && samples[2].files == ["jpg": [5]])
  }

  @Test func longNamesGNUAndPax() throws {
    let long = String(repeating: "d", count: 120) + "/k.jpg"
    let longPax = String(repeating: "e", count: 130) + "/k.txt"
    var tar = TarWriter()
    tar.file(long, [1], longName: .gnu)
    tar.file(String(repeating: "d", count: 120) + "/k.txt", [2], longName: .pax)
    tar.file(longPax, [3], longName: .pax)
    let samples = try readAll(tar.finished())
    #expect(samples.map(\.key) == [String(repeating: "d", count: 120) + "/k", String(repeating: "e", count: 130) + "/k"])
    #expect(samples[0].files == ["jpg": [1], "txt": [2]])
  }

  /// Same key at the end of one shard and the start of the next: two samples (grouping is per shard).
  @Test func sameKeyAcrossShards() throws {
    var a = TarWriter(), b = TarWriter()
    a.file("k.jpg", [1])
    b.file("k.txt", [2])
    let first = try readAll(a.finished(), shard: "a.tar"), second = try readAll(b.finished(), shard: "b.tar")
    #expect(first.count == 1 && second.count == 1 && first[0].shard == "a.tar" && second[0].shard == "b.tar")
  }

  /// Archives written by Python's tarfile in all three formats, with long names and odd entries.
  @Test(arguments: ["gnu", "pax", "ustar"])
  func readsPythonTarfile(format: String) throws {
    let tmp = try TempDir()
    try runPython("scripts/fixtures/data_shards.py", ["tarformats", format, tmp.file("t.tar")])
    let expected = try String(contentsOfFile: tmp.file("t.tar.names"), encoding: .utf8).split(separator: "\n").map(String.init)
    let reader = TarReader(source: try FileSource(path: tmp.file("t.tar"), shard: "t.tar"), shard: "t.tar")
    var names: [String] = []
    while let e = try reader.next() {
      names.append(e.name)
      #expect(e.data == Array("data of \(e.name)".utf8))
    }
    #expect(names == expected)
  }
}
