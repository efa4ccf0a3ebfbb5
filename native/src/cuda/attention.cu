// attention.cu: CudaBackendImpl::attention_forward and attention_backward, fused causal
// (optionally sliding-window) attention with grouped-query heads, the semantics of
// ops/attention.cpp: q (B, T, H, D), k and v (B, T, Hkv, D), query head h reads kv head
// h / (H / Hkv), query i sees keys j with i - window <= j <= i (window < 0: every j <= i), `scale`
// multiplies q.k, lse (B, H, T) is the natural-log logsumexp of each query row's scaled scores.
// No (T, T) matrix is ever stored and nothing here synchronises with the host.
//
// Tensor-core path (FlashAttention-2 scheme; D <= 128 with D % 4 == 0, 16-byte aligned tensors,
// an sm_80+ card, matmul precision BF16 or TF32): tiles are converted from f32 to bf16 as they are
// loaded into shared memory and multiplied with mma.sync m16n8k16 (bf16 in, f32 accumulate).
// mma.sync rather than wmma: its register layout is documented (see "Fragment layouts"), so the
// online softmax works on the score accumulators in place and those same registers become the
// A operand of the next product (P @ V) without a trip through shared memory; wmma's layout is
// opaque. Hopper's wgmma would be faster still but needs sm_90a-only code; that is a later,
// measured step. Every kernel uses 8 warps, each owning 16 rows of the CTA's resident tile
// (128 rows); the other operand streams through double-buffered shared memory in tiles of 64
// rows, the next tile's f32 loads in flight in registers while the current tile computes. Tiles
// outside the causal window are never visited; a warp whose 16 rows see nothing of a tile skips
// its products, and only warps straddling the window's edges apply the element mask.
//   forward    one CTA per (128 queries, head, batch), key tiles of 64 streamed.
//   backward   delta = rowsum(dO * O) (B, H, T), then two kernels that each own their outputs,
//              so results are deterministic: dK/dV with one CTA per (128 keys, kv head, batch)
//              looping over the group's query heads and the 64-query tiles that see its keys,
//              and dQ with one CTA per (128 queries, head, batch) looping over key tiles.
//              The dQ kernel recomputes the two score products (7 tile products in all instead
//              of FA2's 5 with float atomics into dQ); we pay that for bit-reproducible training
//              and no dQ accumulator. (One CTA per (batch, kv head) sweeping all key tiles, as
//              the CPU's fused schedule does, would also avoid atomics, but 132 such CTAs each
//              re-reading their own head's q and dO for every key tile overflow the L2.)
// Fallback path (any other shape, the F32 matmul precision, unaligned views): plain f32 kernels,
// one CTA per query row (forward, dQ) or key row (dK/dV), keys or queries in chunks of 128 with
// an online softmax. Slow but obviously right; with F32 precision they match the CPU to ~1e-5.
//
// Shared memory (bytes, kD = D padded to 64 or 128): forward (128 + 4*64) rows * (kD+8) * 2 =
// 104448 for kD = 128; dQ and dK/dV (2*128 + 4*64) rows * (kD+8) * 2 (+ 1 KiB for dK/dV) =
// 139264 / 140288. All fit H100 (227 KiB) and A100 (sm_80, 163 KiB opt-in); sm_86/89 cards
// (99 KiB) fit kD = 64 only and take the fallback for larger heads.
// Registers (ptxas 13.0, sm_90, kD = 128 / 64): forward 233 / 167, dK/dV 248 / 178, dQ 238 / 183,
// no spills, so one 8-warp CTA per SM. The dK/dV kernel's accumulators alone take 128 registers:
// it works on 32 of its 64 streamed queries at a time and keeps a quarter of the next q / dO
// tile in flight per product, which is what keeps it from spilling. Not yet timed on a GPU.
//
// Fragment layouts (PTX ISA, mma.m16n8k16 with .bf16; lane = 0..31, g = lane / 4, t = lane % 4):
//   A (16 x 16, row-major), four .b32 registers of two bf16 each (low half = lower column):
//     a0 = A[g][2t, 2t+1]   a1 = A[g+8][2t, 2t+1]   a2 = A[g][2t+8, 2t+9]   a3 = A[g+8][2t+8, 2t+9]
//   B (16 x 8, k x n), two registers:  b0 = B[2t, 2t+1][g]   b1 = B[2t+8, 2t+9][g]
//   C/D (16 x 8, f32):  c0, c1 = C[g][2t, 2t+1]   c2, c3 = C[g+8][2t, 2t+1]
//   So a thread holds rows g and g+8 of every accumulator; the four lanes of a quad (same g) hold
//   one row between them (row reductions shuffle over lane ^ 1 and lane ^ 2). The accumulators of
//   n-blocks 2kk and 2kk+1 (columns 16kk..16kk+15) are, element for element, the A fragment of
//   k-slice kk: a0 = (c0, c1) of block 2kk, a1 = (c2, c3) of 2kk, a2 = (c0, c1) of 2kk+1, a3 = (c2, c3)
//   of 2kk+1 (pack_a_fragments). ldmatrix.x4: lanes 8m..8m+7 give the row addresses of 8x8 matrix
//   m; each lane receives in register m the pair (row g, columns 2t, 2t+1) of matrix m, or with
//   .trans the pair (rows 2t, 2t+1, column g). Two address orders are used (ldsm_rows_first /
//   ldsm_cols_first, below) and each use site says which fragment every register becomes.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include <utility>

#include "core/dtype.h"
#include "cuda/backend_impl.cuh"

namespace ns {
namespace cuda {
namespace {

using bf16 = __nv_bfloat16;

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// ---- geometry of the tensor-core kernels ----
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kWarpRows = 16;                       // one m16 slab of the resident tile per warp
constexpr int kResidentRows = kWarps * kWarpRows;   // queries (forward, dQ) or keys (dK/dV) per CTA
constexpr int kStreamRows = 64;                     // keys (forward, dQ) or queries (dK/dV) per streamed tile
// bf16 per shared row beyond kD: with rows (kD + 8) * 2 bytes apart, the 8 rows of an ldmatrix
// land in 8 distinct 16-byte bank groups ((kD + 8) / 8 is odd for kD = 64 and 128).
constexpr int kPad = 8;
constexpr int kMaxTensorCoreD = 128;

template <int kD>
constexpr int smem_stride() {
  return kD + kPad;
}
template <int kD>
constexpr size_t forward_smem_bytes() {  // q (128 rows), k and v (2 buffers of 64 rows each)
  return size_t(kResidentRows + 4 * kStreamRows) * smem_stride<kD>() * sizeof(bf16);
}
template <int kD>
constexpr size_t dq_smem_bytes() {  // q, dO (128 rows each), k and v (2 buffers of 64 rows each)
  return size_t(2 * kResidentRows + 4 * kStreamRows) * smem_stride<kD>() * sizeof(bf16);
}
template <int kD>
constexpr size_t dkdv_smem_bytes() {  // k, v (128 rows each), q and dO (2 x 64 rows), lse and delta (2 x 64)
  return size_t(2 * kResidentRows + 4 * kStreamRows) * smem_stride<kD>() * sizeof(bf16) +
         4 * kStreamRows * sizeof(float);
}
constexpr size_t kHopperSmem = 227 * 1024;
constexpr size_t kAmpereSmem = 163 * 1024;  // sm_80's opt-in limit per block
static_assert(forward_smem_bytes<128>() <= kAmpereSmem && dq_smem_bytes<128>() <= kAmpereSmem &&
                  dkdv_smem_bytes<128>() <= kAmpereSmem && kAmpereSmem <= kHopperSmem,
              "attention tiles must fit sm_80's and sm_90's shared memory");

// Everything about the problem a kernel needs, by value.
struct Dims {
  int B, T, H, Hkv, G, D;  // G = H / Hkv query heads per kv head
  int window;              // < 0: plain causal; else 0 <= window < T
  unsigned max_lag;        // the largest visible i - j: window, or 2^31 - 1 for plain causal
  float scale;             // multiplies q.k
  float scale_log2;        // scale * log2(e): scores in base-2 units, for exp2f
};

// Element offset of row t of head h in a (B, T, heads, D) tensor.
__host__ __device__ __forceinline__ int64_t row_offset(int b, int t, int h, int heads, int T, int D) {
  return ((static_cast<int64_t>(b) * T + t) * heads + h) * D;
}

// ---- the causal window ----
__device__ __forceinline__ int first_key_seen(int i, int window) { return window < 0 ? 0 : max(0, i - window); }
__device__ __forceinline__ int last_query_seeing(int j, int window, int T) {
  return window < 0 ? T - 1 : min(T - 1, j + window);
}
// Query i sees key j iff its lag i - j is in [0, max_lag]: one unsigned comparison, as a negative
// lag (a future key) wraps past any limit.
__device__ __forceinline__ bool lag_visible(int lag, unsigned max_lag) { return static_cast<unsigned>(lag) <= max_lag; }
// Some query of [i_lo, i_hi] sees some key of [j_lo, j_hi]: the band j in [i - window, i] is
// convex, so this holds iff max(i_lo, j_lo) <= min(i_hi, j_hi + window).
__device__ __forceinline__ bool touches_band(int i_lo, int i_hi, int j_lo, int j_hi, int window) {
  return j_lo <= i_hi && (window < 0 || i_lo - window <= j_hi);
}
// Every query of [i_lo, i_hi] sees every key of [j_lo, j_hi] (no mask needed).
__device__ __forceinline__ bool inside_band(int i_lo, int i_hi, int j_lo, int j_hi, int window) {
  return j_hi <= i_lo && (window < 0 || i_hi - j_lo <= window);
}

// ---- tensor-core primitives (sm_80+; the host takes this path only on such cards) ----
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define NS_ATTN_HAS_BF16_MMA 0
#else
#define NS_ATTN_HAS_BF16_MMA 1
#endif

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Two floats as bf16 (round to nearest even) in one register: `lo` in the low half.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  uint32_t r = 0;
#if NS_ATTN_HAS_BF16_MMA
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));  // first source -> high half
#else
  __trap();
#endif
  return r;
}

