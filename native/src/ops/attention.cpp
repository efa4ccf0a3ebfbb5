// attention: fused causal (optionally sliding-window) attention with grouped-query heads, as
// FlashAttention's flash_attn_func(q, k, v, causal=True, window_size=(window, 0)), forward and
// backward. It never materialises a (T, T) score matrix: work goes in 64 x 64 tiles of queries
// by keys, with an online softmax (FlashAttention-2) in the forward and recomputation of the
// probabilities from the saved row logsumexp in the backward. Tiles entirely outside the causal
// window are skipped. No atomics: every output element has one owner task, so results are
// bit-identical whatever the thread count. The naive reference (explicit scores, mask, softmax)
// lives in test/engine/attention.test.ts, which compares against it.
//
// Backward schedules: dq by (b, h, query block) plus dk/dv by (b, kv head, key block), 7 tile
// products per tile; or, when there are at least two (b, kv head) pairs per thread, one sweep
// per pair that also accumulates dq, 5 products per tile (13.3-14.2 ms instead of 17.5-19.4 ms
// for the shape below, one thread). Both give the same bits.
//
// The tile products are small register-blocked GEMMs (4 rows x 2 vectors) on GCC/Clang vector
// types. Baseline code must stay portable, so the per-tile kernels are compiled three times on
// x86-64 (AVX-512, AVX2, generic 16-byte vectors) through function target attributes and chosen
// once at run time from cpuid; NIGHTSHIFT_ATTENTION_KERNEL=generic|avx2|avx512 forces one.
// Measured on the 2-core EPYC (Zen 4) VM, B=8 T=256 H=4 D=64 float32 (bench/attention.ts), one
// thread: forward 5.7-6.0 ms, forward+backward 19-21 ms, against 34 ms for the materialised
// version built from engine ops (SIMD GEMM, (T, T) softmax); forward alone with the generic /
// avx2 / avx512 kernels: 10.3 / 6.7 / 5.8 ms.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <type_traits>

#include "core/cpu_features.h"
#include "core/dispatch.h"
#include "core/parallel.h"
#include "cuda/backend.h"
#include "ops/ops.h"

#if defined(__GNUC__) && !defined(__clang__)
// Kernel helpers pass 32/64-byte vectors by value between always-inlined functions; GCC warns
// that such signatures would have a different ABI when compiled without AVX. They never cross
// a real call boundary, so the warning says nothing here.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NS_ATTN_X86 1
#if defined(__clang__)
#define NS_ATTN_TUNE
#else
// The engine builds with -march=native; GCC 12 tunes an unknown Zen 4 as znver3, which folds
// every B load into its FMA (4x the loads) and made the forward ~45% slower. Generic tuning
// keeps the register-blocked loops as written.
#define NS_ATTN_TUNE ",tune=generic"
#endif
#define NS_ATTN_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma" NS_ATTN_TUNE), flatten))
#define NS_ATTN_TARGET_AVX2 __attribute__((target("avx2,fma" NS_ATTN_TUNE), flatten))
#if defined(__clang__)
#define NS_ATTN_TARGET_GENERIC __attribute__((flatten))
#else
#define NS_ATTN_TARGET_GENERIC __attribute__((target("tune=generic"), flatten))
#endif
// Pins a loaded vector in a register so no tuning re-reads it from memory at every use.
#define NS_ATTN_IN_REGISTER(x) __asm__("" : "+x"(x))
#else
#define NS_ATTN_X86 0
#define NS_ATTN_IN_REGISTER(x) (void)0
#endif
#if defined(__GNUC__) || defined(__clang__)
#define NS_ATTN_INLINE __attribute__((always_inline)) inline
#ifndef NS_ATTN_TARGET_GENERIC
#define NS_ATTN_TARGET_GENERIC __attribute__((flatten))
#endif
#else
#define NS_ATTN_INLINE inline
#define NS_ATTN_TARGET_GENERIC
#endif

