// CTorch: a small, pure-C API over libtorch (ATen + autograd). Every entry point catches every
// C++ exception, stores its message in a thread-local string (ct_last_error) and returns a status:
// 0 on success, 1 on error. Outputs go through pointer arguments. Handles are opaque and owned by
// the caller, who frees them with the matching *_free function.
#ifndef CTORCH_H
#define CTORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CTTensorImpl *CTTensor;
typedef struct CTGeneratorImpl *CTGenerator;
typedef struct CTOptimizerImpl *CTOptimizer;

/// Project-owned dtype numbering (stable; not c10::ScalarType's).
typedef enum {
  CT_FLOAT32 = 0,
  CT_FLOAT16 = 1,
  CT_BFLOAT16 = 2,
  CT_FLOAT64 = 3,
  CT_INT64 = 4,
  CT_INT32 = 5,
  CT_UINT8 = 6,
  CT_BOOL = 7,
  CT_INT16 = 8,
  CT_INT8 = 9,
} CTDType;

typedef enum { CT_CPU = 0, CT_CUDA = 1, CT_META = 2 } CTDeviceType;

typedef struct {
  int32_t type;   // CTDeviceType
  int32_t index;  // -1: current / default
} CTDevice;

typedef int32_t CTStatus;

/// Message of the last failed call on this thread ("" if none). Valid until the next failing call.
const char *ct_last_error(void);

// ---- library, threads, CUDA -------------------------------------------------------------------
/// Loads libtorch_cuda.so (done automatically before main; returns its status and message).
CTStatus ct_cuda_load(bool *loaded);
const char *ct_cuda_load_message(void);
/// Compile-time libtorch version of the headers this shim was built with ("2.11.0").
const char *ct_build_version(void);
/// Path of the libtorch_cpu.so actually loaded, or "" if unknown.
const char *ct_library_path(void);
CTStatus ct_set_num_threads(int32_t n);
CTStatus ct_get_num_threads(int32_t *n);
CTStatus ct_set_num_interop_threads(int32_t n);
CTStatus ct_get_num_interop_threads(int32_t *n);
CTStatus ct_cuda_is_available(bool *out);
CTStatus ct_cuda_device_count(int32_t *out);
/// Device name (NUL-terminated, truncated to cap) and total memory in bytes, via the CUDA driver.
CTStatus ct_cuda_device_info(int32_t index, char *name, size_t cap, uint64_t *total_memory);
CTStatus ct_cuda_synchronize(int32_t index);
CTStatus ct_cuda_memory_stats(int32_t index, uint64_t *allocated, uint64_t *peak_allocated,
                              uint64_t *reserved);
CTStatus ct_cuda_reset_peak_memory(int32_t index);
CTStatus ct_cuda_empty_cache(void);
CTStatus ct_set_allow_tf32(bool allow);
CTStatus ct_manual_seed(uint64_t seed);

// ---- tensor lifetime and metadata ---------------------------------------------------------------
void ct_tensor_free(CTTensor t);
CTStatus ct_tensor_clone_handle(CTTensor t, CTTensor *out);  // a second handle, same tensor
CTStatus ct_defined(CTTensor t, bool *out);
CTStatus ct_ndim(CTTensor t, int64_t *out);
/// Writes min(ndim, cap) sizes; *ndim receives the full rank.
CTStatus ct_sizes(CTTensor t, int64_t *out, int64_t cap, int64_t *ndim);
CTStatus ct_strides(CTTensor t, int64_t *out, int64_t cap, int64_t *ndim);
CTStatus ct_numel(CTTensor t, int64_t *out);
CTStatus ct_dtype(CTTensor t, int32_t *out);
CTStatus ct_device(CTTensor t, CTDevice *out);
CTStatus ct_is_contiguous(CTTensor t, bool *out);
CTStatus ct_is_channels_last(CTTensor t, bool *out);
CTStatus ct_item_double(CTTensor t, double *out);
CTStatus ct_item_int64(CTTensor t, int64_t *out);
CTStatus ct_data_ptr(CTTensor t, void **out);
/// Debug text as torch prints it (caller frees with ct_string_free).
CTStatus ct_to_string(CTTensor t, char **out);
void ct_string_free(char *s);

