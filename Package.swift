// swift-tools-version: 6.1
import Foundation
import PackageDescription

// libtorch comes from $LIBTORCH (tch-rs convention) or the `.libtorch` link that scripts/setup.sh
// makes; both point at a folder holding include/ and lib/ (a torch wheel's `torch/` folder works).
let packageDir = Context.packageDirectory
let libtorch = Context.environment["LIBTORCH"] ?? "\(packageDir)/.libtorch"

let torchCxxFlags: [String] = [
  "-isystem", "\(libtorch)/include",
  "-isystem", "\(libtorch)/include/torch/csrc/api/include",
  "-D_GLIBCXX_USE_CXX11_ABI=1",
  "-O2",
]
// Apache Arrow's C++ library (for `--dataset_name`) from $ARROW_HOME or the `.arrow` folder that
// scripts/setup.sh makes from pyarrow's wheel (include/ and lib/). Only libLCMArrow.so links it;
// lcm-core opens that library when a dataset needs it.
let arrow = Context.environment["ARROW_HOME"] ?? "\(packageDir)/.arrow"

// NCCL's process group (libLCMNCCL.so, issue 15): built against the nccl.h and CUDA headers of the
// nvidia wheels a CUDA torch wheel installs beside torch/ ($NVIDIA_HOME or ../nvidia of libtorch).
// A CPU-only libtorch has none: then the library is not built and CUDA ranks are refused in one line.
let nvidia = Context.environment["NVIDIA_HOME"] ?? "\(libtorch)/../nvidia"
let haveNCCLHeaders = FileManager.default.fileExists(atPath: "\(nvidia)/nccl/include/nccl.h")
  && FileManager.default.fileExists(atPath: "\(libtorch)/include/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp")
// the CUDA runtime headers with the crt/ and libcu++ (nv/target) ones that scripts/setup.sh adds
let cudaIncludes = ["cu13"].map { "\(nvidia)/\($0)/include" }.filter { dir in
  ["cuda_runtime_api.h", "crt/host_config.h", "nv/target"].allSatisfy { FileManager.default.fileExists(atPath: "\(dir)/\($0)") }
}
let buildNCCL = haveNCCLHeaders && !cudaIncludes.isEmpty

let torchLinkerFlags: [String] = [
  "-L\(libtorch)/lib", "-Xlinker", "-rpath", "-Xlinker", "\(libtorch)/lib",
]

// opened by CTorch with dlopen (ct_pg_attach_nccl); never linked into lcm-core
let ncclTargets: [Target] = buildNCCL ? [
  .target(
    name: "CNCCLGroup",
    cxxSettings: [.unsafeFlags(torchCxxFlags + ["-isystem", "\(nvidia)/nccl/include"] + cudaIncludes.flatMap { ["-isystem", $0] })],
    linkerSettings: [
      .unsafeFlags(torchLinkerFlags + ["-Xlinker", "--no-undefined", "-Xlinker", "--as-needed"]),
      .linkedLibrary("torch_cuda"), .linkedLibrary("c10_cuda"), .linkedLibrary("torch_cpu"), .linkedLibrary("c10"),
    ]
  ),
] : []

