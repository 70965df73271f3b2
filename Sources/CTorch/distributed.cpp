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

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <dlfcn.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "internal.h"

using namespace ctorch;

namespace {
// Where the store is: the heartbeat and the dead-rank probe open their own clients to it.
struct StoreAddress {
  std::string host, prefix;
  uint16_t port = 0;

  c10::intrusive_ptr<c10d::Store> client(std::chrono::milliseconds timeout) const {
    c10d::TCPStoreOptions options;
    options.port = port;
    options.waitWorkers = false;  // not a worker: the server does not count it
    options.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(host, options);
    if (!prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
    return store;
  }
};

std::string heartbeatKey(int rank) { return "lcm/heartbeat/" + std::to_string(rank); }

// Every second each rank adds 1 to its counter in the store, from a thread of its own, so that a
// rank whose collective failed can tell which peer stopped (its counter stands still).
struct Heartbeat {
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;

  static void run(std::shared_ptr<Heartbeat> self, StoreAddress address, int rank) {
    try {
      auto store = address.client(std::chrono::seconds(10));
      std::unique_lock<std::mutex> lock(self->mutex);
      while (!self->stop) {
        lock.unlock();
        store->add(heartbeatKey(rank), 1);
        lock.lock();
        self->wake.wait_for(lock, std::chrono::seconds(1), [&] { return self->stop; });
      }
    } catch (...) {
      // the store is gone (its server ended): nothing left to tell
    }
  }
};
// Watches the other ranks' heartbeats while a run trains: one that stands still for `stall`
// seconds (a rank killed, frozen or cut off; NCCL's collectives would wait for it until their
// own timeout) ends this process with one error line naming it.
struct PeerWatch {
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;

  static void run(std::shared_ptr<PeerWatch> self, StoreAddress address, int rank, int world, double stall, bool agentStore) {
    using clock = std::chrono::steady_clock;
    const auto limit = std::chrono::duration<double>(stall);
    std::vector<int64_t> last(world, -1);
    std::vector<clock::time_point> moved(world, clock::now());
    auto reached = clock::now();
    c10::intrusive_ptr<c10d::Store> store;
    std::unique_lock<std::mutex> lock(self->mutex);
    while (!self->stop) {
      lock.unlock();
      bool ok = true;
      try {
        if (!store) store = address.client(std::chrono::seconds(5));
        for (int r = 0; r < world; r++) {
          auto v = store->add(heartbeatKey(r), 0);
          if (v != last[r]) (last[r] = v, moved[r] = clock::now());
        }
        reached = clock::now();
      } catch (...) {
        store.reset();
        ok = false;
      }
      std::string lost;
      auto now = clock::now();
      if (!ok && now - reached > limit) {
        lost = agentStore ? "torchrun's rendezvous store went away (the launcher ended?)"
                          : "rank 0 of " + std::to_string(world) + " stopped responding (it served the rendezvous store)";
      } else if (ok) {
        for (int r = 0; r < world && lost.empty(); r++) {
          if (r != rank && now - moved[r] > limit) {
            lost = "rank " + std::to_string(r) + " of " + std::to_string(world) + " stopped responding (no heartbeat for " +
                   std::to_string(static_cast<int>(stall)) + " s: killed, frozen or cut off)";
          }
        }
      }
      lock.lock();
      if (!lost.empty() && !self->stop) {
        std::fprintf(stderr, "Error: %s: stopping rank %d too; the last complete checkpoint is intact (--resume_from_checkpoint latest)\n",
                     lost.c_str(), rank);
        std::fflush(nullptr);
        std::_Exit(1);
      }
      self->wake.wait_for(lock, std::chrono::seconds(1), [&] { return self->stop; });
    }
  }
};
}  // namespace

struct CTProcessGroupImpl {
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int world = 1, rank = 0;
  StoreAddress address;
  c10::intrusive_ptr<c10d::Store> store;  // prefixed as the group's keys are
  std::shared_ptr<Heartbeat> heartbeat = std::make_shared<Heartbeat>();
  std::shared_ptr<PeerWatch> watch;

  void stopWatching() {
    if (!watch) return;
    std::lock_guard<std::mutex> lock(watch->mutex);
    watch->stop = true;
    watch->wake.notify_all();
    watch.reset();
  }

  ~CTProcessGroupImpl() {
    stopWatching();
    // the thread is detached: it may sit in a store call to a server that is gone
    std::lock_guard<std::mutex> lock(heartbeat->mutex);
    heartbeat->stop = true;
    heartbeat->wake.notify_all();
  }
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
    impl->rank = rank;
    impl->store = store;
    impl->address = StoreAddress{std::string(master_addr), prefix ? std::string(prefix) : std::string(), static_cast<uint16_t>(port)};
    std::thread(Heartbeat::run, impl->heartbeat, impl->address, rank).detach();
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

extern "C" CTStatus ct_pg_unresponsive_ranks(CTProcessGroup pg, double wait_seconds, int32_t *ranks, int32_t *count, bool *store_lost) {
  CT_GUARD({
    *count = 0;
    *store_lost = false;
    try {
      auto store = pg->address.client(std::chrono::milliseconds(static_cast<int64_t>(wait_seconds * 1000)));
      std::vector<int64_t> before(pg->world);
      for (int r = 0; r < pg->world; r++) before[r] = store->add(heartbeatKey(r), 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(wait_seconds * 1000)));
      for (int r = 0; r < pg->world; r++) {
        if (r != pg->rank && store->add(heartbeatKey(r), 0) == before[r]) ranks[(*count)++] = r;
      }
    } catch (const std::exception &) {
      *store_lost = true;
    }
  })
}

extern "C" CTStatus ct_pg_watch_peers(CTProcessGroup pg, double stall_seconds, bool agent_store) {
  CT_GUARD({
    pg->stopWatching();
    if (stall_seconds > 0) {
      pg->watch = std::make_shared<PeerWatch>();
      std::thread(PeerWatch::run, pg->watch, pg->address, pg->rank, pg->world, stall_seconds, agent_store).detach();
    }
  })
}

extern "C" CTStatus ct_pg_attach_nccl(CTProcessGroup pg, const char *library, double timeout_seconds, int32_t *nccl_version) {
  CT_GUARD({
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *e = dlerror();
      throw std::runtime_error(std::string("cannot load the NCCL library: ") + (e ? e : library));
    }
    using Attach = int (*)(void *, void *, int, int, double, char *, size_t);
    using Version = int (*)();
    auto attach = reinterpret_cast<Attach>(dlsym(handle, "lcm_nccl_attach"));
    auto version = reinterpret_cast<Version>(dlsym(handle, "lcm_nccl_version"));
    if (!attach || !version) throw std::runtime_error(std::string(library) + ": not the NCCL library of this build (no lcm_nccl_attach)");
    char error[1024] = {0};
    if (attach(&pg->pg, &pg->store, pg->rank, pg->world, timeout_seconds, error, sizeof error) != 0) {
      throw std::runtime_error(std::string("ProcessGroupNCCL: ") + error);
    }
    *nccl_version = version();
  })
}

extern "C" CTStatus ct_cuda_set_device(int32_t index) {
  CT_GUARD({
    auto impl = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA);
    impl->setDevice(c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index)));
  })
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