// ---- creation -----------------------------------------------------------------------------------
CTStatus ct_from_data(const void *data, size_t nbytes, const int64_t *shape, int64_t ndim,
                      int32_t dtype, CTDevice device, CTTensor *out);
/// Copies the tensor's values (converted to a contiguous CPU tensor of the same dtype) to dst.
CTStatus ct_copy_to_host(CTTensor t, void *dst, size_t nbytes);
CTStatus ct_empty(const int64_t *shape, int64_t ndim, int32_t dtype, CTDevice device, CTTensor *out);
CTStatus ct_zeros(const int64_t *shape, int64_t ndim, int32_t dtype, CTDevice device, CTTensor *out);
CTStatus ct_ones(const int64_t *shape, int64_t ndim, int32_t dtype, CTDevice device, CTTensor *out);
CTStatus ct_full(const int64_t *shape, int64_t ndim, double value, int32_t dtype, CTDevice device,
                 CTTensor *out);
CTStatus ct_scalar_tensor(double value, int32_t dtype, CTDevice device, CTTensor *out);
CTStatus ct_arange(double start, double end, double step, int32_t dtype, CTDevice device,
                   CTTensor *out);
CTStatus ct_linspace(double start, double end, int64_t steps, int32_t dtype, CTDevice device,
                     CTTensor *out);
typedef enum { CT_LIKE_EMPTY = 0, CT_LIKE_ZEROS, CT_LIKE_ONES, CT_LIKE_RANDN, CT_LIKE_RAND } CTLikeKind;
CTStatus ct_like(CTTensor t, int32_t kind, CTTensor *out);
CTStatus ct_full_like(CTTensor t, double value, CTTensor *out);

// ---- random ---------------------------------------------------------------------------------------
CTStatus ct_generator_new(CTDevice device, uint64_t seed, CTGenerator *out);
void ct_generator_free(CTGenerator g);
CTStatus ct_generator_manual_seed(CTGenerator g, uint64_t seed);
CTStatus ct_generator_get_state(CTGenerator g, CTTensor *out);
CTStatus ct_generator_set_state(CTGenerator g, CTTensor state);
/// gen may be NULL (the default generator of the device).
CTStatus ct_randn(const int64_t *shape, int64_t ndim, int32_t dtype, CTDevice device,
                  CTGenerator gen, CTTensor *out);
CTStatus ct_rand(const int64_t *shape, int64_t ndim, int32_t dtype, CTDevice device,
                 CTGenerator gen, CTTensor *out);
CTStatus ct_randint(int64_t low, int64_t high, const int64_t *shape, int64_t ndim, int32_t dtype,
                    CTDevice device, CTGenerator gen, CTTensor *out);
CTStatus ct_randperm(int64_t n, int32_t dtype, CTDevice device, CTGenerator gen, CTTensor *out);
CTStatus ct_normal_(CTTensor t, double mean, double std, CTGenerator gen);
CTStatus ct_uniform_(CTTensor t, double from, double to, CTGenerator gen);
CTStatus ct_bernoulli(CTTensor p, CTGenerator gen, CTTensor *out);

