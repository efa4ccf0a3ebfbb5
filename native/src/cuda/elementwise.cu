// Elementwise ops on a CUDA device: binary arithmetic with numpy broadcasting, unary
// activations, scalar ops and their gradients. Every formula repeats ops/elementwise.cpp
// operation for operation (same operand order, same comparisons for ties and NaN), with the
// accurate CUDA math functions (expf, logf, tanhf, powf; never the __expf intrinsics), so
// results match the CPU to float rounding.
//
// All of these are memory-bound. The fast paths keep accesses coalesced and index math
// trivial: flat loops with 16-byte vector loads when every pointer is aligned, a scalar
// operand, and a 2D grid for "row" broadcasts (a bias or a norm weight over the last dims) in
// which a thread loads its row element once and walks down the rows. Anything else goes
// through a general kernel over the broadcast view with adjacent dims merged.
#include <cstdint>
#include <initializer_list>

#include "cuda/backend_impl.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;

void require_f32(const char* op, std::initializer_list<const TensorPtr*> tensors) {
  for (const TensorPtr* t : tensors)
    if (*t)
      NS_CHECK((*t)->dtype == DType::F32, op, ": the CUDA backend supports float32 only, got ",
               dtype_name((*t)->dtype), " with shape ", shape_str((*t)->shape));
}

void require_same_numel(const char* op, const TensorPtr& a, const TensorPtr& b) {
  NS_CHECK(a->numel() == b->numel(), op, ": shapes must match, got ", shape_str(a->shape), " and ",
           shape_str(b->shape));
}

// ---- the formulas ----

__device__ __forceinline__ float stable_sigmoid(float v) {
  // 1 / (1 + e^-v) overflows e^-v for v << 0; there the same value is e^v / (1 + e^v).
  if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
  const float e = expf(v);
  return e / (1.0f + e);
}

template <BinaryOp kOp>
struct BinaryFn {
  __device__ __forceinline__ float operator()(float a, float b) const {
    if constexpr (kOp == BinaryOp::Add) return a + b;
    else if constexpr (kOp == BinaryOp::Sub) return a - b;
    else if constexpr (kOp == BinaryOp::Mul) return a * b;
    else if constexpr (kOp == BinaryOp::Div) return a / b;
    else if constexpr (kOp == BinaryOp::Max) return a >= b ? a : b;
    else return a <= b ? a : b;
  }
};

template <UnaryOp kOp>
struct UnaryFn {
  __device__ __forceinline__ float operator()(float v) const {
    if constexpr (kOp == UnaryOp::Neg) return -v;
    else if constexpr (kOp == UnaryOp::Exp) return expf(v);
    else if constexpr (kOp == UnaryOp::Log) return logf(v);
    else if constexpr (kOp == UnaryOp::Sqrt) return sqrtf(v);
    else if constexpr (kOp == UnaryOp::Rsqrt) return 1.0f / sqrtf(v);  // rsqrtf is not correctly rounded
    else if constexpr (kOp == UnaryOp::Sigmoid) return stable_sigmoid(v);
    else if constexpr (kOp == UnaryOp::Tanh) return tanhf(v);
    else if constexpr (kOp == UnaryOp::Relu) return v > 0.0f ? v : 0.0f;
    else if constexpr (kOp == UnaryOp::Square) return v * v;
    else return fabsf(v);
  }
};

// g times the derivative, from `saved` = the forward's output y (Exp, Sqrt, Rsqrt, Sigmoid,
// Tanh) or its input x (Log, Relu, Square, Abs). Neg has its own path.
template <UnaryOp kOp>
struct UnaryGradFn {
  __device__ __forceinline__ float operator()(float g, float saved) const {
    if constexpr (kOp == UnaryOp::Exp) return g * saved;
    else if constexpr (kOp == UnaryOp::Log) return g / saved;
    else if constexpr (kOp == UnaryOp::Sqrt) return g / (2.0f * saved);
    else if constexpr (kOp == UnaryOp::Rsqrt) return -0.5f * g * saved * saved * saved;
    else if constexpr (kOp == UnaryOp::Sigmoid) return g * saved * (1.0f - saved);
    else if constexpr (kOp == UnaryOp::Tanh) return g * (1.0f - saved * saved);
    else if constexpr (kOp == UnaryOp::Relu) return saved > 0.0f ? g : 0.0f;
    else if constexpr (kOp == UnaryOp::Square) return 2.0f * g * saved;
    else return saved > 0.0f ? g : (saved < 0.0f ? -g : 0.0f);  // Abs
  }
};

