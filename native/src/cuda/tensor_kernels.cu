// Tensor primitives on a CUDA device: fill, strided copy (what dense() and every view that a
// kernel needs dense go through, and the writes into views behind slice's gradient and
// concat), dtype casts and the index check behind embedding and cross-entropy. All of them
// are memory-bound, so they aim for coalesced accesses and cheap index arithmetic (32-bit
// whenever the tensor allows) rather than anything clever; only check_indices synchronises,
// because its caller needs the answer on the host.
#include <cuda_bf16.h>

#include <cstring>
#include <limits>

#include "cuda/backend_impl.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// ---- fill ----

template <class T>
__global__ void fill_kernel(T* __restrict__ data, T value, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) data[i] = value;
}

// Fills n elements with the bit pattern `bits`; all-zero patterns (zeros(), the common case) go
// through the copy engine's memset instead of a kernel.
template <class T>
void fill_bits(void* data, T bits, int64_t n, int device) {
  const cudaStream_t s = stream(device);
  if (bits == 0) {
    NS_CUDA_CHECK(cudaMemsetAsync(data, 0, static_cast<size_t>(n) * sizeof(T), s));
    return;
  }
  fill_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(static_cast<T*>(data), bits, n);
  NS_CUDA_LAUNCHED("fill");
}

// ---- strided copy ----

constexpr int kMaxCopyDims = 8;

// The common shape of a copy with size-1 dims dropped and neighbours merged where both sides
// walk memory as one dim; dims are stored innermost first so the kernel peels the flat index
// from the fastest dim outward.
struct StridedView {
  int ndim = 0;
  int64_t size[kMaxCopyDims] = {};
  int64_t dst_stride[kMaxCopyDims] = {};
  int64_t src_stride[kMaxCopyDims] = {};
};

StridedView coalesce_view(const TensorPtr& dst, const TensorPtr& src) {
  StridedView view;
  // From the innermost dim out, merging a dim into its inner neighbour when on both sides its
  // stride is that neighbour's stride times its size.
  for (int64_t d = src->dim() - 1; d >= 0; --d) {
    const int64_t size = src->shape[d];
    if (size == 1) continue;
    if (view.ndim > 0) {
      const int inner = view.ndim - 1;
      if (dst->strides[d] == view.dst_stride[inner] * view.size[inner] &&
          src->strides[d] == view.src_stride[inner] * view.size[inner]) {
        view.size[inner] *= size;
        continue;
      }
    }
    NS_CHECK(view.ndim < kMaxCopyDims, "copy: views of shape ", shape_str(src->shape), " with strides ",
             shape_str(dst->strides), " <- ", shape_str(src->strides), " have more than ", kMaxCopyDims,
             " non-mergeable dims; the CUDA copy does not support it");
    view.size[view.ndim] = size;
    view.dst_stride[view.ndim] = dst->strides[d];
    view.src_stride[view.ndim] = src->strides[d];
    ++view.ndim;
  }
  return view;
}

// Index is uint32_t when every flat index and offset fits (the common case: 64-bit division
// costs several times more than 32-bit), else int64_t.
template <class T, class Index>
__global__ void strided_copy_kernel(T* __restrict__ dst, const T* __restrict__ src, StridedView view, Index n) {
  const Index step = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    Index rem = i, dst_offset = 0, src_offset = 0;
#pragma unroll
    for (int d = 0; d < kMaxCopyDims; ++d) {
      if (d == view.ndim) break;
      const Index size = static_cast<Index>(view.size[d]);
      const Index coord = rem % size;
      rem /= size;
      dst_offset += coord * static_cast<Index>(view.dst_stride[d]);
      src_offset += coord * static_cast<Index>(view.src_stride[d]);
    }
    dst[dst_offset] = src[src_offset];
  }
}

template <class T>
void strided_copy(void* dst, const void* src, const StridedView& view, int64_t n, int device) {
  bool fits_32 = n < (int64_t(1) << 31);
  int64_t max_dst_offset = 0, max_src_offset = 0;
  for (int d = 0; d < view.ndim; ++d) {
    if (view.dst_stride[d] < 0 || view.src_stride[d] < 0) fits_32 = false;
    max_dst_offset += (view.size[d] - 1) * (view.dst_stride[d] < 0 ? -view.dst_stride[d] : view.dst_stride[d]);
    max_src_offset += (view.size[d] - 1) * (view.src_stride[d] < 0 ? -view.src_stride[d] : view.src_stride[d]);
  }
  fits_32 = fits_32 && max_dst_offset < (int64_t(1) << 31) && max_src_offset < (int64_t(1) << 31);
  const cudaStream_t s = stream(device);
  T* d = static_cast<T*>(dst);
  const T* sp = static_cast<const T*>(src);
  if (fits_32) {
    strided_copy_kernel<T, uint32_t><<<blocks_for(n, kThreads), kThreads, 0, s>>>(d, sp, view, static_cast<uint32_t>(n));
  } else {
    strided_copy_kernel<T, int64_t><<<blocks_for(n, kThreads), kThreads, 0, s>>>(d, sp, view, n);
  }
  NS_CUDA_LAUNCHED("copy");
}