// ldmatrix.x4 (optionally .trans) from this lane's row address `base` plus kOffset bytes. The
// offset is an immediate of the instruction, so a whole unrolled product needs one base register
// per operand rather than one address register per 16 x 16 block.
template <int kOffset, bool kTrans>
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t base) {
#if NS_ATTN_HAS_BF16_MMA
  if constexpr (kTrans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4+%5];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(base), "n"(kOffset));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4+%5];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(base), "n"(kOffset));
#else
  r[0] = r[1] = r[2] = r[3] = 0;
  __trap();
#endif
}

// c (16 x 8, f32) += a (16 x 16, bf16) . b (16 x 8, bf16), layouts as in the file header.
__device__ __forceinline__ void mma_bf16_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if NS_ATTN_HAS_BF16_MMA
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

// Calls f(std::integral_constant<int, 0>{}) .. f(std::integral_constant<int, N - 1>{}): an unrolled
// loop whose index is a constant expression (it becomes ldmatrix immediates and register indices).
template <class F, int... I>
__device__ __forceinline__ void unrolled(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
template <int N, class F>
__device__ __forceinline__ void unrolled(F&& f) {
  unrolled(f, std::make_integer_sequence<int, N>{});
}

// This lane's ldmatrix.x4 row address for the 16 x 16 block at (0, 0) of a bf16 array with `stride`
// elements per row; the block at (row0, col0) is (row0 * stride + col0) * 2 bytes further on.
// Matrices in the order (rows 0-7, cols 0-7), (rows 8-15, cols 0-7), (rows 0-7, cols 8-15),
// (rows 8-15, cols 8-15): non-transposed on row-major A this yields a0..a3 of the block; .trans
// on a (k x n) row-major B yields b0, b1 of n-block col0 and then b0, b1 of n-block col0 + 8.
__device__ __forceinline__ uint32_t ldsm_rows_first(const bf16* base, int stride, int lane) {
  const int m = lane >> 3;
  return shared_address(base + ((lane & 7) + (m & 1) * 8) * stride + (m >> 1) * 8);
}
// The order (rows 0-7, cols 0-7), (rows 0-7, cols 8-15), (rows 8-15, cols 0-7), (rows 8-15, cols
// 8-15): non-transposed on an (n x k) row-major array (B^T stored by rows, as k is for q.k^T) it
// yields b0, b1 of n-block row0 and then b0, b1 of n-block row0 + 8.
__device__ __forceinline__ uint32_t ldsm_cols_first(const bf16* base, int stride, int lane) {
  const int m = lane >> 3;
  return shared_address(base + ((lane & 7) + (m >> 1) * 8) * stride + (m & 1) * 8);
}
template <int kStride, int kRow0, int kCol0>
constexpr int block_bytes() {
  return (kRow0 * kStride + kCol0) * static_cast<int>(sizeof(bf16));
}

// acc (16 x kN) += A (16 x kD) . Bt (kN x kD)^T for one warp; A's 16 rows and Bt's kN rows are
// bf16 rows in shared memory with stride kD + kPad. acc[nb] is n-block nb (columns 8nb..8nb+7).
template <int kD, int kN>
__device__ __forceinline__ void warp_mma_abt(float (&acc)[kN / 8][4], const bf16* a_rows, const bf16* bt_rows,
                                             int lane) {
  constexpr int kS = smem_stride<kD>();
  const uint32_t a_base = ldsm_rows_first(a_rows, kS, lane), b_base = ldsm_cols_first(bt_rows, kS, lane);
  unrolled<kD / 16>([&](auto kk) {
    uint32_t a[4];
    ldmatrix_x4<block_bytes<kS, 0, kk * 16>(), false>(a, a_base);
    unrolled<kN / 16>([&](auto np) {
      uint32_t b[4];  // b0, b1 of n-block 2np, then of n-block 2np + 1
      ldmatrix_x4<block_bytes<kS, np * 16, kk * 16>(), false>(b, b_base);
      mma_bf16_16816(acc[2 * np], a, b[0], b[1]);
      mma_bf16_16816(acc[2 * np + 1], a, b[2], b[3]);
    });
  });
}

// The A fragments (bf16) of a 16 x kK f32 accumulator, one per k-slice of 16 columns.
template <int kK>
__device__ __forceinline__ void pack_a_fragments(uint32_t (&a)[kK / 16][4], const float (&acc)[kK / 8][4]) {
#pragma unroll
  for (int kk = 0; kk < kK / 16; ++kk) {
    a[kk][0] = pack_bf16x2(acc[2 * kk][0], acc[2 * kk][1]);          // row g,     cols 16kk + 2t
    a[kk][1] = pack_bf16x2(acc[2 * kk][2], acc[2 * kk][3]);          // row g + 8, cols 16kk + 2t
    a[kk][2] = pack_bf16x2(acc[2 * kk + 1][0], acc[2 * kk + 1][1]);  // row g,     cols 16kk + 8 + 2t
    a[kk][3] = pack_bf16x2(acc[2 * kk + 1][2], acc[2 * kk + 1][3]);  // row g + 8, cols 16kk + 8 + 2t
  }
}

// acc (16 x kD) += P (16 x kK, A fragments in registers) . M (kK x kD), M's rows bf16 in shared
// memory with stride kD + kPad (P @ V, dS @ K, P^T @ dO, dS^T @ Q).
template <int kD, int kK>
__device__ __forceinline__ void warp_mma_pm(float (&acc)[kD / 8][4], const uint32_t (&p)[kK / 16][4],
                                            const bf16* m_rows, int lane) {
  constexpr int kS = smem_stride<kD>();
  const uint32_t m_base = ldsm_rows_first(m_rows, kS, lane);
  unrolled<kK / 16>([&](auto kk) {
    unrolled<kD / 16>([&](auto dp) {
      uint32_t b[4];  // b0, b1 of n-block 2dp, then of n-block 2dp + 1
      ldmatrix_x4<block_bytes<kS, kk * 16, dp * 16>(), true>(b, m_base);
      mma_bf16_16816(acc[2 * dp], p[kk], b[0], b[1]);
      mma_bf16_16816(acc[2 * dp + 1], p[kk], b[2], b[3]);
    });
  });
}

// Moves a (kRows x kD) tile of f32 rows from global memory into bf16 shared memory (row stride
// kD + kPad) in kParts pieces: fetch(part) puts the piece's loads in flight in registers,
// commit(part) converts and stores them, so the loads overlap whatever runs in between. Piece p
// covers rows [p * kRows / kParts, (p + 1) * kRows / kParts). Rows at or past `valid_rows` and
// columns at or past D (D % 4 == 0) are zero, so padded rows and columns add nothing to any product.
template <int kRows, int kD, int kParts>
struct TileStager {
  static constexpr int kVecPerRow = kD / 4;                    // float4 per row
  static constexpr int kRowsPerPass = kThreads / kVecPerRow;   // rows one float4 per thread covers
  static constexpr int kVecs = kRows / kRowsPerPass;           // float4 per thread for the whole tile
  static constexpr int kVecsPerPart = kVecs / kParts;
  static_assert(kThreads % kVecPerRow == 0 && kRows % kRowsPerPass == 0 && kVecs % kParts == 0,
                "tile does not split evenly");
  float4 staged[kVecsPerPart];

  // This thread's float4 is row thread_row() + kRowsPerPass * n (n = 0 .. kVecs - 1), columns
  // column() .. column() + 3: consecutive threads read consecutive 16 bytes of a row.
  static __device__ __forceinline__ int thread_row() { return static_cast<int>(threadIdx.x) / kVecPerRow; }
  static __device__ __forceinline__ int column() { return static_cast<int>(threadIdx.x) % kVecPerRow * 4; }

  // src: row 0 of the tile, rows `ld` floats apart.
  __device__ __forceinline__ void fetch(int part, const float* src, int64_t ld, int valid_rows, int D) {
    const int row0 = thread_row() + part * kVecsPerPart * kRowsPerPass;
    const bool column_valid = column() < D;
    const float* from = src + row0 * ld + column();
#pragma unroll
    for (int v = 0; v < kVecsPerPart; ++v) {
      staged[v] = column_valid && row0 + v * kRowsPerPass < valid_rows
                      ? __ldg(reinterpret_cast<const float4*>(from + v * kRowsPerPass * ld))
                      : make_float4(0.f, 0.f, 0.f, 0.f);
    }
  }
  __device__ __forceinline__ void commit(int part, bf16* dst) const {
    bf16* to = dst + (thread_row() + part * kVecsPerPart * kRowsPerPass) * smem_stride<kD>() + column();
#pragma unroll
    for (int v = 0; v < kVecsPerPart; ++v)
      *reinterpret_cast<uint2*>(to + v * kRowsPerPass * smem_stride<kD>()) =
          make_uint2(pack_bf16x2(staged[v].x, staged[v].y), pack_bf16x2(staged[v].z, staged[v].w));
  }
  __device__ __forceinline__ void load(const float* src, int64_t ld, int valid_rows, int D, bf16* dst) {
#pragma unroll
    for (int part = 0; part < kParts; ++part) {
      fetch(part, src, ld, valid_rows, D);
      commit(part, dst);
    }
  }
};

__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// Stores rows g and g + 8 of a warp's 16 x kD accumulator, times `mul`, into row-major f32 rows
// (`ld` floats apart) starting at the warp's first row; rows at or past valid_rows and columns at
// or past D are skipped.
template <int kD>
__device__ __forceinline__ void store_warp_rows(float* dst, int64_t ld, int valid_rows, int D,
                                                const float (&acc)[kD / 8][4], const float (&mul)[2], int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = g + r * 8;
    if (row >= valid_rows) continue;
    float* out = dst + row * ld;
#pragma unroll
    for (int nb = 0; nb < kD / 8; ++nb) {
      const int col = nb * 8 + 2 * t;
      if (col < D) *reinterpret_cast<float2*>(out + col) = make_float2(acc[nb][2 * r] * mul[r], acc[nb][2 * r + 1] * mul[r]);
    }
  }
}