// ---- elementwise ----------------------------------------------------------------------------------
typedef enum {
  CT_ADD = 0, CT_SUB, CT_MUL, CT_DIV, CT_POW, CT_MAXIMUM, CT_MINIMUM, CT_REMAINDER, CT_ATAN2,
  CT_EQ, CT_NE, CT_LT, CT_LE, CT_GT, CT_GE, CT_LOGICAL_AND, CT_LOGICAL_OR, CT_LOGICAL_XOR,
  CT_FLOOR_DIVIDE, CT_BINARY_COUNT
} CTBinaryOp;
CTStatus ct_binary(int32_t op, CTTensor a, CTTensor b, CTTensor *out);
CTStatus ct_binary_scalar(int32_t op, CTTensor a, double b, CTTensor *out);
/// scalar op tensor (e.g. 1 - x, 2 / x, 2 ** x).
CTStatus ct_scalar_binary(int32_t op, double a, CTTensor b, CTTensor *out);
/// In place: a = a op b.
CTStatus ct_binary_(int32_t op, CTTensor a, CTTensor b);
CTStatus ct_binary_scalar_(int32_t op, CTTensor a, double b);
/// a + alpha * b, and its in-place form.
CTStatus ct_add_alpha(CTTensor a, CTTensor b, double alpha, CTTensor *out);
CTStatus ct_add_alpha_(CTTensor a, CTTensor b, double alpha);

typedef enum {
  CT_NEG = 0, CT_ABS, CT_EXP, CT_LOG, CT_SQRT, CT_RSQRT, CT_SIN, CT_COS, CT_TANH, CT_SIGMOID,
  CT_RELU, CT_SILU, CT_GELU, CT_GELU_TANH, CT_ERF, CT_FLOOR, CT_CEIL, CT_ROUND, CT_SIGN,
  CT_RECIPROCAL, CT_SQUARE, CT_LOG1P, CT_EXPM1, CT_LOGICAL_NOT, CT_ISNAN, CT_ISINF, CT_ISFINITE,
  CT_LOG2, CT_TRUNC, CT_MISH, CT_SOFTPLUS, CT_QUICK_GELU, CT_UNARY_COUNT
} CTUnaryOp;
CTStatus ct_unary(int32_t op, CTTensor a, CTTensor *out);
CTStatus ct_unary_(int32_t op, CTTensor a);

CTStatus ct_where(CTTensor cond, CTTensor a, CTTensor b, CTTensor *out);
CTStatus ct_clamp(CTTensor a, bool has_min, double min, bool has_max, double max, CTTensor *out);
CTStatus ct_clamp_(CTTensor a, bool has_min, double min, bool has_max, double max);
CTStatus ct_masked_fill(CTTensor a, CTTensor mask, double value, CTTensor *out);
CTStatus ct_lerp(CTTensor a, CTTensor end, double weight, CTTensor *out);
CTStatus ct_lerp_(CTTensor a, CTTensor end, double weight);
CTStatus ct_lerp_tensor_(CTTensor a, CTTensor end, CTTensor weight);
CTStatus ct_addcmul_(CTTensor a, CTTensor t1, CTTensor t2, double value);
CTStatus ct_addcdiv_(CTTensor a, CTTensor t1, CTTensor t2, double value);
CTStatus ct_copy_(CTTensor dst, CTTensor src, bool non_blocking);
CTStatus ct_fill_(CTTensor a, double value);
CTStatus ct_zero_(CTTensor a);
CTStatus ct_allclose(CTTensor a, CTTensor b, double rtol, double atol, bool *out);
CTStatus ct_equal(CTTensor a, CTTensor b, bool *out);

// ---- reductions -----------------------------------------------------------------------------------
typedef enum {
  CT_SUM = 0, CT_MEAN, CT_AMAX, CT_AMIN, CT_PROD, CT_ANY, CT_ALL, CT_LOGSUMEXP, CT_NANSUM,
  CT_REDUCE_COUNT
} CTReduceOp;
/// ndims == 0 reduces over every dimension.
CTStatus ct_reduce(int32_t op, CTTensor a, const int64_t *dims, int64_t ndims, bool keepdim,
                   CTTensor *out);
CTStatus ct_var(CTTensor a, const int64_t *dims, int64_t ndims, double correction, bool keepdim,
                bool take_sqrt, CTTensor *out);
CTStatus ct_norm(CTTensor a, double p, const int64_t *dims, int64_t ndims, bool keepdim,
                 CTTensor *out);
