// rms_norm on the GPU: y = x / sqrt(mean(x^2) + eps) [* weight] per row and its backward, with
// the CPU's formulas (ops/norm.cpp). Rows are independent and short (C = n_embd, 512..1024 in
// training), so one warp owns a row: no shared memory or block barriers, and in the fast path
// (C % 4 == 0, C <= 1024, 16-byte aligned) the row sits in registers as float4s between its
// reduction and its writes, so x (and g) are read from memory once.
//
// The weight gradient, a sum over rows, is deterministic without float atomics: each warp owns
// a fixed slot of kRowsPerSlot consecutive rows and writes that slot's partial sum to a scratch
// row; a second kernel sums the slots in a fixed order. The structure depends only on the
// shapes, so results are bit-identical from run to run (not to the CPU, whose lane split and
// chunk size differ: they agree to float32 rounding).
#include <cstdint>
#include <initializer_list>

#include "cuda/backend_impl.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kWarpsPerBlock = 4;  // small blocks: the backward holds ~140 registers a thread at C = 768
constexpr int kMaxVecsPerLane = 8;  // float4s per lane in the fast path: C <= 32 * 4 * 8 = 1024
constexpr int64_t kRowsPerSlot = 32;
// The slot sum runs on tiles of kSumColumns columns with kSumStripes threads per column.
constexpr int kSumColumns = 32;
constexpr int kSumStripes = 32;

void require_f32(const TensorPtr& t) {
  NS_CHECK(t->dtype == DType::F32, "rms_norm: the CUDA backend supports float32 only, got ", dtype_name(t->dtype));
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float4 load4(const float* p, int64_t vec) {
  return reinterpret_cast<const float4*>(p)[vec];
}
__device__ __forceinline__ void store4(float* p, int64_t vec, float4 v) { reinterpret_cast<float4*>(p)[vec] = v; }

// ---- forward -----------------------------------------------------------------------------

// One warp per row; lane l holds the row's float4s l, l + 32, ... (VPL of them, masked past C).
// y: (rows, C), rstd: (rows) written. x: (rows, C), w: (C) or null. C % 4 == 0, C <= 128 * VPL.
template <int VPL>
__global__ void rms_norm_forward_vec(float* __restrict__ y, float* __restrict__ rstd, const float* __restrict__ x,
                                     const float* __restrict__ w, int64_t rows, int C, float eps) {
  const int lane = threadIdx.x % 32;
  const int vecs = C / 4;
  for (int64_t row = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    const float* xr = x + row * C;
    float4 v[VPL];
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < VPL; ++j) {
      const int c4 = j * 32 + lane;
      v[j] = c4 < vecs ? load4(xr, c4) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    }
    const float rs = 1.0f / sqrtf(warp_sum(ss) / static_cast<float>(C) + eps);
    if (lane == 0) rstd[row] = rs;
    float* yr = y + row * C;
#pragma unroll
    for (int j = 0; j < VPL; ++j) {
      const int c4 = j * 32 + lane;
      if (c4 >= vecs) continue;
      float4 o = make_float4(v[j].x * rs, v[j].y * rs, v[j].z * rs, v[j].w * rs);
      if (w) {
        const float4 wv = load4(w, c4);
        o = make_float4(o.x * wv.x, o.y * wv.y, o.z * wv.z, o.w * wv.w);
      }
      store4(yr, c4, o);
    }
  }
}

// Any C or alignment: one warp per row, lane-strided scalars, x read twice.
__global__ void rms_norm_forward_any(float* __restrict__ y, float* __restrict__ rstd, const float* __restrict__ x,
                                     const float* __restrict__ w, int64_t rows, int64_t C, float eps) {
  const int lane = threadIdx.x % 32;
  for (int64_t row = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    const float* xr = x + row * C;
    float ss = 0.0f;
    for (int64_t c = lane; c < C; c += 32) ss += xr[c] * xr[c];
    const float rs = 1.0f / sqrtf(warp_sum(ss) / static_cast<float>(C) + eps);
    if (lane == 0) rstd[row] = rs;
    float* yr = y + row * C;
    for (int64_t c = lane; c < C; c += 32) yr[c] = w ? xr[c] * rs * w[c] : xr[c] * rs;
  }
}

