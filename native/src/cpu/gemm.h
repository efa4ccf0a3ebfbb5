// Dense matrix multiply, row-major: C = alpha * op(A) @ op(B) + beta * C,
// op(A): (M, K), op(B): (K, N), C: (M, N). lda/ldb/ldc are row strides in elements of the
// matrices as stored (before op). The float32 path picks the fastest micro-kernel this CPU
// supports at run time; results do not depend on the thread count (fixed K order).
#pragma once
#include <cstdint>

namespace ns {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc);

// The plain triple loop the fast kernels are tested against.
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                    int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Which float32 kernel runs here: "avx512", "avx2" or "generic".
const char* gemm_kernel_name();

}  // namespace ns