// ---- forward ----------------------------------------------------------------------------------

// One CTA: queries [i0, i0 + 128) of head h, batch b (q tile resident), key tiles of 64 streamed.
// out: (B, T, H, D), lse: (B, H, T).
template <int kD>
__global__ void __launch_bounds__(kThreads, 1)
    attention_forward_kernel(Dims d, const float* __restrict__ q, const float* __restrict__ k,
                             const float* __restrict__ v, float* __restrict__ out, float* __restrict__ lse) {
  constexpr int kS = smem_stride<kD>();
  constexpr int kKeyBlocks = kStreamRows / 8;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* q_s = reinterpret_cast<bf16*>(smem);   // (128, kS)
  bf16* k_s = q_s + kResidentRows * kS;        // 2 x (64, kS)
  bf16* v_s = k_s + 2 * kStreamRows * kS;      // 2 x (64, kS)

  const int n_qt = (d.T + kResidentRows - 1) / kResidentRows;
  const int qt = n_qt - 1 - static_cast<int>(blockIdx.x % n_qt);  // later queries see more keys: start them first
  const int bh = static_cast<int>(blockIdx.x / n_qt), b = bh / d.H, h = bh % d.H, hkv = h / d.G;
  const int i0 = qt * kResidentRows;
  const int warp = static_cast<int>(threadIdx.x) >> 5, lane = static_cast<int>(threadIdx.x) & 31;
  const int g = lane >> 2, t = lane & 3;
  const int w_lo = i0 + warp * kWarpRows, w_hi = w_lo + kWarpRows - 1;  // this warp's queries
  const bool warp_has_rows = w_lo < d.T;

  const int64_t q_ld = int64_t(d.H) * d.D, kv_ld = int64_t(d.Hkv) * d.D;
  const float* q_head = q + row_offset(b, 0, h, d.H, d.T, d.D);
  const float* k_head = k + row_offset(b, 0, hkv, d.Hkv, d.T, d.D);
  const float* v_head = v + row_offset(b, 0, hkv, d.Hkv, d.T, d.D);
  const int kt_first = first_key_seen(i0, d.window) / kStreamRows;
  const int kt_last = min(i0 + kResidentRows - 1, d.T - 1) / kStreamRows;

  TileStager<kResidentRows, kD, 1>().load(q_head + i0 * q_ld, q_ld, d.T - i0, d.D, q_s);
  TileStager<kStreamRows, kD, 1> k_next, v_next;
  {
    const int j0 = kt_first * kStreamRows;
    k_next.load(k_head + j0 * kv_ld, kv_ld, d.T - j0, d.D, k_s);
    v_next.load(v_head + j0 * kv_ld, kv_ld, d.T - j0, d.D, v_s);
  }
  __syncthreads();

  float o[kD / 8][4] = {};               // unnormalised output rows g, g + 8
  float m[2] = {-INFINITY, -INFINITY};   // running row max, base-2 units
  float l[2] = {0.f, 0.f};               // this thread's part of the running row sum
  for (int kt = kt_first; kt <= kt_last; ++kt) {
    const int buf = (kt - kt_first) & 1;
    const bf16* k_cur = k_s + buf * kStreamRows * kS;
    const bf16* v_cur = v_s + buf * kStreamRows * kS;
    const int j0 = kt * kStreamRows, j_next = j0 + kStreamRows;
    const bool has_next = kt < kt_last;
    const bool active = warp_has_rows && touches_band(w_lo, w_hi, j0, j0 + kStreamRows - 1, d.window);
    const bool masked = !inside_band(w_lo, w_hi, j0, j0 + kStreamRows - 1, d.window);

    if (has_next) k_next.fetch(0, k_head + j_next * kv_ld, kv_ld, d.T - j_next, d.D);
    float s[kKeyBlocks][4] = {};  // scores: row g / g + 8, key j0 + 8nb + 2t (+1)
    if (active) warp_mma_abt<kD, kStreamRows>(s, q_s + warp * kWarpRows * kS, k_cur, lane);
    if (has_next) {
      k_next.commit(0, k_s + (buf ^ 1) * kStreamRows * kS);
      v_next.fetch(0, v_head + j_next * kv_ld, kv_ld, d.T - j_next, d.D);
    }
    if (active) {
      float row_max[2] = {m[0], m[1]};
      const int lag0 = w_lo + g - (j0 + 2 * t);  // i - j of element (nb, e) = (0, 0)
#pragma unroll
      for (int nb = 0; nb < kKeyBlocks; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = s[nb][e] * d.scale_log2;
          if (masked && !lag_visible(lag0 + (e >> 1) * 8 - nb * 8 - (e & 1), d.max_lag)) x = -INFINITY;
          s[nb][e] = x;
          row_max[e >> 1] = fmaxf(row_max[e >> 1], x);
        }
      float m_ref[2];  // the exponent offset; 0 while a row has seen nothing (avoids inf - inf)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        row_max[r] = quad_max(row_max[r]);
        m_ref[r] = row_max[r] == -INFINITY ? 0.f : row_max[r];
        const float alpha = exp2f(m[r] - m_ref[r]);  // 0 when m[r] = -inf
        m[r] = row_max[r];
        l[r] *= alpha;
#pragma unroll
        for (int nb = 0; nb < kD / 8; ++nb) {
          o[nb][2 * r] *= alpha;
          o[nb][2 * r + 1] *= alpha;
        }
      }
#pragma unroll
      for (int nb = 0; nb < kKeyBlocks; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float p = exp2f(s[nb][e] - m_ref[e >> 1]);
          s[nb][e] = p;
          l[e >> 1] += p;
        }
      uint32_t p_frag[kStreamRows / 16][4];
      pack_a_fragments<kStreamRows>(p_frag, s);
      warp_mma_pm<kD, kStreamRows>(o, p_frag, v_cur, lane);
    }
    if (has_next) v_next.commit(0, v_s + (buf ^ 1) * kStreamRows * kS);
    __syncthreads();
  }

  if (!warp_has_rows) return;
  float inv_l[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] = quad_sum(l[r]);
    inv_l[r] = 1.f / l[r];
  }
  store_warp_rows<kD>(out + row_offset(b, w_lo, h, d.H, d.T, d.D), q_ld, d.T - w_lo, d.D, o, inv_l, lane);
  if (t == 0) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int i = w_lo + g + r * 8;
      if (i < d.T) lse[(int64_t(b) * d.H + h) * d.T + i] = (m[r] + log2f(l[r])) * kLn2;
    }
  }
}