// ---- backward ----------------------------------------------------------------------------
// With gh = g [* w]: k = sum(gh * x) * rstd^3 / C, dx = rstd * gh - k * x, and the slot's
// partial weight gradient sum over its rows of g * x * rstd (as the CPU writes them).

// One warp per slot of kRowsPerSlot rows, rows in registers as in the forward. partial: (slots,
// C) or null when the weight gradient is not wanted. dx, g, x: (rows, C), rstd: (rows), w: (C)
// or null. C % 4 == 0, C <= 128 * VPL.
template <int VPL>
__global__ void rms_norm_backward_vec(float* __restrict__ dx, float* __restrict__ partial, const float* __restrict__ g,
                                      const float* __restrict__ x, const float* __restrict__ rstd,
                                      const float* __restrict__ w, int64_t rows, int C) {
  const int lane = threadIdx.x % 32;
  const int vecs = C / 4;
  const int64_t slots = (rows + kRowsPerSlot - 1) / kRowsPerSlot;
  const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  float4 wv[VPL];
#pragma unroll
  for (int j = 0; j < VPL; ++j) {
    const int c4 = j * 32 + lane;
    wv[j] = w && c4 < vecs ? load4(w, c4) : zero;
  }
  for (int64_t slot = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32; slot < slots;
       slot += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    float4 dw_acc[VPL];
#pragma unroll
    for (int j = 0; j < VPL; ++j) dw_acc[j] = zero;
    const int64_t row_end = min(rows, (slot + 1) * kRowsPerSlot);
    for (int64_t row = slot * kRowsPerSlot; row < row_end; ++row) {
      const float* gr = g + row * C;
      const float* xr = x + row * C;
      float4 gv[VPL], xv[VPL];
      float dot = 0.0f;
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        const int c4 = j * 32 + lane;
        gv[j] = c4 < vecs ? load4(gr, c4) : zero;
        xv[j] = c4 < vecs ? load4(xr, c4) : zero;
        if (w) {
          dot += gv[j].x * xv[j].x * wv[j].x + gv[j].y * xv[j].y * wv[j].y + gv[j].z * xv[j].z * wv[j].z +
                 gv[j].w * xv[j].w * wv[j].w;
        } else {
          dot += gv[j].x * xv[j].x + gv[j].y * xv[j].y + gv[j].z * xv[j].z + gv[j].w * xv[j].w;
        }
      }
      const float rs = rstd[row];
      const float k = warp_sum(dot) * rs * rs * rs / static_cast<float>(C);
      float* dxr = dx + row * C;
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        const int c4 = j * 32 + lane;
        if (c4 >= vecs) continue;
        const float4 gh = w ? make_float4(rs * gv[j].x * wv[j].x, rs * gv[j].y * wv[j].y, rs * gv[j].z * wv[j].z,
                                          rs * gv[j].w * wv[j].w)
                            : make_float4(rs * gv[j].x, rs * gv[j].y, rs * gv[j].z, rs * gv[j].w);
        store4(dxr, c4,
               make_float4(gh.x - k * xv[j].x, gh.y - k * xv[j].y, gh.z - k * xv[j].z, gh.w - k * xv[j].w));
        if (partial) {
          dw_acc[j].x += gv[j].x * xv[j].x * rs;
          dw_acc[j].y += gv[j].y * xv[j].y * rs;
          dw_acc[j].z += gv[j].z * xv[j].z * rs;
          dw_acc[j].w += gv[j].w * xv[j].w * rs;
        }
      }
    }
    if (partial) {
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        const int c4 = j * 32 + lane;
        if (c4 < vecs) store4(partial + slot * C, c4, dw_acc[j]);
      }
    }
  }
}

