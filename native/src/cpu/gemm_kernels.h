// The float32 GEMM building blocks each instruction set provides: a register-blocked micro-kernel
// and the two packing routines that feed it. gemm.cpp owns the blocking, threading and dispatch;
// the files gemm_generic.cpp, gemm_avx2.cpp and gemm_avx512.cpp each fill one GemmKernel.
// Nothing here allocates or threads.
//
// Packed layout (BLIS style): a micro-panel of width W (W = mr for A, nr for B) and depth kc is
// stored k-major, dst[k * W + i] for k < kc, i < W; lanes i >= w (past the matrix edge) are 0, so
// the micro-kernel always runs full tiles and only the store is clipped.
#pragma once
#include <cstdint>

namespace ns {

// Packs a (w x kc) slice of a matrix into a width-W micro-panel (W is the kernel's mr or nr).
// Element (i, k) of the slice is src[i * ld + k] when k_major is false (rows run along k, so
// packing transposes) and src[k * ld + i] when k_major is true (a plain strided copy).
// May write up to 16 floats past dst + kc * W (callers keep that much slack).
using GemmPackFn = void (*)(const float* src, int64_t ld, bool k_major, int64_t kc, int64_t w, float* dst);

// c (m x n valid part of an mr x nr tile, row stride ldc) = alpha * (a_panel . b_panel) + beta * c
// over kc steps. beta == 0 never reads c (it may hold NaN). The K-sum runs k = 0..kc-1 in order
// in one accumulator per element, so a C element's value depends only on its row of A, column
// of B and kc, never on where the tile sits.
using GemmMicroFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                             float alpha, float beta);

struct GemmKernel {
  const char* name;  // "avx512", "avx2", "generic"
  int64_t mr, nr;    // register tile: mr rows of C (broadcast from A) x nr columns (vectors of B)
  GemmMicroFn micro;
  GemmPackFn pack_a;  // width mr
  GemmPackFn pack_b;  // width nr
};

// Each returns nullptr when its file was not compiled for that instruction set (non-x86 builds).
// Whether the CPU can run it is the caller's question (__builtin_cpu_supports).
const GemmKernel* gemm_kernel_generic();
const GemmKernel* gemm_kernel_avx2();
const GemmKernel* gemm_kernel_avx512();

}  // namespace ns
