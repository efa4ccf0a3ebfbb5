// cross_entropy: softmax cross-entropy of logits (N, V) against int32 targets (N), with the
// optional logit soft-cap z = cap * tanh(logits / cap) fused in (as autoresearch's
// `softcap * torch.tanh(logits / softcap)` followed by F.cross_entropy), and its backward.
// Nothing of size (N, V) is materialised besides the gradient: z is recomputed wherever it is
// needed and the forward saves only the per-row logsumexp.
//
// Per row, the forward makes two passes over the logits: the max (over raw logits: tanh is
// increasing, so the max of z is cap * tanh(max / cap)), then the sum of exp(z - max). The
// backward makes one. Rows run in parallel; each row's reductions use a fixed lane split, so
// results do not depend on the thread count (they may differ in the last bits between the
// float32 kernels below, as GEMM's do).
//
// float32 rows use explicit vectors with branch-free exp/tanh: std::exp and std::tanh do not
// vectorise without -ffast-math, and the auto-vectoriser gives up on the selects under the
// default -ftrapping-math. On x86-64 the same row code is also compiled for AVX2 and AVX-512
// (target attributes on a forward and a backward entry point per instruction set, chosen once
// at run time from the CPU, or forced with NIGHTSHIFT_CE_KERNEL=generic|avx2|avx512). That
// keeps the baseline build portable, as the CMake file asks, while the machine this runs on
// gets 16-wide rows. On the 2-core EPYC (Zen 4) VM, one thread, N=2048 V=4096 softcap 15, ns
// per logit for generic / avx2 / avx512: forward sum-exp pass 4.9 / 1.5 / 0.8, backward
// 4.9 / 1.6 / 1.0 (max pass 0.15 / 0.12 / 0.11; without softcap sum-exp 1.0 / 0.30 / 0.24).
// float64 (gradient checks only) runs plain loops over the C library and is the reference the
// float32 kernels are tested against.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "core/cpu_features.h"
#include "core/dispatch.h"
#include "core/parallel.h"
#include "cuda/backend.h"
#include "ops/ops.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define NS_CE_X86 1
#else
#define NS_CE_X86 0
#endif

// 32- and 64-byte vectors appear in the signatures of always-inlined helpers that only ever run
// inside AVX2 / AVX-512 entry points; no such value crosses a real call, so GCC's note that
// their calling convention changed does not apply.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define NS_CE_INLINE inline __attribute__((always_inline))

namespace ns {
namespace {

// Everything one launch needs. loss, lse: (N); logits, dlogits: (N, V); targets, g_row: (N).
template <class T>
struct CeArgs {
  const T* logits = nullptr;
  const int32_t* targets = nullptr;
  int64_t V = 0;
  int64_t ignore_index = -1;
  T cap = 0;
  T* loss = nullptr;          // forward
  T* lse = nullptr;           // forward writes, backward reads
  T* dlogits = nullptr;       // backward
  const T* g_row = nullptr;   // backward: dL/dloss_r, already divided by the count for a mean
};

// ---- float64 rows: plain loops over the C library ------------------------------------------

struct RowsF64 {
  static double row_max(const double* l, int64_t V) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < V; ++j) m = l[j] > m ? l[j] : m;
    return m;
  }

  static double softcap_tanh(double x, double cap) { return std::tanh(x / cap); }
  static double softcap_sech2(double x, double cap) {
    const double th = std::tanh(x / cap);
    return 1 - th * th;
  }

  // sum_j exp(z[j] - shift), z = cap * tanh(l / cap) (z = l when cap == 0). l: (V)
  static double row_sum_exp(const double* l, int64_t V, double shift, double cap) {
    double s = 0;
    if (cap > 0) {
      for (int64_t j = 0; j < V; ++j) s += std::exp(cap * std::tanh(l[j] / cap) - shift);
    } else {
      for (int64_t j = 0; j < V; ++j) s += std::exp(l[j] - shift);
    }
    return s;
  }

  // d[j] = c * exp(z[j] - lse) * dz/dl: the softmax part of the gradient (the caller subtracts
  // the one-hot term). d, l: (V)
  static void row_grad(double* d, const double* l, int64_t V, double cap, double lse, double c) {
    if (cap > 0) {
      for (int64_t j = 0; j < V; ++j) {
        const double th = std::tanh(l[j] / cap);
        d[j] = c * std::exp(cap * th - lse) * (1 - th * th);
      }
    } else {
      for (int64_t j = 0; j < V; ++j) d[j] = c * std::exp(l[j] - lse);
    }
  }
};