CTStatus ct_argmax(CTTensor a, int64_t dim, bool keepdim, CTTensor *out);
CTStatus ct_argmin(CTTensor a, int64_t dim, bool keepdim, CTTensor *out);
CTStatus ct_cumsum(CTTensor a, int64_t dim, CTTensor *out);
CTStatus ct_softmax(CTTensor a, int64_t dim, int32_t dtype /* -1: keep */, CTTensor *out);
CTStatus ct_log_softmax(CTTensor a, int64_t dim, int32_t dtype /* -1: keep */, CTTensor *out);

// ---- linear algebra and neural-network functions ------------------------------------------------
CTStatus ct_matmul(CTTensor a, CTTensor b, CTTensor *out);
CTStatus ct_mm(CTTensor a, CTTensor b, CTTensor *out);
CTStatus ct_bmm(CTTensor a, CTTensor b, CTTensor *out);
CTStatus ct_baddbmm(CTTensor input, CTTensor b1, CTTensor b2, double beta, double alpha,
                    CTTensor *out);
CTStatus ct_addmm(CTTensor input, CTTensor m1, CTTensor m2, double beta, double alpha,
                  CTTensor *out);
/// bias may be NULL.
CTStatus ct_linear(CTTensor x, CTTensor w, CTTensor bias, CTTensor *out);
CTStatus ct_conv2d(CTTensor x, CTTensor w, CTTensor bias, const int64_t *stride,
                   const int64_t *padding, const int64_t *dilation, int64_t groups, CTTensor *out);
CTStatus ct_conv_transpose2d(CTTensor x, CTTensor w, CTTensor bias, const int64_t *stride,
                             const int64_t *padding, const int64_t *output_padding,
                             const int64_t *dilation, int64_t groups, CTTensor *out);
CTStatus ct_group_norm(CTTensor x, int64_t groups, CTTensor w, CTTensor b, double eps,
                       CTTensor *out);
CTStatus ct_layer_norm(CTTensor x, const int64_t *shape, int64_t ndim, CTTensor w, CTTensor b,
                       double eps, CTTensor *out);
CTStatus ct_embedding(CTTensor weight, CTTensor indices, CTTensor *out);
CTStatus ct_dropout(CTTensor x, double p, bool train, CTTensor *out);
/// mask may be NULL; has_scale false means 1/sqrt(head_dim).
CTStatus ct_scaled_dot_product_attention(CTTensor q, CTTensor k, CTTensor v, CTTensor mask,
                                         double dropout_p, bool is_causal, bool has_scale,
                                         double scale, CTTensor *out);
typedef enum { CT_INTERP_NEAREST = 0, CT_INTERP_BILINEAR, CT_INTERP_BICUBIC, CT_INTERP_NEAREST_EXACT } CTInterpMode;
/// 4-D input; output size (out_h, out_w).
CTStatus ct_interpolate(CTTensor x, int32_t mode, int64_t out_h, int64_t out_w, bool align_corners,
                        bool antialias, CTTensor *out);
typedef enum { CT_PAD_CONSTANT = 0, CT_PAD_REFLECT, CT_PAD_REPLICATE, CT_PAD_CIRCULAR } CTPadMode;
CTStatus ct_pad(CTTensor x, const int64_t *pads, int64_t npads, int32_t mode, double value,
                CTTensor *out);
typedef enum { CT_REDUCTION_NONE = 0, CT_REDUCTION_MEAN, CT_REDUCTION_SUM } CTReduction;
CTStatus ct_mse_loss(CTTensor a, CTTensor b, int32_t reduction, CTTensor *out);
CTStatus ct_huber_loss(CTTensor a, CTTensor b, int32_t reduction, double delta, CTTensor *out);
CTStatus ct_cross_entropy(CTTensor logits, CTTensor target, int32_t reduction, CTTensor *out);

