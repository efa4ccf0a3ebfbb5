// embedding on the GPU: the row gather of the forward and the deterministic scatter-add of the
// backward, with the CPU's semantics (ops/embedding.cpp) and its summation order.
//
// The backward must not use float atomics (their order, hence the rounding, changes from run to
// run). Positions are bucketed by id with a stable radix sort of (id, position) pairs (CUB's
// DeviceRadixSort, stable by contract, only over the bits V needs), a binary search finds each
// id's bucket, and each weight-gradient row then adds its positions' output-gradient rows in
// increasing position, exactly as the CPU does: the result is bit-identical to the CPU's. A
// hand-written counting sort would need the same steps (histogram, scan, stable scatter), and
// the stable scatter is the hard part to get right and fast; CUB's sort is exactly that part.
//
// Cost of the exact order: a row's sum is a serial chain, so the most frequent token (a few % of
// the positions in text) bounds the kernel's time. Loads run ahead of the adds (kRowsInFlight
// rows per thread) to hide latency. BPE tends to give frequent tokens low ids (early merges), and
// low block indices are scheduled first, so the long rows tend to start first.
#include <cub/device/device_radix_sort.cuh>

#include <climits>
#include <cstdint>

#include "cuda/backend_impl.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;  // per block; also the most columns one block of a row covers
constexpr int kRowsInFlight = 8;  // output-gradient rows each thread loads before adding

void require_dtype(const char* op, const TensorPtr& t, DType want, const char* what) {
  NS_CHECK(t->dtype == want, op, ": the CUDA backend supports ", dtype_name(want), " ", what, " only, got ",
           dtype_name(t->dtype));
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <int W>
struct VecOf;
template <>
struct VecOf<1> {
  using type = float;
};
template <>
struct VecOf<4> {
  using type = float4;
};

__device__ __forceinline__ void add_into(float& acc, float v) { acc += v; }
__device__ __forceinline__ void add_into(float4& acc, const float4& v) {
  acc.x += v.x;
  acc.y += v.y;
  acc.z += v.z;
  acc.w += v.w;
}
__device__ __forceinline__ void set_zero(float& v) { v = 0.0f; }
__device__ __forceinline__ void set_zero(float4& v) { v = make_float4(0.0f, 0.0f, 0.0f, 0.0f); }

// out: (n, C) = weight[idx[i]], as rows of C / W vectors of W floats: threadIdx.y picks a row of
// the block's group, threadIdx.x strides its columns. weight: (V, C), idx: (n)
template <int W>
__global__ void embedding_forward_kernel(float* __restrict__ out, const float* __restrict__ weight,
                                         const int32_t* __restrict__ idx, int64_t n, int64_t C) {
  using Vec = typename VecOf<W>::type;
  const int64_t vecs_per_row = C / W;
  for (int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y; row < n;
       row += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const Vec* src = reinterpret_cast<const Vec*>(weight) + static_cast<int64_t>(idx[row]) * vecs_per_row;
    Vec* dst = reinterpret_cast<Vec*>(out) + row * vecs_per_row;
    for (int64_t col = threadIdx.x; col < vecs_per_row; col += blockDim.x) dst[col] = src[col];
  }
}

template <int W>
void launch_embedding_forward(float* out, const float* weight, const int32_t* idx, int64_t n, int64_t C,
                              cudaStream_t s) {
  const int64_t vecs_per_row = C / W;
  const int columns = static_cast<int>(vecs_per_row < kThreads ? (vecs_per_row + 31) / 32 * 32 : kThreads);
  const dim3 block(columns, kThreads / columns);
  embedding_forward_kernel<W><<<blocks_for(n, static_cast<int>(block.y)), block, 0, s>>>(out, weight, idx, n, C);
}

// positions: (n) = 0, 1, ..., n - 1, the values the sort carries along with the ids.
__global__ void iota_kernel(int32_t* __restrict__ positions, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    positions[i] = static_cast<int32_t>(i);
}

// start: (V + 1); start[v] = the first index of sorted_ids holding an id >= v (so id v's
// positions are order[start[v] .. start[v + 1])). sorted_ids: (n) ascending.
__global__ void bucket_starts_kernel(int32_t* __restrict__ start, const uint32_t* __restrict__ sorted_ids,
                                     int64_t n, int64_t V) {
  for (int64_t v = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; v <= V;
       v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (static_cast<int64_t>(sorted_ids[mid]) < v)
        lo = mid + 1;
      else
        hi = mid;
    }
    start[v] = static_cast<int32_t>(lo);
  }
}

// dweight row v (blockIdx.x), W-float column vectors spread over blockIdx.y * blockDim.x +
// threadIdx.x: the sum of dout[order[k]] for k in [start[v], start[v + 1]) in that order,
// starting from the first term itself as the CPU does (so -0 stays -0); zero when the bucket is
// empty. dweight: (V, C), dout: (n, C), order: (n), start: (V + 1)
template <int W>
__global__ void embedding_backward_kernel(float* __restrict__ dweight, const float* __restrict__ dout,
                                          const int32_t* __restrict__ order, const int32_t* __restrict__ start,
                                          int64_t C) {
  using Vec = typename VecOf<W>::type;
  const int64_t vecs_per_row = C / W;
  const int64_t col = blockIdx.y * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (col >= vecs_per_row) return;
  const int64_t v = blockIdx.x;
  const int32_t begin = start[v], end = start[v + 1];
  const Vec* dout_v = reinterpret_cast<const Vec*>(dout) + col;
  Vec acc;
  if (begin == end) {
    set_zero(acc);
  } else {
    acc = dout_v[static_cast<int64_t>(order[begin]) * vecs_per_row];
    int32_t k = begin + 1;
    for (; end - k >= kRowsInFlight; k += kRowsInFlight) {
      Vec rows[kRowsInFlight];
#pragma unroll
      for (int u = 0; u < kRowsInFlight; ++u) rows[u] = dout_v[static_cast<int64_t>(order[k + u]) * vecs_per_row];
#pragma unroll
      for (int u = 0; u < kRowsInFlight; ++u) add_into(acc, rows[u]);
    }
    for (; k < end; ++k) add_into(acc, dout_v[static_cast<int64_t>(order[k]) * vecs_per_row]);
  }
  reinterpret_cast<Vec*>(dweight)[v * vecs_per_row + col] = acc;
}