namespace ns {
namespace {

// Queries per tile and keys per tile. A 64 x 64 float tile of scores is 16 KiB, and the
// packed key/value panels of one block are 64 x D: with D = 64 a tile's working set sits in L1/L2.
constexpr int64_t kBlock = 64;
// Packed rows are padded to 64 bytes, a multiple of every vector width used here.
constexpr int64_t kPadBytes = 64;

template <class T>
constexpr int64_t pad_elems() {
  return kPadBytes / static_cast<int64_t>(sizeof(T));
}
inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Which keys a query sees: i - window <= j <= i (window < 0: every j <= i).
inline int64_t first_key(int64_t i, int64_t window) { return window < 0 ? 0 : std::max<int64_t>(0, i - window); }
// The last query that sees key j.
inline int64_t last_query(int64_t j, int64_t window, int64_t T) {
  return window < 0 ? T - 1 : std::min<int64_t>(T - 1, j + window);
}

// Rows of one head of a (B, T, heads, D) tensor, in place or from a zero-padded contiguous copy
// (B, heads, T, Dp): row t of head (b, h) starts at at(b, h, t), consecutive rows are `st` apart.
// As the B operand of a tile product (read in whole vectors, 64 rows streamed) rows are packed:
// in place they would be read past D, and 1 KiB apart they measured ~10% slower.
template <class T>
struct Rows {
  const T* p = nullptr;
  int64_t sb = 0, sh = 0, st = 0;
  const T* at(int64_t b, int64_t h, int64_t t) const { return p + b * sb + h * sh + t * st; }
};

// Everything a tile task reads and writes. Packed operands are zero padded: rows to `Dp`
// columns, transposed panels past T, so tile products always run on whole vectors.
template <class T>
struct Args {
  int64_t B = 0, T_ = 0, H = 0, Hkv = 0, G = 0, D = 0, Dp = 0, Tp = 0, window = -1, nqb = 0;
  bool fused = false;  // backward: one task per (b, kv head) also accumulates dq
  Rows<T> q_in, go_in;     // q, dO: (B, T, H, D) in place (A operands)
  Rows<T> q, k, v, go;     // packed copies (B operands)
  const T* kts = nullptr;  // scale * k transposed: (B, Hkv, D, Tp)
  const T* vt = nullptr;   // v transposed: (B, Hkv, D, Tp)
  const T* lse = nullptr;    // (B, H, T)
  const T* delta = nullptr;  // rowsum(dO * O): (B, H, T)
  T* out = nullptr;      // (B, T, H, D)
  T* lse_out = nullptr;  // (B, H, T)
  T* dq = nullptr;       // (B, T, H, D)
  T* dk = nullptr;       // (B, T, Hkv, D)
  T* dv = nullptr;       // (B, T, Hkv, D)
  T* dq_acc = nullptr;   // fused backward's dq accumulator: (B, H, T, Dp)
  T scale = T(1);
};

// Per-task scratch, 64-byte aligned.
template <class T>
class Scratch {
 public:
  explicit Scratch(int64_t n)
      : p_(static_cast<T*>(::operator new(static_cast<size_t>(n) * sizeof(T), std::align_val_t(64)))) {}
  ~Scratch() { ::operator delete(p_, std::align_val_t(64)); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return p_; }

 private:
  T* p_;
};

// Vector kernels for L lanes of T. Every member is force-inlined so that it is compiled for the
// instruction set of the entry point it ends up in.
template <class T, int L>
struct Simd {
  typedef T V __attribute__((vector_size(L * sizeof(T))));
  static constexpr int64_t kPerTileRow = kBlock / L;  // vectors in one 64-wide tile row

  static NS_ATTN_INLINE V load(const T* p) {
    V x;
    std::memcpy(&x, p, sizeof(V));
    return x;
  }
  static NS_ATTN_INLINE void store(T* p, V x) { std::memcpy(p, &x, sizeof(V)); }
  // Spelled 0 + s on purpose: GCC 12 turns the equivalent forms (s - 0, an initializer list, a
  // lane loop) into 16 masked inserts inside AVX-512 entry points, 4x slower; 0 + s costs one
  // scalar add and a register broadcast.
  static NS_ATTN_INLINE V splat(T s) { return V{} + s; }

  // C[MR x NV*L] (+)= op(A)[MR x K] @ B[K x NV*L]; op(A)[r][k] is A[r*lda + k], or A[k*lda + r]
  // when TA (A stored transposed); B row stride ldb.
  template <bool TA, int MR, int NV>
  static NS_ATTN_INLINE void tile(int64_t K, const T* A, int64_t lda, const T* Bm, int64_t ldb, T* C, int64_t ldc,
                                  bool accumulate) {
    V c[MR][NV];
    for (int r = 0; r < MR; ++r)
      for (int n = 0; n < NV; ++n) c[r][n] = accumulate ? load(C + r * ldc + n * L) : V{};
    for (int64_t k = 0; k < K; ++k) {
      V b[NV];
      for (int n = 0; n < NV; ++n) {
        b[n] = load(Bm + k * ldb + n * L);
        NS_ATTN_IN_REGISTER(b[n]);
      }
      for (int r = 0; r < MR; ++r) {
        const V a = splat(TA ? A[k * lda + r] : A[r * lda + k]);
        for (int n = 0; n < NV; ++n) c[r][n] += a * b[n];
      }
    }
    for (int r = 0; r < MR; ++r)
      for (int n = 0; n < NV; ++n) store(C + r * ldc + n * L, c[r][n]);
  }

  template <bool TA, int NV>
  static NS_ATTN_INLINE void row_strip(int64_t M, int64_t K, const T* A, int64_t lda, const T* Bm, int64_t ldb, T* C,
                                       int64_t ldc, bool accumulate) {
    const int64_t rs = TA ? 1 : lda;  // step between rows of op(A)
    int64_t i = 0;
    for (; i + 4 <= M; i += 4) tile<TA, 4, NV>(K, A + i * rs, lda, Bm, ldb, C + i * ldc, ldc, accumulate);
    switch (M - i) {
      case 3: tile<TA, 3, NV>(K, A + i * rs, lda, Bm, ldb, C + i * ldc, ldc, accumulate); break;
      case 2: tile<TA, 2, NV>(K, A + i * rs, lda, Bm, ldb, C + i * ldc, ldc, accumulate); break;
      case 1: tile<TA, 1, NV>(K, A + i * rs, lda, Bm, ldb, C + i * ldc, ldc, accumulate); break;
      default: break;
    }
  }

