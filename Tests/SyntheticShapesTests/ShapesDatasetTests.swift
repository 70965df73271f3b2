import Foundation
import ImageCodecs
import SyntheticShapes
import TestSupport
import Testing
import WebDataset

/// `lcm data synth`: deterministic shards that webdataset (the scripts' reader) and the project's
/// own pipeline read alike, captions that match their labels and pictures, held-out prompts that
/// the shards never show.
@Suite("shapes data set")
struct ShapesDatasetTests {
  func synth(_ dir: String, images: Int = 300, seed: String = "5") throws -> CommandResult {
    try runLCM(["data", "synth", "--output_dir", dir, "--num_images", "\(images)", "--images_per_shard", "100", "--seed", seed])
  }

  @Test func sameSeedSameBytesAndWebdatasetReadsThem() throws {
    let tmp = try TempDir()
    let a = try synth(tmp.path + "/a"), b = try synth(tmp.path + "/b")
    #expect(a.status == 0 && b.status == 0, "\(a.output)")
    #expect(a.output.contains("shapes-{00000..00002}.tar"), "\(a.output)")
    for i in 0..<3 {
      let name = "shapes-0000\(i).tar"
      #expect(FileManager.default.contents(atPath: "\(tmp.path)/a/\(name)") == FileManager.default.contents(atPath: "\(tmp.path)/b/\(name)"))
    }
    let other = try synth(tmp.path + "/c", seed: "6")
    #expect(other.status == 0 && FileManager.default.contents(atPath: "\(tmp.path)/a/shapes-00000.tar") != FileManager.default.contents(atPath: "\(tmp.path)/c/shapes-00000.tar"))
    // webdataset groups the members into samples of png, txt and json
    let check = try runCommand(pythonPath, ["-c", """
      import json, webdataset as wds, io
      from PIL import Image
      n = 0
      for s in wds.WebDataset('\(tmp.path)/a/shapes-{00000..00002}.tar', shardshuffle=False):
          labels = json.loads(s['json']); caption = s['txt'].decode()
          assert Image.open(io.BytesIO(s['png'])).size == (64, 64)
          assert labels['shape'] in caption and labels['color'] in caption and labels['background'] in caption, caption
          n += 1
      print(n)
      """])
    #expect(check.status == 0 && String(decoding: check.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "300", "\(check.output)")
  }

  /// Every picture in the shards shows what its json says (the detector agrees), no sample has
  /// held-out labels, and the eval prompts are the held-out list.
  @Test func shardsShowTheirLabelsAndNeverTheHeldOutPrompts() throws {
    let tmp = try TempDir()
    let r = try synth(tmp.path, images: 400)
    #expect(r.status == 0, "\(r.output)")
    var samples = 0, agree = 0
    for i in 0..<4 {
      var groups: [String: [String: [UInt8]]] = [:]
      let path = "\(tmp.path)/shapes-0000\(i).tar"
      let reader = TarReader(source: try FileSource(path: path, shard: path), shard: path)
      while let member = try reader.next() {
        let dot = member.name.firstIndex(of: ".")!
        groups[String(member.name[..<dot]), default: [:]][String(member.name[member.name.index(after: dot)...])] = member.data
      }
      for (_, files) in groups {
        let labels = try JSONDecoder().decode(ShapeLabels.self, from: Data(files["json"]!))
        #expect(!labels.isHeldOut)
        #expect(String(decoding: files["txt"]!, as: UTF8.self) == labels.caption)
        let image = try ImageDecoder.decode(files["png"]!)
        if ShapeDetector.detect(image).matches(labels).values.allSatisfy({ $0 }) { agree += 1 }
        samples += 1
      }
    }
    #expect(samples == 400 && Double(agree) >= 0.99 * 400, "\(agree) of \(samples)")
    let prompts = try String(contentsOfFile: tmp.path + "/eval_prompts.jsonl", encoding: .utf8).split(separator: "\n")
    #expect(prompts.count == ShapeLabels.heldOut.count)
    let first = try JSONSerialization.jsonObject(with: Data(prompts[0].utf8)) as? [String: Any]
    #expect(first?["prompt"] as? String == ShapeLabels.heldOut[0].caption)
  }

  @Test func badFlagsAreOneLine() throws {
    let r = try runLCM(["data", "synth", "--output_dir", "/tmp/x-synth", "--resolution", "8"])
    #expect(r.status != 0 && r.output.contains("--resolution must be in 16...1024"), "\(r.output)")
  }
}