template <ScalarOp kOp>
struct ScalarFn {
  float s;
  __device__ __forceinline__ float operator()(float v) const {
    if constexpr (kOp == ScalarOp::Add) return v + s;
    else if constexpr (kOp == ScalarOp::Mul) return v * s;
    else return powf(v, s);
  }
};

struct PowGradFn {
  float p, p_minus_1;  // p - 1 taken in double on the host, as the CPU does
  __device__ __forceinline__ float operator()(float g, float x) const { return g * p * powf(x, p_minus_1); }
};

// A binary formula with one operand a single device value (a tensor of one element).
template <class Fn, bool kScalarIsB>
struct WithScalarOperand {
  Fn fn;
  const float* scalar;
  __device__ __forceinline__ float operator()(float v) const { return kScalarIsB ? fn(v, *scalar) : fn(*scalar, v); }
};

// ---- flat kernels ----
// out may alias an input (add_inplace), so no pointer is __restrict__. `vectorized` is set
// when every pointer is 16-byte aligned: the body then moves float4s and a scalar loop picks
// up the last n % 4 elements (or everything, when not vectorized).

bool aligned16(std::initializer_list<const float*> pointers) {
  for (const float* p : pointers)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

unsigned flat_blocks(int64_t n, bool vectorized) { return blocks_for(vectorized ? (n + 3) / 4 : n, kThreads); }

template <class Fn>
__global__ void map1_kernel(float* out, const float* x, int64_t n, bool vectorized, Fn fn) {
  const int64_t start = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (vectorized) {
    const int64_t n4 = n / 4;
    for (int64_t i = start; i < n4; i += step) {
      const float4 v = reinterpret_cast<const float4*>(x)[i];
      reinterpret_cast<float4*>(out)[i] = make_float4(fn(v.x), fn(v.y), fn(v.z), fn(v.w));
    }
    done = n4 * 4;
  }
  for (int64_t i = done + start; i < n; i += step) out[i] = fn(x[i]);
}

template <class Fn>
__global__ void map2_kernel(float* out, const float* a, const float* b, int64_t n, bool vectorized, Fn fn) {
  const int64_t start = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (vectorized) {
    const int64_t n4 = n / 4;
    for (int64_t i = start; i < n4; i += step) {
      const float4 va = reinterpret_cast<const float4*>(a)[i];
      const float4 vb = reinterpret_cast<const float4*>(b)[i];
      reinterpret_cast<float4*>(out)[i] =
          make_float4(fn(va.x, vb.x), fn(va.y, vb.y), fn(va.z, vb.z), fn(va.w, vb.w));
    }
    done = n4 * 4;
  }
  for (int64_t i = done + start; i < n; i += step) out[i] = fn(a[i], b[i]);
}

template <class Fn>
void map1(const char* op, float* out, const float* x, int64_t n, int device, Fn fn) {
  const bool vectorized = aligned16({out, x});
  map1_kernel<<<flat_blocks(n, vectorized), kThreads, 0, stream(device)>>>(out, x, n, vectorized, fn);
  NS_CUDA_LAUNCHED(op);
}

template <class Fn>
void map2(const char* op, float* out, const float* a, const float* b, int64_t n, int device, Fn fn) {
  const bool vectorized = aligned16({out, a, b});
  map2_kernel<<<flat_blocks(n, vectorized), kThreads, 0, stream(device)>>>(out, a, b, n, vectorized, fn);
  NS_CUDA_LAUNCHED(op);
}

// ---- broadcasting ----

// out (rows, cols) = fn(full, row) with row (cols) repeated down the rows (or fn(row, full)).
// blockIdx.x picks columns and blockIdx.y strides over rows, so each thread reads its row
// element once and every access stays coalesced without any division.
template <class Fn, bool kRowIsB>
__global__ void row_broadcast_kernel(float* out, const float* full, const float* row, int64_t rows, int64_t cols,
                                     Fn fn) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const float r = row[c];
#pragma unroll 4
  for (int64_t i = blockIdx.y; i < rows; i += gridDim.y) {
    const int64_t k = i * cols + c;
    out[k] = kRowIsB ? fn(full[k], r) : fn(r, full[k]);
  }
}