// ---- shapes -----------------------------------------------------------------------------------------
CTStatus ct_reshape(CTTensor a, const int64_t *shape, int64_t ndim, CTTensor *out);
CTStatus ct_view(CTTensor a, const int64_t *shape, int64_t ndim, CTTensor *out);
CTStatus ct_permute(CTTensor a, const int64_t *dims, int64_t ndim, CTTensor *out);
CTStatus ct_transpose(CTTensor a, int64_t d0, int64_t d1, CTTensor *out);
typedef enum { CT_MEMORY_CONTIGUOUS = 0, CT_MEMORY_CHANNELS_LAST = 1, CT_MEMORY_PRESERVE = 2 } CTMemoryFormat;
CTStatus ct_contiguous(CTTensor a, int32_t memory_format, CTTensor *out);
CTStatus ct_cat(const CTTensor *ts, int64_t n, int64_t dim, CTTensor *out);
CTStatus ct_stack(const CTTensor *ts, int64_t n, int64_t dim, CTTensor *out);
/// Writes up to cap handles to outs; *count receives the number of pieces (free the extra ones
/// yourself is never needed: pieces past cap are not created).
CTStatus ct_chunk(CTTensor a, int64_t chunks, int64_t dim, CTTensor *outs, int64_t cap,
                  int64_t *count);
CTStatus ct_split_sizes(CTTensor a, const int64_t *sizes, int64_t n, int64_t dim, CTTensor *outs);
CTStatus ct_slice(CTTensor a, int64_t dim, int64_t start, int64_t end, int64_t step,
                  CTTensor *out);
CTStatus ct_select(CTTensor a, int64_t dim, int64_t index, CTTensor *out);
CTStatus ct_index_select(CTTensor a, int64_t dim, CTTensor index, CTTensor *out);
CTStatus ct_gather(CTTensor a, int64_t dim, CTTensor index, CTTensor *out);
CTStatus ct_expand(CTTensor a, const int64_t *shape, int64_t ndim, CTTensor *out);
CTStatus ct_repeat(CTTensor a, const int64_t *repeats, int64_t ndim, CTTensor *out);
CTStatus ct_repeat_interleave(CTTensor a, int64_t repeats, int64_t dim, CTTensor *out);
CTStatus ct_flip(CTTensor a, const int64_t *dims, int64_t ndim, CTTensor *out);
CTStatus ct_squeeze(CTTensor a, int64_t dim, CTTensor *out);
CTStatus ct_unsqueeze(CTTensor a, int64_t dim, CTTensor *out);
CTStatus ct_flatten(CTTensor a, int64_t start, int64_t end, CTTensor *out);
CTStatus ct_triu(CTTensor a, int64_t diagonal, CTTensor *out);
CTStatus ct_tril(CTTensor a, int64_t diagonal, CTTensor *out);
/// dtype -1 keeps the dtype; a NULL-type device (type -1) keeps the device.
CTStatus ct_to(CTTensor a, int32_t dtype, CTDevice device, bool non_blocking, bool copy,
               CTTensor *out);
CTStatus ct_clone(CTTensor a, CTTensor *out);

// ---- autograd ---------------------------------------------------------------------------------------
CTStatus ct_set_requires_grad(CTTensor t, bool requires_grad);
CTStatus ct_requires_grad(CTTensor t, bool *out);
CTStatus ct_is_leaf(CTTensor t, bool *out);
/// grad may be NULL (scalar outputs).
CTStatus ct_backward(CTTensor t, CTTensor grad, bool retain_graph, bool create_graph);
/// *out is NULL when the gradient is undefined.
CTStatus ct_grad(CTTensor t, CTTensor *out);
/// grad NULL clears the gradient (set_to_none).
CTStatus ct_set_grad(CTTensor t, CTTensor grad);
CTStatus ct_detach(CTTensor t, CTTensor *out);
CTStatus ct_detach_(CTTensor t);
CTStatus ct_set_grad_enabled(bool enabled);
CTStatus ct_is_grad_enabled(bool *out);
/// Gradients of outputs w.r.t. inputs (torch.autograd.grad); grad_outputs entries may be NULL.
/// Undefined gradients come back as NULL handles.
CTStatus ct_autograd_grad(const CTTensor *outputs, const CTTensor *grad_outputs, int64_t nout,
                          const CTTensor *inputs, int64_t nin, bool retain_graph,
                          bool create_graph, bool allow_unused, CTTensor *grads);

