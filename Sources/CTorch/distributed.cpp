// Data-parallel training on libtorch's own distributed engine (c10d): the TCPStore rendezvous,
// ProcessGroupGloo (CPU) and the gradient Reducer that DistributedDataParallel uses. The torch
// wheel ships c10d's headers but not gloo's, which ProcessGroupGloo.hpp includes for declarations;
// Debian's libgloo-dev provides them (scripts/setup.sh). Nothing of Debian's gloo is linked: the
// code that runs is libtorch_cpu's (docs/distributed.md).
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <chrono>
#include <memory>

#include "internal.h"

using namespace ctorch;

struct CTProcessGroupImpl {
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int world = 1;
};

struct CTReducerImpl {
  std::shared_ptr<c10d::Reducer> reducer;
};

extern "C" CTStatus ct_pg_new_gloo(const char *master_addr, int32_t port, int32_t rank, int32_t world_size,
                                   double timeout_seconds, bool serve_store, const char *prefix, CTProcessGroup *out) {
  CT_GUARD({
    if (world_size < 1 || rank < 0 || rank >= world_size) throw std::invalid_argument("rank must be in [0, world_size)");
    if (port < 1 || port > 65535) throw std::invalid_argument("port must be in 1...65535");
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(port);
    options.isServer = serve_store && rank == 0;
    options.numWorkers = static_cast<size_t>(world_size);
    options.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(std::string(master_addr), options);
    if (prefix && prefix[0]) store = c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), store);
    auto glooOptions = c10d::ProcessGroupGloo::Options::create(timeout);
    glooOptions->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, glooOptions);
    auto pg = c10::make_intrusive<c10d::ProcessGroup>(store, rank, world_size);
    pg->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
    pg->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
    auto impl = std::make_unique<CTProcessGroupImpl>();
    impl->pg = pg;
    impl->world = world_size;
    *out = impl.release();
  })
}

extern "C" void ct_pg_free(CTProcessGroup pg) { delete pg; }

extern "C" CTStatus ct_pg_allreduce_(CTProcessGroup pg, CTTensor t, int32_t op) {
  CT_GUARD({
    c10d::AllreduceOptions options;
    switch (op) {
      case 0: case 3: options.reduceOp = c10d::ReduceOp::SUM; break;
      case 1: options.reduceOp = c10d::ReduceOp::MAX; break;
      case 2: options.reduceOp = c10d::ReduceOp::MIN; break;
      default: throw std::invalid_argument("unknown reduce op");
    }
    std::vector<at::Tensor> tensors{T(t)};
    pg->pg->allreduce(tensors, options)->wait();
    if (op == 3) T(t).div_(pg->world);
  })
}

extern "C" CTStatus ct_pg_broadcast_(CTProcessGroup pg, CTTensor t, int32_t root) {
  CT_GUARD({
    c10d::BroadcastOptions options;
    options.rootRank = root;
    std::vector<at::Tensor> tensors{T(t)};
    pg->pg->broadcast(tensors, options)->wait();
  })
}

extern "C" CTStatus ct_pg_barrier(CTProcessGroup pg) {
  CT_GUARD({ pg->pg->barrier()->wait(); })
}

extern "C" CTStatus ct_reducer_new(CTProcessGroup pg, const CTTensor *params, int64_t n, int64_t bucket_bytes, CTReducer *out) {
  CT_GUARD({
    if (n < 1) throw std::invalid_argument("the reducer needs parameters");
    std::vector<at::Tensor> tensors;
    std::unordered_map<size_t, std::string> names;
    for (int64_t i = 0; i < n; i++) {
      if (!T(params[i]).requires_grad()) throw std::invalid_argument("a reduced parameter must require grad");
      tensors.push_back(T(params[i]));
    }
    // DDP's bucketing: a small first bucket, then bucket_bytes, in reverse parameter order
    auto assignment = c10d::compute_bucket_assignment_by_size(tensors, {static_cast<size_t>(1 << 20), static_cast<size_t>(bucket_bytes)});
    auto impl = std::make_unique<CTReducerImpl>();
    impl->reducer = std::make_shared<c10d::Reducer>(
        tensors, std::get<0>(assignment), pg->pg, std::vector<bool>(tensors.size(), false), bucket_bytes,
        /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false, names, /*first_bucket_bytes_cap=*/1 << 20,
        /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false, std::vector<int64_t>{});
    *out = impl.release();
  })
}

extern "C" void ct_reducer_free(CTReducer r) { delete r; }

extern "C" CTStatus ct_reducer_prepare(CTReducer r, CTTensor loss) {
  CT_GUARD({ r->reducer->prepare_for_backward({T(loss)}); })
}
