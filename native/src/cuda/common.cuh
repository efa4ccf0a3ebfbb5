// What every CUDA translation unit of the backend shares: error checks that throw EngineError
// (never abort the process), the per-device stream, a device guard and launch arithmetic.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/error.h"
#include "core/tensor.h"

#define NS_CUDA_CHECK(expr)                                                                  \
  do {                                                                                       \
    const cudaError_t ns_err_ = (expr);                                                      \
    if (ns_err_ != cudaSuccess)                                                              \
      ::ns::fail("CUDA error in ", #expr, ": ", cudaGetErrorString(ns_err_), " (", __FILE__, \
                 ":", __LINE__, ")");                                                        \
  } while (0)

// After a kernel launch: a bad configuration shows up here, named by `op`.
#define NS_CUDA_LAUNCHED(op)                                                                     \
  do {                                                                                           \
    const cudaError_t ns_err_ = cudaGetLastError();                                              \
    if (ns_err_ != cudaSuccess) ::ns::fail(op, ": CUDA kernel launch failed: ", cudaGetErrorString(ns_err_)); \
  } while (0)

namespace ns {
namespace cuda {

// The single stream every kernel of the device runs on (created on first use, runtime.cu). One
// stream keeps kernels ordered without events and lets the allocator reuse freed blocks at once.
cudaStream_t stream(int device);

// Makes `device` current for the scope (cheap when it already is).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    NS_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) NS_CUDA_CHECK(cudaSetDevice(device));
    set_ = prev_ != device;
  }
  ~DeviceGuard() {
    if (set_) cudaSetDevice(prev_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0;
  bool set_ = false;
};

inline int device_of(const TensorPtr& t) { return t->device().index; }

// Blocks of `threads` covering n items, capped so the grid fits (kernels then grid-stride).
inline unsigned blocks_for(int64_t n, int threads, int64_t cap = 65535LL * 8) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < cap ? b : cap);
}

}  // namespace cuda
}  // namespace ns