constexpr int kMaxBroadcastDims = 8;

// The output's dims (size-1 dims dropped, neighbours merged where both operands allow),
// innermost first, with each operand's element strides (0 where it is broadcast).
struct BroadcastLayout {
  int ndim = 0;
  int64_t size[kMaxBroadcastDims] = {};
  int64_t a_stride[kMaxBroadcastDims] = {};
  int64_t b_stride[kMaxBroadcastDims] = {};
};

// Strides of a dense tensor of `shape` read as `out_shape` (numpy rules, right-aligned).
Shape broadcast_strides(const char* op, const Shape& shape, const Shape& out_shape) {
  NS_CHECK(shape.size() <= out_shape.size(), op, ": cannot broadcast ", shape_str(shape), " to ",
           shape_str(out_shape));
  const Shape dense_strides = contiguous_strides(shape);
  const size_t lead = out_shape.size() - shape.size();
  Shape strides(out_shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    NS_CHECK(shape[i] == out_shape[lead + i] || shape[i] == 1, op, ": cannot broadcast ", shape_str(shape), " to ",
             shape_str(out_shape));
    strides[lead + i] = shape[i] == 1 ? 0 : dense_strides[i];
  }
  return strides;
}

BroadcastLayout broadcast_layout(const char* op, const Shape& out_shape, const Shape& a_shape, const Shape& b_shape) {
  const Shape sa = broadcast_strides(op, a_shape, out_shape), sb = broadcast_strides(op, b_shape, out_shape);
  BroadcastLayout layout;
  for (int64_t d = static_cast<int64_t>(out_shape.size()) - 1; d >= 0; --d) {
    if (out_shape[d] == 1) continue;
    if (layout.ndim > 0) {
      const int inner = layout.ndim - 1;
      if (sa[d] == layout.a_stride[inner] * layout.size[inner] && sb[d] == layout.b_stride[inner] * layout.size[inner]) {
        layout.size[inner] *= out_shape[d];
        continue;
      }
    }
    NS_CHECK(layout.ndim < kMaxBroadcastDims, op, ": broadcasting ", shape_str(a_shape), " with ", shape_str(b_shape),
             " needs more than ", kMaxBroadcastDims, " dims after merging; the CUDA backend does not support it");
    layout.size[layout.ndim] = out_shape[d];
    layout.a_stride[layout.ndim] = sa[d];
    layout.b_stride[layout.ndim] = sb[d];
    ++layout.ndim;
  }
  return layout;
}

// Index is uint32_t when the output has fewer than 2^31 elements (every operand offset is then
// smaller too), which makes the per-element division several times cheaper.
template <class Fn, class Index>
__global__ void broadcast_kernel(float* out, const float* a, const float* b, BroadcastLayout layout, Index n,
                                 Fn fn) {
  const Index step = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    Index rem = i, offset_a = 0, offset_b = 0;
#pragma unroll
    for (int d = 0; d < kMaxBroadcastDims; ++d) {
      if (d == layout.ndim) break;
      const Index size = static_cast<Index>(layout.size[d]);
      const Index coord = rem % size;
      rem /= size;
      offset_a += coord * static_cast<Index>(layout.a_stride[d]);
      offset_b += coord * static_cast<Index>(layout.b_stride[d]);
    }
    out[i] = fn(a[offset_a], b[offset_b]);
  }
}

