import Testing
import Torch

#if canImport(Glibc)
  import Glibc
#endif

@Suite("errors and resources")
struct ErrorTests {
  @Test func shapeMismatchThrowsAndProcessGoesOn() throws {
    let a = try Tensor.randn([2, 3]), b = try Tensor.randn([4, 5])
    do {
      _ = try a.matmul(b)
      Issue.record("matmul of [2,3] and [4,5] did not throw")
    } catch {
      #expect(error.op == "matmul")
      #expect(error.message.contains("cannot be multiplied"), "\(error.message)")
      #expect(!error.description.contains("\n"))
    }
    // the thread's error state does not leak into the next call
    #expect(try (a + a).shape == [2, 3])
  }

  @Test func cudaWithoutCUDAThrows() throws {
    try #require(!CUDA.isAvailable, "this test is for machines without a GPU")
    #expect(throws: TorchError.self) { _ = try Tensor.zeros([2], device: .cuda(0)) }
    #expect(throws: TorchError.self) { _ = try Tensor.ones([2]).to(.cuda(0)) }
    #expect(throws: TorchError.self) { _ = try Generator(device: .cuda(0)) }
  }

  @Test func wrongDTypeThrows() throws {
    let f = try Tensor.randn([2, 2]), i = try Tensor.ones([2, 2], dtype: .int64)
    #expect(throws: TorchError.self) { _ = try f.matmul(i) }
    #expect(throws: TorchError.self) { _ = try F.embedding(f, f) }
    // where() needs a bool condition
    #expect(throws: TorchError.self) { _ = try Tensor.where(f, f, f) }
  }

  @Test func badBuffersThrow() throws {
    #expect(throws: TorchError.self) { _ = try Tensor([1, 2, 3] as [Float], shape: [2, 2]) }
    #expect(throws: TorchError.self) { _ = try Tensor.zeros([-1]) }
    #expect(throws: TorchError.self) { _ = try Tensor.zeros([3]).item() }
  }

  /// Resident memory stays flat over 100k op calls (each creates and frees tensors and handles).
  /// Other suites allocate concurrently, so a round may see their memory too: a leak shows in
  /// every round, noise does not, and the smallest growth of a few rounds is what counts.
  @Test func noLeakOver100kOps() throws {
    let a = try Tensor.randn([16]), b = try Tensor.randn([16])
    for _ in 0..<10_000 { _ = try F.silu(a + b) }
    var growths: [Int] = []
    for _ in 0..<5 {
      let before = residentBytes()
      for _ in 0..<100_000 { _ = try F.silu(a + b).sum() }
      for _ in 0..<1_000 { _ = try? a.matmul(b.reshape([4, 4])) }  // the error path too
      growths.append(residentBytes() - before)
      if growths.last! < 4 << 20 { break }
    }
    #expect(growths.min()! < 4 << 20, "resident memory grew by \(growths.map { $0 / 1024 }) KiB per 100k ops")
  }

  func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    withUnsafeMutablePointer(to: &size) { s in
      withUnsafeMutablePointer(to: &resident) { r in
        _ = withVaList([s, r]) { vfscanf(f, "%ld %ld", $0) }
      }
    }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
  }
}


@Suite("libtorch version checks")
struct VersionTests {
  @Test func loadedVersionMatchesBuild() {
    #expect(Torch.runtimeVersion?.hasPrefix("2.11.") == true)
    #expect(Torch.buildVersion.hasPrefix("2.11."))
    #expect(Torch.versionProblem() == nil)
  }

  @Test(arguments: [("2.11.0", "2.11.0+cu130", true), ("2.11.0", "2.11.1", true), ("2.11.0", "2.10.0+cpu", false), ("2.11.0", "3.11.0", false)])
  func versionRule(built: String, loaded: String, ok: Bool) {
    #expect((Torch.versionProblem(built: built, loaded: loaded) == nil) == ok)
  }

  @Test func unknownVersionIsAProblem() {
    let problem = Torch.versionProblem(built: "2.11.0", loaded: nil)
    #expect(problem?.contains("cannot tell the version") == true)
  }
}