// ---- float32 rows: W-wide vectors (GCC/Clang vector extensions) -----------------------------
// Each loop step takes two vectors (two accumulators); a row's last partial block goes through
// a padded copy, so every element sees the same code and the lane split depends only on V and W.

// W floats per vector, spelled out per width (GCC ignores a vector_size that depends on a
// template parameter while parsing the template).
template <int W>
struct VecTypes;
#define NS_CE_VEC_TYPES(W)                                        \
  template <>                                                     \
  struct VecTypes<W> {                                            \
    typedef float f __attribute__((vector_size(4 * W)));          \
    typedef int32_t i __attribute__((vector_size(4 * W)));        \
    typedef uint32_t u __attribute__((vector_size(4 * W)));       \
  };
NS_CE_VEC_TYPES(4)
NS_CE_VEC_TYPES(8)
NS_CE_VEC_TYPES(16)
#undef NS_CE_VEC_TYPES

template <int W>
struct RowsF32 {
  using fv = typename VecTypes<W>::f;
  using iv = typename VecTypes<W>::i;
  using uv = typename VecTypes<W>::u;
  static constexpr int64_t kBlock = 2 * W;
  static constexpr float kInf = std::numeric_limits<float>::infinity();

  static NS_CE_INLINE fv load(const float* p) {
    fv v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static NS_CE_INLINE void store(float* p, const fv& v) { std::memcpy(p, &v, sizeof v); }
  static NS_CE_INLINE fv splat(float x) {
    fv v;
    for (int k = 0; k < W; ++k) v[k] = x;
    return v;
  }
  static NS_CE_INLINE fv select(const iv& mask, const fv& a, const fv& b) {  // mask lanes are all-ones or zero
    return (fv)(((iv)a & mask) | ((iv)b & ~mask));
  }
  static NS_CE_INLINE fv keep_lanes(const fv& v, const iv& mask) { return (fv)((iv)v & mask); }
  static NS_CE_INLINE fv vmax(const fv& a, const fv& b) { return select(a > b, a, b); }
  // Horizontal max and sum, pairwise in a fixed order.
  static NS_CE_INLINE float hmax(const fv& x) {
    fv v = x;
    for (int w = W / 2; w >= 1; w /= 2)
      for (int k = 0; k < w; ++k) v[k] = v[k + w] > v[k] ? v[k + w] : v[k];
    return v[0];
  }
  static NS_CE_INLINE float hsum(const fv& x) {
    fv v = x;
    for (int w = W / 2; w >= 1; w /= 2)
      for (int k = 0; k < w; ++k) v[k] += v[k + w];
    return v[0];
  }
  // Lanes offset .. offset + W - 1 of a block whose first n elements are real.
  static NS_CE_INLINE iv valid_lanes(int64_t n, int32_t offset) {
    iv lane;
    for (int k = 0; k < W; ++k) lane[k] = offset + k;
    return lane < static_cast<int32_t>(n);
  }
  // Copies the n < kBlock trailing elements of src into a block padded with `pad`.
  static NS_CE_INLINE void load_tail(float* blk, const float* src, int64_t n, float pad) {
    for (int64_t k = 0; k < kBlock; ++k) blk[k] = k < n ? src[k] : pad;
  }

  // exp(x) for x <= 88 (every caller passes x <= 0): exp(x) = 2^n * exp(r), n = round(x / ln 2),
  // |r| <= ln2 / 2, exp(r) by the Cephes expf polynomial (relative error ~2 ulp). Results
  // below ln(FLT_MIN) are 0; NaN stays NaN. n is read from the bits of x / ln2 + 1.5 * 2^23,
  // whose mantissa then holds the rounded integer, so no float-to-int conversion can overflow.
  static NS_CE_INLINE fv exp_fast(const fv& x) {
    constexpr float kLo = -87.33654475f;   // ln(FLT_MIN)
    constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
    constexpr uint32_t kRoundBits = 0x4B400000u;
    const fv t = x * 1.44269504088896341f + kRound;
    const fv fn = t - kRound;
    const fv r = (x - fn * 0.693359375f) - fn * -2.12194440e-4f;
    fv p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const fv scale = (fv)(((uv)t - kRoundBits + 127u) << 23);  // 2^n
    return keep_lanes(p * scale, ~(x < kLo));
  }

  // tanh(x), and 1 - tanh(x)^2 for the backward: an odd polynomial for |x| < 0.625 (Cephes
  // tanhf), else (1 - e) / (1 + e) with e = exp(-2|x|) and the sign of x; both are computed and
  // one selected. On the large branch 1 - tanh^2 is taken as 4e / (1 + e)^2, which keeps full
  // relative precision where tanh saturates (1 - th * th would cancel: at |x| = 4 it loses
  // about 10 bits).
  static NS_CE_INLINE void tanh_sech2(const fv& x, fv& th, fv& sech2) {
    const uv sign = (uv)x & 0x80000000u;
    const fv ax = (fv)((uv)x ^ sign);
    const fv z = x * x;
    fv p = splat(-5.70498872745e-3f);
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    const fv small = p * z * x + x;
    const fv e = exp_fast(-2.0f * ax);
    const fv d = 1.0f + e;
    const fv large = (fv)((uv)((1.0f - e) / d) | sign);
    const iv is_small = ax < 0.625f;
    th = select(is_small, small, large);
    sech2 = select(is_small, 1.0f - small * small, 4.0f * e / (d * d));  // dropped where unused
  }
  static NS_CE_INLINE fv tanh_fast(const fv& x) {
    fv th, sech2;
    tanh_sech2(x, th, sech2);
    return th;
  }

  // tanh(x / cap) and 1 - tanh(x / cap)^2 for one element, through the same vector code the
  // rows use.
  static NS_CE_INLINE float softcap_tanh(float x, float cap) { return tanh_fast(splat(x) * (1.0f / cap))[0]; }
  static NS_CE_INLINE float softcap_sech2(float x, float cap) {
    fv th, sech2;
    tanh_sech2(splat(x) * (1.0f / cap), th, sech2);
    return sech2[0];
  }

  static NS_CE_INLINE float row_max(const float* l, int64_t V) {
    fv m0 = splat(-kInf), m1 = m0;
    int64_t j = 0;
    for (; j + kBlock <= V; j += kBlock) {
      m0 = vmax(m0, load(l + j));
      m1 = vmax(m1, load(l + j + W));
    }
    if (j < V) {
      alignas(64) float blk[kBlock];
      load_tail(blk, l + j, V - j, -kInf);
      m0 = vmax(m0, load(blk));
      m1 = vmax(m1, load(blk + W));
    }
    return hmax(vmax(m0, m1));
  }

  // exp(z - shift) for one vector of logits; z = cap * tanh(l * inv), inv = 1 / cap, or l.
  static NS_CE_INLINE fv exp_shifted(const fv& l, float cap, float inv, float shift) {
    return cap > 0 ? exp_fast(cap * tanh_fast(l * inv) - shift) : exp_fast(l - shift);
  }

  static NS_CE_INLINE float row_sum_exp(const float* l, int64_t V, float shift, float cap) {
    const float inv = cap > 0 ? 1.0f / cap : 0.0f;
    fv s0 = splat(0.0f), s1 = s0;
    int64_t j = 0;
    for (; j + kBlock <= V; j += kBlock) {
      s0 += exp_shifted(load(l + j), cap, inv, shift);
      s1 += exp_shifted(load(l + j + W), cap, inv, shift);
    }
    if (j < V) {
      alignas(64) float blk[kBlock];
      load_tail(blk, l + j, V - j, 0.0f);
      s0 += keep_lanes(exp_shifted(load(blk), cap, inv, shift), valid_lanes(V - j, 0));
      s1 += keep_lanes(exp_shifted(load(blk + W), cap, inv, shift), valid_lanes(V - j, W));
    }
    return hsum(s0 + s1);
  }

  // One vector of row_grad.
  static NS_CE_INLINE fv grad_block(const fv& l, float cap, float inv, float lse, float c) {
    if (cap > 0) {
      fv th, sech2;
      tanh_sech2(l * inv, th, sech2);
      return c * exp_fast(cap * th - lse) * sech2;
    }
    return c * exp_fast(l - lse);
  }

  static NS_CE_INLINE void row_grad(float* d, const float* l, int64_t V, float cap, float lse, float c) {
    const float inv = cap > 0 ? 1.0f / cap : 0.0f;
    int64_t j = 0;
    for (; j + kBlock <= V; j += kBlock) {
      store(d + j, grad_block(load(l + j), cap, inv, lse, c));
      store(d + j + W, grad_block(load(l + j + W), cap, inv, lse, c));
    }
    if (j < V) {
      alignas(64) float blk[kBlock];
      load_tail(blk, l + j, V - j, 0.0f);
      store(blk, grad_block(load(blk), cap, inv, lse, c));
      store(blk + W, grad_block(load(blk + W), cap, inv, lse, c));
      for (int64_t k = 0; j + k < V; ++k) d[j + k] = blk[k];
    }
  }
};

// ---- rows [r0, r1), for either dtype --------------------------------------------------------

// Per-row loss and logsumexp of z = cap * tanh(logits / cap) (z = logits when cap == 0);
// 0 for both at ignored rows.
template <class T, class Rows>
NS_CE_INLINE void forward_rows(const CeArgs<T>& a, int64_t r0, int64_t r1) {
  const int64_t V = a.V;
  const T cap = a.cap;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t t = a.targets[r];
    if (t == a.ignore_index) {
      a.loss[r] = T(0);
      a.lse[r] = T(0);
      continue;
    }
    const T* l = a.logits + r * V;
    // max z = z(max logit); an infinite logit gives a finite z when capped.
    const T ml = Rows::row_max(l, V);
    const T shift = cap > 0 ? cap * Rows::softcap_tanh(ml, cap) : ml;
    const T s = shift + std::log(Rows::row_sum_exp(l, V, shift, cap));
    a.lse[r] = s;
    a.loss[r] = s - (cap > 0 ? cap * Rows::softcap_tanh(l[t], cap) : l[t]);
  }
}

