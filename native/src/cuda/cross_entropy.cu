// cross_entropy on the GPU: the soft-cap z = cap * tanh(logits / cap) (z = logits when cap is
// 0), log-softmax and NLL fused per row, and its backward, with the CPU's semantics
// (ops/cross_entropy.cpp): lse is the logsumexp of the capped z, the forward saves only lse,
// and ignored rows get loss = lse = 0 and a zero gradient row. Nothing of size (N, V) is
// materialised besides the gradient.
//
// One block per row (V = 8192 in training, read as float4 when V % 4 == 0). The forward makes
// a single pass: each thread keeps a running max and a sum of exp(z - max) rescaled when the
// max grows, and the block combines the pairs in a fixed order (deterministic). The backward
// makes one pass too, writing (softmax(z) - onehot(t)) * g_row * dz/dl.
//
// tanh, and 1 - tanh^2 for dz/dl, follow the CPU's float32 kernel: an odd polynomial (Cephes
// tanhf) for |u| < 0.625, else (1 - e) / (1 + e) with e = exp(-2|u|), where 1 - tanh^2 is taken
// as 4e / (1 + e)^2 to keep its relative precision where tanh saturates. exp is the hardware
// approximation (__expf, ~2 ulp over the ranges used here): with tanh this keeps the kernels
// bound by memory rather than by arithmetic.
#include <cstdint>

#include "cuda/backend_impl.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

