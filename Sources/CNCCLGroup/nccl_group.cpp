// The NCCL process group, in a library of its own (libLCMNCCL.so): it links libtorch_cuda, which
// the CPU-only parts never do. Built against torch's ProcessGroupNCCL.hpp with the nccl.h and CUDA
// headers of the nvidia wheels the torch wheel depends on (docs/distributed.md).
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <chrono>
#include <cstdio>

#include "lcm_nccl.h"

extern "C" int lcm_nccl_attach(void *process_group, void *store, int rank, int world_size, double timeout_seconds,
                               char *error, size_t error_capacity) {
  try {
    auto &pg = *static_cast<c10::intrusive_ptr<c10d::ProcessGroup> *>(process_group);
    auto &s = *static_cast<c10::intrusive_ptr<c10d::Store> *>(store);
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
    // a prefix of its own: the Gloo backend's keys on the same store stay apart
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("nccl", s);
    auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, world_size, options);
    pg->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, nccl);
    return 0;
  } catch (const c10::Error &e) {
    if (error && error_capacity) std::snprintf(error, error_capacity, "%s", e.what_without_backtrace());
    return 1;
  } catch (const std::exception &e) {
    if (error && error_capacity) std::snprintf(error, error_capacity, "%s", e.what());
    return 1;
  }
}

extern "C" int lcm_nccl_version(void) {
  try {
    auto v = c10d::getNcclVersionNumber();
    return static_cast<int>(v);
  } catch (...) {
    return 0;
  }
}