// dlogits = g * (softmax(z) - onehot(t)) * dz/dl with dz/dl = 1 - tanh^2; zero rows where ignored.
template <class T, class Rows>
NS_CE_INLINE void backward_rows(const CeArgs<T>& a, int64_t r0, int64_t r1) {
  const int64_t V = a.V;
  const T cap = a.cap;
  for (int64_t r = r0; r < r1; ++r) {
    T* d = a.dlogits + r * V;
    const int64_t t = a.targets[r];
    if (t == a.ignore_index) {
      std::memset(d, 0, static_cast<size_t>(V) * sizeof(T));
      continue;
    }
    const T* l = a.logits + r * V;
    const T c = a.g_row[r];
    Rows::row_grad(d, l, V, cap, a.lse[r], c);
    if (cap > 0) {
      d[t] -= c * Rows::softcap_sech2(l[t], cap);
    } else {
      d[t] -= c;
    }
  }
}

// ---- float32 entry points per instruction set, and the choice between them --------------------

void forward_rows_generic(const CeArgs<float>& a, int64_t r0, int64_t r1) {
  forward_rows<float, RowsF32<4>>(a, r0, r1);
}
void backward_rows_generic(const CeArgs<float>& a, int64_t r0, int64_t r1) {
  backward_rows<float, RowsF32<4>>(a, r0, r1);
}
#if NS_CE_X86
__attribute__((target("avx2,fma"))) void forward_rows_avx2(const CeArgs<float>& a, int64_t r0, int64_t r1) {
  forward_rows<float, RowsF32<8>>(a, r0, r1);
}
__attribute__((target("avx2,fma"))) void backward_rows_avx2(const CeArgs<float>& a, int64_t r0, int64_t r1) {
  backward_rows<float, RowsF32<8>>(a, r0, r1);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))) void forward_rows_avx512(
    const CeArgs<float>& a, int64_t r0, int64_t r1) {
  forward_rows<float, RowsF32<16>>(a, r0, r1);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))) void backward_rows_avx512(
    const CeArgs<float>& a, int64_t r0, int64_t r1) {
  backward_rows<float, RowsF32<16>>(a, r0, r1);
}
#endif