  // C (M x N) (+)= op(A) (M x K) @ B (K x N), row-major; N is a multiple of L. Each C element is
  // one multiply-add chain over k in order, whatever the tiling.
  template <bool TA = false>
  static NS_ATTN_INLINE void mm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* Bm, int64_t ldb,
                                T* C, int64_t ldc, bool accumulate) {
    int64_t j = 0;
    for (; j + 2 * L <= N; j += 2 * L) row_strip<TA, 2>(M, K, A, lda, Bm + j, ldb, C + j, ldc, accumulate);
    if (j < N) row_strip<TA, 1>(M, K, A, lda, Bm + j, ldb, C + j, ldc, accumulate);
  }

  // exp of every lane. float: a polynomial on the reduced argument (vectorises; ~1 ulp);
  // double (gradient checks) goes through std::exp for full accuracy. exp(-inf) = 0.
  static NS_ATTN_INLINE V exp(V x) {
    if constexpr (std::is_same_v<T, float>) {
      typedef int32_t VI __attribute__((vector_size(L * sizeof(int32_t))));
      const V lo = splat(-87.0f), hi = splat(88.0f);
      V xc = x < lo ? lo : x;
      xc = xc > hi ? hi : xc;
      const V magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
      const V t = xc * 1.44269504088896341f + magic;
      const V n = t - magic;
      V r = xc - n * 0.693145751953125f;  // Cody–Waite split of ln 2
      r = r - n * 1.428606765330187045e-06f;
      V p = splat(1.0f / 5040.0f);  // Taylor to r^7: error < 6e-9 for |r| <= ln2/2
      p = p * r + (1.0f / 720.0f);
      p = p * r + (1.0f / 120.0f);
      p = p * r + (1.0f / 24.0f);
      p = p * r + (1.0f / 6.0f);
      p = p * r + 0.5f;
      p = p * r + 1.0f;
      p = p * r + 1.0f;
      const VI bits = ((VI)t - 0x4B400000 + 127) << 23;  // 2^n from the integer in t's low bits
      const V res = p * (V)bits;
      return x < lo ? V{} : res;
    } else {
      for (int l = 0; l < L; ++l) x[l] = std::exp(x[l]);
      return x;
    }
  }

