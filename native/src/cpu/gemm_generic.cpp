// Portable float32 GEMM micro-kernel and packing (baseline ISA, any architecture): the fallback
// when the CPU has neither AVX2 nor AVX-512, and the "generic" kernel NIGHTSHIFT_GEMM_KERNEL can
// force. Plain loops the compiler vectorises with whatever the baseline offers (SSE2 / NEON);
// correctness first, speed second. Must not use instructions beyond the baseline.
#include "cpu/gemm_kernels.h"

namespace ns {
namespace {

// 6 x 8: 12 accumulator vectors of 4 floats fit the 16 SSE registers with room for B and A.
constexpr int64_t kMR = 6, kNR = 8;

template <int64_t W>
void pack_generic(const float* src, int64_t ld, bool k_major, int64_t kc, int64_t w, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    float* d = dst + k * W;
    int64_t i = 0;
    if (k_major) {
      const float* s = src + k * ld;
      for (; i < w; ++i) d[i] = s[i];
    } else {
      for (; i < w; ++i) d[i] = src[i * ld + k];
    }
    for (; i < W; ++i) d[i] = 0.f;
  }
}

#if defined(__GNUC__) || defined(__clang__)
// GCC/Clang vector extensions: 4-float vectors become SSE2 or NEON registers on the baseline
// ISA. Written out because auto-vectorising the plain loops spilled the accumulators (6.6
// GFLOP/s on Zen 4).
typedef float v4f __attribute__((vector_size(16)));

inline v4f load4(const float* p) {
  v4f v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

void micro_generic(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                   float alpha, float beta) {
  static_assert(kNR == 8, "two 4-float vectors per row");
  v4f acc0[kMR] = {}, acc1[kMR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const v4f b0 = load4(b + k * kNR), b1 = load4(b + k * kNR + 4);
    for (int64_t i = 0; i < kMR; ++i) {
      const float ai = a[k * kMR + i];
      acc0[i] += ai * b0;
      acc1[i] += ai * b1;
    }
  }
  for (int64_t i = 0; i < m; ++i) {
    float row[kNR];
    __builtin_memcpy(row, &acc0[i], sizeof acc0[i]);
    __builtin_memcpy(row + 4, &acc1[i], sizeof acc1[i]);
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) ci[j] = beta == 0.f ? alpha * row[j] : alpha * row[j] + beta * ci[j];
  }
}
#else
void micro_generic(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                   float alpha, float beta) {
  float acc[kMR][kNR] = {};
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t i = 0; i < kMR; ++i)
      for (int64_t j = 0; j < kNR; ++j) acc[i][j] += a[k * kMR + i] * b[k * kNR + j];
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) ci[j] = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * ci[j];
  }
}
#endif

const GemmKernel kGeneric{"generic", kMR, kNR, micro_generic, pack_generic<kMR>, pack_generic<kNR>};

}  // namespace

const GemmKernel* gemm_kernel_generic() { return &kGeneric; }

}  // namespace ns
