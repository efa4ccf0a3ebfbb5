// sum over any set of dims on a CUDA device, deterministic run to run: every partial sum is
// combined in a fixed order and nothing uses floating-point atomics.
//
// The input is dense, so adjacent dims of the same kind (reduced or kept) merge, and what is
// left alternates kept and reduced groups. One reduced group is (outer, R, inner) with
// out[o, i] = sum_r x[o, r, i]; several are reduced one at a time, innermost first, through
// scratch tensors. Two kernels cover a group, picked by its layout:
//   - inner == 1 (row sums, and the all-reduce as one row): a warp per row, or for a few long
//     rows a two-pass split over blocks whose partials are combined in double;
//   - inner > 1 (column sums, such as a bias gradient over (rows, C)): threads own columns so
//     each row read is coalesced, the rows are split across blocks when there are few columns,
//     and the per-split partials are combined in double by a second pass.
// Threads accumulate in float over bounded runs (a few hundred elements at most in the training
// shapes) and every cross-thread combination is a fixed tree or a fixed sequence.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cuda/backend_impl.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
// Enough blocks for several waves on any current GPU (an H100 has 132 SMs).
constexpr int64_t kTargetBlocks = 2048;
// Rows up to this long are summed by one warp; a thread then adds at most 32 float4s.
constexpr int64_t kWarpRowMaxLength = 4096;
// With this many rows the warp-per-row kernel already fills the GPU whatever their length.
constexpr int64_t kRowsToFill = 1024;
// The smallest share of a split row: 32 elements per thread of a block.
constexpr int64_t kMinSplitLength = 32 * kThreads;
// Column sums: a block covers 32 columns with 8 threads down the rows of each.
constexpr int kColumnTile = 32;
constexpr int kColumnLanes = kThreads / kColumnTile;
// The fewest rows one column split gets: 8 per thread.
constexpr int64_t kMinRowsPerSplit = 8 * kColumnLanes;

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

// ---- row sums: out[r] = sum of x[r * length, (r + 1) * length) ----

// vectorized: length % 4 == 0 and x 16-byte aligned, so every row starts aligned.
__global__ void warp_row_sum_kernel(float* __restrict__ out, const float* __restrict__ x, int64_t rows, int64_t length,
                                    bool vectorized) {
  const int lane = threadIdx.x % 32;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * kWarps;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; r < rows; r += warps_total) {
    const float* row = x + r * length;
    float acc = 0.0f;
    if (vectorized) {
      const float4* row4 = reinterpret_cast<const float4*>(row);
      for (int64_t k = lane; k < length / 4; k += 32) {
        const float4 v = row4[k];
        acc += (v.x + v.y) + (v.z + v.w);
      }
    } else {
      for (int64_t k = lane; k < length; k += 32) acc += row[k];
    }
    acc = warp_sum(acc);
    if (lane == 0) out[r] = acc;
  }
}

// Block (split, row) sums x[row][split * chunk, min(length, (split + 1) * chunk)) into
// partial[row * splits + split]. vectorized additionally needs chunk % 4 == 0.
__global__ void split_row_sum_kernel(double* __restrict__ partial, const float* __restrict__ x, int64_t length,
                                     int64_t chunk, bool vectorized) {
  __shared__ double warp_totals[kWarps];
  const int64_t row = blockIdx.y, split = blockIdx.x;
  const int64_t begin = split * chunk;
  const int64_t end = begin + chunk < length ? begin + chunk : length;
  const float* xr = x + row * length;
  float acc = 0.0f;
  if (vectorized) {
    const float4* x4 = reinterpret_cast<const float4*>(xr);
    for (int64_t k = begin / 4 + threadIdx.x; k < end / 4; k += kThreads) {
      const float4 v = x4[k];
      acc += (v.x + v.y) + (v.z + v.w);
    }
  } else {
    for (int64_t k = begin + threadIdx.x; k < end; k += kThreads) acc += xr[k];
  }
  acc = warp_sum(acc);
  if (threadIdx.x % 32 == 0) warp_totals[threadIdx.x / 32] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int w = 0; w < kWarps; ++w) total += warp_totals[w];
    partial[row * gridDim.x + split] = total;
  }
}