  static NS_ATTN_INLINE T hmax(V x) {
    T m = x[0];
    for (int l = 1; l < L; ++l) m = x[l] > m ? x[l] : m;
    return m;
  }
  static NS_ATTN_INLINE T hsum(V x) {
    for (int w = L / 2; w >= 1; w /= 2)
      for (int l = 0; l < w; ++l) x[l] += x[l + w];
    return x[0];
  }
};

// Sets the entries of a (64, 64) tile (rows: queries i0.., columns: keys j0..) that a query
// must not see to `fill`; columns past nk (past T) count as invisible.
template <class T>
NS_ATTN_INLINE void mask_tile(T* S, int64_t i0, int64_t nq, int64_t j0, int64_t nk, int64_t window, T fill) {
  for (int64_t r = 0; r < nq; ++r) {
    T* row = S + r * kBlock;
    const int64_t i = i0 + r;
    const int64_t lo = std::min(kBlock, std::max<int64_t>(0, first_key(i, window) - j0));
    const int64_t hi = std::max(lo, std::min(nk, i - j0 + 1));  // visible columns: [lo, hi)
    std::fill(row, row + lo, fill);
    std::fill(row + hi, row + kBlock, fill);
  }
}
// True when every query in [i0, i0+nq) sees every key in [j0, j0+nk) and both blocks are whole.
inline bool tile_all_visible(int64_t i0, int64_t nq, int64_t j0, int64_t nk, int64_t window) {
  return nq == kBlock && nk == kBlock && j0 + nk - 1 <= i0 && (window < 0 || (i0 + nq - 1) - j0 <= window);
}
// Key blocks seen by the query block starting at i0 with nq rows: [first, last].
inline int64_t first_key_block(int64_t i0, int64_t window) { return first_key(i0, window) / kBlock; }
inline int64_t last_key_block(int64_t i0, int64_t nq) { return (i0 + nq - 1) / kBlock; }

// ---- forward ---------------------------------------------------------------------------

// One task: query block qb of head (b, h). Online softmax over the key blocks it sees.
// out rows (B, T, H, D) and lse (B, H, T) of the block are written.
template <class T, int L>
NS_ATTN_INLINE void attention_forward_task(const Args<T>& a, int64_t task) {
  using K = Simd<T, L>;
  using V = typename K::V;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t T_ = a.T_, D = a.D, Dp = a.Dp;
  const int64_t qb = a.nqb - 1 - task % a.nqb;  // later blocks see more keys: start them first
  const int64_t bh = task / a.nqb, b = bh / a.H, h = bh % a.H, hkv = h / a.G;
  const int64_t i0 = qb * kBlock, nq = std::min(kBlock, T_ - i0);
  const T* q = a.q_in.at(b, h, i0);                     // (nq, D), row stride a.q_in.st
  const T* kts = a.kts + (b * a.Hkv + hkv) * D * a.Tp;  // (D, Tp)

  Scratch<T> buf(kBlock * kBlock + kBlock * Dp + 2 * kBlock);
  T* S = buf.get();            // scores, then probabilities: (64, 64)
  T* O = S + kBlock * kBlock;  // unnormalised output: (64, Dp)
  T* m = O + kBlock * Dp;      // running row max
  T* l = m + kBlock;           // running row sum of exp
  std::fill(O, O + kBlock * Dp, T(0));
  std::fill(m, m + kBlock, kNegInf);
  std::fill(l, l + kBlock, T(0));

  for (int64_t kb = first_key_block(i0, a.window); kb <= last_key_block(i0, nq); ++kb) {
    const int64_t j0 = kb * kBlock, nk = std::min(kBlock, T_ - j0);
    K::mm(nq, kBlock, D, q, a.q_in.st, kts + j0, a.Tp, S, kBlock, false);  // S = q @ (scale k)^T
    if (!tile_all_visible(i0, nq, j0, nk, a.window)) mask_tile(S, i0, nq, j0, nk, a.window, kNegInf);
    for (int64_t r = 0; r < nq; ++r) {
      T* row = S + r * kBlock;
      V vmax = K::load(row);
      for (int64_t c = 1; c < K::kPerTileRow; ++c) {
        const V x = K::load(row + c * L);
        vmax = x > vmax ? x : vmax;
      }
      const T m_new = std::max(m[r], K::hmax(vmax));
      if (m_new == kNegInf) {  // nothing visible to this row yet
        std::fill(row, row + kBlock, T(0));
        continue;
      }
      const V vm = K::splat(m_new);
      V vsum{};
      for (int64_t c = 0; c < K::kPerTileRow; ++c) {
        const V p = K::exp(K::load(row + c * L) - vm);
        K::store(row + c * L, p);
        vsum += p;
      }
      if (m_new != m[r]) {
        const T alpha = m[r] == kNegInf ? T(0) : std::exp(m[r] - m_new);
        l[r] *= alpha;
        T* o = O + r * Dp;
        for (int64_t d = 0; d < Dp; ++d) o[d] *= alpha;
        m[r] = m_new;
      }
      l[r] += K::hsum(vsum);
    }
    K::mm(nq, Dp, nk, S, kBlock, a.v.at(b, hkv, j0), a.v.st, O, Dp, true);  // O += P @ V
  }

  for (int64_t r = 0; r < nq; ++r) {
    const T inv = T(1) / l[r];
    T* dst = a.out + ((b * T_ + i0 + r) * a.H + h) * D;
    const T* o = O + r * Dp;
    for (int64_t d = 0; d < D; ++d) dst[d] = o[d] * inv;
    a.lse_out[bh * T_ + i0 + r] = m[r] + std::log(l[r]);
  }
}

// ---- backward --------------------------------------------------------------------------

// One (query block, key block) tile of head (b, h), recomputing the probabilities from the
// saved lse: P = exp(q @ (scale k)^T - lse), dS = P * (dO @ v^T - delta). Both are (nq, 64)
// with zeros where a query does not see a key. Forward, dq and dk/dv passes all form S the
// same way, so the recomputed P matches the forward's bit for bit.
template <class T, int L>
NS_ATTN_INLINE void backward_tile(const Args<T>& a, int64_t b, int64_t h, int64_t i0, int64_t nq, int64_t j0,
                                  int64_t nk, T* P, T* dS) {
  using K = Simd<T, L>;
  const int64_t hkv = h / a.G, bh = b * a.H + h;
  const T* kts = a.kts + (b * a.Hkv + hkv) * a.D * a.Tp;
  const T* vt = a.vt + (b * a.Hkv + hkv) * a.D * a.Tp;
  const T* lse = a.lse + bh * a.T_ + i0;
  const T* delta = a.delta + bh * a.T_ + i0;
  K::mm(nq, kBlock, a.D, a.q_in.at(b, h, i0), a.q_in.st, kts + j0, a.Tp, P, kBlock, false);
  for (int64_t r = 0; r < nq; ++r) {
    const typename K::V vl = K::splat(lse[r]);
    T* row = P + r * kBlock;
    for (int64_t c = 0; c < K::kPerTileRow; ++c) K::store(row + c * L, K::exp(K::load(row + c * L) - vl));
  }
  if (!tile_all_visible(i0, nq, j0, nk, a.window)) mask_tile(P, i0, nq, j0, nk, a.window, T(0));
  K::mm(nq, kBlock, a.D, a.go_in.at(b, h, i0), a.go_in.st, vt + j0, a.Tp, dS, kBlock, false);  // dP = dO @ v^T
  for (int64_t r = 0; r < nq; ++r) {
    const typename K::V vd = K::splat(delta[r]);
    for (int64_t c = 0; c < K::kPerTileRow; ++c) {
      T* x = dS + r * kBlock + c * L;
      K::store(x, K::load(P + r * kBlock + c * L) * (K::load(x) - vd));
    }
  }
}

// One task: dq of query block qb of head (b, h): dq = scale * sum over key blocks of dS @ k.
template <class T, int L>
NS_ATTN_INLINE void attention_backward_dq_task(const Args<T>& a, int64_t task) {
  using K = Simd<T, L>;
  const int64_t T_ = a.T_, D = a.D, Dp = a.Dp;
  const int64_t qb = a.nqb - 1 - task % a.nqb;
  const int64_t bh = task / a.nqb, b = bh / a.H, h = bh % a.H, hkv = h / a.G;
  const int64_t i0 = qb * kBlock, nq = std::min(kBlock, T_ - i0);

  Scratch<T> buf(2 * kBlock * kBlock + kBlock * Dp);
  T* P = buf.get();              // (64, 64)
  T* dS = P + kBlock * kBlock;   // (64, 64)
  T* dq = dS + kBlock * kBlock;  // (64, Dp)
  std::fill(dq, dq + kBlock * Dp, T(0));
  for (int64_t kb = first_key_block(i0, a.window); kb <= last_key_block(i0, nq); ++kb) {
    const int64_t j0 = kb * kBlock, nk = std::min(kBlock, T_ - j0);
    backward_tile<T, L>(a, b, h, i0, nq, j0, nk, P, dS);
    K::mm(nq, Dp, nk, dS, kBlock, a.k.at(b, hkv, j0), a.k.st, dq, Dp, true);
  }
  for (int64_t r = 0; r < nq; ++r) {
    T* dst = a.dq + ((b * T_ + i0 + r) * a.H + h) * D;
    for (int64_t d = 0; d < D; ++d) dst[d] = dq[r * Dp + d] * a.scale;
  }
}

// Key block kb of kv head (b, hkv): dk = scale * dS^T @ q and dv = P^T @ dO, summed over the
// group's query heads and the query blocks that see the block. In the fused backward it also
// adds dS @ k into dq_acc, in the same key-block order as the dq task.
template <class T, int L>
NS_ATTN_INLINE void attention_backward_dkdv_block(const Args<T>& a, int64_t b, int64_t hkv, int64_t kb, T* scratch) {
  using K = Simd<T, L>;
  const int64_t T_ = a.T_, D = a.D, Dp = a.Dp;
  const int64_t j0 = kb * kBlock, nk = std::min(kBlock, T_ - j0);
  T* P = scratch;                // (64, 64)
  T* dS = P + kBlock * kBlock;   // (64, 64)
  T* dk = dS + kBlock * kBlock;  // (64, Dp)
  T* dv = dk + kBlock * Dp;      // (64, Dp)
  std::fill(dk, dk + 2 * kBlock * Dp, T(0));

  const int64_t qb_first = j0 / kBlock, qb_last = last_query(j0 + nk - 1, a.window, T_) / kBlock;
  for (int64_t g = 0; g < a.G; ++g) {
    const int64_t h = hkv * a.G + g;
    for (int64_t qb = qb_first; qb <= qb_last; ++qb) {
      const int64_t i0 = qb * kBlock, nq = std::min(kBlock, T_ - i0);
      backward_tile<T, L>(a, b, h, i0, nq, j0, nk, P, dS);
      K::template mm<true>(nk, Dp, nq, P, kBlock, a.go.at(b, h, i0), a.go.st, dv, Dp, true);  // dv += P^T @ dO
      K::template mm<true>(nk, Dp, nq, dS, kBlock, a.q.at(b, h, i0), a.q.st, dk, Dp, true);   // dk += dS^T @ q
      if (a.fused)
        K::mm(nq, Dp, nk, dS, kBlock, a.k.at(b, hkv, j0), a.k.st, a.dq_acc + ((b * a.H + h) * T_ + i0) * Dp, Dp, true);
    }
  }
  for (int64_t r = 0; r < nk; ++r) {
    const int64_t at = ((b * T_ + j0 + r) * a.Hkv + hkv) * D;
    for (int64_t d = 0; d < D; ++d) {
      a.dk[at + d] = dk[r * Dp + d] * a.scale;
      a.dv[at + d] = dv[r * Dp + d];
    }
  }
}

// One task: key block (b, hkv, kb), or in the fused backward every key block of (b, hkv) in
// ascending order (so each dq row sums its key blocks in the same order as the dq task does).
template <class T, int L>
NS_ATTN_INLINE void attention_backward_dkdv_task(const Args<T>& a, int64_t task) {
  Scratch<T> buf(2 * kBlock * kBlock + 2 * kBlock * a.Dp);
  if (a.fused) {
    const int64_t b = task / a.Hkv, hkv = task % a.Hkv;
    for (int64_t kb = 0; kb < a.nqb; ++kb) attention_backward_dkdv_block<T, L>(a, b, hkv, kb, buf.get());
  } else {
    const int64_t kb = task % a.nqb, bk = task / a.nqb;  // early key blocks are seen by more queries
    attention_backward_dkdv_block<T, L>(a, bk / a.Hkv, bk % a.Hkv, kb, buf.get());
  }
}

// ---- instruction-set dispatch ------------------------------------------------------------

// dst (D, Tp) = s * src (n, D) transposed, src row stride ld; columns n..Tp are zero.
template <class T>
NS_ATTN_INLINE void transpose_rows(T* dst, const T* src, int64_t ld, int64_t n, int64_t D, int64_t Tp, T s) {
  constexpr int64_t kRows = 16;  // a 16-row slab is 16 cache lines: its reads stay in L1
  for (int64_t j0 = 0; j0 < n; j0 += kRows) {
    const int64_t j1 = std::min(n, j0 + kRows);
    for (int64_t c = 0; c < D; ++c)
      for (int64_t j = j0; j < j1; ++j) dst[c * Tp + j] = s * src[j * ld + c];
  }
  for (int64_t c = 0; c < D; ++c) std::fill(dst + c * Tp + n, dst + (c + 1) * Tp, T(0));
}

enum class Pass { Forward, BackwardDq, BackwardDkDv };

template <class T, int L>
NS_ATTN_INLINE void run_task(Pass pass, const Args<T>& a, int64_t task) {
  switch (pass) {
    case Pass::Forward: attention_forward_task<T, L>(a, task); break;
    case Pass::BackwardDq: attention_backward_dq_task<T, L>(a, task); break;
    case Pass::BackwardDkDv: attention_backward_dkdv_task<T, L>(a, task); break;
  }
}

template <class T>
struct Kernels {
  void (*run)(Pass, const Args<T>&, int64_t);
  void (*transpose)(T*, const T*, int64_t, int64_t, int64_t, int64_t, T);
};

// Entry points, one per (instruction set, dtype). `flatten` inlines the whole kernel into the
// entry point, so all of it is compiled for that entry point's target.
#define NS_ATTN_ENTRIES(SUFFIX, ATTR, BYTES)                                                        \
  ATTR void run_f32_##SUFFIX(Pass p, const Args<float>& a, int64_t t) {                            \
    run_task<float, BYTES / 4>(p, a, t);                                                            \
  }                                                                                                 \
  ATTR void run_f64_##SUFFIX(Pass p, const Args<double>& a, int64_t t) {                           \
    run_task<double, BYTES / 8>(p, a, t);                                                           \
  }                                                                                                 \
  ATTR void transpose_f32_##SUFFIX(float* d, const float* s, int64_t ld, int64_t n, int64_t D,     \
                                   int64_t Tp, float k) {                                           \
    transpose_rows(d, s, ld, n, D, Tp, k);                                                          \
  }                                                                                                 \
  ATTR void transpose_f64_##SUFFIX(double* d, const double* s, int64_t ld, int64_t n, int64_t D,   \
                                   int64_t Tp, double k) {                                          \
    transpose_rows(d, s, ld, n, D, Tp, k);                                                          \
  }