template <int W>
void launch_embedding_backward(float* dweight, const float* dout, const int32_t* order, const int32_t* start,
                               int64_t V, int64_t C, cudaStream_t s) {
  const int64_t vecs_per_row = C / W;
  const int threads = static_cast<int>(vecs_per_row < kThreads ? (vecs_per_row + 31) / 32 * 32 : kThreads);
  const int64_t column_tiles = (vecs_per_row + threads - 1) / threads;
  NS_CHECK(V <= INT_MAX && column_tiles <= 65535, "embedding: the CUDA backward supports up to ", INT_MAX,
           " rows and ", 65535LL * kThreads * W, " columns, got a table of (", V, ", ", C, ")");
  const dim3 grid(static_cast<unsigned>(V), static_cast<unsigned>(column_tiles));
  embedding_backward_kernel<W><<<grid, threads, 0, s>>>(dweight, dout, order, start, C);
}

}  // namespace

// out: (n, C), weight: (V, C), idx: int32 (n)
void CudaBackendImpl::embedding_forward(const TensorPtr& out, const TensorPtr& weight, const TensorPtr& idx) {
  require_dtype("embedding", weight, DType::F32, "weights");
  require_dtype("embedding", out, DType::F32, "outputs");
  require_dtype("embedding", idx, DType::I32, "ids");
  if (out->numel() == 0) return;
  const int device = device_of(out);
  DeviceGuard guard(device);
  const int64_t n = idx->numel(), C = weight->shape[1];
  float* o = out->data<float>();
  const float* w = weight->data<float>();
  const cudaStream_t s = stream(device);
  if (C % 4 == 0 && aligned16(o) && aligned16(w))
    launch_embedding_forward<4>(o, w, idx->data<int32_t>(), n, C, s);
  else
    launch_embedding_forward<1>(o, w, idx->data<int32_t>(), n, C, s);
  NS_CUDA_LAUNCHED("embedding");
}

// dweight: (V, C) fully written; dout: (n, C), idx: int32 (n)
void CudaBackendImpl::embedding_backward(const TensorPtr& dweight, const TensorPtr& dout, const TensorPtr& idx) {
  require_dtype("embedding", dweight, DType::F32, "gradients");
  require_dtype("embedding", dout, DType::F32, "gradients");
  require_dtype("embedding", idx, DType::I32, "ids");
  if (dweight->numel() == 0) return;
  const int device = device_of(dweight);
  DeviceGuard guard(device);
  const cudaStream_t s = stream(device);
  const int64_t V = dweight->shape[0], C = dweight->shape[1], n = idx->numel();
  float* dw = dweight->data<float>();
  if (n == 0) {
    NS_CUDA_CHECK(cudaMemsetAsync(dw, 0, static_cast<size_t>(V * C) * sizeof(float), s));
    return;
  }
  NS_CHECK(n <= INT_MAX, "embedding: the CUDA backward supports up to ", INT_MAX, " ids, got ", n);

  // Stable sort of (id, position) by id, over the low bits that can differ (ids are in [0, V)).
  int id_bits = 1;
  while (id_bits < 31 && (int64_t{1} << id_bits) < V) ++id_bits;
  const Device dev = dweight->device();
  auto positions = empty({n}, DType::I32, dev);
  auto sorted_ids = empty({n}, DType::I32, dev);
  auto order = empty({n}, DType::I32, dev);
  auto start = empty({V + 1}, DType::I32, dev);
  // Ids are checked non-negative, so reading them as unsigned keeps their order.
  const auto* ids_in = reinterpret_cast<const uint32_t*>(idx->data<int32_t>());
  auto* ids_out = reinterpret_cast<uint32_t*>(sorted_ids->data<int32_t>());
  const int num_items = static_cast<int>(n);
  size_t temp_bytes = 0;
  NS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, ids_in, ids_out, positions->data<int32_t>(),
                                                order->data<int32_t>(), num_items, 0, id_bits, s));
  // Never empty: a null temp pointer would make the second call another size query.
  auto temp = empty({static_cast<int64_t>(temp_bytes / 4 + 1)}, DType::I32, dev);

  iota_kernel<<<blocks_for(n, kThreads), kThreads, 0, s>>>(positions->data<int32_t>(), n);
  NS_CUDA_LAUNCHED("embedding");
  NS_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp->data<int32_t>(), temp_bytes, ids_in, ids_out,
                                                positions->data<int32_t>(), order->data<int32_t>(), num_items, 0,
                                                id_bits, s));
  bucket_starts_kernel<<<blocks_for(V + 1, kThreads), kThreads, 0, s>>>(start->data<int32_t>(), ids_out, n, V);
  NS_CUDA_LAUNCHED("embedding");

  const float* g = dout->data<float>();
  if (C % 4 == 0 && aligned16(dw) && aligned16(g))
    launch_embedding_backward<4>(dw, g, order->data<int32_t>(), start->data<int32_t>(), V, C, s);
  else
    launch_embedding_backward<1>(dw, g, order->data<int32_t>(), start->data<int32_t>(), V, C, s);
  NS_CUDA_LAUNCHED("embedding");
}

}  // namespace cuda
}  // namespace ns