// Any C or alignment: one warp per slot, lane-strided scalars; each lane accumulates its own
// columns of the slot's partial row in place (no other thread touches them).
__global__ void rms_norm_backward_any(float* __restrict__ dx, float* __restrict__ partial, const float* __restrict__ g,
                                      const float* __restrict__ x, const float* __restrict__ rstd,
                                      const float* __restrict__ w, int64_t rows, int64_t C) {
  const int lane = threadIdx.x % 32;
  const int64_t slots = (rows + kRowsPerSlot - 1) / kRowsPerSlot;
  for (int64_t slot = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32; slot < slots;
       slot += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    float* part = partial ? partial + slot * C : nullptr;
    if (part)
      for (int64_t c = lane; c < C; c += 32) part[c] = 0.0f;
    const int64_t row_end = min(rows, (slot + 1) * kRowsPerSlot);
    for (int64_t row = slot * kRowsPerSlot; row < row_end; ++row) {
      const float* gr = g + row * C;
      const float* xr = x + row * C;
      float dot = 0.0f;
      for (int64_t c = lane; c < C; c += 32) dot += w ? gr[c] * xr[c] * w[c] : gr[c] * xr[c];
      const float rs = rstd[row];
      const float k = warp_sum(dot) * rs * rs * rs / static_cast<float>(C);
      float* dxr = dx + row * C;
      for (int64_t c = lane; c < C; c += 32) {
        dxr[c] = (w ? rs * gr[c] * w[c] : rs * gr[c]) - k * xr[c];
        if (part) part[c] += gr[c] * xr[c] * rs;
      }
    }
  }
}

// dw: (C) = sum over slots of partial (slots, C). Thread (tx, ty) of a column tile sums slots
// ty, ty + kSumStripes, ... of its column in order; the stripes are then added in order 0, 1,
// ...: a fixed tree, independent of the hardware.
__global__ void sum_slots_kernel(float* __restrict__ dw, const float* __restrict__ partial, int64_t slots, int64_t C) {
  __shared__ float stripe_sums[kSumStripes][kSumColumns];
  const int64_t tiles = (C + kSumColumns - 1) / kSumColumns;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t c = tile * kSumColumns + threadIdx.x;
    float acc = 0.0f;
    if (c < C)
      for (int64_t s = threadIdx.y; s < slots; s += kSumStripes) acc += partial[s * C + c];
    stripe_sums[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
      float total = 0.0f;
      for (int s = 0; s < kSumStripes; ++s) total += stripe_sums[s][threadIdx.x];
      dw[c] = total;
    }
    __syncthreads();  // the next tile reuses stripe_sums
  }
}

