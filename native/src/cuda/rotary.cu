// rotary on the GPU: autoresearch's apply_rotary_emb (the two halves of each head rotated
// together, not interleaved pairs) and its backward, the inverse rotation, with the CPU's
// formulas (ops/rotary.cpp). Pure streaming: each (b, t) row is a run of H heads sharing one
// row of the cos/sin tables, so a block's threadIdx.y picks the row and threadIdx.x walks its
// (head, pair) elements, W of them at a time (float4 when the half-width allows); the table
// row is re-read per head from L1.
#include <cstdint>

#include "cuda/backend_impl.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;

void require_f32(const TensorPtr& t) {
  NS_CHECK(t->dtype == DType::F32, "rotary: the CUDA backend supports float32 only, got ", dtype_name(t->dtype));
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// One element pair rotated as the CPU writes it, with s = sign * sin: sign = +1 is the
// forward, -1 the backward (the transpose, a rotation by -angle).
__device__ __forceinline__ void rotate_pair(float& y1, float& y2, float x1, float x2, float c, float s) {
  y1 = x1 * c + x2 * s;
  y2 = x2 * c - x1 * s;
}

template <int W>
struct Pack;
template <>
struct Pack<1> {
  using type = float;
  static __device__ __forceinline__ void rotate(float& y1, float& y2, float x1, float x2, float c, float s,
                                                float sign) {
    rotate_pair(y1, y2, x1, x2, c, sign * s);
  }
};
template <>
struct Pack<4> {
  using type = float4;
  static __device__ __forceinline__ void rotate(float4& y1, float4& y2, const float4& x1, const float4& x2,
                                                const float4& c, const float4& s, float sign) {
    rotate_pair(y1.x, y2.x, x1.x, x2.x, c.x, sign * s.x);
    rotate_pair(y1.y, y2.y, x1.y, x2.y, c.y, sign * s.y);
    rotate_pair(y1.z, y2.z, x1.z, x2.z, c.z, sign * s.z);
    rotate_pair(y1.w, y2.w, x1.w, x2.w, c.w, sign * s.w);
  }
};

// y, x: (B*T, H, D) as rows of H heads; cos, sin: (>= T, D/2), row t = row % T. Units of W
// floats: half = D/2/W units per half-head, H * half units of work per row.
template <int W>
__global__ void rotary_kernel(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ cos,
                              const float* __restrict__ sin, int64_t rows, int64_t T, int H, int half, float sign) {
  using Vec = typename Pack<W>::type;
  const int per_row = H * half;
  const Vec* xv = reinterpret_cast<const Vec*>(x);
  Vec* yv = reinterpret_cast<Vec*>(y);
  const Vec* cv = reinterpret_cast<const Vec*>(cos);
  const Vec* sv = reinterpret_cast<const Vec*>(sin);
  for (int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y; row < rows;
       row += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t table = (row % T) * half;
    const int64_t base = row * per_row * 2;
    for (int e = threadIdx.x; e < per_row; e += blockDim.x) {
      const int h = e / half, j = e - h * half;
      const int64_t first = base + static_cast<int64_t>(h) * half * 2 + j;  // x1[j]; x2[j] is `half` later
      Vec y1, y2;
      Pack<W>::rotate(y1, y2, xv[first], xv[first + half], cv[table + j], sv[table + j], sign);
      yv[first] = y1;
      yv[first + half] = y2;
    }
  }
}

template <int W>
void launch_rotary(float* y, const float* x, const float* cos, const float* sin, int64_t rows, int64_t T, int H,
                   int64_t D, float sign, cudaStream_t s) {
  const int half = static_cast<int>(D / 2 / W);
  const int64_t per_row = static_cast<int64_t>(H) * half;
  const int columns = static_cast<int>(per_row < kThreads ? (per_row + 31) / 32 * 32 : kThreads);
  const dim3 block(columns, kThreads / columns);
  rotary_kernel<W><<<blocks_for(rows, static_cast<int>(block.y)), block, 0, s>>>(y, x, cos, sin, rows, T, H, half,
                                                                                 sign);
}

}  // namespace

// y, x: (B, T, H, D); cos, sin: (T, D/2) (longer tables work: rows 0..T-1 are used)
void CudaBackendImpl::rotary(const TensorPtr& y, const TensorPtr& x, const TensorPtr& cos, const TensorPtr& sin,
                             bool inverse) {
  require_f32(y);
  require_f32(x);
  require_f32(cos);
  require_f32(sin);
  if (x->numel() == 0) return;
  const int64_t B = x->shape[0], T = x->shape[1], H = x->shape[2], D = x->shape[3];
  NS_CHECK(H * D <= INT32_MAX, "rotary: the CUDA backend supports up to ", INT32_MAX,
           " elements per (b, t) row, got x ", shape_str(x->shape));
  const int device = device_of(x);
  DeviceGuard guard(device);
  const cudaStream_t s = stream(device);
  float* py = y->data<float>();
  const float* px = x->data<float>();
  const float* pc = cos->data<float>();
  const float* ps = sin->data<float>();
  const float sign = inverse ? -1.0f : 1.0f;
  const int h32 = static_cast<int>(H);
  if ((D / 2) % 4 == 0 && aligned16(py) && aligned16(px) && aligned16(pc) && aligned16(ps))
    launch_rotary<4>(py, px, pc, ps, B * T, T, h32, D, sign, s);
  else
    launch_rotary<1>(py, px, pc, ps, B * T, T, h32, D, sign, s);
  NS_CUDA_LAUNCHED("rotary");
}

}  // namespace cuda
}  // namespace ns