void require_dtype(const TensorPtr& t, DType want, const char* what) {
  NS_CHECK(t->dtype == want, "cross_entropy: the CUDA backend supports ", dtype_name(want), " ", what,
           " only, got ", dtype_name(t->dtype));
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The soft-cap of one logit: z and dz/dl. cap > 0, inv_cap = 1 / cap; cap == 0: z = l, 1.
__device__ __forceinline__ void softcap(float l, float cap, float inv_cap, float& z, float& dz) {
  if (cap <= 0.0f) {
    z = l;
    dz = 1.0f;
    return;
  }
  const float u = l * inv_cap;
  const float a = fabsf(u);
  float th;
  if (a < 0.625f) {
    const float u2 = u * u;
    float p = -5.70498872745e-3f;
    p = p * u2 + 2.06390887954e-2f;
    p = p * u2 - 5.37397155531e-2f;
    p = p * u2 + 1.33314422036e-1f;
    p = p * u2 - 3.33332819422e-1f;
    th = p * u2 * u + u;
    dz = 1.0f - th * th;
  } else {
    const float e = __expf(-2.0f * a);
    const float d = 1.0f + e;
    th = copysignf(__fdividef(1.0f - e, d), u);
    dz = __fdividef(4.0f * e, d * d);
  }
  z = cap * th;
}

__device__ __forceinline__ float capped(float l, float cap, float inv_cap) {
  float z, dz;
  softcap(l, cap, inv_cap, z, dz);
  return z;
}

// (m, s) <- the pair for the union of (m, s) and (m2, s2), where s sums exp(z - m).
__device__ __forceinline__ void combine(float& m, float& s, float m2, float s2) {
  const float mx = fmaxf(m, m2);
  if (mx == -INFINITY) {  // both empty: -inf - -inf would make NaN
    s += s2;
    return;
  }
  s = s * __expf(m - mx) + s2 * __expf(m2 - mx);
  m = mx;
}

// exp(z - m) for a running max m >= z, and 0 for z = -inf (a masked logit) even while m is still
// -inf, where exp(-inf - -inf) would be NaN; a NaN z still gives NaN.
__device__ __forceinline__ float exp_below(float z, float m) { return z == -INFINITY ? 0.0f : __expf(z - m); }

// Folds one capped logit into a thread's running (max, sum) pair.
__device__ __forceinline__ void fold_logit(float& m, float& s, float z) {
  if (z > m) {
    s *= __expf(m - z);
    m = z;
  }
  s += exp_below(z, m);
}

template <int W>
struct Logits;
template <>
struct Logits<1> {
  static __device__ __forceinline__ void accumulate_at(float& m, float& s, const float* row, int64_t e, float cap,
                                                       float inv_cap) {
    fold_logit(m, s, capped(row[e], cap, inv_cap));
  }
};
template <>
struct Logits<4> {
  // A max over the four first, so the running pair rescales at most once per vector.
  static __device__ __forceinline__ void accumulate_at(float& m, float& s, const float* row, int64_t e, float cap,
                                                       float inv_cap) {
    const float4 l = reinterpret_cast<const float4*>(row)[e];
    const float z0 = capped(l.x, cap, inv_cap), z1 = capped(l.y, cap, inv_cap);
    const float z2 = capped(l.z, cap, inv_cap), z3 = capped(l.w, cap, inv_cap);
    const float zm = fmaxf(fmaxf(z0, z1), fmaxf(z2, z3));
    if (zm > m) {
      s *= __expf(m - zm);
      m = zm;
    }
    s += exp_below(z0, m) + exp_below(z1, m) + exp_below(z2, m) + exp_below(z3, m);
  }
};

// loss, lse: (N); logits: (N, V) read as V / W vectors of W floats; targets: (N).
template <int W>
__global__ void __launch_bounds__(kThreads) cross_entropy_forward_kernel(
    float* __restrict__ loss, float* __restrict__ lse, const float* __restrict__ logits,
    const int32_t* __restrict__ targets, int64_t N, int64_t V, int64_t ignore_index, float cap, float inv_cap) {
  __shared__ float warp_max[kWarps], warp_sum[kWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t vecs = V / W;
  for (int64_t r = blockIdx.x; r < N; r += gridDim.x) {
    const int64_t t = targets[r];
    if (t == ignore_index) {  // the same for every thread of the block
      if (threadIdx.x == 0) loss[r] = lse[r] = 0.0f;
      continue;
    }
    const float* row = logits + r * V;
    float m = -INFINITY, s = 0.0f;
    for (int64_t e = threadIdx.x; e < vecs; e += kThreads) Logits<W>::accumulate_at(m, s, row, e, cap, inv_cap);
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2)
      combine(m, s, __shfl_xor_sync(0xffffffffu, m, offset), __shfl_xor_sync(0xffffffffu, s, offset));
    if (lane == 0) {
      warp_max[warp] = m;
      warp_sum[warp] = s;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      m = warp_max[0];
      s = warp_sum[0];
      for (int k = 1; k < kWarps; ++k) combine(m, s, warp_max[k], warp_sum[k]);
      const float row_lse = m + logf(s);
      lse[r] = row_lse;
      loss[r] = row_lse - capped(row[t], cap, inv_cap);
    }
    __syncthreads();  // warp_max / warp_sum are reused by the next row
  }
}

// d[j] = c * exp(z[j] - lse) * dz/dl[j], minus c * dz/dl[t] at j == t, as the CPU.
__device__ __forceinline__ float grad_at(float l, int64_t j, int64_t t, float c, float row_lse, float cap,
                                         float inv_cap) {
  float z, dz;
  softcap(l, cap, inv_cap, z, dz);
  const float d = c * __expf(z - row_lse) * dz;
  return j == t ? d - c * dz : d;
}

// dlogits, logits: (N, V) as V / W vectors of W floats; targets, lse: (N); g: (N), or (1) when
// g_per_row is false. Ignored rows get zeros.
template <int W>
__global__ void __launch_bounds__(kThreads) cross_entropy_backward_kernel(
    float* __restrict__ dlogits, const float* __restrict__ logits, const int32_t* __restrict__ targets,
    const float* __restrict__ lse, const float* __restrict__ g, bool g_per_row, double g_scale, int64_t N, int64_t V,
    int64_t ignore_index, float cap, float inv_cap) {
  const int64_t vecs = V / W;
  for (int64_t r = blockIdx.x; r < N; r += gridDim.x) {
    const int64_t t = targets[r];
    float* drow = dlogits + r * V;
    if (t == ignore_index) {
      for (int64_t j = threadIdx.x; j < V; j += kThreads) drow[j] = 0.0f;
      continue;
    }
    const float* row = logits + r * V;
    const float c = static_cast<float>(static_cast<double>(g_per_row ? g[r] : g[0]) * g_scale);
    const float row_lse = lse[r];
    for (int64_t e = threadIdx.x; e < vecs; e += kThreads) {
      if constexpr (W == 4) {
        const float4 l = reinterpret_cast<const float4*>(row)[e];
        const int64_t j = e * 4;
        reinterpret_cast<float4*>(drow)[e] = make_float4(
            grad_at(l.x, j, t, c, row_lse, cap, inv_cap), grad_at(l.y, j + 1, t, c, row_lse, cap, inv_cap),
            grad_at(l.z, j + 2, t, c, row_lse, cap, inv_cap), grad_at(l.w, j + 3, t, c, row_lse, cap, inv_cap));
      } else {
        drow[e] = grad_at(row[e], e, t, c, row_lse, cap, inv_cap);
      }
    }
  }
}

// The soft-cap as the CPU's float32 kernel holds it: cap in float, and its reciprocal in float.
struct Cap {
  float cap = 0, inv = 0;
  explicit Cap(double softcap) {
    cap = static_cast<float>(softcap);
    inv = cap > 0 ? 1.0f / cap : 0.0f;
  }
};

}  // namespace

