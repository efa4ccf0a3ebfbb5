// AVX-512 float32 GEMM micro-kernel (14 x 32) and packing. Compiled with -mavx512f/bw/vl/dq
// -mfma (CMake, by file name) and only called after gemm.cpp checked the CPU supports it; this
// file must not be reached otherwise, and it holds no state.
//
// Register budget (32 zmm): 14 rows x 2 vectors = 28 accumulators, 2 vectors of B, 1 broadcast
// of A. Per k step: 2 aligned loads of B, 14 broadcasts of A, 28 FMAs, so the FMA pipes, not
// the load ports, set the pace (Zen 4 runs one zmm FMA per cycle, Intel server cores two).
#include "cpu/gemm_kernels.h"

#if defined(__AVX512F__) && defined(__FMA__)
// GCC 12's shuffle/unpack intrinsics pass _mm512_undefined_ps() as the unused merge source and
// then warn that it "may be used uninitialized" (GCC PR 105593, fixed in 12.3): not our bug.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace ns {
namespace {

constexpr int64_t kMR = 14, kNR = 32;

inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? 0 : __mmask16((1u << n) - 1); }

// In place: r[j] becomes column j of the 16 x 16 block whose rows were r[0..15].
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // r[i + c] now holds column (4L + c) of rows i..i+3 in lane L
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
  }
  for (int h = 0; h < 16; h += 8)
    for (int c = 0; c < 4; ++c) {
      t[h + c] = _mm512_shuffle_f32x4(r[h + c], r[h + 4 + c], 0x88);
      t[h + 4 + c] = _mm512_shuffle_f32x4(r[h + c], r[h + 4 + c], 0xdd);
    }
  for (int c = 0; c < 8; ++c) {
    r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
  }
}

// See GemmPackFn. W is 14 (A) or 32 (B); 16-lane groups of the panel are packed one at a time.
template <int64_t W>
void pack_avx512(const float* src, int64_t ld, bool k_major, int64_t kc, int64_t w, float* dst) {
  constexpr int64_t kGroups = (W + 15) / 16;
  if (k_major) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* s = src + k * ld;
      for (int64_t g = 0; g < kGroups; ++g) {
        __m512 v = _mm512_maskz_loadu_ps(lanes(w - 16 * g), s + 16 * g);
        _mm512_mask_storeu_ps(dst + k * W + 16 * g, lanes(W - 16 * g), v);
      }
    }
    return;
  }
  // Rows run along k: load 16 rows x 16 k, transpose, store 16 k-steps of this group's lanes.
  for (int64_t g = 0; g < kGroups; ++g) {
    const int64_t rows = w - 16 * g;  // valid rows of this group (may be <= 0: all zero)
    const __mmask16 store_mask = lanes(W - 16 * g);
    for (int64_t k0 = 0; k0 < kc; k0 += 16) {
      const int64_t kn = kc - k0 < 16 ? kc - k0 : 16;
      const __mmask16 kmask = lanes(kn);
      __m512 r[16];
      for (int64_t i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(kmask, src + (16 * g + i) * ld + k0) : _mm512_setzero_ps();
      transpose16(r);
      for (int64_t j = 0; j < kn; ++j) _mm512_mask_storeu_ps(dst + (k0 + j) * W + 16 * g, store_mask, r[j]);
    }
  }
}

// C tile store: c = alpha * acc + beta * c on m valid rows, masked to n valid columns.
inline void store_row(float* c, __m512 v0, __m512 v1, __mmask16 m0, __mmask16 m1, float alpha, float beta) {
  if (alpha != 1.f) {
    v0 = _mm512_mul_ps(v0, _mm512_set1_ps(alpha));
    v1 = _mm512_mul_ps(v1, _mm512_set1_ps(alpha));
  }
  if (beta != 0.f) {
    const __m512 vb = _mm512_set1_ps(beta);
    v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), v0);
    v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), v1);
  }
  _mm512_mask_storeu_ps(c, m0, v0);
  _mm512_mask_storeu_ps(c + 16, m1, v1);
}

void micro_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                  float alpha, float beta) {
  // The C rows are needed only at the end (read when beta != 0, written always): start
  // fetching them now so the stores do not wait on misses.
  for (int64_t i = 0; i < m; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_T0);
  }
  __m512 c0[kMR], c1[kMR];
#pragma GCC unroll 14
  for (int64_t i = 0; i < kMR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 14
    for (int64_t i = 0; i < kMR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
    a += kMR;
    b += kNR;
  }
  const __mmask16 m0 = lanes(n), m1 = lanes(n - 16);
#pragma GCC unroll 14
  for (int64_t i = 0; i < kMR; ++i)
    if (i < m) store_row(c + i * ldc, c0[i], c1[i], m0, m1, alpha, beta);
}

const GemmKernel kAvx512{"avx512", kMR, kNR, micro_avx512, pack_avx512<kMR>, pack_avx512<kNR>};

}  // namespace

const GemmKernel* gemm_kernel_avx512() { return &kAvx512; }

}  // namespace ns

#else

namespace ns {
const GemmKernel* gemm_kernel_avx512() { return nullptr; }
}  // namespace ns

#endif
