// GEMM entry points. This first version is a portable loop-ordered kernel, parallel over rows
// of C; the SIMD micro-kernels replace the float32 path when they land.
#include "cpu/gemm.h"

#include "core/parallel.h"

namespace ns {
namespace {

template <class T>
void gemm_generic(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
                  int64_t ldb, T beta, T* C, int64_t ldc) {
  parallel_for(M, 4, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      T* c = C + m * ldc;
      for (int64_t n = 0; n < N; ++n) c[n] = beta == T(0) ? T(0) : c[n] * beta;
      for (int64_t k = 0; k < K; ++k) {
        T a = alpha * (ta ? A[k * lda + m] : A[m * lda + k]);
        if (!tb) {
          const T* b = B + k * ldb;
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
  gemm_generic(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_generic(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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

const char* gemm_kernel_name() { return "generic"; }

}  // namespace ns