struct F32Kernel {
  const char* name;
  void (*forward)(const CeArgs<float>&, int64_t, int64_t);
  void (*backward)(const CeArgs<float>&, int64_t, int64_t);
};

// The widest kernel the CPU runs, or the one NIGHTSHIFT_CE_KERNEL names if the CPU runs it
// (other requests are ignored).
const F32Kernel& f32_kernel() {
  static const F32Kernel chosen = [] {
    const F32Kernel kernels[] = {
#if NS_CE_X86
        {"avx512", forward_rows_avx512, backward_rows_avx512},
        {"avx2", forward_rows_avx2, backward_rows_avx2},
#endif
        {"generic", forward_rows_generic, backward_rows_generic},
    };
    const char* want = isa_name(choose_isa("NIGHTSHIFT_CE_KERNEL"));
    for (const F32Kernel& k : kernels)
      if (std::strcmp(k.name, want) == 0) return k;
    return kernels[sizeof kernels / sizeof kernels[0] - 1];
  }();
  return chosen;
}

void run_forward_rows(const CeArgs<float>& a, int64_t r0, int64_t r1) { f32_kernel().forward(a, r0, r1); }
void run_forward_rows(const CeArgs<double>& a, int64_t r0, int64_t r1) { forward_rows<double, RowsF64>(a, r0, r1); }
void run_backward_rows(const CeArgs<float>& a, int64_t r0, int64_t r1) { f32_kernel().backward(a, r0, r1); }
void run_backward_rows(const CeArgs<double>& a, int64_t r0, int64_t r1) { backward_rows<double, RowsF64>(a, r0, r1); }