// ---- backward ---------------------------------------------------------------------------------

// delta (B, H, T) = rowsum(dO * O): one warp per (b, t, h) row of go and out (B, T, H, D).
__global__ void attention_delta_kernel(Dims d, const float* __restrict__ go, const float* __restrict__ out,
                                       float* __restrict__ delta) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int64_t rows = int64_t(d.B) * d.T * d.H;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
    const float* x = go + r * d.D;
    const float* o = out + r * d.D;
    float acc = 0.f;
    for (int c = lane; c < d.D; c += 32) acc += x[c] * o[c];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) {
      const int h = static_cast<int>(r % d.H);
      const int64_t bt = r / d.H;
      const int tt = static_cast<int>(bt % d.T), b = static_cast<int>(bt / d.T);
      delta[(int64_t(b) * d.H + h) * d.T + tt] = acc;
    }
  }
}

// One CTA: keys [j0, j0 + 128) of kv head hkv, batch b (k, v resident); for each query head of
// the group and each 64-query tile that sees these keys (q, dO, lse, delta streamed):
//   S^T = K Q^T, P^T = exp(scale S^T - lse) (masked), dP^T = V dO^T, dS^T = P^T * (dP^T - delta),
//   dV += P^T dO, dK += dS^T Q; finally dk = scale * dK. Warp w owns keys j0 + 16w .. + 15, so
// its scores are key rows by query columns and P^T, dS^T are already A operands.
template <int kD>
__global__ void __launch_bounds__(kThreads, 1)
    attention_backward_dkdv_kernel(Dims d, const float* __restrict__ q, const float* __restrict__ k,
                                   const float* __restrict__ v, const float* __restrict__ go,
                                   const float* __restrict__ lse, const float* __restrict__ delta,
                                   float* __restrict__ dk, float* __restrict__ dv) {
  constexpr int kS = smem_stride<kD>();
  constexpr int kHalfQueries = kStreamRows / 2;
  constexpr int kHalfBlocks = kHalfQueries / 8;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* k_s = reinterpret_cast<bf16*>(smem);      // (128, kS)
  bf16* v_s = k_s + kResidentRows * kS;           // (128, kS)
  bf16* q_s = v_s + kResidentRows * kS;           // 2 x (64, kS)
  bf16* do_s = q_s + 2 * kStreamRows * kS;        // 2 x (64, kS)
  float* lse_s = reinterpret_cast<float*>(do_s + 2 * kStreamRows * kS);  // 2 x 64, base-2 units, +inf past T
  float* delta_s = lse_s + 2 * kStreamRows;                              // 2 x 64, 0 past T

  const int n_kt = (d.T + kResidentRows - 1) / kResidentRows;
  const int kt = static_cast<int>(blockIdx.x % n_kt);  // early keys are seen by the most queries: start them first
  const int bk = static_cast<int>(blockIdx.x / n_kt), b = bk / d.Hkv, hkv = bk % d.Hkv;
  const int j0 = kt * kResidentRows;
  const int warp = static_cast<int>(threadIdx.x) >> 5, lane = static_cast<int>(threadIdx.x) & 31;
  const int g = lane >> 2, t = lane & 3;
  const int w_lo = j0 + warp * kWarpRows, w_hi = w_lo + kWarpRows - 1;  // this warp's keys
  const bool warp_has_rows = w_lo < d.T;

  const int64_t q_ld = int64_t(d.H) * d.D, kv_ld = int64_t(d.Hkv) * d.D;
  const int qt_first = j0 / kStreamRows;
  const int qt_last = last_query_seeing(min(j0 + kResidentRows - 1, d.T - 1), d.window, d.T) / kStreamRows;
  const int n_qt = qt_last - qt_first + 1;
  const int n_steps = d.G * n_qt;  // (query head of the group, query tile), query tiles fastest

  TileStager<kResidentRows, kD, 1>().load(k + row_offset(b, j0, hkv, d.Hkv, d.T, d.D), kv_ld, d.T - j0, d.D, k_s);
  TileStager<kResidentRows, kD, 1>().load(v + row_offset(b, j0, hkv, d.Hkv, d.T, d.D), kv_ld, d.T - j0, d.D, v_s);

  // The streamed operands of step `step`: q and dO rows from i0, and lse / delta (one float per
  // thread of the first 128) in base-2 units / as is, padded rows made inert.
  TileStager<kStreamRows, kD, 4> q_next, do_next;
  float row_stat_next = 0.f;
  const auto step_head = [&](int step) { return hkv * d.G + step / n_qt; };
  const auto step_first_query = [&](int step) { return (qt_first + step % n_qt) * kStreamRows; };
  const auto fetch_row_stat = [&](int step) {
    const int tid = static_cast<int>(threadIdx.x);
    const int i = step_first_query(step) + (tid % kStreamRows);
    const int64_t at = (int64_t(b) * d.H + step_head(step)) * d.T + i;
    if (tid < kStreamRows) row_stat_next = i < d.T ? lse[at] * kLog2e : INFINITY;
    else if (tid < 2 * kStreamRows) row_stat_next = i < d.T ? delta[at] : 0.f;
  };
  const auto commit_row_stat = [&](int buf) {
    const int tid = static_cast<int>(threadIdx.x);
    if (tid < 2 * kStreamRows) (tid < kStreamRows ? lse_s : delta_s)[buf * kStreamRows + tid % kStreamRows] = row_stat_next;
  };
  const auto q_tile = [&](int step) { return q + row_offset(b, step_first_query(step), step_head(step), d.H, d.T, d.D); };
  const auto do_tile = [&](int step) { return go + row_offset(b, step_first_query(step), step_head(step), d.H, d.T, d.D); };
  {
    const int valid = d.T - step_first_query(0);
    q_next.load(q_tile(0), q_ld, valid, d.D, q_s);
    do_next.load(do_tile(0), q_ld, valid, d.D, do_s);
    fetch_row_stat(0);
    commit_row_stat(0);
  }
  __syncthreads();

  float dk_acc[kD / 8][4] = {}, dv_acc[kD / 8][4] = {};  // key rows g, g + 8
  const bf16* k_warp = k_s + warp * kWarpRows * kS;
  const bf16* v_warp = v_s + warp * kWarpRows * kS;
  for (int step = 0; step < n_steps; ++step) {
    const int buf = step & 1, nbuf = buf ^ 1;
    const bf16* q_cur = q_s + buf * kStreamRows * kS;
    const bf16* do_cur = do_s + buf * kStreamRows * kS;
    bf16* q_nxt = q_s + nbuf * kStreamRows * kS;
    bf16* do_nxt = do_s + nbuf * kStreamRows * kS;
    const float* lse_cur = lse_s + buf * kStreamRows;
    const float* delta_cur = delta_s + buf * kStreamRows;
    const int i0 = step_first_query(step);
    const bool has_next = step + 1 < n_steps;
    const float* q_src = has_next ? q_tile(step + 1) : nullptr;
    const float* do_src = has_next ? do_tile(step + 1) : nullptr;
    const int valid_next = has_next ? d.T - step_first_query(step + 1) : 0;

    // The tile's queries in two halves of 32: the dK/dV accumulators hold 128 registers, so the
    // scores of only 16 keys x 32 queries are live at a time. Each of the 8 products has one
    // quarter of the next q or dO tile in flight (TileStager part p = rows 16p .. 16p + 15).
#pragma unroll 1  // unrolled, the scheduler overlaps the halves and the dK/dV accumulators spill
    for (int half = 0; half < 2; ++half) {
      const int q0 = half * kHalfQueries;  // first query column of this half
      const int part = 2 * half;
      const int ih = i0 + q0;
      const bool active = warp_has_rows && ih < d.T && touches_band(ih, ih + kHalfQueries - 1, w_lo, w_hi, d.window);
      const bool masked = !inside_band(ih, ih + kHalfQueries - 1, w_lo, w_hi, d.window);

      if (has_next) {
        q_next.fetch(part, q_src, q_ld, valid_next, d.D);
        if (q0 == 0) fetch_row_stat(step + 1);
      }
      float p[kHalfBlocks][4] = {};  // P^T: key row g / g + 8, query ih + 8nb + 2t (+1)
      if (active) {
        warp_mma_abt<kD, kHalfQueries>(p, k_warp, q_cur + q0 * kS, lane);
        const int lag0 = ih + 2 * t - (w_lo + g);  // i - j of element (nb, e) = (0, 0)
#pragma unroll
        for (int nb = 0; nb < kHalfBlocks; ++nb)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float x = exp2f(p[nb][e] * d.scale_log2 - lse_cur[q0 + nb * 8 + 2 * t + (e & 1)]);  // 0 past T
            p[nb][e] = masked && !lag_visible(lag0 + nb * 8 + (e & 1) - (e >> 1) * 8, d.max_lag) ? 0.f : x;
          }
      }
      if (has_next) {
        q_next.commit(part, q_nxt);
        if (q0 == 0) commit_row_stat(nbuf);
        q_next.fetch(part + 1, q_src, q_ld, valid_next, d.D);
      }
      uint32_t p_frag[kHalfQueries / 16][4], ds_frag[kHalfQueries / 16][4];  // set when active
      if (active) {
        float ds[kHalfBlocks][4] = {};  // dP^T, then dS^T
        warp_mma_abt<kD, kHalfQueries>(ds, v_warp, do_cur + q0 * kS, lane);
#pragma unroll
        for (int nb = 0; nb < kHalfBlocks; ++nb)
#pragma unroll
          for (int e = 0; e < 4; ++e) ds[nb][e] = p[nb][e] * (ds[nb][e] - delta_cur[q0 + nb * 8 + 2 * t + (e & 1)]);
        pack_a_fragments<kHalfQueries>(p_frag, p);
        pack_a_fragments<kHalfQueries>(ds_frag, ds);
      }
      if (has_next) {
        q_next.commit(part + 1, q_nxt);
        do_next.fetch(part, do_src, q_ld, valid_next, d.D);
      }
      if (active) warp_mma_pm<kD, kHalfQueries>(dv_acc, p_frag, do_cur + q0 * kS, lane);  // dV += P^T dO
      if (has_next) {
        do_next.commit(part, do_nxt);
        do_next.fetch(part + 1, do_src, q_ld, valid_next, d.D);
      }
      if (active) warp_mma_pm<kD, kHalfQueries>(dk_acc, ds_frag, q_cur + q0 * kS, lane);  // dK += dS^T Q
      if (has_next) do_next.commit(part + 1, do_nxt);
    }
    __syncthreads();
  }

  if (!warp_has_rows) return;
  const float by_scale[2] = {d.scale, d.scale}, by_one[2] = {1.f, 1.f};
  store_warp_rows<kD>(dk + row_offset(b, w_lo, hkv, d.Hkv, d.T, d.D), kv_ld, d.T - w_lo, d.D, dk_acc, by_scale, lane);
  store_warp_rows<kD>(dv + row_offset(b, w_lo, hkv, d.Hkv, d.T, d.D), kv_ld, d.T - w_lo, d.D, dv_acc, by_one, lane);
}