// Columns below this leave most of a row-broadcast block idle; the general kernel does better.
constexpr int64_t kMinRowBroadcastCols = 128;
// Enough blocks for several waves on any current GPU.
constexpr int64_t kTargetBlocks = 2048;

template <class Fn, bool kRowIsB>
void launch_row_broadcast(const char* op, float* out, const float* full, const float* row, int64_t rows, int64_t cols,
                          int device, Fn fn) {
  const int64_t col_blocks = (cols + kThreads - 1) / kThreads;
  int64_t row_blocks = kTargetBlocks / col_blocks;
  row_blocks = row_blocks < 1 ? 1 : (row_blocks > rows ? rows : row_blocks);
  row_blocks = row_blocks > 65535 ? 65535 : row_blocks;
  const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(row_blocks));
  row_broadcast_kernel<Fn, kRowIsB><<<grid, kThreads, 0, stream(device)>>>(out, full, row, rows, cols, fn);
  NS_CUDA_LAUNCHED(op);
}

template <class Fn>
void launch_binary(const char* op, const TensorPtr& out, const TensorPtr& a, const TensorPtr& b, int device, Fn fn) {
  const int64_t n = out->numel(), na = a->numel(), nb = b->numel();
  float* po = out->data<float>();
  const float* pa = a->data<float>();
  const float* pb = b->data<float>();
  const BroadcastLayout layout = broadcast_layout(op, out->shape, a->shape, b->shape);
  if (na == n && nb == n) {
    map2(op, po, pa, pb, n, device, fn);
  } else if (nb == 1) {
    map1(op, po, pa, n, device, WithScalarOperand<Fn, true>{fn, pb});
  } else if (na == 1) {
    map1(op, po, pb, n, device, WithScalarOperand<Fn, false>{fn, pa});
  } else if (layout.ndim == 2 && layout.size[0] >= kMinRowBroadcastCols && layout.a_stride[0] == 1 &&
             layout.b_stride[0] == 1 && layout.a_stride[1] == layout.size[0] && layout.b_stride[1] == 0) {
    launch_row_broadcast<Fn, true>(op, po, pa, pb, layout.size[1], layout.size[0], device, fn);
  } else if (layout.ndim == 2 && layout.size[0] >= kMinRowBroadcastCols && layout.a_stride[0] == 1 &&
             layout.b_stride[0] == 1 && layout.b_stride[1] == layout.size[0] && layout.a_stride[1] == 0) {
    launch_row_broadcast<Fn, false>(op, po, pb, pa, layout.size[1], layout.size[0], device, fn);
  } else if (n < (int64_t(1) << 31)) {
    broadcast_kernel<Fn, uint32_t><<<blocks_for(n, kThreads), kThreads, 0, stream(device)>>>(
        po, pa, pb, layout, static_cast<uint32_t>(n), fn);
    NS_CUDA_LAUNCHED(op);
  } else {
    broadcast_kernel<Fn, int64_t><<<blocks_for(n, kThreads), kThreads, 0, stream(device)>>>(po, pa, pb, layout, n, fn);
    NS_CUDA_LAUNCHED(op);
  }
}

// ---- select_grad ----

__global__ void select_grad_kernel(float* ga, float* gb, const float* __restrict__ g, const float* __restrict__ d,
                                   int64_t n, bool is_max) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    // Products with a 0/1 mask, as on the CPU, so an inf or NaN in g spreads the same way.
    const float chose_a = (is_max ? d[i] >= 0.0f : d[i] <= 0.0f) ? 1.0f : 0.0f;
    if (ga) ga[i] = g[i] * chose_a;
    if (gb) gb[i] = g[i] * (1.0f - chose_a);
  }
}

}  // namespace