// 16-byte vectors: SSE2 on x86-64, NEON on aarch64.
NS_ATTN_ENTRIES(generic, NS_ATTN_TARGET_GENERIC, 16)
#if NS_ATTN_X86
NS_ATTN_ENTRIES(avx2, NS_ATTN_TARGET_AVX2, 32)
NS_ATTN_ENTRIES(avx512, NS_ATTN_TARGET_AVX512, 64)
#endif
#undef NS_ATTN_ENTRIES

Isa cpu_isa() {
  static const Isa isa = choose_isa("NIGHTSHIFT_ATTENTION_KERNEL");
  return isa;
}

template <class T>
Kernels<T> kernels();

template <>
Kernels<float> kernels<float>() {
#if NS_ATTN_X86
  if (cpu_isa() == Isa::Avx512) return {run_f32_avx512, transpose_f32_avx512};
  if (cpu_isa() == Isa::Avx2) return {run_f32_avx2, transpose_f32_avx2};
#endif
  return {run_f32_generic, transpose_f32_generic};
}

template <>
Kernels<double> kernels<double>() {
#if NS_ATTN_X86
  if (cpu_isa() == Isa::Avx512) return {run_f64_avx512, transpose_f64_avx512};
  if (cpu_isa() == Isa::Avx2) return {run_f64_avx2, transpose_f64_avx2};
#endif
  return {run_f64_generic, transpose_f64_generic};
}