// One CTA: queries [i0, i0 + 128) of head h, batch b (q, dO resident), key tiles of 64 streamed:
//   S = Q K^T, P = exp(scale S - lse) (masked), dP = dO V^T, dS = P * (dP - delta), dQ += dS K;
// finally dq = scale * dQ.
template <int kD>
__global__ void __launch_bounds__(kThreads, 1)
    attention_backward_dq_kernel(Dims d, const float* __restrict__ q, const float* __restrict__ k,
                                 const float* __restrict__ v, const float* __restrict__ go,
                                 const float* __restrict__ lse, const float* __restrict__ delta,
                                 float* __restrict__ dq) {
  constexpr int kS = smem_stride<kD>();
  constexpr int kKeyBlocks = kStreamRows / 8;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* q_s = reinterpret_cast<bf16*>(smem);   // (128, kS)
  bf16* do_s = q_s + kResidentRows * kS;       // (128, kS)
  bf16* k_s = do_s + kResidentRows * kS;       // 2 x (64, kS)
  bf16* v_s = k_s + 2 * kStreamRows * kS;      // 2 x (64, kS)

  const int n_qt = (d.T + kResidentRows - 1) / kResidentRows;
  const int qt = n_qt - 1 - static_cast<int>(blockIdx.x % n_qt);
  const int bh = static_cast<int>(blockIdx.x / n_qt), b = bh / d.H, h = bh % d.H, hkv = h / d.G;
  const int i0 = qt * kResidentRows;
  const int warp = static_cast<int>(threadIdx.x) >> 5, lane = static_cast<int>(threadIdx.x) & 31;
  const int g = lane >> 2, t = lane & 3;
  const int w_lo = i0 + warp * kWarpRows, w_hi = w_lo + kWarpRows - 1;
  const bool warp_has_rows = w_lo < d.T;

  const int64_t q_ld = int64_t(d.H) * d.D, kv_ld = int64_t(d.Hkv) * d.D;
  const float* k_head = k + row_offset(b, 0, hkv, d.Hkv, d.T, d.D);
  const float* v_head = v + row_offset(b, 0, hkv, d.Hkv, d.T, d.D);
  const int kt_first = first_key_seen(i0, d.window) / kStreamRows;
  const int kt_last = min(i0 + kResidentRows - 1, d.T - 1) / kStreamRows;

  float lse_row[2], delta_row[2];  // rows g, g + 8; padded rows inert (P = 0)
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i = w_lo + g + r * 8;
    const int64_t at = (int64_t(b) * d.H + h) * d.T + i;
    lse_row[r] = i < d.T ? lse[at] * kLog2e : INFINITY;
    delta_row[r] = i < d.T ? delta[at] : 0.f;
  }
  TileStager<kResidentRows, kD, 1>().load(q + row_offset(b, i0, h, d.H, d.T, d.D), q_ld, d.T - i0, d.D, q_s);
  TileStager<kResidentRows, kD, 1>().load(go + row_offset(b, i0, h, d.H, d.T, d.D), q_ld, d.T - i0, d.D, do_s);
  TileStager<kStreamRows, kD, 1> k_next;
  TileStager<kStreamRows, kD, 2> v_next;  // half in flight during dP, half during dQ
  {
    const int j0 = kt_first * kStreamRows;
    k_next.load(k_head + j0 * kv_ld, kv_ld, d.T - j0, d.D, k_s);
    v_next.load(v_head + j0 * kv_ld, kv_ld, d.T - j0, d.D, v_s);
  }
  __syncthreads();

  float dq_acc[kD / 8][4] = {};
  for (int kt = kt_first; kt <= kt_last; ++kt) {
    const int buf = (kt - kt_first) & 1;
    const bf16* k_cur = k_s + buf * kStreamRows * kS;
    const bf16* v_cur = v_s + buf * kStreamRows * kS;
    const int j0 = kt * kStreamRows, j_next = j0 + kStreamRows;
    const bool has_next = kt < kt_last;
    const bool active = warp_has_rows && touches_band(w_lo, w_hi, j0, j0 + kStreamRows - 1, d.window);
    const bool masked = !inside_band(w_lo, w_hi, j0, j0 + kStreamRows - 1, d.window);

    if (has_next) k_next.fetch(0, k_head + j_next * kv_ld, kv_ld, d.T - j_next, d.D);
    float s[kKeyBlocks][4] = {};  // S, then dS: row g / g + 8, key j0 + 8nb + 2t (+1)
    if (active) warp_mma_abt<kD, kStreamRows>(s, q_s + warp * kWarpRows * kS, k_cur, lane);
    if (has_next) {
      k_next.commit(0, k_s + (buf ^ 1) * kStreamRows * kS);
      v_next.fetch(0, v_head + j_next * kv_ld, kv_ld, d.T - j_next, d.D);
    }
    uint32_t ds_frag[kStreamRows / 16][4];  // set when active
    if (active) {
      float dp[kKeyBlocks][4] = {};
      warp_mma_abt<kD, kStreamRows>(dp, do_s + warp * kWarpRows * kS, v_cur, lane);
      const int lag0 = w_lo + g - (j0 + 2 * t);  // i - j of element (nb, e) = (0, 0)
#pragma unroll
      for (int nb = 0; nb < kKeyBlocks; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = e >> 1;
          float p = exp2f(s[nb][e] * d.scale_log2 - lse_row[r]);
          if (masked && !lag_visible(lag0 + r * 8 - nb * 8 - (e & 1), d.max_lag)) p = 0.f;
          s[nb][e] = p * (dp[nb][e] - delta_row[r]);
        }
      pack_a_fragments<kStreamRows>(ds_frag, s);
    }
    if (has_next) {
      v_next.commit(0, v_s + (buf ^ 1) * kStreamRows * kS);
      v_next.fetch(1, v_head + j_next * kv_ld, kv_ld, d.T - j_next, d.D);
    }
    if (active) warp_mma_pm<kD, kStreamRows>(dq_acc, ds_frag, k_cur, lane);  // dQ += dS K
    if (has_next) v_next.commit(1, v_s + (buf ^ 1) * kStreamRows * kS);
    __syncthreads();
  }

  if (!warp_has_rows) return;
  const float by_scale[2] = {d.scale, d.scale};
  store_warp_rows<kD>(dq + row_offset(b, w_lo, h, d.H, d.T, d.D), q_ld, d.T - w_lo, d.D, dq_acc, by_scale, lane);
}