template <int VPL>
void launch_forward_vec(float* y, float* rstd, const float* x, const float* w, int64_t rows, int C, float eps,
                        cudaStream_t s) {
  rms_norm_forward_vec<VPL>
      <<<blocks_for(rows, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(y, rstd, x, w, rows, C, eps);
}

template <int VPL>
void launch_backward_vec(float* dx, float* partial, const float* g, const float* x, const float* rstd, const float* w,
                         int64_t rows, int C, int64_t slots, cudaStream_t s) {
  rms_norm_backward_vec<VPL>
      <<<blocks_for(slots, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(dx, partial, g, x, rstd, w, rows, C);
}

// The float4s per lane the fast path needs for rows of C floats, or 0 when it does not apply.
int vecs_per_lane(int64_t C, std::initializer_list<const void*> pointers) {
  if (C % 4 != 0 || C > 128 * kMaxVecsPerLane) return 0;
  for (const void* p : pointers)
    if (p && !aligned16(p)) return 0;
  return static_cast<int>((C / 4 + 31) / 32);
}

}  // namespace

// y: (rows, C), rstd: (rows) written; x: (rows, C), weight: (C) or null
void CudaBackendImpl::rms_norm_forward(const TensorPtr& y, const TensorPtr& rstd, const TensorPtr& x,
                                       const TensorPtr& weight, double eps) {
  require_f32(x);
  require_f32(y);
  require_f32(rstd);
  if (weight) require_f32(weight);
  if (x->numel() == 0) return;
  const int device = device_of(x);
  DeviceGuard guard(device);
  const cudaStream_t s = stream(device);
  const int64_t C = x->shape.back(), rows = x->numel() / C;
  float* py = y->data<float>();
  float* pr = rstd->data<float>();
  const float* px = x->data<float>();
  const float* pw = weight ? weight->data<float>() : nullptr;
  const float e = static_cast<float>(eps);
  const int c32 = static_cast<int>(C);
  switch (vecs_per_lane(C, {py, px, pw})) {
    case 1: launch_forward_vec<1>(py, pr, px, pw, rows, c32, e, s); break;
    case 2: launch_forward_vec<2>(py, pr, px, pw, rows, c32, e, s); break;
    case 3: launch_forward_vec<3>(py, pr, px, pw, rows, c32, e, s); break;
    case 4: launch_forward_vec<4>(py, pr, px, pw, rows, c32, e, s); break;
    case 5: launch_forward_vec<5>(py, pr, px, pw, rows, c32, e, s); break;
    case 6: launch_forward_vec<6>(py, pr, px, pw, rows, c32, e, s); break;
    case 7: launch_forward_vec<7>(py, pr, px, pw, rows, c32, e, s); break;
    case 8: launch_forward_vec<8>(py, pr, px, pw, rows, c32, e, s); break;
    default:
      rms_norm_forward_any<<<blocks_for(rows, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(py, pr, px, pw, rows, C,
                                                                                           e);
  }
  NS_CUDA_LAUNCHED("rms_norm");
}

// dx: (rows, C); dw: (C) or null; g, x: (rows, C); rstd: (rows); weight: (C) or null
void CudaBackendImpl::rms_norm_backward(const TensorPtr& dx, const TensorPtr& dw, const TensorPtr& g,
                                        const TensorPtr& x, const TensorPtr& rstd, const TensorPtr& weight) {
  require_f32(dx);
  require_f32(g);
  require_f32(x);
  require_f32(rstd);
  if (dw) require_f32(dw);
  if (weight) require_f32(weight);
  if (x->numel() == 0) {
    // No rows: the weight gradient is an empty sum.
    if (dw && dw->numel() > 0) {
      DeviceGuard guard(device_of(dw));
      NS_CUDA_CHECK(cudaMemsetAsync(dw->data<float>(), 0, static_cast<size_t>(dw->numel()) * sizeof(float),
                                    stream(device_of(dw))));
    }
    return;
  }
  const int device = device_of(x);
  DeviceGuard guard(device);
  const cudaStream_t s = stream(device);
  const int64_t C = x->shape.back(), rows = x->numel() / C;
  const int64_t slots = (rows + kRowsPerSlot - 1) / kRowsPerSlot;
  TensorPtr partial = dw ? empty({slots, C}, DType::F32, x->device()) : nullptr;
  float* pdx = dx->data<float>();
  float* pp = partial ? partial->data<float>() : nullptr;
  const float* pg = g->data<float>();
  const float* px = x->data<float>();
  const float* pr = rstd->data<float>();
  const float* pw = weight ? weight->data<float>() : nullptr;
  const int c32 = static_cast<int>(C);
  switch (vecs_per_lane(C, {pdx, pp, pg, px, pw})) {
    case 1: launch_backward_vec<1>(pdx, pp, pg, px, pr, pw, rows, c32, slots, s); break;
    case 2: launch_backward_vec<2>(pdx, pp, pg, px, pr, pw, rows, c32, slots, s); break;
    case 3: launch_backward_vec<3>(pdx, pp, pg, px, pr, pw, rows, c32, slots, s); break;
    case 4: launch_backward_vec<4>(pdx, pp, pg, px, pr, pw, rows, c32, slots, s); break;
    case 5: launch_backward_vec<5>(pdx, pp, pg, px, pr, pw, rows, c32, slots, s); break;
    case 6: launch_backward_vec<6>(pdx, pp, pg, px, pr, pw, rows, c32, slots, s); break;
    case 7: launch_backward_vec<7>(pdx, pp, pg, px, pr, pw, rows, c32, slots, s); break;
    case 8: launch_backward_vec<8>(pdx, pp, pg, px, pr, pw, rows, c32, slots, s); break;
    default:
      rms_norm_backward_any<<<blocks_for(slots, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(pdx, pp, pg, px, pr,
                                                                                             pw, rows, C);
  }
  NS_CUDA_LAUNCHED("rms_norm");
  if (!dw) return;
  const dim3 tile(kSumColumns, kSumStripes);
  sum_slots_kernel<<<blocks_for(C, kSumColumns), tile, 0, s>>>(dw->data<float>(), pp, slots, C);
  NS_CUDA_LAUNCHED("rms_norm");
}

}  // namespace cuda
}  // namespace ns
