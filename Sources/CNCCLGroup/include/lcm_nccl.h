#ifndef LCM_NCCL_H
#define LCM_NCCL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Sets torch's ProcessGroupNCCL (from libtorch_cuda) as the CUDA backend of a process group.
/// process_group points at a c10::intrusive_ptr<c10d::ProcessGroup>, store at a
/// c10::intrusive_ptr<c10d::Store> (the group's own, prefixed as its keys are). 0 on success;
/// else the reason in error (capacity error_capacity). Loaded with dlopen by libCTorch when a
/// data-parallel run trains on CUDA, so that the CPU-only build never needs libtorch_cuda.
int lcm_nccl_attach(void *process_group, void *store, int rank, int world_size, double timeout_seconds,
                    char *error, size_t error_capacity);

/// The NCCL version libtorch_cuda runs (major * 10000 + minor * 100 + patch), 0 if unknown.
int lcm_nccl_version(void);

#ifdef __cplusplus
}
#endif

#endif