// ---- fallback: plain f32, one CTA per row ------------------------------------------------------

constexpr int kFallbackThreads = 128;
constexpr int kFallbackWarps = kFallbackThreads / 32;

// The block-wide max (kMax) or sum of x, returned to every thread in a fixed order. scratch:
// kFallbackWarps floats. Contains barriers: call from block-uniform control flow.
template <bool kMax>
__device__ float block_reduce(float x, float* scratch) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const float y = __shfl_xor_sync(0xffffffffu, x, off);
    x = kMax ? fmaxf(x, y) : x + y;
  }
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = x;
  __syncthreads();
  float r = scratch[0];
  for (int w = 1; w < kFallbackWarps; ++w) r = kMax ? fmaxf(r, scratch[w]) : r + scratch[w];
  __syncthreads();
  return r;
}

__device__ __forceinline__ float dot(const float* a, const float* b, int n) {
  float s = 0.f;
  for (int c = 0; c < n; ++c) s += a[c] * b[c];
  return s;
}

// Row (b, h, i) per CTA iteration; keys in chunks of 128, one per thread, with an online softmax.
// Shared: q row (D), output accumulator (D), probabilities (128), reduction scratch.
__global__ void __launch_bounds__(kFallbackThreads)
    attention_forward_fallback_kernel(Dims d, const float* __restrict__ q, const float* __restrict__ k,
                                      const float* __restrict__ v, float* __restrict__ out,
                                      float* __restrict__ lse) {
  extern __shared__ float fb_smem[];
  float* q_row = fb_smem;
  float* acc = q_row + d.D;
  float* p_s = acc + d.D;
  float* scratch = p_s + kFallbackThreads;
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t rows = int64_t(d.B) * d.H * d.T;  // lse order: (b, h, i)
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int i = static_cast<int>(row % d.T);
    const int64_t bh = row / d.T;
    const int h = static_cast<int>(bh % d.H), b = static_cast<int>(bh / d.H), hkv = h / d.G;
    const float* qi = q + row_offset(b, i, h, d.H, d.T, d.D);
    for (int c = tid; c < d.D; c += kFallbackThreads) {
      q_row[c] = qi[c];
      acc[c] = 0.f;
    }
    __syncthreads();
    float m = -INFINITY, l = 0.f;
    for (int c0 = first_key_seen(i, d.window); c0 <= i; c0 += kFallbackThreads) {
      const int j = c0 + tid;
      const float s = j <= i ? dot(q_row, k + row_offset(b, j, hkv, d.Hkv, d.T, d.D), d.D) * d.scale : -INFINITY;
      const float m_new = fmaxf(m, block_reduce<true>(s, scratch));  // finite: key c0 is visible
      const float p = j <= i ? expf(s - m_new) : 0.f;
      p_s[tid] = p;  // published by the barriers inside block_reduce
      const float alpha = expf(m - m_new);
      l = l * alpha + block_reduce<false>(p, scratch);
      m = m_new;
      const int n = min(kFallbackThreads, i - c0 + 1);
      for (int c = tid; c < d.D; c += kFallbackThreads) {
        float a = acc[c] * alpha;
        for (int jj = 0; jj < n; ++jj) a += p_s[jj] * v[row_offset(b, c0 + jj, hkv, d.Hkv, d.T, d.D) + c];
        acc[c] = a;
      }
      __syncthreads();  // p_s is rewritten by the next chunk
    }
    float* dst = out + row_offset(b, i, h, d.H, d.T, d.D);
    for (int c = tid; c < d.D; c += kFallbackThreads) dst[c] = acc[c] / l;
    if (tid == 0) lse[row] = m + logf(l);
    __syncthreads();  // q_row and acc are rewritten by the next row
  }
}

