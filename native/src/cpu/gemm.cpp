// GEMM entry points: run-time kernel dispatch, BLIS-style cache blocking, packing and threading
// for float32; a plain loop for float64 (gradient checks only); the naive reference the fast
// path is tested against. The ISA-specific micro-kernels and packers live in gemm_avx512.cpp,
// gemm_avx2.cpp and gemm_generic.cpp (see gemm_kernels.h); this file is baseline code and must
// not use wider instructions itself.
//
// Blocking (loop nest for one task, a tile of C of up to MC x NC):
//   for pc in K step KC            KC = 256: the A micro-panel (mr x KC: 14 KiB for 14 x 256)
//                                  stays in the 32 KiB L1 while B streams past it; fixed, so
//                                  every C element sums its K in the same chunks.
//     pack B[pc:pc+KC, tile cols]  the KC x NC block fills about half of L2 (NC = 512 on a 1 MiB
//                                  L2), reused by every row panel of the tile.
//     for ir in tile rows step mr
//       pack A[ir:ir+mr, pc:pc+KC] one micro-panel, hot in L1 for the sweep below
//       for jr in tile cols step nr
//         micro-kernel             mr x nr accumulators in registers, C touched once per KC
// There is no separate MC cache level: A micro-panels are packed just before use, so the tile
// height MC only trades B-repacking (once per tile) against task count (256, 512 and 1024 rows
// measured within noise of each other). Packing A for 8-16 panels at once, reading A^T rows in
// longer runs, gained 4% on the 4096-row A^T case but lost 6-10% on NN/TN shapes whose packed
// panel then no longer sat in L1, so it is not done. Tiles are the unit of parallel work; K is
// never split across threads, so results are bit-identical for any thread count (tiling only
// decides which thread computes an element, never how).
//
// Measured on the 2-core Zen 4 VM (one zmm FMA per cycle, ~114 GFLOP/s per core): the 14 x 32
// micro-kernel alone runs at 114 GFLOP/s; whole single-thread GEMMs of the recipe's shapes at
// 95-108 (packing is 3-8% of the time; bench/gemm.ts has the end-to-end numbers).
#include "cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "cpu/gemm_kernels.h"

