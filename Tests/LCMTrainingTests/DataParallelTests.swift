import Foundation
import SafeTensors
import Testing
import Torch

/// `lcm distill` data-parallel on c10d (Gloo on loopback, two processes under launcher variables):
/// two ranks with batch B train what one process with batch 2B does — the same samples (each rank
/// reads every other one), the same per-sample randomness (drawn for the global batch and sliced)
/// and c10d's Reducer averaging the gradients — so the loss curve and the final UNets agree within
/// fp32 rounding. Only rank 0 writes. A rank that dies ends the other with an error, not a hang.
@Suite("data-parallel lcm distill (2 processes, Gloo)", .serialized)
struct DataParallelTests {
  let teacher = "\(repoRoot)/Tests/Fixtures/pipeline/base"

  func common(_ images: String, _ method: [String] = ["distill", "--unet_time_cond_proj_dim", "8"]) -> [String] {
    // the method's flags last: they win over the defaults here
    [method[0], "--pretrained_teacher_model", teacher, "--train_data_dir", images, "--resolution", "16", "--random_flip",
     "--dataloader_num_workers", "1", "--lr_warmup_steps", "0", "--max_train_steps", "4",
     "--seed", "3", "--device", "cpu", "--checkpointing_steps", "2", "--validation_steps", "100"] + method.dropFirst()
  }

  static let sdxl = LiveFixture.make("scripts/fixtures/make_sdxl_pipeline_fixtures.py", name: "ddp-sdxl")

  /// Full UNet with gradient checkpointing; LoRA with gradient accumulation (no_sync before the
  /// last); LoRA on an SDXL teacher (two text encoders, time ids from the batch).
  static let methods: [[String]] = [
    ["distill", "--unet_time_cond_proj_dim", "8", "--gradient_checkpointing"],
    ["distill-lora", "--lora_rank", "4", "--gradient_accumulation_steps", "2"],
    ["distill-lora", "--lora_rank", "4", "--resolution", "32", "--pretrained_teacher_model", "SDXL"],
  ]

  /// A case's arguments with the SDXL fixture in place of its marker (later flags win).
  func resolved(_ method: [String]) throws -> [String] {
    guard method.contains("SDXL") else { return method }
    let dir = try Self.sdxl.get()
    return method.map { $0 == "SDXL" ? "\(dir)/sdxl" : $0 }
  }