// loss, lse: (N); logits: (N, V); targets: int32 (N)
void CudaBackendImpl::cross_entropy_forward(const TensorPtr& loss, const TensorPtr& lse, const TensorPtr& logits,
                                            const TensorPtr& targets, int64_t ignore_index, double softcap) {
  require_dtype(loss, DType::F32, "losses");
  require_dtype(lse, DType::F32, "losses");
  require_dtype(logits, DType::F32, "logits");
  require_dtype(targets, DType::I32, "targets");
  const int64_t N = logits->shape[0], V = logits->shape[1];
  if (N == 0) return;
  const int device = device_of(logits);
  DeviceGuard guard(device);
  const cudaStream_t s = stream(device);
  const Cap cap(softcap);
  const float* pl = logits->data<float>();
  const unsigned blocks = blocks_for(N, 1);
  if (V % 4 == 0 && aligned16(pl))
    cross_entropy_forward_kernel<4><<<blocks, kThreads, 0, s>>>(loss->data<float>(), lse->data<float>(), pl,
                                                                 targets->data<int32_t>(), N, V, ignore_index,
                                                                 cap.cap, cap.inv);
  else
    cross_entropy_forward_kernel<1><<<blocks, kThreads, 0, s>>>(loss->data<float>(), lse->data<float>(), pl,
                                                                 targets->data<int32_t>(), N, V, ignore_index,
                                                                 cap.cap, cap.inv);
  NS_CUDA_LAUNCHED("cross_entropy");
}

// dlogits, logits: (N, V); targets: int32 (N); lse: (N); g: (1) or (N)
void CudaBackendImpl::cross_entropy_backward(const TensorPtr& dlogits, const TensorPtr& logits,
                                             const TensorPtr& targets, const TensorPtr& lse, const TensorPtr& g,
                                             double g_scale, int64_t ignore_index, double softcap) {
  require_dtype(dlogits, DType::F32, "gradients");
  require_dtype(logits, DType::F32, "logits");
  require_dtype(targets, DType::I32, "targets");
  require_dtype(lse, DType::F32, "losses");
  require_dtype(g, DType::F32, "gradients");
  if (dlogits->numel() == 0) return;
  const int64_t N = logits->shape[0], V = logits->shape[1];
  const int device = device_of(logits);
  DeviceGuard guard(device);
  const cudaStream_t s = stream(device);
  const Cap cap(softcap);
  float* pd = dlogits->data<float>();
  const float* pl = logits->data<float>();
  const bool g_per_row = g->numel() != 1;
  const unsigned blocks = blocks_for(N, 1);
  if (V % 4 == 0 && aligned16(pd) && aligned16(pl))
    cross_entropy_backward_kernel<4><<<blocks, kThreads, 0, s>>>(pd, pl, targets->data<int32_t>(),
                                                                  lse->data<float>(), g->data<float>(), g_per_row,
                                                                  g_scale, N, V, ignore_index, cap.cap, cap.inv);
  else
    cross_entropy_backward_kernel<1><<<blocks, kThreads, 0, s>>>(pd, pl, targets->data<int32_t>(),
                                                                  lse->data<float>(), g->data<float>(), g_per_row,
                                                                  g_scale, N, V, ignore_index, cap.cap, cap.inv);
  NS_CUDA_LAUNCHED("cross_entropy");
}

}  // namespace cuda
}  // namespace ns