namespace ns {
namespace {

constexpr int64_t kKC = 256;
constexpr int64_t kMCMax = 512;       // tallest tile: B is packed once per 512 rows of C
// M*N*K below this: plain loop, no packing. Packing pays off sooner than one might think: on
// Zen 4 the packed AVX-512 path already wins at 8x8x8 (7 vs 4 GFLOP/s) and 16x16x16 (21 vs 5);
// the loop wins only on degenerate tiny shapes (1x32x1, 3x100x3, 4x4x4) where a 14 x 32 tile is
// mostly padding.
constexpr int64_t kSmallWork = 1024;
// M*N*K below this: one thread. Waking the pool costs tens of microseconds; at 128^3 (2M) two
// threads gained nothing, at 160^3 (4M) 1.1-1.2x, at 200^3 1.3x (2-core EPYC VM).
constexpr int64_t kThreadWork = int64_t(1) << 22;

// ---- kernel choice --------------------------------------------------------------------------

// Best kernel the CPU runs, or the one NIGHTSHIFT_GEMM_KERNEL names if the CPU runs that one.
const GemmKernel* choose_kernel() {
  const char* want = isa_name(choose_isa("NIGHTSHIFT_GEMM_KERNEL"));
  for (const GemmKernel* k : {gemm_kernel_avx512(), gemm_kernel_avx2()})
    if (k && std::strcmp(k->name, want) == 0) return k;
  return gemm_kernel_generic();
}

const GemmKernel& active_kernel() {
  static const GemmKernel* kernel = choose_kernel();
  return *kernel;
}

// Tile width: the KC x NC packed B block should take about half of L2.
int64_t block_nc(int64_t nr) {
  static const int64_t l2 = [] {
    long bytes = 0;
#if defined(_SC_LEVEL2_CACHE_SIZE)
    bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return bytes >= (64 << 10) && bytes <= (64 << 20) ? int64_t(bytes) : int64_t(1) << 20;
  }();
  const int64_t cols = l2 / 2 / (kKC * int64_t(sizeof(float)));
  return std::max(nr, std::min<int64_t>(cols / nr * nr, 4096));
}

// ---- per-thread packing buffers -------------------------------------------------------------

// 64-byte aligned, grown on demand and kept for the thread's life (pool threads persist), so
// steady-state GEMMs allocate nothing.
class PackBuffer {
 public:
  ~PackBuffer() { std::free(data_); }
  float* get(int64_t floats) {
    floats += 16;  // slack the packers may spill into (gemm_kernels.h)
    if (floats > cap_) {
      std::free(data_);
      const size_t bytes = (size_t(floats) * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data_) throw std::bad_alloc();
      cap_ = floats;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t cap_ = 0;
};

thread_local PackBuffer tl_pack_a, tl_pack_b;

// ---- float32 driver -------------------------------------------------------------------------

struct Problem {
  bool ta, tb;
  int64_t M, N, K;
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
};

// C[m0:m1, n0:n1] over all of K (see the loop nest at the top of the file).
void gemm_tile(const Problem& p, const GemmKernel& kern, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int64_t mr = kern.mr, nr = kern.nr;
  const int64_t panels = (n1 - n0 + nr - 1) / nr;
  float* bbuf = tl_pack_b.get(panels * nr * kKC);
  float* abuf = tl_pack_a.get(mr * kKC);
  for (int64_t pc = 0; pc < p.K; pc += kKC) {
    const int64_t kc = std::min(kKC, p.K - pc);
    for (int64_t jp = 0; jp < panels; ++jp) {
      const int64_t j = n0 + jp * nr;
      const float* src = p.tb ? p.B + j * p.ldb + pc : p.B + pc * p.ldb + j;
      kern.pack_b(src, p.ldb, !p.tb, kc, std::min(nr, n1 - j), bbuf + jp * nr * kc);
    }
    const float beta = pc == 0 ? p.beta : 1.f;
    for (int64_t i = m0; i < m1; i += mr) {
      const int64_t m = std::min(mr, m1 - i);
      const float* src = p.ta ? p.A + pc * p.lda + i : p.A + i * p.lda + pc;
      kern.pack_a(src, p.lda, p.ta, kc, m, abuf);
      for (int64_t jp = 0; jp < panels; ++jp) {
        const int64_t j = n0 + jp * nr;
        kern.micro(kc, abuf, bbuf + jp * nr * kc, p.C + i * p.ldc + j, p.ldc, m, std::min(nr, n1 - j), p.alpha,
                   beta);
      }
    }
  }
}

void gemm_blocked(const Problem& p) {
  const GemmKernel& kern = active_kernel();
  const int64_t mr = kern.mr, nr = kern.nr;
  const bool threaded = p.M * p.N * p.K >= kThreadWork && num_threads() > 1;
  // Column tiles of at most NC, row tiles of at most kMCMax. When threaded, split rows (then
  // columns) further until every thread has about two tiles, so uneven finishing times even
  // out, keeping tiles at least 4 micro-panels tall and wide.
  int64_t tm = (p.M + kMCMax - 1) / kMCMax, tn = (p.N + block_nc(nr) - 1) / block_nc(nr);
  if (threaded) {
    const int64_t want = 2 * num_threads();
    tm = std::max(tm, std::min((want + tn - 1) / tn, p.M / (4 * mr)));
    tn = std::max(tn, std::min((want + tm - 1) / tm, p.N / (4 * nr)));
  }
  const int64_t tile_m = ((p.M + tm - 1) / tm + mr - 1) / mr * mr;
  const int64_t tile_n = ((p.N + tn - 1) / tn + nr - 1) / nr * nr;
  const int64_t rows = (p.M + tile_m - 1) / tile_m, cols = (p.N + tile_n - 1) / tile_n;
  auto run = [&](int64_t t) {
    const int64_t r = t / cols, c = t % cols;
    gemm_tile(p, kern, r * tile_m, std::min(p.M, (r + 1) * tile_m), c * tile_n, std::min(p.N, (c + 1) * tile_n));
  };
  if (threaded && rows * cols > 1) {
    parallel_tasks(rows * cols, run);
  } else {
    for (int64_t t = 0; t < rows * cols; ++t) run(t);
  }
}

// Tiny problems: one thread, no packing, one accumulator per element summed in k order.
void gemm_small(const Problem& p) {
  for (int64_t m = 0; m < p.M; ++m)
    for (int64_t n = 0; n < p.N; ++n) {
      float acc = 0.f;
      for (int64_t k = 0; k < p.K; ++k) {
        const float a = p.ta ? p.A[k * p.lda + m] : p.A[m * p.lda + k];
        const float b = p.tb ? p.B[n * p.ldb + k] : p.B[k * p.ldb + n];
        acc += a * b;
      }
      float& c = p.C[m * p.ldc + n];
      c = p.beta == 0.f ? p.alpha * acc : p.alpha * acc + p.beta * c;
    }
}

// C = beta * C without reading C when beta == 0 (K == 0 or alpha == 0: op(A) op(B) adds nothing).
template <class T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t m = 0; m < M; ++m) {
    T* c = C + m * ldc;
    for (int64_t n = 0; n < N; ++n) c[n] = beta == T(0) ? T(0) : beta * c[n];
  }
}

// float64: row-parallel loop, k in order per element (deterministic for any thread count).
void gemm_double(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                 const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  parallel_for(M, std::max<int64_t>(1, kThreadWork / std::max<int64_t>(1, N * K)), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      double* c = C + m * ldc;
      for (int64_t n = 0; n < N; ++n) c[n] = beta == 0.0 ? 0.0 : c[n] * beta;
      for (int64_t k = 0; k < K; ++k) {
        const double a = alpha * (ta ? A[k * lda + m] : A[m * lda + k]);
        if (!tb) {
          const double* b = B + k * ldb;
          for (int64_t n = 0; n < N; ++n) c[n] += a * b[n];
        } else {
          for (int64_t n = 0; n < N; ++n) c[n] += a * B[n * ldb + k];
        }
      }
    }
  });
}

}  // namespace

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.f) return scale_c(M, N, beta, C, ldc);
  const Problem p{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};
  if (M * N * K < kSmallWork) return gemm_small(p);
  gemm_blocked(p);
}

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0) return scale_c(M, N, beta, C, ldc);
  gemm_double(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_reference(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += double(ta ? A[k * lda + m] : A[m * lda + k]) * double(tb ? B[n * ldb + k] : B[k * ldb + n]);
      C[m * ldc + n] = float(alpha * acc + (beta == 0.f ? 0.0 : double(beta) * C[m * ldc + n]));
    }
}

const char* gemm_kernel_name() { return active_kernel().name; }

}  // namespace ns
