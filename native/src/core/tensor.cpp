// Storage allocation, tensor construction and strided copies.
#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/parallel.h"
#include "cuda/backend.h"

namespace ns {

MemoryStats& memory_stats() {
  static MemoryStats stats;
  return stats;
}

namespace {

// A caching allocator keyed by exact (64-byte rounded) size. A training step allocates the
// same sizes every step, so after the first step nearly every request is a cache hit: no
// malloc, and — more important for large buffers — no fresh mmap whose first touch page-faults
// (measured: 12–26 ms per step on the 32 MB cross-entropy gradient alone). The cache holds at
// most NIGHTSHIFT_CACHE_MB (default 4096) MiB; empty_cache() releases it.
class BufferCache {
 public:
  void* take(size_t rounded) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(rounded);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    memory_stats().cached_bytes.fetch_sub(static_cast<int64_t>(rounded));
    return p;
  }

  // Keeps the buffer if the cache has room; otherwise frees it.
  void give(void* p, size_t rounded) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (memory_stats().cached_bytes.load() + static_cast<int64_t>(rounded) <= limit_) {
        free_[rounded].push_back(p);
        memory_stats().cached_bytes.fetch_add(static_cast<int64_t>(rounded));
        return;
      }
    }
    std::free(p);
  }

  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, list] : free_) {
      for (void* p : list) std::free(p);
      memory_stats().cached_bytes.fetch_sub(static_cast<int64_t>(size * list.size()));
    }
    free_.clear();
  }

 private:
  static int64_t default_limit() {
    int64_t mb = 4096;
    if (const char* env = std::getenv("NIGHTSHIFT_CACHE_MB")) mb = std::atoll(env);
    return mb < 0 ? 0 : mb * (int64_t(1) << 20);
  }

  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  int64_t limit_ = default_limit();
};

// Never destroyed: tensors can be freed by finalizers during teardown, after static
// destructors would have run. The OS reclaims the cached buffers at exit.
BufferCache& buffer_cache() {
  static BufferCache* cache = new BufferCache();
  return *cache;
}

size_t rounded_size(size_t n) { return n == 0 ? 64 : ((n + 63) / 64) * 64; }

}  // namespace

void empty_cache() {
  buffer_cache().clear();
  if (cuda_compiled()) cuda_backend("empty_cache").empty_cache();
}

Storage::Storage(size_t n, Device dev) : nbytes(n), device(dev) {
  if (device.is_cuda()) {
    data = cuda_backend_for(device).allocate(n, device.index);
    return;
  }
  // 64-byte alignment keeps every row start usable by aligned AVX-512 loads.
  const size_t rounded = rounded_size(n);
  data = buffer_cache().take(rounded);
  if (!data) data = std::aligned_alloc(64, rounded);
  if (!data) {  // the system is short: give back what the cache holds and try once more
    empty_cache();
    data = std::aligned_alloc(64, rounded);
  }
  NS_CHECK(data != nullptr, "out of memory: could not allocate ", n, " bytes");
  auto& s = memory_stats();
  int64_t live = s.live_bytes.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
  s.live_buffers.fetch_add(1);
  int64_t peak = s.peak_bytes.load();
  while (live > peak && !s.peak_bytes.compare_exchange_weak(peak, live)) {
  }
}

Storage::~Storage() {
  if (device.is_cuda()) {
    cuda_backend("release").release(data, nbytes, device.index);
    return;
  }
  buffer_cache().give(data, rounded_size(nbytes));
  auto& s = memory_stats();
  s.live_bytes.fetch_sub(static_cast<int64_t>(nbytes));
  s.live_buffers.fetch_sub(1);
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorImpl::numel() const { return shape_numel(shape); }

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

bool TensorImpl::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape[i] == 1) continue;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

TensorPtr empty(const Shape& shape, DType dtype, Device device) {
  // Reject sizes whose byte count would overflow before asking the allocator (2^48 bytes is
  // far beyond any machine this runs on, and keeps the products below exact in int64).
  constexpr int64_t kMaxElements = int64_t(1) << 45;
  int64_t n = 1;
  for (int64_t d : shape) {
    NS_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
    NS_CHECK(d == 0 || n <= kMaxElements / d, "tensor of shape ", shape_str(shape), " is too large to allocate");
    n *= d;
  }
  auto t = std::make_shared<TensorImpl>();
  t->storage = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  t->shape = shape;
  t->strides = contiguous_strides(shape);
  t->dtype = dtype;
  return t;
}

TensorPtr zeros(const Shape& shape, DType dtype, Device device) {
  auto t = empty(shape, dtype, device);
  if (device.is_cuda()) {
    cuda_backend("zeros").fill(t, 0.0);
  } else {
    std::memset(t->storage->data, 0, t->storage->nbytes);
  }
  return t;
}

TensorPtr full(const Shape& shape, DType dtype, double value, Device device) {
  auto t = empty(shape, dtype, device);
  fill(t, value);
  return t;
}

TensorPtr empty_like(const TensorPtr& t) { return empty(t->shape, t->dtype, t->device()); }
TensorPtr zeros_like(const TensorPtr& t) { return zeros(t->shape, t->dtype, t->device()); }

TensorPtr make_view(const TensorPtr& base, Shape shape, Shape strides, int64_t offset) {
  auto t = std::make_shared<TensorImpl>();
  t->storage = base->storage;
  t->shape = std::move(shape);
  t->strides = std::move(strides);
  t->offset = offset;
  t->dtype = base->dtype;
  return t;
}