// dq of row (b, h, i) per CTA iteration: keys in chunks of 128, dS_ij = P_ij (dO_i.v_j - delta_i).
// Shared: q row, dO row, dq accumulator (D each), dS chunk (128).
__global__ void __launch_bounds__(kFallbackThreads)
    attention_dq_fallback_kernel(Dims d, const float* __restrict__ q, const float* __restrict__ k,
                                 const float* __restrict__ v, const float* __restrict__ go,
                                 const float* __restrict__ lse, const float* __restrict__ delta,
                                 float* __restrict__ dq) {
  extern __shared__ float fb_smem[];
  float* q_row = fb_smem;
  float* do_row = q_row + d.D;
  float* acc = do_row + d.D;
  float* ds_s = acc + d.D;
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t rows = int64_t(d.B) * d.H * d.T;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int i = static_cast<int>(row % d.T);
    const int64_t bh = row / d.T;
    const int h = static_cast<int>(bh % d.H), b = static_cast<int>(bh / d.H), hkv = h / d.G;
    const int64_t at = row_offset(b, i, h, d.H, d.T, d.D);
    for (int c = tid; c < d.D; c += kFallbackThreads) {
      q_row[c] = q[at + c];
      do_row[c] = go[at + c];
      acc[c] = 0.f;
    }
    __syncthreads();
    const float lse_i = lse[row], delta_i = delta[row];
    for (int c0 = first_key_seen(i, d.window); c0 <= i; c0 += kFallbackThreads) {
      const int j = c0 + tid;
      float ds = 0.f;
      if (j <= i) {
        const int64_t kv = row_offset(b, j, hkv, d.Hkv, d.T, d.D);
        const float p = expf(dot(q_row, k + kv, d.D) * d.scale - lse_i);
        ds = p * (dot(do_row, v + kv, d.D) - delta_i);
      }
      ds_s[tid] = ds;
      __syncthreads();
      const int n = min(kFallbackThreads, i - c0 + 1);
      for (int c = tid; c < d.D; c += kFallbackThreads) {
        float a = acc[c];
        for (int jj = 0; jj < n; ++jj) a += ds_s[jj] * k[row_offset(b, c0 + jj, hkv, d.Hkv, d.T, d.D) + c];
        acc[c] = a;
      }
      __syncthreads();
    }
    for (int c = tid; c < d.D; c += kFallbackThreads) dq[at + c] = acc[c] * d.scale;
    __syncthreads();
  }
}

// dk, dv of key row (b, hkv, j) per CTA iteration: over the group's query heads and the queries
// that see key j, in chunks of 128. Shared: k row, v row, dk and dv accumulators (D each), P and
// dS chunks (128 each).
__global__ void __launch_bounds__(kFallbackThreads)
    attention_dkdv_fallback_kernel(Dims d, const float* __restrict__ q, const float* __restrict__ k,
                                   const float* __restrict__ v, const float* __restrict__ go,
                                   const float* __restrict__ lse, const float* __restrict__ delta,
                                   float* __restrict__ dk, float* __restrict__ dv) {
  extern __shared__ float fb_smem[];
  float* k_row = fb_smem;
  float* v_row = k_row + d.D;
  float* dk_acc = v_row + d.D;
  float* dv_acc = dk_acc + d.D;
  float* p_s = dv_acc + d.D;
  float* ds_s = p_s + kFallbackThreads;
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t rows = int64_t(d.B) * d.Hkv * d.T;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int j = static_cast<int>(row % d.T);
    const int64_t bk = row / d.T;
    const int hkv = static_cast<int>(bk % d.Hkv), b = static_cast<int>(bk / d.Hkv);
    const int64_t at = row_offset(b, j, hkv, d.Hkv, d.T, d.D);
    for (int c = tid; c < d.D; c += kFallbackThreads) {
      k_row[c] = k[at + c];
      v_row[c] = v[at + c];
      dk_acc[c] = 0.f;
      dv_acc[c] = 0.f;
    }
    __syncthreads();
    const int i_last = last_query_seeing(j, d.window, d.T);
    for (int h = hkv * d.G; h < (hkv + 1) * d.G; ++h) {
      const int64_t stats = (int64_t(b) * d.H + h) * d.T;
      for (int c0 = j; c0 <= i_last; c0 += kFallbackThreads) {
        const int i = c0 + tid;
        float p = 0.f, ds = 0.f;
        if (i <= i_last) {
          const int64_t qi = row_offset(b, i, h, d.H, d.T, d.D);
          p = expf(dot(k_row, q + qi, d.D) * d.scale - lse[stats + i]);
          ds = p * (dot(v_row, go + qi, d.D) - delta[stats + i]);
        }
        p_s[tid] = p;
        ds_s[tid] = ds;
        __syncthreads();
        const int n = min(kFallbackThreads, i_last - c0 + 1);
        for (int c = tid; c < d.D; c += kFallbackThreads) {
          float a_k = dk_acc[c], a_v = dv_acc[c];
          for (int ii = 0; ii < n; ++ii) {
            const int64_t qi = row_offset(b, c0 + ii, h, d.H, d.T, d.D) + c;
            a_k += ds_s[ii] * q[qi];
            a_v += p_s[ii] * go[qi];
          }
          dk_acc[c] = a_k;
          dv_acc[c] = a_v;
        }
        __syncthreads();
      }
    }
    for (int c = tid; c < d.D; c += kFallbackThreads) {
      dk[at + c] = dk_acc[c] * d.scale;
      dv[at + c] = dv_acc[c];
    }
    __syncthreads();
  }
}

// ---- host side ---------------------------------------------------------------------------------

void require_f32(const char* op, std::initializer_list<TensorPtr> tensors) {
  for (const TensorPtr& t : tensors)
    if (t && t->dtype != DType::F32)
      fail(op, ": the CUDA backend supports float32 only, got ", dtype_name(t->dtype), " ", shape_str(t->shape));
}

Dims dims_of(const char* op, const TensorPtr& q, const TensorPtr& k, int64_t window, double scale) {
  NS_CHECK(q->dim() == 4 && k->dim() == 4 && k->shape[2] >= 1 && q->shape[2] % k->shape[2] == 0 &&
               q->shape[0] == k->shape[0] && q->shape[1] == k->shape[1] && q->shape[3] == k->shape[3],
           op, ": expected q (B, T, H, D) and k, v (B, T, Hkv, D) with H % Hkv == 0, got q ", shape_str(q->shape),
           ", k ", shape_str(k->shape));
  constexpr int64_t kLimit = int64_t(1) << 30;  // keeps i + window and every per-dimension index in int
  for (int64_t extent : q->shape)
    NS_CHECK(extent < kLimit, op, ": every dimension must be below 2^30 on CUDA, got q ", shape_str(q->shape));
  Dims d{};
  d.B = static_cast<int>(q->shape[0]);
  d.T = static_cast<int>(q->shape[1]);
  d.H = static_cast<int>(q->shape[2]);
  d.Hkv = static_cast<int>(k->shape[2]);
  d.G = d.H / d.Hkv;
  d.D = static_cast<int>(q->shape[3]);
  // A window reaching back past the first key is plain causal attention (as on the CPU).
  d.window = window < 0 || window >= d.T ? -1 : static_cast<int>(window);
  d.max_lag = d.window < 0 ? 0x7fffffffu : static_cast<unsigned>(d.window);
  d.scale = static_cast<float>(scale);
  d.scale_log2 = static_cast<float>(scale * 1.4426950408889634);
  return d;
}

int device_attribute(cudaDeviceAttr attribute, int device) {
  int value = 0;
  NS_CUDA_CHECK(cudaDeviceGetAttribute(&value, attribute, device));
  return value;
}

enum class Pass { Forward, Backward };

template <int kD>
constexpr size_t smem_bytes(Pass pass) {
  return pass == Pass::Forward ? forward_smem_bytes<kD>()
                               : (dq_smem_bytes<kD>() > dkdv_smem_bytes<kD>() ? dq_smem_bytes<kD>() : dkdv_smem_bytes<kD>());
}