// out[r] = sum of partial[r * splits, (r + 1) * splits), a warp per row.
__global__ void finish_row_partials_kernel(float* __restrict__ out, const double* __restrict__ partial, int64_t rows,
                                           int64_t splits) {
  const int lane = threadIdx.x % 32;
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * kWarps;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; r < rows; r += warps_total) {
    double acc = 0.0;
    for (int64_t k = lane; k < splits; k += 32) acc += partial[r * splits + k];
    acc = warp_sum(acc);
    if (lane == 0) out[r] = static_cast<float>(acc);
  }
}

void row_sum(float* out, const float* x, int64_t rows, int64_t length, int device) {
  const cudaStream_t s = stream(device);
  const bool vectorized = length % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  if (length <= kWarpRowMaxLength || rows >= kRowsToFill) {
    warp_row_sum_kernel<<<blocks_for(rows, kWarps), kThreads, 0, s>>>(out, x, rows, length, vectorized);
    NS_CUDA_LAUNCHED("sum");
    return;
  }
  // Few long rows (the all-reduce is one): split each row over blocks, combine in a second pass.
  const int64_t wanted = clamp(ceil_div(kTargetBlocks, rows), 1, ceil_div(length, kMinSplitLength));
  const int64_t chunk = ceil_div(ceil_div(length, wanted), 4) * 4;
  const int64_t splits = ceil_div(length, chunk);
  auto partial = empty({rows * splits}, DType::F64, Device::cuda(device));
  double* pp = partial->data<double>();
  const dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(rows));
  split_row_sum_kernel<<<grid, kThreads, 0, s>>>(pp, x, length, chunk, vectorized);
  NS_CUDA_LAUNCHED("sum");
  finish_row_partials_kernel<<<blocks_for(rows, kWarps), kThreads, 0, s>>>(out, pp, rows, splits);
  NS_CUDA_LAUNCHED("sum");
}

// ---- column sums: out[o, i] = sum_r x[o, r, i], over columns j = o * inner + i ----

// Block (column tile, split) covers 32 columns and rows [split * rows_per_split, ...); its 8
// lanes per column walk those rows 8 apart and are combined in double in lane order. With one
// split the result goes to out, else to partial[split * columns + j].
__global__ void column_sum_kernel(float* __restrict__ out, double* __restrict__ partial, const float* __restrict__ x,
                                  int64_t reduce, int64_t inner, int64_t columns, int64_t rows_per_split) {
  __shared__ float lane_sums[kColumnLanes][kColumnTile + 1];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColumnTile + threadIdx.x;
  const int64_t split = blockIdx.y;
  const int64_t begin = split * rows_per_split;
  const int64_t end = begin + rows_per_split < reduce ? begin + rows_per_split : reduce;
  float acc = 0.0f;
  if (j < columns) {
    const int64_t o = j / inner, i = j - o * inner;
    const float* column = x + o * reduce * inner + i;
#pragma unroll 4
    for (int64_t r = begin + threadIdx.y; r < end; r += kColumnLanes) acc += column[r * inner];
  }
  lane_sums[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < columns) {
    double total = 0.0;
    for (int lane = 0; lane < kColumnLanes; ++lane) total += lane_sums[lane][threadIdx.x];
    if (partial)
      partial[split * columns + j] = total;
    else
      out[j] = static_cast<float>(total);
  }
}

__global__ void finish_column_partials_kernel(float* __restrict__ out, const double* __restrict__ partial,
                                              int64_t splits, int64_t columns) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < columns; j += step) {
    double total = 0.0;
    for (int64_t s = 0; s < splits; ++s) total += partial[s * columns + j];
    out[j] = static_cast<float>(total);
  }
}

void column_sum(float* out, const float* x, int64_t outer, int64_t reduce, int64_t inner, int device) {
  const cudaStream_t s = stream(device);
  const int64_t columns = outer * inner;
  const int64_t column_blocks = ceil_div(columns, kColumnTile);
  const int64_t wanted = clamp(ceil_div(kTargetBlocks, column_blocks), 1,
                               clamp(ceil_div(reduce, kMinRowsPerSplit), 1, 65535));
  const int64_t rows_per_split = ceil_div(reduce, wanted);
  const int64_t splits = ceil_div(reduce, rows_per_split);
  const dim3 grid(static_cast<unsigned>(column_blocks), static_cast<unsigned>(splits));
  const dim3 block(kColumnTile, kColumnLanes);
  if (splits == 1) {
    column_sum_kernel<<<grid, block, 0, s>>>(out, nullptr, x, reduce, inner, columns, rows_per_split);
    NS_CUDA_LAUNCHED("sum");
    return;
  }
  auto partial = empty({splits * columns}, DType::F64, Device::cuda(device));
  double* pp = partial->data<double>();
  column_sum_kernel<<<grid, block, 0, s>>>(nullptr, pp, x, reduce, inner, columns, rows_per_split);
  NS_CUDA_LAUNCHED("sum");
  finish_column_partials_kernel<<<blocks_for(columns, kThreads), kThreads, 0, s>>>(out, pp, splits, columns);
  NS_CUDA_LAUNCHED("sum");
}

