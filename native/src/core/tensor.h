// TensorImpl: a strided view over reference-counted storage, plus the autograd fields.
// Views (reshape of contiguous data, transpose, slice) share storage; kernels that need dense
// memory call dense() which copies only when the view is not contiguous.
#pragma once
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"

namespace ns {

using Shape = std::vector<int64_t>;

// Process-wide host allocation counters; read by engine.memoryStats() and the leak tests.
// (CUDA memory is counted per device by the CUDA backend's allocator.)
// live/peak count bytes held by tensors; cached bytes sit in the allocator's free lists.
struct MemoryStats {
  std::atomic<int64_t> live_bytes{0};
  std::atomic<int64_t> peak_bytes{0};
  std::atomic<int64_t> live_buffers{0};
  std::atomic<int64_t> cached_bytes{0};
};
MemoryStats& memory_stats();

// Returns every cached buffer, host and CUDA, to the system.
void empty_cache();

// Bytes on one device: host memory, or device memory through the CUDA backend's allocator.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  explicit Storage(size_t nbytes, Device device = Device::cpu());
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct Node;
struct TensorImpl;
using TensorPtr = std::shared_ptr<TensorImpl>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;

  bool requires_grad = false;
  TensorPtr grad;                  // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;   // producer, null for leaves

  int64_t numel() const;
  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  int64_t size(int64_t d) const { return shape[d < 0 ? d + dim() : d]; }
  bool is_contiguous() const;
  bool is_leaf() const { return grad_fn == nullptr; }
  Device device() const { return storage->device; }
  bool is_cuda() const { return storage->device.is_cuda(); }

  template <class T>
  T* data() { return static_cast<T*>(storage->data) + offset; }
  // The first element's address whatever the dtype (offset applied in bytes).
  void* raw_data() const { return static_cast<char*>(storage->data) + offset * int64_t(dtype_size(dtype)); }
  template <class T>
  const T* data() const { return static_cast<const T*>(storage->data) + offset; }
};

Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);

// Fresh, dense, uninitialised / zeroed tensors (the *_like ones on t's device).
TensorPtr empty(const Shape& shape, DType dtype, Device device = Device::cpu());
TensorPtr zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
TensorPtr full(const Shape& shape, DType dtype, double value, Device device = Device::cpu());
TensorPtr empty_like(const TensorPtr& t);
TensorPtr zeros_like(const TensorPtr& t);

// A view sharing storage (no autograd attached; ops attach nodes themselves).
TensorPtr make_view(const TensorPtr& base, Shape shape, Shape strides, int64_t offset);

// The tensor itself when contiguous, else a dense copy. Never attaches autograd: for kernels.
TensorPtr dense(const TensorPtr& t);
// Copies src (any strides) into dst (dense, same shape and dtype).
void copy_into(const TensorPtr& dst, const TensorPtr& src);

// Fills every element (dtype converted).
void fill(const TensorPtr& t, double value);

// Throws for dtypes users may not place on `device` (float64 on CUDA: the backend computes in
// float32; its kernels may still use float64 scratch internally).
void check_device_dtype(Device device, DType dtype);

// t on `device`: a dense copy when it lives elsewhere, t itself (any layout) when it is already
// there. No autograd.
TensorPtr to_device_raw(const TensorPtr& t, Device device);

// Throws unless every non-null tensor is on `first`'s device, naming the op and both devices.
void check_same_device(const char* op, std::initializer_list<TensorPtr> tensors);

// Normalises a possibly negative dim against ndim; throws naming the op when out of range.
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);

// Shared shape checks with messages that name the op and both shapes.
void check_same_shape(const char* op, const TensorPtr& a, const TensorPtr& b);
void check_dtype(const char* op, const TensorPtr& t, DType want, const char* what);
void check_floating(const char* op, const TensorPtr& t, const char* what);

}  // namespace ns