// ---- cast: every supported pair goes through float, which is exact for bf16 and is the
// rounding the contract asks for int32 -> bf16 ----

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(int32_t v) { return static_cast<float>(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
// Truncates toward zero like static_cast on the host (the device instruction saturates out of
// range values and maps NaN to 0 where the host's behaviour is undefined).
template <>
__device__ __forceinline__ int32_t from_float<int32_t>(float v) { return static_cast<int32_t>(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <class Src, class Dst>
__global__ void cast_kernel(Dst* __restrict__ dst, const Src* __restrict__ src, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    dst[i] = from_float<Dst>(to_float(src[i]));
}

template <class Src, class Dst>
void launch_cast(const TensorPtr& dst, const TensorPtr& src, int device) {
  const int64_t n = src->numel();
  cast_kernel<Src, Dst><<<blocks_for(n, kThreads), kThreads, 0, stream(device)>>>(dst->data<Dst>(), src->data<Src>(), n);
  NS_CUDA_LAUNCHED("cast");
}

template <class Src>
void cast_from(const TensorPtr& dst, const TensorPtr& src, int device) {
  switch (dst->dtype) {
    case DType::F32: launch_cast<Src, float>(dst, src, device); return;
    case DType::I32: launch_cast<Src, int32_t>(dst, src, device); return;
    case DType::BF16: launch_cast<Src, __nv_bfloat16>(dst, src, device); return;
    case DType::F64: break;
  }
  fail("cast: the CUDA backend casts between float32, int32 and bfloat16 only, got ", dtype_name(src->dtype),
       " -> ", dtype_name(dst->dtype));
}

// ---- check_indices ----

// Counts entries that are not `ignore` and records the smallest offending position; integer
// atomics keep the answer independent of scheduling.
__global__ void check_indices_kernel(const int32_t* __restrict__ idx, int64_t n, int64_t limit, int64_t ignore,
                                     unsigned long long* counted, unsigned long long* first_bad) {
  __shared__ unsigned long long warp_counts[kThreads / 32];
  unsigned long long count = 0;
  bool found = false;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t v = idx[i];
    if (v == ignore) continue;
    ++count;
    // A thread visits its positions in increasing order, so its first offender is its smallest.
    if (!found && (v < 0 || v >= limit)) {
      atomicMin(first_bad, static_cast<unsigned long long>(i));
      found = true;
    }
  }
  for (int offset = 16; offset > 0; offset /= 2) count += __shfl_down_sync(0xffffffffu, count, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_counts[warp] = count;
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned long long block_count = 0;
    for (int w = 0; w < kThreads / 32; ++w) block_count += warp_counts[w];
    if (block_count) atomicAdd(counted, block_count);
  }
}

__global__ void read_bad_value_kernel(const int32_t* __restrict__ idx, int64_t n, const unsigned long long* first_bad,
                                      long long* bad_value) {
  const unsigned long long position = *first_bad;
  *bad_value = position < static_cast<unsigned long long>(n) ? idx[position] : 0;
}

// The first element of t (offset applied) for a byte-level copy.
void* element_data(const TensorPtr& t) {
  return dtype_size(t->dtype) == 2 ? static_cast<void*>(t->data<uint16_t>()) : static_cast<void*>(t->data<uint32_t>());
}

void check_float_bf16_int(const char* op, const TensorPtr& t) {
  NS_CHECK(t->dtype == DType::F32 || t->dtype == DType::I32 || t->dtype == DType::BF16, op,
           ": the CUDA backend supports float32, int32 and bfloat16 only, got ", dtype_name(t->dtype));
}

}  // namespace

void CudaBackendImpl::fill(const TensorPtr& t, double value) {
  check_float_bf16_int("fill", t);
  NS_CHECK(t->is_contiguous(), "fill: tensor must be contiguous");
  const int64_t n = t->numel();
  if (n == 0) return;
  const int device = device_of(t);
  DeviceGuard guard(device);
  switch (t->dtype) {
    case DType::F32: {
      const float v = static_cast<float>(value);
      uint32_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      fill_bits<uint32_t>(t->data<float>(), bits, n, device);
      break;
    }
    case DType::I32: {
      const int32_t v = static_cast<int32_t>(value);
      uint32_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      fill_bits<uint32_t>(t->data<int32_t>(), bits, n, device);
      break;
    }
    case DType::BF16: {
      const __nv_bfloat16 v = __double2bfloat16(value);
      uint16_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      fill_bits<uint16_t>(t->data<uint16_t>(), bits, n, device);
      break;
    }
    case DType::F64: break;  // rejected above
  }
}

void CudaBackendImpl::copy(const TensorPtr& dst, const TensorPtr& src) {
  NS_CHECK(dst->shape == src->shape, "copy: shape mismatch ", shape_str(dst->shape), " vs ", shape_str(src->shape));
  NS_CHECK(dst->dtype == src->dtype, "copy: dtype mismatch ", dtype_name(dst->dtype), " vs ", dtype_name(src->dtype));
  check_float_bf16_int("copy", src);
  const int64_t n = src->numel();
  if (n == 0) return;
  const int device = device_of(dst);
  DeviceGuard guard(device);
  if (dst->is_contiguous() && src->is_contiguous()) {
    NS_CUDA_CHECK(cudaMemcpyAsync(element_data(dst), element_data(src), static_cast<size_t>(n) * dtype_size(src->dtype),
                                  cudaMemcpyDeviceToDevice, stream(device)));
    return;
  }
  const StridedView view = coalesce_view(dst, src);
  // Copies move bits, so each element size has one kernel whatever the dtype.
  if (dtype_size(src->dtype) == 2)
    strided_copy<uint16_t>(dst->data<uint16_t>(), src->data<uint16_t>(), view, n, device);
  else
    strided_copy<uint32_t>(dst->data<uint32_t>(), src->data<uint32_t>(), view, n, device);
}

void CudaBackendImpl::cast(const TensorPtr& dst, const TensorPtr& src) {
  NS_CHECK(dst->shape == src->shape, "cast: shape mismatch ", shape_str(dst->shape), " vs ", shape_str(src->shape));
  check_float_bf16_int("cast", src);
  check_float_bf16_int("cast", dst);
  const int64_t n = src->numel();
  if (n == 0) return;
  NS_CHECK(dst->is_contiguous() && src->is_contiguous(), "cast: source and destination must be contiguous");
  const int device = device_of(dst);
  DeviceGuard guard(device);
  if (dst->dtype == src->dtype) {
    copy(dst, src);
    return;
  }
  switch (src->dtype) {
    case DType::F32: cast_from<float>(dst, src, device); break;
    case DType::I32: cast_from<int32_t>(dst, src, device); break;
    case DType::BF16: cast_from<__nv_bfloat16>(dst, src, device); break;
    case DType::F64: break;  // rejected above
  }
}

IndexCheck CudaBackendImpl::check_indices(const TensorPtr& idx, int64_t limit, int64_t ignore) {
  NS_CHECK(idx->dtype == DType::I32, "check_indices: indices must be int32, got ", dtype_name(idx->dtype));
  IndexCheck result;
  const int64_t n = idx->numel();
  if (n == 0) return result;
  const int device = device_of(idx);
  DeviceGuard guard(device);
  const cudaStream_t s = stream(device);
  // Three 64-bit results (count, first bad position, its value) in a scratch block from the
  // caching allocator; the engine has no 64-bit integer dtype, so it is sized in int32s.
  auto scratch = empty({6}, DType::I32, idx->device());
  auto* results = reinterpret_cast<unsigned long long*>(scratch->data<int32_t>());
  NS_CUDA_CHECK(cudaMemsetAsync(results, 0, sizeof(unsigned long long), s));
  NS_CUDA_CHECK(cudaMemsetAsync(results + 1, 0xff, sizeof(unsigned long long), s));
  check_indices_kernel<<<blocks_for(n, kThreads, 1024), kThreads, 0, s>>>(idx->data<int32_t>(), n, limit, ignore,
                                                                         results, results + 1);
  NS_CUDA_LAUNCHED("check_indices");
  read_bad_value_kernel<<<1, 1, 0, s>>>(idx->data<int32_t>(), n, results + 1,
                                        reinterpret_cast<long long*>(results + 2));
  NS_CUDA_LAUNCHED("check_indices");
  unsigned long long host[3];
  download(host, results, sizeof host, device);
  result.counted = static_cast<int64_t>(host[0]);
  if (host[1] != std::numeric_limits<unsigned long long>::max()) {
    result.bad_position = static_cast<int64_t>(host[1]);
    long long value;
    std::memcpy(&value, &host[2], sizeof value);
    result.bad_value = value;
  }
  return result;
}

}  // namespace cuda
}  // namespace ns