/// Activation checkpointing: fn(ctx, inputs, n, outputs, cap) must write its outputs' handles
/// (new handles the shim takes over) and return their count, or -1 after setting an error with
/// ct_set_error. The first run is under no-grad; backward reruns fn with grad enabled.
typedef int64_t (*CTCheckpointFn)(void *ctx, const CTTensor *inputs, int64_t n, CTTensor *outputs,
                                  int64_t cap);
/// Called once when the checkpoint's saved state is released.
typedef void (*CTReleaseFn)(void *ctx);
CTStatus ct_checkpoint(CTCheckpointFn fn, CTReleaseFn release, void *ctx, const CTTensor *inputs,
                       int64_t n, CTTensor *outputs, int64_t cap, int64_t *count);
void ct_set_error(const char *message);

// ---- autocast -----------------------------------------------------------------------------------
/// Enters an autocast region on the device type with the dtype; ct_autocast_exit restores the
/// previous state (it must receive the values ct_autocast_enter returned).
CTStatus ct_autocast_enter(int32_t device_type, bool enabled, int32_t dtype, bool *prev_enabled,
                           int32_t *prev_dtype);
CTStatus ct_autocast_exit(int32_t device_type, bool prev_enabled, int32_t prev_dtype);
CTStatus ct_autocast_is_enabled(int32_t device_type, bool *out);

// ---- foreach ----------------------------------------------------------------------------------------
CTStatus ct_foreach_mul_scalar_(const CTTensor *ts, int64_t n, double s);
CTStatus ct_foreach_mul_tensor_(const CTTensor *ts, int64_t n, CTTensor s);
CTStatus ct_foreach_add_(const CTTensor *ts, const CTTensor *others, int64_t n, double alpha);
CTStatus ct_foreach_lerp_(const CTTensor *ts, const CTTensor *ends, int64_t n, double weight);
CTStatus ct_foreach_copy_(const CTTensor *dst, const CTTensor *src, int64_t n);
CTStatus ct_foreach_zero_(const CTTensor *ts, int64_t n);
/// GradScaler's unscale: ts *= inv_scale; found_inf (a 1-element float tensor) set to 1 where any
/// element is inf/NaN (torch._amp_foreach_non_finite_check_and_unscale_).
CTStatus ct_amp_unscale_(const CTTensor *ts, int64_t n, CTTensor found_inf, CTTensor inv_scale);
/// Clips the gradients of params (as torch.nn.utils.clip_grad_norm_, foreach path) and returns the
/// total norm before clipping as a 0-dim tensor.
CTStatus ct_clip_grad_norm_(const CTTensor *params, int64_t n, double max_norm, double norm_type,
                            CTTensor *total_norm);

// ---- AdamW --------------------------------------------------------------------------------------
/// fused: libtorch's fused kernel (_fused_adamw_), else torch::optim::AdamW.
CTStatus ct_adamw_new(const CTTensor *params, int64_t n, double lr, double beta1, double beta2,
                      double eps, double weight_decay, bool amsgrad, bool fused, CTOptimizer *out);
void ct_adamw_free(CTOptimizer o);
/// grad_scale / found_inf may be NULL (fused path only: unscales in the kernel, skips on inf).
CTStatus ct_adamw_step(CTOptimizer o, CTTensor grad_scale, CTTensor found_inf);
CTStatus ct_adamw_zero_grad(CTOptimizer o);
CTStatus ct_adamw_set_lr(CTOptimizer o, double lr);
CTStatus ct_adamw_get_lr(CTOptimizer o, double *lr);
/// Per-parameter state; *has_state false before the first step. max_exp_avg_sq is NULL
/// without amsgrad. step is a 0-dim float32 tensor.
CTStatus ct_adamw_get_state(CTOptimizer o, int64_t index, bool *has_state, CTTensor *step,
                            CTTensor *exp_avg, CTTensor *exp_avg_sq, CTTensor *max_exp_avg_sq);