int64_t row_grain(int64_t V) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(V, 1)); }

struct CrossEntropyBackward : Node {
  TensorPtr logits;   // dense (N, V)
  TensorPtr targets;  // private copy (N)
  TensorPtr lse;      // (N)
  int64_t ignore_index = -1, count = 0;
  double softcap = 0;
  bool mean = true;
  const char* name() const override { return "cross_entropy"; }
  void release_saved() override { logits.reset(); targets.reset(); lse.reset(); }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    // g: () when mean, (N) otherwise -> dlogits: (N, V)
    const int64_t N = logits->shape[0], V = logits->shape[1];
    auto dlogits = empty(logits->shape, logits->dtype, logits->device());
    if (logits->is_cuda()) {
      const double g_scale = mean ? (count > 0 ? 1.0 / double(count) : 0.0) : 1.0;
      if (dlogits->numel() > 0)
        cuda_backend("cross_entropy")
            .cross_entropy_backward(dlogits, logits, targets, lse, g, g_scale, ignore_index, softcap);
      return {dlogits, nullptr};
    }
    NS_DISPATCH_FLOAT(logits->dtype, "cross_entropy", {
      using T = scalar_t;
      std::vector<T> g_row(static_cast<size_t>(N));
      const T* pg = g->data<T>();
      for (int64_t r = 0; r < N; ++r) g_row[r] = mean ? (count > 0 ? T(pg[0] / double(count)) : T(0)) : pg[r];
      CeArgs<T> a;
      a.logits = logits->data<T>();
      a.targets = targets->data<int32_t>();
      a.V = V;
      a.ignore_index = ignore_index;
      a.cap = T(softcap);
      a.lse = lse->data<T>();
      a.dlogits = dlogits->data<T>();
      a.g_row = g_row.data();
      parallel_for(N, row_grain(V), [&](int64_t r0, int64_t r1) { run_backward_rows(a, r0, r1); });
    });
    return {dlogits, nullptr};
  }
};

// Attaches the backward to `out` when logits0 needs a gradient. logits: dense (N, V); targets:
// dense (N), copied because callers may refill their targets buffer with the next batch before
// backward runs.
void attach_backward(const TensorPtr& out, const TensorPtr& logits0, const TensorPtr& targets0,
                     const TensorPtr& logits, const TensorPtr& targets, const TensorPtr& lse, int64_t ignore_index,
                     int64_t count, double softcap, bool mean) {
  if (!needs_grad({logits0})) return;
  auto node = std::make_shared<CrossEntropyBackward>();
  node->logits = logits;
  node->targets = empty(targets->shape, DType::I32, targets->device());
  copy_into(node->targets, targets);
  node->lse = lse;
  node->ignore_index = ignore_index;
  node->count = count;
  node->softcap = softcap;
  node->mean = mean;
  attach(out, node, {logits0, targets0});
}