// ---- packing -----------------------------------------------------------------------------

struct Dims {
  int64_t B, T, H, Hkv, D;
  int64_t Dp;  // D rounded up to whole vectors: row stride of packed rows
  int64_t Tp;  // T rounded up to whole key blocks: row stride of transposed panels
};

template <class T>
Dims dims_of(const TensorPtr& q, const TensorPtr& k) {
  Dims d{q->shape[0], q->shape[1], q->shape[2], k->shape[2], q->shape[3], 0, 0};
  d.Dp = round_up(d.D, pad_elems<T>());
  d.Tp = round_up(std::max<int64_t>(d.T, 1), kBlock);
  return d;
}

template <class T>
Rows<T> rows_in_place(const TensorPtr& x, const Dims& d, int64_t heads) {
  Rows<T> r;
  r.p = x->data<T>(), r.sb = d.T * heads * d.D, r.sh = d.D, r.st = heads * d.D;
  return r;
}

// x: (B, T, heads, D) packed as (B, heads, T, Dp) with zeros past D, held in `keep` (a tensor,
// so memoryStats sees it).
template <class T>
Rows<T> rows_packed(const TensorPtr& x, const Dims& d, int64_t heads, TensorPtr& keep) {
  const T* src = x->data<T>();
  keep = empty({d.B, heads, d.T, d.Dp}, x->dtype);
  T* dst = keep->data<T>();
  parallel_tasks(d.B * heads, [&](int64_t i) {
    const int64_t b = i / heads, h = i % heads;
    for (int64_t t = 0; t < d.T; ++t) {
      const T* from = src + ((b * d.T + t) * heads + h) * d.D;
      T* to = dst + (i * d.T + t) * d.Dp;
      std::copy(from, from + d.D, to);
      std::fill(to + d.D, to + d.Dp, T(0));
    }
  });
  Rows<T> r;
  r.p = dst, r.sb = heads * d.T * d.Dp, r.sh = d.T * d.Dp, r.st = d.Dp;
  return r;
}