namespace {

template <class T>
void strided_copy(T* dst, const T* src, const Shape& shape, const Shape& strides) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  const int64_t n = shape_numel(shape);
  if (nd == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t inner = shape[nd - 1];
  const int64_t inner_stride = strides[nd - 1];
  const int64_t rows = inner ? n / inner : 0;
  parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      // Decompose the row index over the outer dims.
      int64_t rem = r, off = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        off += (rem % shape[d]) * strides[d];
        rem /= shape[d];
      }
      const T* s = src + off;
      T* o = dst + r * inner;
      if (inner_stride == 1) {
        std::memcpy(o, s, sizeof(T) * inner);
      } else {
        for (int64_t i = 0; i < inner; ++i) o[i] = s[i * inner_stride];
      }
    }
  });
}

}  // namespace

void copy_into(const TensorPtr& dst, const TensorPtr& src) {
  NS_CHECK(dst->shape == src->shape, "copy: shape mismatch ", shape_str(dst->shape), " vs ", shape_str(src->shape));
  NS_CHECK(dst->dtype == src->dtype, "copy: dtype mismatch ", dtype_name(dst->dtype), " vs ", dtype_name(src->dtype));
  NS_CHECK(dst->is_contiguous(), "copy: destination must be contiguous");
  NS_CHECK(dst->device() == src->device(), "copy: device mismatch ", dst->device().str(), " vs ",
           src->device().str());
  if (dst->numel() == 0) return;
  if (dst->is_cuda()) {
    cuda_backend("copy").copy(dst, src);
    return;
  }
  switch (src->dtype) {
    case DType::F32: strided_copy(dst->data<float>(), src->data<float>(), src->shape, src->strides); break;
    case DType::F64: strided_copy(dst->data<double>(), src->data<double>(), src->shape, src->strides); break;
    case DType::I32: strided_copy(dst->data<int32_t>(), src->data<int32_t>(), src->shape, src->strides); break;
    case DType::BF16: strided_copy(dst->data<uint16_t>(), src->data<uint16_t>(), src->shape, src->strides); break;
  }
}

TensorPtr dense(const TensorPtr& t) {
  if (t->is_contiguous()) return t;
  auto out = empty(t->shape, t->dtype, t->device());
  copy_into(out, t);
  return out;
}

void fill(const TensorPtr& t, double value) {
  NS_CHECK(t->is_contiguous(), "fill: tensor must be contiguous");
  if (t->is_cuda()) {
    if (t->numel() > 0) cuda_backend("fill").fill(t, value);
    return;
  }
  const int64_t n = t->numel();
  switch (t->dtype) {
    case DType::F32: {
      float* p = t->data<float>();
      float v = static_cast<float>(value);
      for (int64_t i = 0; i < n; ++i) p[i] = v;
      break;
    }
    case DType::F64: {
      double* p = t->data<double>();
      for (int64_t i = 0; i < n; ++i) p[i] = value;
      break;
    }
    case DType::I32: {
      int32_t* p = t->data<int32_t>();
      int32_t v = static_cast<int32_t>(value);
      for (int64_t i = 0; i < n; ++i) p[i] = v;
      break;
    }
    case DType::BF16: fail("fill: bfloat16 tensors have no CPU kernels");
  }
}

void check_device_dtype(Device device, DType dtype) {
  NS_CHECK(!(device.is_cuda() && dtype == DType::F64), "float64 tensors are not supported on ", device.str(),
           " (the CUDA backend computes in float32; float64 is for CPU gradient checks)");
}

TensorPtr to_device_raw(const TensorPtr& t, Device device) {
  if (t->device() == device) return t;
  check_device_dtype(device, t->dtype);
  auto src = dense(t);
  auto out = empty(src->shape, src->dtype, device);
  const size_t n = static_cast<size_t>(src->numel()) * dtype_size(src->dtype);
  if (n == 0) return out;
  if (device.is_cpu()) {
    cuda_backend("to").download(out->raw_data(), src->raw_data(), n, src->device().index);
  } else if (src->device().is_cpu()) {
    cuda_backend("to").upload(out->raw_data(), src->raw_data(), n, device.index);
  } else {  // between two CUDA devices: through the host keeps the backend's surface small
    return to_device_raw(to_device_raw(src, Device::cpu()), device);
  }
  return out;
}

void check_same_device(const char* op, std::initializer_list<TensorPtr> tensors) {
  const TensorImpl* first = nullptr;
  for (const TensorPtr& t : tensors) {
    if (!t) continue;
    if (!first) {
      first = t.get();
      continue;
    }
    NS_CHECK(t->device() == first->device(), op, ": all tensors must be on one device, got ", first->device().str(),
             " ", shape_str(first->shape), " and ", t->device().str(), " ", shape_str(t->shape),
             " (move them with .to())");
  }
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t w = d < 0 ? d + ndim : d;
  NS_CHECK(w >= 0 && w < ndim, op, ": dim ", d, " is out of range for a tensor with ", ndim, " dims");
  return w;
}

void check_same_shape(const char* op, const TensorPtr& a, const TensorPtr& b) {
  NS_CHECK(a->shape == b->shape, op, ": shapes must match, got ", shape_str(a->shape), " and ", shape_str(b->shape));
}

void check_dtype(const char* op, const TensorPtr& t, DType want, const char* what) {
  NS_CHECK(t->dtype == want, op, ": ", what, " must be ", dtype_name(want), ", got ", dtype_name(t->dtype),
           " with shape ", shape_str(t->shape));
}

void check_floating(const char* op, const TensorPtr& t, const char* what) {
  NS_CHECK(is_floating(t->dtype), op, ": ", what, " must be float32 or float64, got ", dtype_name(t->dtype),
           " with shape ", shape_str(t->shape));
}

}  // namespace ns
