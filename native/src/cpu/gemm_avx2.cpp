// AVX2 + FMA float32 GEMM micro-kernel (6 x 16) and packing. Compiled with -mavx2 -mfma (CMake,
// by file name) and only called after gemm.cpp checked the CPU supports it; no state here.
//
// Register budget (16 ymm): 6 rows x 2 vectors = 12 accumulators, 2 vectors of B, 1 broadcast
// of A. Per k step: 2 aligned loads of B, 6 broadcasts, 12 FMAs (two FMA pipes: 6 cycles).
#include "cpu/gemm_kernels.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace ns {
namespace {

constexpr int64_t kMR = 6, kNR = 16;

// Lane mask for masked loads/stores: lanes [0, n) set.
inline __m256i lanes(int64_t n) {
  const int32_t c = static_cast<int32_t>(n < 0 ? 0 : n > 8 ? 8 : n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// In place: r[j] becomes column j of the 8 x 8 block whose rows were r[0..7].
inline void transpose8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {  // s[i + c]: column (4L + c) of rows i..i+3 in lane L
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x31);
  }
}

// See GemmPackFn. W is 6 (A) or 16 (B), packed in 8-lane groups. Groups narrower than 8 lanes
// (A's 6) are written with full 8-lane stores in ascending k, each overwriting the previous
// one's 2 spill lanes; the last spills 2 floats past the panel (within the documented slack).
template <int64_t W>
void pack_avx2(const float* src, int64_t ld, bool k_major, int64_t kc, int64_t w, float* dst) {
  constexpr int64_t kGroups = (W + 7) / 8;
  if (k_major) {
    for (int64_t g = 0; g < kGroups; ++g) {
      const __m256i mask = lanes(w - 8 * g);
      for (int64_t k = 0; k < kc; ++k)
        _mm256_storeu_ps(dst + k * W + 8 * g, _mm256_maskload_ps(src + k * ld + 8 * g, mask));
    }
    return;
  }
  for (int64_t g = 0; g < kGroups; ++g) {
    const int64_t rows = w - 8 * g;
    int64_t k0 = 0;
    for (; k0 + 8 <= kc; k0 += 8) {
      __m256 r[8];
      for (int64_t i = 0; i < 8; ++i)
        r[i] = i < rows ? _mm256_loadu_ps(src + (8 * g + i) * ld + k0) : _mm256_setzero_ps();
      transpose8(r);
      for (int64_t j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (k0 + j) * W + 8 * g, r[j]);
    }
    const int64_t lanes_here = W - 8 * g < 8 ? W - 8 * g : 8;
    for (; k0 < kc; ++k0)
      for (int64_t i = 0; i < lanes_here; ++i) dst[k0 * W + 8 * g + i] = i < rows ? src[(8 * g + i) * ld + k0] : 0.f;
  }
}

inline __m256 scaled(__m256 v, float alpha) { return alpha == 1.f ? v : _mm256_mul_ps(v, _mm256_set1_ps(alpha)); }

void micro_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n, float alpha,
                float beta) {
  if (beta != 0.f)
    for (int64_t i = 0; i < m; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
    }
  __m256 c0[kMR], c1[kMR];
#pragma GCC unroll 6
  for (int64_t i = 0; i < kMR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int64_t i = 0; i < kMR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
    }
    a += kMR;
    b += kNR;
  }
  const __m256 vb = _mm256_set1_ps(beta);
  if (n == kNR) {
#pragma GCC unroll 6
    for (int64_t i = 0; i < kMR; ++i) {
      if (i >= m) break;
      float* ci = c + i * ldc;
      __m256 v0 = scaled(c0[i], alpha), v1 = scaled(c1[i], alpha);
      if (beta != 0.f) {
        v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), v0);
        v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), v1);
      }
      _mm256_storeu_ps(ci, v0);
      _mm256_storeu_ps(ci + 8, v1);
    }
    return;
  }
  const __m256i m0 = lanes(n), m1 = lanes(n - 8);
#pragma GCC unroll 6
  for (int64_t i = 0; i < kMR; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
    __m256 v0 = scaled(c0[i], alpha), v1 = scaled(c1[i], alpha);
    if (beta != 0.f) {
      v0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci, m0), v0);
      v1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci + 8, m1), v1);
    }
    _mm256_maskstore_ps(ci, m0, v0);
    _mm256_maskstore_ps(ci + 8, m1, v1);
  }
}

const GemmKernel kAvx2{"avx2", kMR, kNR, micro_avx2, pack_avx2<kMR>, pack_avx2<kNR>};

}  // namespace

const GemmKernel* gemm_kernel_avx2() { return &kAvx2; }

}  // namespace ns

#else

namespace ns {
const GemmKernel* gemm_kernel_avx2() { return nullptr; }
}  // namespace ns

#endif