void CudaBackendImpl::binary(BinaryOp op, const TensorPtr& out, const TensorPtr& a, const TensorPtr& b) {
  const char* name = op_name(op);
  require_f32(name, {&out, &a, &b});
  const int64_t n = out->numel();
  if (n == 0) return;
  const int device = device_of(out);
  DeviceGuard guard(device);
  switch (op) {
    case BinaryOp::Add: launch_binary(name, out, a, b, device, BinaryFn<BinaryOp::Add>{}); break;
    case BinaryOp::Sub: launch_binary(name, out, a, b, device, BinaryFn<BinaryOp::Sub>{}); break;
    case BinaryOp::Mul: launch_binary(name, out, a, b, device, BinaryFn<BinaryOp::Mul>{}); break;
    case BinaryOp::Div: launch_binary(name, out, a, b, device, BinaryFn<BinaryOp::Div>{}); break;
    case BinaryOp::Max: launch_binary(name, out, a, b, device, BinaryFn<BinaryOp::Max>{}); break;
    case BinaryOp::Min: launch_binary(name, out, a, b, device, BinaryFn<BinaryOp::Min>{}); break;
  }
}

void CudaBackendImpl::unary(UnaryOp op, const TensorPtr& out, const TensorPtr& x) {
  const char* name = op_name(op);
  require_f32(name, {&out, &x});
  require_same_numel(name, out, x);
  const int64_t n = x->numel();
  if (n == 0) return;
  const int device = device_of(x);
  DeviceGuard guard(device);
  float* po = out->data<float>();
  const float* px = x->data<float>();
  switch (op) {
    case UnaryOp::Neg: map1(name, po, px, n, device, UnaryFn<UnaryOp::Neg>{}); break;
    case UnaryOp::Exp: map1(name, po, px, n, device, UnaryFn<UnaryOp::Exp>{}); break;
    case UnaryOp::Log: map1(name, po, px, n, device, UnaryFn<UnaryOp::Log>{}); break;
    case UnaryOp::Sqrt: map1(name, po, px, n, device, UnaryFn<UnaryOp::Sqrt>{}); break;
    case UnaryOp::Rsqrt: map1(name, po, px, n, device, UnaryFn<UnaryOp::Rsqrt>{}); break;
    case UnaryOp::Sigmoid: map1(name, po, px, n, device, UnaryFn<UnaryOp::Sigmoid>{}); break;
    case UnaryOp::Tanh: map1(name, po, px, n, device, UnaryFn<UnaryOp::Tanh>{}); break;
    case UnaryOp::Relu: map1(name, po, px, n, device, UnaryFn<UnaryOp::Relu>{}); break;
    case UnaryOp::Square: map1(name, po, px, n, device, UnaryFn<UnaryOp::Square>{}); break;
    case UnaryOp::Abs: map1(name, po, px, n, device, UnaryFn<UnaryOp::Abs>{}); break;
  }
}

void CudaBackendImpl::scalar(ScalarOp op, const TensorPtr& out, const TensorPtr& x, double s) {
  const char* name = op == ScalarOp::Add ? "add_scalar" : op == ScalarOp::Mul ? "mul_scalar" : "pow_scalar";
  require_f32(name, {&out, &x});
  require_same_numel(name, out, x);
  const int64_t n = x->numel();
  if (n == 0) return;
  const int device = device_of(x);
  DeviceGuard guard(device);
  float* po = out->data<float>();
  const float* px = x->data<float>();
  const float sf = static_cast<float>(s);
  switch (op) {
    case ScalarOp::Add: map1(name, po, px, n, device, ScalarFn<ScalarOp::Add>{sf}); break;
    case ScalarOp::Mul: map1(name, po, px, n, device, ScalarFn<ScalarOp::Mul>{sf}); break;
    case ScalarOp::Pow: map1(name, po, px, n, device, ScalarFn<ScalarOp::Pow>{sf}); break;
  }
}

