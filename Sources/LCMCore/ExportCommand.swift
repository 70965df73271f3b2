import ArgumentParser
import DiffusionModels
import Foundation
import LCMPipeline

/// `lcm export`: a distilled UNet and its teacher's other components as one diffusers
/// LatentConsistencyModelPipeline folder.
struct Export: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a diffusers LatentConsistencyModelPipeline folder from a teacher pipeline and a distilled UNet or LCM-LoRA.")

  @Option(name: .customLong("model"), help: "The teacher: a diffusers pipeline folder or a hub id in the local cache.") var model: String
  @Option(name: .customLong("revision")) var revision: String?
  @Option(name: .customLong("unet"), help: "The distilled UNet folder (lcm distill's unet_target/ or unet/).") var unet: String?
  @Option(name: .customLong("lora"), help: "Instead of --unet: an LCM-LoRA file to merge into the teacher's UNet.") var lora: String?
  @Option(name: .customLong("output"), help: "The pipeline folder to write (must not exist, or be empty).") var output: String

  func validate() throws {
    guard (unet == nil) != (lora == nil) else { throw ValidationError("give exactly one of --unet and --lora") }
  }

  func run() throws {
    let teacher = try DiffusersPipelineFolder(model, revision: revision)
    let written = try PipelineExport.write(teacher: teacher, unetFolder: unet, lora: lora, to: output)
    let index = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(output)/model_index.json")))) as? [String: Any]
    let cls = index?["_class_name"] as? String ?? "DiffusionPipeline"
    print("wrote \(output) (\(written.joined(separator: ", "))): \(cls).from_pretrained(\"\(output)\") loads it")
  }
}