  func launch(_ args: [String], rank: Int, port: Int, log: String, env extra: [String: String] = [:]) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "\(repoRoot)/.build/debug/lcm-core")
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    for (k, v) in ["RANK": "\(rank)", "LOCAL_RANK": "\(rank)", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "\(port)"] { env[k] = v }
    env.merge(extra) { $1 }
    p.environment = env
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    p.standardError = p.standardOutput
    try p.run()
    return p
  }

  func losses(_ output: String) -> [Double] {
    output.split(separator: "\n").filter { $0.hasPrefix("step ") }.compactMap { Double($0.split(separator: " ")[3]) }
  }

  @Test(arguments: methods)
  func twoRanksEqualOneProcessWithTheGlobalBatch(method: [String]) throws {
    let method = try resolved(method)
    let images = try randomImageFolder("ddp", count: 8)
    let out = NSTemporaryDirectory() + "ddp-\(UInt32.random(in: 0...UInt32.max))"
    let one = try runLCM(common(images, method) + ["--train_batch_size", "4", "--output_dir", out + "/one"])
    #expect(one.status == 0, "\(one.output)")
    let port = Int.random(in: 20_000...32_000)
    let ranks = try (0..<2).map { try launch(common(images, method) + ["--train_batch_size", "2", "--output_dir", out + "/two"], rank: $0, port: port, log: "\(out)-r\($0).log") }
    for p in ranks { p.waitUntilExit() }
    let r0 = (try? String(contentsOfFile: "\(out)-r0.log", encoding: .utf8)) ?? "", r1 = (try? String(contentsOfFile: "\(out)-r1.log", encoding: .utf8)) ?? ""
    #expect(ranks.allSatisfy { $0.terminationStatus == 0 }, "rank 0:\n\(r0)\nrank 1:\n\(r1)")
    #expect(r0.contains("= --train_batch_size 2 × 2 processes"), "\(r0)")
    #expect(r0.contains("the trainable weights agree on all 2 ranks"), "\(r0)")
    let (a, b) = (losses(one.output), losses(r0))
    // the first step starts from the same weights: equal to rounding; later ones carry AdamW's
    // lr-sized steps of elements whose gradients are at rounding level (see below)
    #expect(a.count == 4 && b.count == 4, "\(a) vs \(b)")
    #expect(abs(a[0] - b[0]) <= 1e-5 * abs(a[0]), "step 1: \(a[0]) vs \(b[0])")
    #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-3 * max(abs($0), 1e-3) }, "\(a) vs \(b)")
    #expect(losses(r1).isEmpty && !r1.contains("saved "), "rank 1 neither logs steps nor writes: \(r1)")
    #expect(FileManager.default.fileExists(atPath: out + "/two/checkpoint-4"))
    let files = method[0] == "distill"
      ? ["unet/diffusion_pytorch_model.safetensors", "unet_target/diffusion_pytorch_model.safetensors"] : ["pytorch_lora_weights.safetensors"]
    for name in files {
      let x = try SafeTensorsFile(path: "\(out)/one/\(name)")
      let y = try SafeTensorsFile(path: "\(out)/two/\(name)")
      // AdamW moves an element by about lr whatever its gradient's size, so where a gradient is at
      // rounding level the two runs can step an element apart by up to lr per step: nearly all
      // elements agree to 1e-6, none by more than steps × lr
      var worst = 0.0, off = 0, total = 0
      for key in x.keys {
        let d = try (try Tensor.load(key, from: x).to(.float64) - Tensor.load(key, from: y).to(.float64)).abs()
        worst = max(worst, try d.amax().item())
        off += try d.gt(1e-6).to(.int64).sum().itemInt()
        total += d.numel
      }
      #expect(worst <= 4 * 1e-4 && Double(off) <= 0.01 * Double(total), "\(name): \(off) of \(total) elements differ by more than 1e-6, the most by \(worst)")
    }
  }

  @Test func aDeadRankEndsTheOtherWithAnError() throws {
    let images = try randomImageFolder("ddp-kill", count: 8)
    let out = NSTemporaryDirectory() + "ddp-kill-\(UInt32.random(in: 0...UInt32.max))"
    let port = Int.random(in: 20_000...32_000)
    let args = common(images).map { $0 == "4" ? "100000" : $0 } + ["--train_batch_size", "2", "--output_dir", out]
    let r0 = try launch(args, rank: 0, port: port, log: "\(out)-r0.log")
    let r1 = try launch(args, rank: 1, port: port, log: "\(out)-r1.log")
    // once the first checkpoint is written, kill rank 1
    let start = Date()
    while Date().timeIntervalSince(start) < 120 {
      if ((try? String(contentsOfFile: "\(out)-r0.log", encoding: .utf8)) ?? "").contains("checkpoint-2") { break }
      usleep(100_000)
    }
    kill(r1.processIdentifier, SIGKILL)
    let killed = Date()
    while r0.isRunning && Date().timeIntervalSince(killed) < 120 { usleep(100_000) }
    let log = (try? String(contentsOfFile: "\(out)-r0.log", encoding: .utf8)) ?? ""
    if r0.isRunning { r0.terminate() }
    #expect(!r0.isRunning || Date().timeIntervalSince(killed) < 120, "rank 0 still runs 120 s after rank 1 died: \(log.suffix(500))")
    r0.waitUntilExit()
    #expect(r0.terminationStatus != 0, "\(log.suffix(500))")
    let errors = log.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
    #expect(errors.count == 1 && errors[0].contains("rank 1 of 2 stopped responding"), "one error line naming rank 1: \(log.suffix(800))")
    #expect(FileManager.default.fileExists(atPath: out + "/checkpoint-2/unet_target"), "the last complete checkpoint stays")
  }

  /// A rank that freezes (SIGSTOP: its connections stay open, so Gloo's collective would wait for
  /// its 300 s timeout, as NCCL's would) ends the other once its heartbeat stood still for
  /// SWIFT_LCM_PEER_TIMEOUT seconds, with one error line naming it.
  @Test func aFrozenRankEndsTheOtherWithAnErrorNamingIt() throws {
    let images = try randomImageFolder("ddp-freeze", count: 8)
    let out = NSTemporaryDirectory() + "ddp-freeze-\(UInt32.random(in: 0...UInt32.max))"
    let port = Int.random(in: 20_000...32_000)
    let args = common(images).map { $0 == "4" ? "100000" : $0 } + ["--train_batch_size", "2", "--output_dir", out]
    let ranks = try (0..<2).map { try launch(args, rank: $0, port: port, log: "\(out)-r\($0).log", env: ["SWIFT_LCM_PEER_TIMEOUT": "4"]) }
    defer { for p in ranks where p.isRunning { kill(p.processIdentifier, SIGKILL) } }
    let start = Date()
    while ranks[0].isRunning, Date().timeIntervalSince(start) < 120,
          !((try? String(contentsOfFile: "\(out)-r0.log", encoding: .utf8)) ?? "").contains("checkpoint-2") { usleep(100_000) }
    kill(ranks[1].processIdentifier, SIGSTOP)
    let frozen = Date()
    while ranks[0].isRunning && Date().timeIntervalSince(frozen) < 60 { usleep(100_000) }
    let took = Date().timeIntervalSince(frozen)
    let log = (try? String(contentsOfFile: "\(out)-r0.log", encoding: .utf8)) ?? ""
    #expect(!ranks[0].isRunning && took < 30, "rank 0 still runs \(Int(took)) s after rank 1 froze: \(log.suffix(500))")
    kill(ranks[1].processIdentifier, SIGKILL)
    kill(ranks[1].processIdentifier, SIGCONT)
    for p in ranks { p.waitUntilExit() }
    let errors = log.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
    #expect(ranks[0].terminationStatus != 0 && errors.count == 1 && errors[0].contains("rank 1 of 2 stopped responding (no heartbeat"), "\(log.suffix(800))")
    #expect(FileManager.default.fileExists(atPath: out + "/checkpoint-2/unet_target"), "the last complete checkpoint stays")
  }

  func twoRanks(_ args: [String], log: String) throws -> (Int32, String) {
    let port = Int.random(in: 20_000...32_000)
    let ranks = try (0..<2).map { try launch(args, rank: $0, port: port, log: "\(log)-r\($0).log") }
    for p in ranks { p.waitUntilExit() }
    let r0 = (try? String(contentsOfFile: "\(log)-r0.log", encoding: .utf8)) ?? ""
    let r1 = (try? String(contentsOfFile: "\(log)-r1.log", encoding: .utf8)) ?? ""
    return (ranks.map(\.terminationStatus).max()!, r0 + "\n--- rank 1:\n" + r1)
  }

  /// Each rank's data position is in the checkpoint: 2 + 2 resumed steps equal 4 in one go, bit
  /// for bit; another world size is refused in one line.
  @Test func twoRankResumeIsExact() throws {
    let images = try randomImageFolder("ddp-resume", count: 8)
    let out = NSTemporaryDirectory() + "ddp-resume-\(UInt32.random(in: 0...UInt32.max))"
    let args = common(images).filter { $0 != "4" && $0 != "--max_train_steps" } + ["--train_batch_size", "2"]
    let (s1, straight) = try twoRanks(args + ["--max_train_steps", "4", "--output_dir", out + "/a"], log: out + "-a")
    #expect(s1 == 0, "\(straight)")
    let (s2, part) = try twoRanks(args + ["--max_train_steps", "2", "--output_dir", out + "/b"], log: out + "-b")
    #expect(s2 == 0 && FileManager.default.fileExists(atPath: out + "/b/checkpoint-2/data_position_rank1.json"), "\(part)")
    let (s3, rest) = try twoRanks(args + ["--max_train_steps", "4", "--output_dir", out + "/b", "--resume_from_checkpoint", "latest"], log: out + "-c")
    #expect(s3 == 0 && rest.contains("resumed from"), "\(rest)")
    #expect(losses(straight).count == 4 && losses(straight) == losses(part) + losses(rest), "\(losses(straight)) vs \(losses(part)) + \(losses(rest))")
    for name in ["unet", "unet_target"] {
      let a = FileManager.default.contents(atPath: "\(out)/a/\(name)/diffusion_pytorch_model.safetensors")
      #expect(a != nil && a == FileManager.default.contents(atPath: "\(out)/b/\(name)/diffusion_pytorch_model.safetensors"), "\(name) differs after resume")
    }
    let single = try runLCM(args + ["--max_train_steps", "6", "--output_dir", out + "/b", "--resume_from_checkpoint", "latest"])
    let errors = single.output.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
    #expect(single.status != 0 && errors.count == 1 && errors[0].contains("process rank was 0 of 2 in the checkpoint, now 0 of 1"), "\(single.output)")
  }

  /// torchrun from the torch the set-up installs, running `lcm` (not Python) in each worker. The
  /// test runner's threads block SIGINT/SIGTERM and spawned processes inherit the mask: unblocked
  /// before exec, as a shell would have them.
  func torchrun(_ args: [String], log: String) throws -> Process {
    let p = Process()
    let torchrun = (pythonPath as NSString).deletingLastPathComponent + "/torchrun"
    p.executableURL = URL(fileURLWithPath: pythonPath)
    p.arguments = ["-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM]); os.execv(sys.argv[1], sys.argv[1:])", torchrun] + args
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    p.standardError = p.standardOutput
    try p.run()
    return p
  }

  /// Two torchrun invocations with --nnodes 2 on loopback (a node each, one process a node).
  @Test func twoNodesUnderTorchrun() throws {
    let images = try randomImageFolder("ddp-nodes", count: 8)
    let out = NSTemporaryDirectory() + "ddp-nodes-\(UInt32.random(in: 0...UInt32.max))"
    let port = Int.random(in: 20_000...32_000)
    let nodes = try (0..<2).map { node in
      try torchrun(["--nnodes", "2", "--node_rank", "\(node)", "--nproc_per_node", "1", "--rdzv_endpoint", "127.0.0.1:\(port)",
                    "--no-python", "\(repoRoot)/.build/debug/lcm"] + common(images) + ["--train_batch_size", "2", "--output_dir", out],
                   log: "\(out)-node\(node).log")
    }
    for p in nodes { p.waitUntilExit() }
    let logs = (0..<2).map { (try? String(contentsOfFile: "\(out)-node\($0).log", encoding: .utf8)) ?? "" }
    #expect(nodes.allSatisfy { $0.terminationStatus == 0 }, "node 0:\n\(logs[0])\nnode 1:\n\(logs[1])")
    #expect(logs[0].contains("rank 0 of 2") && logs[1].contains("rank 1 of 2"), "\(logs)")
    #expect(losses(logs[0]).count == 4 && logs[0].contains("the trainable weights agree on all 2 ranks"), "\(logs[0])")
    #expect(FileManager.default.fileExists(atPath: out + "/unet/diffusion_pytorch_model.safetensors"))
  }

  /// SIGTERM to the launcher: torchrun passes it to its workers, rank 0 writes a checkpoint at the
  /// step all ranks stop at, and every process exits.
  @Test func sigtermToTorchrunGivesACheckpointAndEndsAllRanks() throws {
    let images = try randomImageFolder("ddp-term", count: 8)
    let out = NSTemporaryDirectory() + "ddp-term-\(UInt32.random(in: 0...UInt32.max))"
    let args = common(images).map { $0 == "4" ? "100000" : $0 == "2" ? "1000" : $0 } + ["--train_batch_size", "2", "--output_dir", out]
    let log = out + ".log"
    let p = try torchrun(["--nproc_per_node", "2", "--master_port", "\(Int.random(in: 20_000...32_000))", "--no-python", "\(repoRoot)/.build/debug/lcm"] + args, log: log)
    let start = Date()
    while p.isRunning, Date().timeIntervalSince(start) < 120, !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("step 3/") { usleep(100_000) }
    kill(p.processIdentifier, SIGTERM)
    let termed = Date()
    while p.isRunning && Date().timeIntervalSince(termed) < 60 { usleep(100_000) }
    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    if p.isRunning { p.terminate() }
    #expect(Date().timeIntervalSince(termed) < 60, "torchrun still runs 60 s after SIGTERM: \(text.suffix(800))")
    p.waitUntilExit()
    let stopped = text.split(separator: "\n").filter { $0.contains("stopped by SIGTERM at step") }
    #expect(stopped.count == 2, "both ranks stop: \(text.suffix(1500))")
    let step = stopped.first.flatMap { $0.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }.first }
    #expect(step.map { FileManager.default.fileExists(atPath: "\(out)/checkpoint-\($0)/data_position_rank1.json") } == true, "\(text.suffix(1500))")
    #expect(!text.contains("Error: "), "\(text.suffix(1500))")
    let left = try runCommand("/usr/bin/pgrep", ["-f", out])
    #expect(left.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "processes left: \(left.output)")
  }
}