// ---- planning ----

struct DimGroup {
  int64_t size;
  bool reduced;
};

// x's dims with size-1 dims dropped and neighbours of the same kind merged: kept and reduced
// groups alternate.
std::vector<DimGroup> dim_groups(const Shape& x_shape, const Shape& out_shape) {
  std::vector<DimGroup> groups;
  for (size_t d = 0; d < x_shape.size(); ++d) {
    if (x_shape[d] == 1) continue;
    const bool reduced = out_shape[d] == 1;
    if (!groups.empty() && groups.back().reduced == reduced)
      groups.back().size *= x_shape[d];
    else
      groups.push_back({x_shape[d], reduced});
  }
  return groups;
}

void reduce_group(float* out, const float* x, int64_t outer, int64_t reduce, int64_t inner, int device) {
  if (inner == 1)
    row_sum(out, x, outer, reduce, device);
  else
    column_sum(out, x, outer, reduce, inner, device);
}

}  // namespace

void CudaBackendImpl::sum(const TensorPtr& out, const TensorPtr& x) {
  NS_CHECK(x->dtype == DType::F32 && out->dtype == DType::F32, "sum: the CUDA backend supports float32 only, got ",
           dtype_name(x->dtype), " -> ", dtype_name(out->dtype));
  bool shapes_fit = out->dim() == x->dim();
  for (int64_t d = 0; shapes_fit && d < x->dim(); ++d)
    shapes_fit = out->shape[d] == x->shape[d] || out->shape[d] == 1;
  NS_CHECK(shapes_fit, "sum: cannot reduce ", shape_str(x->shape), " to ", shape_str(out->shape));
  NS_CHECK(x->is_contiguous() && out->is_contiguous(), "sum: input and output must be contiguous");
  const int64_t n_out = out->numel();
  if (n_out == 0) return;
  const int device = device_of(x);
  DeviceGuard guard(device);
  const cudaStream_t s = stream(device);
  float* po = out->data<float>();
  if (x->numel() == 0) {  // a sum over an empty dim
    NS_CUDA_CHECK(cudaMemsetAsync(po, 0, static_cast<size_t>(n_out) * sizeof(float), s));
    return;
  }
  std::vector<DimGroup> groups = dim_groups(x->shape, out->shape);
  int reduced_groups = 0;
  for (const DimGroup& g : groups) reduced_groups += g.reduced;
  if (reduced_groups == 0) {  // only size-1 dims "reduced": a copy
    NS_CUDA_CHECK(cudaMemcpyAsync(po, x->data<float>(), static_cast<size_t>(n_out) * sizeof(float),
                                  cudaMemcpyDeviceToDevice, s));
    return;
  }
  // Innermost reduced group first; the scratch of one step is the input of the next. A scratch
  // tensor may be released while its kernel is queued: its block is only reused on this stream.
  TensorPtr scratch;
  const float* src = x->data<float>();
  for (; reduced_groups > 0; --reduced_groups) {
    size_t k = groups.size() - 1;
    while (!groups[k].reduced) --k;
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < k; ++i) outer *= groups[i].size;
    for (size_t i = k + 1; i < groups.size(); ++i) inner *= groups[i].size;
    if (reduced_groups == 1) {
      reduce_group(po, src, outer, groups[k].size, inner, device);
      break;
    }
    auto next = empty({outer * inner}, DType::F32, x->device());
    reduce_group(next->data<float>(), src, outer, groups[k].size, inner, device);
    scratch = next;
    src = scratch->data<float>();
    // The kept groups on either side of the one just reduced become neighbours: merge them.
    groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(k));
    if (k > 0 && k < groups.size()) {
      groups[k - 1].size *= groups[k].size;
      groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
}

}  // namespace cuda
}  // namespace ns