// (B, Hkv, D, Tp) = s * x transposed per kv head, x: (B, T, Hkv, D); columns past T are zero.
template <class T>
TensorPtr transposed_of(const TensorPtr& x, const Dims& d, T s) {
  auto out = empty({d.B, d.Hkv, d.D, d.Tp}, x->dtype);
  const T* src = x->data<T>();
  T* dst = out->data<T>();
  const Kernels<T> kern = kernels<T>();
  parallel_tasks(d.B * d.Hkv, [&](int64_t i) {
    const int64_t b = i / d.Hkv, h = i % d.Hkv;
    kern.transpose(dst + i * d.D * d.Tp, src + (b * d.T * d.Hkv + h) * d.D, d.Hkv * d.D, d.T, d.D, d.Tp, s);
  });
  return out;
}

template <class T>
Args<T> base_args(const Dims& d, int64_t window, double scale) {
  Args<T> a;
  a.B = d.B, a.T_ = d.T, a.H = d.H, a.Hkv = d.Hkv, a.G = d.H / d.Hkv, a.D = d.D, a.Dp = d.Dp, a.Tp = d.Tp;
  a.window = window;
  a.nqb = (d.T + kBlock - 1) / kBlock;
  a.scale = static_cast<T>(scale);
  return a;
}

// out: (B, T, H, D), lse: (B, H, T) written. q: (B, T, H, D), k, v: (B, T, Hkv, D), all dense.
template <class T>
void attention_forward(const TensorPtr& out, const TensorPtr& lse, const TensorPtr& q, const TensorPtr& k,
                       const TensorPtr& v, int64_t window, double scale) {
  const Dims d = dims_of<T>(q, k);
  Args<T> a = base_args<T>(d, window, scale);
  TensorPtr vp;
  a.q_in = rows_in_place<T>(q, d, d.H);
  a.v = rows_packed<T>(v, d, d.Hkv, vp);
  TensorPtr kts = transposed_of<T>(k, d, a.scale);
  a.kts = kts->data<T>();
  a.out = out->data<T>();
  a.lse_out = lse->data<T>();
  const Kernels<T> kern = kernels<T>();
  parallel_tasks(d.B * d.H * a.nqb, [&](int64_t t) { kern.run(Pass::Forward, a, t); });
}

// dq: (B, T, H, D), dk, dv: (B, T, Hkv, D) written (dq or dk/dv may be null when not needed).
// go = dO and out: (B, T, H, D), lse: (B, H, T); q: (B, T, H, D), k, v: (B, T, Hkv, D); dense.
template <class T>
void attention_backward(const TensorPtr& dq, const TensorPtr& dk, const TensorPtr& dv, const TensorPtr& go,
                        const TensorPtr& q, const TensorPtr& k, const TensorPtr& v, const TensorPtr& out,
                        const TensorPtr& lse, int64_t window, double scale) {
  const Dims d = dims_of<T>(q, k);
  Args<T> a = base_args<T>(d, window, scale);
  const bool need_q = dq != nullptr, need_kv = dk != nullptr;
  // One task per (b, kv head) computes everything in a single sweep (5 tile products per tile
  // instead of 7) when there are enough of them to keep every thread busy. Both schedules give
  // the same bits (same products, same summation order), so the choice may follow the thread count.
  a.fused = need_q && need_kv && d.B * d.Hkv >= 2 * num_threads();

  auto delta = empty({d.B, d.H, d.T}, q->dtype);
  const T* god = go->data<T>();
  const T* od = out->data<T>();
  parallel_tasks(d.B * d.H, [&](int64_t i) {  // delta_i = rowsum(dO * O), lanes summed in a fixed order
    const int64_t b = i / d.H, h = i % d.H;
    T* del = delta->data<T>() + i * d.T;
    for (int64_t t = 0; t < d.T; ++t) {
      const T* x = god + ((b * d.T + t) * d.H + h) * d.D;
      const T* o = od + ((b * d.T + t) * d.H + h) * d.D;
      T acc[8] = {};
      int64_t c = 0;
      for (; c + 8 <= d.D; c += 8)
        for (int w = 0; w < 8; ++w) acc[w] += x[c + w] * o[c + w];
      for (int w = 0; c < d.D; ++c, ++w) acc[w] += x[c] * o[c];
      del[t] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
  });
  TensorPtr qp, kp, gop, dq_acc;
  a.q_in = rows_in_place<T>(q, d, d.H);
  a.go_in = rows_in_place<T>(go, d, d.H);
  if (need_q) a.k = rows_packed<T>(k, d, d.Hkv, kp);
  if (need_kv) {
    a.q = rows_packed<T>(q, d, d.H, qp);
    a.go = rows_packed<T>(go, d, d.H, gop);
  }
  TensorPtr kts = transposed_of<T>(k, d, a.scale);
  TensorPtr vt = transposed_of<T>(v, d, T(1));
  if (a.fused) dq_acc = zeros({d.B, d.H, d.T, d.Dp}, q->dtype);
  a.kts = kts->data<T>();
  a.vt = vt->data<T>();
  a.lse = lse->data<T>();
  a.delta = delta->data<T>();
  a.dq = need_q ? dq->data<T>() : nullptr;
  a.dk = need_kv ? dk->data<T>() : nullptr;
  a.dv = need_kv ? dv->data<T>() : nullptr;
  a.dq_acc = dq_acc ? dq_acc->data<T>() : nullptr;

  const Kernels<T> kern = kernels<T>();
  if (a.fused) {
    parallel_tasks(d.B * d.Hkv, [&](int64_t t) { kern.run(Pass::BackwardDkDv, a, t); });
    parallel_tasks(d.B * d.H, [&](int64_t i) {  // dq = scale * dq_acc, (B, H, T, Dp) -> (B, T, H, D)
      const int64_t b = i / d.H, h = i % d.H;
      for (int64_t t = 0; t < d.T; ++t) {
        const T* src = a.dq_acc + (i * d.T + t) * d.Dp;
        T* dst = a.dq + ((b * d.T + t) * d.H + h) * d.D;
        for (int64_t c = 0; c < d.D; ++c) dst[c] = src[c] * a.scale;
      }
    });
    return;
  }
  if (need_q) parallel_tasks(d.B * d.H * a.nqb, [&](int64_t t) { kern.run(Pass::BackwardDq, a, t); });
  if (need_kv) parallel_tasks(d.B * d.Hkv * a.nqb, [&](int64_t t) { kern.run(Pass::BackwardDkDv, a, t); });
}

struct AttentionBackward : Node {
  TensorPtr q, k, v, out, lse;
  int64_t window = -1;
  double scale = 1;
  const char* name() const override { return "attention"; }
  void release_saved() override {
    q.reset();
    k.reset();
    v.reset();
    out.reset();
    lse.reset();
  }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    const bool need_q = inputs[0]->requires_grad, need_kv = inputs[1]->requires_grad || inputs[2]->requires_grad;
    auto qd = dense(q), kd = dense(k), vd = dense(v), gd = dense(g);
    const Device device = q->device();
    TensorPtr dq = need_q ? empty(q->shape, q->dtype, device) : nullptr;
    TensorPtr dk = need_kv ? empty(k->shape, k->dtype, device) : nullptr;
    TensorPtr dv = need_kv ? empty(v->shape, v->dtype, device) : nullptr;
    if (q->numel() > 0 && k->numel() > 0 && device.is_cuda()) {
      cuda_backend("attention").attention_backward(dq, dk, dv, gd, qd, kd, vd, out, lse, window, scale);
    } else if (q->numel() > 0 && k->numel() > 0) {
      NS_DISPATCH_FLOAT(q->dtype, "attention",
                        attention_backward<scalar_t>(dq, dk, dv, gd, qd, kd, vd, out, lse, window, scale));
    } else {  // an empty batch or sequence: nothing flows
      if (dq) fill(dq, 0);
      if (dk) fill(dk, 0);
      if (dv) fill(dv, 0);
    }
    return {dq, dk, dv};
  }
};

}  // namespace