[[noreturn]] void fail_target(int64_t t, int64_t position, const TensorPtr& logits, int64_t ignore_index) {
  const int64_t V = logits->shape[1];
  fail("cross_entropy: target ", t, " at position ", position, " is out of range for logits ",
       shape_str(logits->shape), " (targets must be in [0, V=", V, ") or equal ignore_index=", ignore_index, ")");
}

// The CUDA path: the same checks, loss and saved state as the CPU's, with the per-row losses
// summed on the device (the mean divides by the counted targets, NaN when there are none).
TensorPtr cross_entropy_cuda(const TensorPtr& logits0, const TensorPtr& targets0, int64_t ignore_index,
                             double softcap, bool mean) {
  const int64_t N = logits0->shape[0], V = logits0->shape[1];
  auto targets = dense(targets0);
  const IndexCheck check = cuda_backend("cross_entropy").check_indices(targets, V, ignore_index);
  if (check.bad_position >= 0) fail_target(check.bad_value, check.bad_position, logits0, ignore_index);
  const int64_t count = check.counted;
  auto logits = dense(logits0);
  auto loss = empty({N}, logits->dtype, logits->device());
  auto lse = empty({N}, logits->dtype, logits->device());
  if (N > 0) cuda_backend("cross_entropy").cross_entropy_forward(loss, lse, logits, targets, ignore_index, softcap);
  TensorPtr out = loss;
  if (mean) {
    NoGradGuard no_grad;
    out = mul_scalar(sum(loss, {}, false), count > 0 ? 1.0 / double(count) : std::nan(""));
  }
  attach_backward(out, logits0, targets0, logits, targets, lse, ignore_index, count, softcap, mean);
  return out;
}

}  // namespace

// logits: (N, V), targets: int32 (N) -> () when mean, else (N)
TensorPtr cross_entropy(const TensorPtr& logits0, const TensorPtr& targets0, int64_t ignore_index, double softcap,
                        bool mean) {
  NS_CHECK(logits0->dim() == 2, "cross_entropy: logits must be 2-D (N, V), got shape ", shape_str(logits0->shape));
  check_floating("cross_entropy", logits0, "logits");
  check_dtype("cross_entropy", targets0, DType::I32, "targets");
  const int64_t N = logits0->shape[0], V = logits0->shape[1];
  NS_CHECK(targets0->dim() == 1 && targets0->shape[0] == N, "cross_entropy: targets must have shape [", N,
           "] to match logits ", shape_str(logits0->shape), ", got ", shape_str(targets0->shape));
  NS_CHECK(std::isfinite(softcap) && softcap >= 0, "cross_entropy: softcap must be a finite number >= 0, got ",
           softcap);
  check_same_device("cross_entropy", {logits0, targets0});
  if (logits0->is_cuda()) return cross_entropy_cuda(logits0, targets0, ignore_index, softcap, mean);
  auto targets = dense(targets0);
  const int32_t* pt = targets->data<int32_t>();
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = pt[i];
    if (t == ignore_index) continue;
    if (t < 0 || t >= V) fail_target(t, i, logits0, ignore_index);
    ++count;
  }

  auto logits = dense(logits0);
  auto loss = empty({N}, logits->dtype);
  auto lse = empty({N}, logits->dtype);
  NS_DISPATCH_FLOAT(logits->dtype, "cross_entropy", {
    using T = scalar_t;
    CeArgs<T> a;
    a.logits = logits->data<T>();
    a.targets = pt;
    a.V = V;
    a.ignore_index = ignore_index;
    a.cap = T(softcap);
    a.loss = loss->data<T>();
    a.lse = lse->data<T>();
    parallel_for(N, row_grain(V), [&](int64_t r0, int64_t r1) { run_forward_rows(a, r0, r1); });
  });

  TensorPtr out = loss;
  if (mean) {
    out = empty({}, logits->dtype);
    NS_DISPATCH_FLOAT(logits->dtype, "cross_entropy", {
      using T = scalar_t;
      const T* pl = loss->data<T>();
      double total = 0;  // N terms in order: deterministic, and N is small next to N * V
      for (int64_t i = 0; i < N; ++i) total += pl[i];
      // No counted target: 0 / 0 = NaN, as PyTorch.
      out->data<T>()[0] = static_cast<T>(total / static_cast<double>(count));
    });
  }
  attach_backward(out, logits0, targets0, logits, targets, lse, ignore_index, count, softcap, mean);
  return out;
}

}  // namespace ns