// D padded to the tensor-core kernels' width (64 or 128), or 0 when the tensor-core path cannot
// run this call: F32 precision asked for, a head dim it does not cover, a tensor not 16-byte
// aligned (a view with an odd offset), a card before sm_80, too little shared memory, or a grid
// past 2^31 - 1 blocks.
int tensor_core_width(Pass pass, const Dims& d, int device, MatmulPrecision precision,
                      std::initializer_list<TensorPtr> tensors) {
  if (precision == MatmulPrecision::F32 || d.D % 4 != 0 || d.D > kMaxTensorCoreD) return 0;
  for (const TensorPtr& t : tensors)
    if (t && reinterpret_cast<uintptr_t>(t->data<float>()) % 16 != 0) return 0;  // float4 loads
  if (device_attribute(cudaDevAttrComputeCapabilityMajor, device) < 8) return 0;  // bf16 mma.sync
  const int width = d.D <= 64 ? 64 : 128;
  const size_t smem = width == 64 ? smem_bytes<64>(pass) : smem_bytes<128>(pass);
  if (smem > static_cast<size_t>(device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, device))) return 0;
  const int64_t tiles = (int64_t(d.T) + kResidentRows - 1) / kResidentRows;
  if (tiles * d.H * d.B > INT32_MAX) return 0;  // one-dimensional grid
  return width;
}

// Launches a kernel with `smem` bytes of dynamic shared memory, raising the kernel's limit past
// the default 48 KiB (a per-device, per-function setting; cheap to repeat, and no synchronisation).
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), int64_t blocks, int threads, size_t smem, cudaStream_t st, Args... args) {
  if (smem > 48 * 1024)
    NS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  kernel<<<static_cast<unsigned>(blocks), threads, smem, st>>>(args...);
}

// Shared memory of a fallback kernel holding `row_vectors` rows of D floats and `chunks` chunk arrays.
size_t fallback_smem(const char* op, const Dims& d, int device, int row_vectors, int chunks) {
  const size_t bytes = (size_t(row_vectors) * d.D + size_t(chunks) * kFallbackThreads + kFallbackWarps) * sizeof(float);
  const size_t optin = static_cast<size_t>(device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  NS_CHECK(bytes <= optin, op, ": head dim D = ", d.D, " needs ", bytes, " bytes of shared memory per block, more than the device's ",
           optin);
  return bytes;
}

int64_t tiles_of(int T) { return (T + kResidentRows - 1) / kResidentRows; }

template <int kD>
void forward_tensor_cores(const Dims& d, cudaStream_t st, const float* q, const float* k, const float* v, float* out,
                          float* lse) {
  launch(attention_forward_kernel<kD>, tiles_of(d.T) * d.H * d.B, kThreads, forward_smem_bytes<kD>(), st, d, q, k, v,
         out, lse);
}

template <int kD>
void backward_tensor_cores(const Dims& d, cudaStream_t st, const float* q, const float* k, const float* v,
                           const float* go, const float* lse, const float* delta, float* dq, float* dk, float* dv) {
  if (dk)
    launch(attention_backward_dkdv_kernel<kD>, tiles_of(d.T) * d.Hkv * d.B, kThreads, dkdv_smem_bytes<kD>(), st, d, q,
           k, v, go, lse, delta, dk, dv);
  if (dq)
    launch(attention_backward_dq_kernel<kD>, tiles_of(d.T) * d.H * d.B, kThreads, dq_smem_bytes<kD>(), st, d, q, k, v,
           go, lse, delta, dq);
}

float* data_or_null(const TensorPtr& t) { return t ? t->data<float>() : nullptr; }

}  // namespace

// out: (B, T, H, D), lse: (B, H, T) written; q: (B, T, H, D), k, v: (B, T, Hkv, D).
void CudaBackendImpl::attention_forward(const TensorPtr& out, const TensorPtr& lse, const TensorPtr& q,
                                        const TensorPtr& k, const TensorPtr& v, int64_t window, double scale) {
  constexpr const char* kOp = "attention_forward";
  require_f32(kOp, {out, lse, q, k, v});
  if (q->numel() == 0) return;
  const Dims d = dims_of(kOp, q, k, window, scale);
  const int device = device_of(q);
  DeviceGuard guard(device);
  const cudaStream_t st = stream(device);
  const float *qd = q->data<float>(), *kd = k->data<float>(), *vd = v->data<float>();
  float *od = out->data<float>(), *lsed = lse->data<float>();
  switch (tensor_core_width(Pass::Forward, d, device, matmul_precision(), {q, k, v, out})) {
    case 64: forward_tensor_cores<64>(d, st, qd, kd, vd, od, lsed); break;
    case 128: forward_tensor_cores<128>(d, st, qd, kd, vd, od, lsed); break;
    default: {
      const int64_t rows = int64_t(d.B) * d.H * d.T;
      launch(attention_forward_fallback_kernel, blocks_for(rows, 1), kFallbackThreads,
             fallback_smem(kOp, d, device, 2, 1), st, d, qd, kd, vd, od, lsed);
    }
  }
  NS_CUDA_LAUNCHED(kOp);
}

// dq: (B, T, H, D), dk, dv: (B, T, Hkv, D) written, each pair null when not wanted;
// go = dL/dout and out: (B, T, H, D), lse: (B, H, T).
void CudaBackendImpl::attention_backward(const TensorPtr& dq, const TensorPtr& dk, const TensorPtr& dv,
                                         const TensorPtr& go, const TensorPtr& q, const TensorPtr& k,
                                         const TensorPtr& v, const TensorPtr& out, const TensorPtr& lse,
                                         int64_t window, double scale) {
  constexpr const char* kOp = "attention_backward";
  require_f32(kOp, {dq, dk, dv, go, q, k, v, out, lse});
  NS_CHECK((dk == nullptr) == (dv == nullptr), kOp, ": dk and dv are wanted together");
  const int device = device_of(q);
  DeviceGuard guard(device);
  const cudaStream_t st = stream(device);
  if (q->numel() == 0 || k->numel() == 0) {  // no queries (H = 0) or nothing at all: k and v get no gradient
    for (const TensorPtr& t : {dk, dv})
      if (t && t->numel() > 0) NS_CUDA_CHECK(cudaMemsetAsync(t->data<float>(), 0, t->numel() * sizeof(float), st));
    return;
  }
  const Dims d = dims_of(kOp, q, k, window, scale);
  const float *qd = q->data<float>(), *kd = k->data<float>(), *vd = v->data<float>();
  const float *god = go->data<float>(), *lsed = lse->data<float>();
  float *dqd = data_or_null(dq), *dkd = data_or_null(dk), *dvd = data_or_null(dv);
  if (!dqd && !dkd) return;

  TensorPtr delta = ns::empty({d.B, d.H, d.T}, DType::F32, q->device());  // rowsum(dO * O)
  float* deltad = delta->data<float>();
  launch(attention_delta_kernel, blocks_for(int64_t(d.B) * d.T * d.H * 32, 256), 256, 0, st, d, god,
         static_cast<const float*>(out->data<float>()), deltad);

  switch (tensor_core_width(Pass::Backward, d, device, matmul_precision(), {q, k, v, go, dq, dk, dv})) {
    case 64: backward_tensor_cores<64>(d, st, qd, kd, vd, god, lsed, deltad, dqd, dkd, dvd); break;
    case 128: backward_tensor_cores<128>(d, st, qd, kd, vd, god, lsed, deltad, dqd, dkd, dvd); break;
    default:
      if (dkd)
        launch(attention_dkdv_fallback_kernel, blocks_for(int64_t(d.B) * d.Hkv * d.T, 1), kFallbackThreads,
               fallback_smem(kOp, d, device, 4, 2), st, d, qd, kd, vd, god, lsed, deltad, dkd, dvd);
      if (dqd)
        launch(attention_dq_fallback_kernel, blocks_for(int64_t(d.B) * d.H * d.T, 1), kFallbackThreads,
               fallback_smem(kOp, d, device, 3, 1), st, d, qd, kd, vd, god, lsed, deltad, dqd);
  }
  NS_CUDA_LAUNCHED(kOp);
}

}  // namespace cuda
}  // namespace ns