void CudaBackendImpl::unary_grad(UnaryOp op, const TensorPtr& gx, const TensorPtr& g, const TensorPtr& saved) {
  const char* name = op_name(op);
  require_f32(name, {&gx, &g, &saved});
  require_same_numel(name, gx, g);
  const int64_t n = g->numel();
  if (n == 0) return;
  const int device = device_of(g);
  DeviceGuard guard(device);
  float* pgx = gx->data<float>();
  const float* pg = g->data<float>();
  if (op == UnaryOp::Neg) {
    map1(name, pgx, pg, n, device, UnaryFn<UnaryOp::Neg>{});
    return;
  }
  require_same_numel(name, g, saved);
  const float* ps = saved->data<float>();
  switch (op) {
    case UnaryOp::Neg: break;  // handled above: it needs no saved tensor
    case UnaryOp::Exp: map2(name, pgx, pg, ps, n, device, UnaryGradFn<UnaryOp::Exp>{}); break;
    case UnaryOp::Log: map2(name, pgx, pg, ps, n, device, UnaryGradFn<UnaryOp::Log>{}); break;
    case UnaryOp::Sqrt: map2(name, pgx, pg, ps, n, device, UnaryGradFn<UnaryOp::Sqrt>{}); break;
    case UnaryOp::Rsqrt: map2(name, pgx, pg, ps, n, device, UnaryGradFn<UnaryOp::Rsqrt>{}); break;
    case UnaryOp::Sigmoid: map2(name, pgx, pg, ps, n, device, UnaryGradFn<UnaryOp::Sigmoid>{}); break;
    case UnaryOp::Tanh: map2(name, pgx, pg, ps, n, device, UnaryGradFn<UnaryOp::Tanh>{}); break;
    case UnaryOp::Relu: map2(name, pgx, pg, ps, n, device, UnaryGradFn<UnaryOp::Relu>{}); break;
    case UnaryOp::Square: map2(name, pgx, pg, ps, n, device, UnaryGradFn<UnaryOp::Square>{}); break;
    case UnaryOp::Abs: map2(name, pgx, pg, ps, n, device, UnaryGradFn<UnaryOp::Abs>{}); break;
  }
}

void CudaBackendImpl::pow_grad(const TensorPtr& gx, const TensorPtr& g, const TensorPtr& x, double p) {
  require_f32("pow_scalar", {&gx, &g, &x});
  require_same_numel("pow_scalar", gx, g);
  require_same_numel("pow_scalar", g, x);
  const int64_t n = g->numel();
  if (n == 0) return;
  const int device = device_of(g);
  DeviceGuard guard(device);
  map2("pow_scalar", gx->data<float>(), g->data<float>(), x->data<float>(), n, device,
       PowGradFn{static_cast<float>(p), static_cast<float>(p - 1)});
}

void CudaBackendImpl::select_grad(const TensorPtr& ga, const TensorPtr& gb, const TensorPtr& g, const TensorPtr& d,
                                  bool is_max) {
  const char* name = is_max ? "maximum" : "minimum";
  require_f32(name, {&ga, &gb, &g, &d});
  require_same_numel(name, g, d);
  if (ga) require_same_numel(name, ga, g);
  if (gb) require_same_numel(name, gb, g);
  const int64_t n = g->numel();
  if (n == 0 || (!ga && !gb)) return;
  const int device = device_of(g);
  DeviceGuard guard(device);
  select_grad_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream(device)>>>(
      ga ? ga->data<float>() : nullptr, gb ? gb->data<float>() : nullptr, g->data<float>(), d->data<float>(), n, is_max);
  NS_CUDA_LAUNCHED(name);
}

void CudaBackendImpl::add_inplace(const TensorPtr& a, const TensorPtr& b) {
  require_f32("add_inplace", {&a, &b});
  NS_CHECK(a->shape == b->shape, "add_inplace: shapes must match, got ", shape_str(a->shape), " and ",
           shape_str(b->shape));
  const int64_t n = a->numel();
  if (n == 0) return;
  const int device = device_of(a);
  DeviceGuard guard(device);
  map2("add_inplace", a->data<float>(), a->data<float>(), b->data<float>(), n, device, BinaryFn<BinaryOp::Add>{});
}

}  // namespace cuda
}  // namespace ns
