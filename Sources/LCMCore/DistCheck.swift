import Foundation
import Torch

/// `lcm-core __dist-check`, run by the distributed tests under a launcher's variables (torchrun's
/// or given by the test): joins the c10d group, all-reduces [rank + 1, 10 (rank + 1)], then one
/// backward of a 3 → 2 linear layer on rank-specific inputs with c10d's Reducer, and prints the
/// results as one JSON line. `--device cuda`: the tensors on cuda:LOCAL_RANK through NCCL
/// (libLCMNCCL.so), the flags' all-reduce still on Gloo.
enum DistCheck {
  static func run(cuda: Bool) -> Int32 {
    do {
      guard let env = try DistributedEnvironment.from() else {
        print(#"{"error": "no launcher variables (WORLD_SIZE > 1, RANK, MASTER_ADDR)"}"#)
        return 1
      }
      let group = try env.processGroup(timeout: 60)
      var nccl: String?
      let device: Device = cuda ? .cuda(env.localRank) : .cpu
      if cuda {
        guard let library = ProcessGroup.ncclLibrary() else { throw TorchError(op: "init_process_group(nccl)", message: "libLCMNCCL.so not found") }
        nccl = try group.attachNCCL(library: library, timeout: 60)
        try CUDA.setDevice(env.localRank)
      }
      let r = Double(env.rank + 1)
      let sum = try Tensor([Float(r), Float(10 * r)], shape: [2]).to(device)
      try group.allReduce(sum)
      let maximum = try Tensor([Float(r)], shape: [1]).to(device)
      try group.allReduce(maximum, .max)
      let flag = try Tensor([r], shape: [1])  // host values stay on Gloo
      try group.allReduce(flag, .max)
      // the same weights everywhere (rank 0's, broadcast), inputs that differ by rank
      let w = try Tensor.randn([2, 3]).to(device)
      try group.broadcast(w, root: 0)
      let weight = try w.detach().requiresGrad_(true)
      let reducer = try GradientReducer(group: group, parameters: [weight])
      let x = try Tensor.full([4, 3], r).to(device)
      let loss = try (x.matmul(weight.transpose(0, 1))).square().mean()
      try reducer.prepare(loss: loss)
      try loss.backward()
      let grad = try weight.grad!.floats()
      try group.barrier()
      let out: [String: Any] = [
        "rank": env.rank, "world": env.worldSize, "sum": try sum.floats(), "max": try maximum.floats(),
        "weight": try weight.detach().floats(), "grad": grad, "backend": nccl.map { "nccl \($0)" } ?? "gloo",
      ]
      print(String(decoding: try JSONSerialization.data(withJSONObject: out), as: UTF8.self))
      return 0
    } catch {
      let line = "\(error)".replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\"", with: "'")
      print("{\"error\": \"\(line)\"}")
      return 1
    }
  }
}