TensorPtr attention(const TensorPtr& q, const TensorPtr& k, const TensorPtr& v, int64_t window, double scale) {
  const auto shapes = [&] {
    return "q " + shape_str(q->shape) + ", k " + shape_str(k->shape) + ", v " + shape_str(v->shape);
  };
  NS_CHECK(q->dim() == 4 && k->dim() == 4 && v->dim() == 4,
           "attention: expected q (B, T, H, D) and k, v (B, T, Hkv, D), got ", shapes());
  NS_CHECK(k->shape == v->shape, "attention: k and v must have the same shape, got ", shapes());
  NS_CHECK(q->shape[0] == k->shape[0] && q->shape[1] == k->shape[1] && q->shape[3] == k->shape[3],
           "attention: q and k, v disagree on B, T or D, got ", shapes());
  NS_CHECK(q->shape[3] >= 1, "attention: head dim D must be at least 1, got ", shapes());
  NS_CHECK(k->shape[2] >= 1 && q->shape[2] % k->shape[2] == 0,
           "attention: query heads H must be a multiple of kv heads Hkv, got ", shapes());
  NS_CHECK(q->dtype == k->dtype && q->dtype == v->dtype, "attention: dtype mismatch, q ", dtype_name(q->dtype),
           ", k ", dtype_name(k->dtype), ", v ", dtype_name(v->dtype), " (", shapes(), ")");
  NS_CHECK(q->dtype == DType::F32 || q->dtype == DType::F64, "attention: expected float32 or float64 tensors, got ",
           dtype_name(q->dtype), " (", shapes(), ")");
  NS_CHECK(std::isfinite(scale), "attention: scale must be finite, got ", scale, " (", shapes(), ")");
  check_same_device("attention", {q, k, v});

  const int64_t B = q->shape[0], T = q->shape[1], H = q->shape[2];
  // A window reaching back past the first key is plain causal attention (and avoids overflow
  // in j + window for huge windows).
  if (window >= T) window = -1;
  auto out = empty(q->shape, q->dtype, q->device());
  auto lse = empty({B, H, T}, q->dtype, q->device());
  if (q->numel() > 0 && q->is_cuda()) {
    cuda_backend("attention").attention_forward(out, lse, dense(q), dense(k), dense(v), window, scale);
  } else if (q->numel() > 0) {
    auto qd = dense(q), kd = dense(k), vd = dense(v);
    NS_DISPATCH_FLOAT(q->dtype, "attention", attention_forward<scalar_t>(out, lse, qd, kd, vd, window, scale));
  }
  if (needs_grad({q, k, v})) {
    auto node = std::make_shared<AttentionBackward>();
    node->q = q;
    node->k = k;
    node->v = v;
    // A view on the output's storage, not the output itself: the output owns this node, and
    // holding it here would make a reference cycle.
    node->out = make_view(out, out->shape, out->strides, out->offset);
    node->lse = lse;
    node->window = window;
    node->scale = scale;
    attach(out, node, {q, k, v});
  }
  return out;
}

}  // namespace ns