CTStatus ct_adamw_set_state(CTOptimizer o, int64_t index, CTTensor step, CTTensor exp_avg,
                            CTTensor exp_avg_sq, CTTensor max_exp_avg_sq);

// ---- AdamW8bit ----------------------------------------------------------------------------------
/// One step of bitsandbytes' AdamW8bit for one parameter: state1/state2 are uint8 codes into
/// qmap1 (signed) / qmap2 (unsigned) with one float32 absmax per 256-element block, or float32
/// moments (then absmax and qmap are unused and may be NULL). step counts from 1.
CTStatus ct_adamw8bit_update_(CTTensor param, CTTensor grad, CTTensor state1, CTTensor state2,
                              CTTensor absmax1, CTTensor absmax2, CTTensor qmap1, CTTensor qmap2,
                              int64_t step, double lr, double beta1, double beta2, double eps,
                              double weight_decay);

// ---- distributed (c10d, libtorch's own) --------------------------------------------------------
typedef struct CTProcessGroupImpl *CTProcessGroup;
typedef struct CTReducerImpl *CTReducer;

/// Joins a process group: a c10d TCPStore at master_addr:port (served by rank 0 when serve_store,
/// else by the launcher, as torchrun's agent does), keys under `prefix`, and ProcessGroupGloo over
/// it (CPU tensors). Blocks until all world_size ranks joined or the timeout.
CTStatus ct_pg_new_gloo(const char *master_addr, int32_t port, int32_t rank, int32_t world_size,
                        double timeout_seconds, bool serve_store, const char *prefix, CTProcessGroup *out);
void ct_pg_free(CTProcessGroup pg);
/// In place over all ranks. op: 0 sum, 1 max, 2 min, 3 average (sum then divide).
CTStatus ct_pg_allreduce_(CTProcessGroup pg, CTTensor t, int32_t op);
CTStatus ct_pg_broadcast_(CTProcessGroup pg, CTTensor t, int32_t root);
CTStatus ct_pg_barrier(CTProcessGroup pg);
/// After a failed collective: the other ranks whose store heartbeat (one per second, from a thread
/// each rank runs) did not move in wait_seconds, into `ranks` (room for world_size); store_lost
/// when the store itself cannot be reached.
/// While a run trains: a thread that ends the process with one error line when another rank's
/// heartbeat stands still for stall_seconds (or the store is unreachable as long); 0 stops it.
CTStatus ct_pg_watch_peers(CTProcessGroup pg, double stall_seconds, bool agent_store);
/// Loads `library` (libLCMNCCL.so, which links libtorch_cuda) and sets ProcessGroupNCCL on the
/// same store as the group's backend for CUDA tensors; CPU tensors stay on Gloo.
CTStatus ct_pg_attach_nccl(CTProcessGroup pg, const char *library, double timeout_seconds, int32_t *nccl_version);
/// The current CUDA device of the calling thread (c10's device guard; CUDA must be loaded).
CTStatus ct_cuda_set_device(int32_t index);
CTStatus ct_pg_unresponsive_ranks(CTProcessGroup pg, double wait_seconds, int32_t *ranks, int32_t *count, bool *store_lost);
/// c10d's Reducer, as DistributedDataParallel builds it: the parameters' gradients are averaged
/// over the ranks in buckets of bucket_bytes, overlapped with backward; call ct_reducer_prepare
/// with the loss before each backward whose gradients are to be reduced.
CTStatus ct_reducer_new(CTProcessGroup pg, const CTTensor *params, int64_t n, int64_t bucket_bytes, CTReducer *out);
void ct_reducer_free(CTReducer r);
CTStatus ct_reducer_prepare(CTReducer r, CTTensor loss);

#ifdef __cplusplus
}
#endif

#endif  // CTORCH_H