let package = Package(
  name: "swift-lcm",
  platforms: [.macOS(.v15)],
  products: [
    // `lcm` is a small launcher (no libtorch): --version and --help answer at once, every other
    // command runs `lcm-core` beside it, which links libtorch.
    .executable(name: "lcm", targets: ["LCMLauncher"]),
    .executable(name: "lcm-core", targets: ["LCMCore"]),
    .library(name: "LCMArrow", type: .dynamic, targets: ["CArrowReader"]),
  ] + (buildNCCL ? [.library(name: "LCMNCCL", type: .dynamic, targets: ["CNCCLGroup"])] : []),
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
  ],
  targets: [
    .target(
      name: "CTorch",
      cxxSettings: [.unsafeFlags(torchCxxFlags)],
      linkerSettings: [
        .unsafeFlags(torchLinkerFlags),
        .linkedLibrary("torch_cpu"), .linkedLibrary("c10"), .linkedLibrary("dl"),
      ]
    ),
    .target(
      name: "CArrowReader",
      cxxSettings: [.unsafeFlags(["-isystem", "\(arrow)/include", "-O2"])],
      linkerSettings: [
        .unsafeFlags(["-L\(arrow)/lib", "-Xlinker", "-rpath", "-Xlinker", "\(arrow)/lib"]),
        .linkedLibrary("parquet"), .linkedLibrary("arrow"),
      ]
    ),
    .target(name: "Torch", dependencies: ["CTorch"]),
    .target(name: "SafeTensors"),
    .target(name: "CLIPTokenizer"),
    .systemLibrary(name: "CImageLibs"),
    .target(name: "ImageCodecs", dependencies: ["CImageLibs"]),
    .target(name: "WebDataset", dependencies: ["ImageCodecs"]),
    .target(name: "SyntheticShapes", dependencies: ["ImageCodecs", "WebDataset"]),
    .target(name: "LCMEval", dependencies: ["LCMPipeline", "SyntheticShapes", "ImageCodecs", "Torch"]),
    .target(name: "TorchNN", dependencies: ["Torch", "SafeTensors"]),
    .target(name: "DiffusionModels", dependencies: ["Torch", "TorchNN", "SafeTensors", "CLIPTokenizer"]),
    .target(name: "Schedulers", dependencies: ["Torch", "DiffusionModels"]),
    .target(name: "LCMPipeline", dependencies: ["DiffusionModels", "Schedulers", "CLIPTokenizer", "ImageCodecs", "Torch", "TorchNN"]),
    .target(
      name: "LCMTraining",
      dependencies: [
        "DiffusionModels", "Schedulers", "Torch", "TorchNN", "CLIPTokenizer", "SafeTensors", "LCMPipeline", "ImageCodecs", "WebDataset",
        .product(name: "Logging", package: "swift-log"),
      ]),
    // Op parity cases shared by the tests (CPU) and `lcm selftest --parity-fixture` (GPU checks).
    .target(name: "OpParity", dependencies: ["Torch", "TorchNN", "SafeTensors"]),
    .executableTarget(name: "LCMLauncher"),
    .executableTarget(
      name: "LCMCore",
      dependencies: [
        "Torch", "TorchNN", "SafeTensors", "OpParity", "WebDataset", "ImageCodecs", "CLIPTokenizer", "DiffusionModels", "Schedulers", "LCMPipeline", "LCMTraining",
        "SyntheticShapes", "LCMEval",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    // Shared by the test targets: repository root, reference Python, temp folders, running commands.
    .target(name: "TestSupport", path: "Tests/TestSupport"),
    .testTarget(name: "SafeTensorsTests", dependencies: ["TestSupport", "SafeTensors"]),
    .testTarget(name: "CLIPTokenizerTests", dependencies: ["TestSupport", "CLIPTokenizer"]),
    .testTarget(name: "WebDatasetTests", dependencies: ["TestSupport", "WebDataset", "ImageCodecs"]),
    .testTarget(name: "SyntheticShapesTests", dependencies: ["TestSupport", "SyntheticShapes", "ImageCodecs", "WebDataset", "LCMEval"]),
    .testTarget(name: "TorchTests", dependencies: ["TestSupport", "Torch", "TorchNN", "SafeTensors", "OpParity"]),
    .testTarget(name: "TorchNNTests", dependencies: ["TestSupport", "TorchNN", "Torch", "SafeTensors"]),
    .testTarget(name: "LCMPipelineTests", dependencies: ["TestSupport", "LCMPipeline", "ImageCodecs", "Torch", "SafeTensors", "TorchNN"]),
    .testTarget(name: "LCMTrainingTests", dependencies: ["TestSupport", "LCMTraining", "ImageCodecs", "DiffusionModels", "Schedulers", "Torch", "TorchNN", "SafeTensors"]),
    .testTarget(name: "SchedulersTests", dependencies: ["TestSupport", "Schedulers", "Torch"]),
    .testTarget(name: "DiffusionModelsTests", dependencies: ["TestSupport", "DiffusionModels", "TorchNN", "Torch", "SafeTensors"]),
  ] + ncclTargets,
  swiftLanguageModes: [.v6],
  cxxLanguageStandard: .cxx20
)
