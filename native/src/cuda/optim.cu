// Optimizer steps on the GPU, ported from ops/optim.cpp (autoresearch's adamw_step_fused,
// polar-express Newton–Schulz and muon_step_fused): same formulas, same order of operations,
// constants computed on the host in double and rounded to float as the CPU does, statistics in
// double where the CPU keeps them in double. Every reduction runs in a fixed order, so results
// do not change from run to run. Nothing here waits for the device: per-matrix statistics stay
// on it from one kernel to the next.
//
// The Newton–Schulz products go through gemm() as one strided-batched product over the (K, M, N)
// stack, so they run at the matmul precision (bf16 by default, as autoresearch runs them).
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "cuda/backend_impl.cuh"
#include "ops/polar_express.h"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kReduceThreads = 512;  // one block per matrix: as many threads as keep an SM's loads busy

// Params and grads are separate tensors: kernels take up to this many pointers by value and the
// host launches once per chunk of matrices.
constexpr int kMatricesPerLaunch = 16;
template <class T>
struct MatrixPointers {
  T* ptr[kMatricesPerLaunch];
};

// torch.lerp: start + w * (end - start), evaluated from the nearer end as torch does.
__device__ __forceinline__ float lerp(float start, float end, float w) {
  return w < 0.5f ? start + w * (end - start) : end - (end - start) * (1.0f - w);
}

// std::max's exact semantics (the first argument when they compare equal or either is NaN),
// which fmax does not share.
__device__ __forceinline__ double std_max(double a, double b) { return a < b ? b : a; }

__device__ __forceinline__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// The sum of v over the block, returned to every thread; a fixed tree, so the same bits every run.
// Every thread of the block must call it.
__device__ double block_sum(double v) {
  __shared__ double partial[32];
  __shared__ double total;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>((blockDim.x + 31) >> 5) ? partial[lane] : 0.0;
    v = warp_sum(v);
    if (lane == 0) total = v;
  }
  __syncthreads();
  return total;
}

// ---- AdamW ----------------------------------------------------------------------------

// p, g, m, v: (n). Decoupled decay, moment updates, bias-corrected step, as adamw_kernel on the CPU.
__global__ void adamw_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                             float* __restrict__ v, int64_t n, float decay, float w1, float w2, float bias2,
                             float step_size, float eps) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const float gi = g[i];
    const float mi = lerp(m[i], gi, w1);
    const float vi = lerp(v[i], gi * gi, w2);
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi / bias2) + eps;
    p[i] = p[i] * decay - step_size * (mi / denom);
  }
}

// ---- polar express --------------------------------------------------------------------

// One block per matrix k: dst[k] = src[k] / (||src[k]||_F * 1.02 + 1e-6), the norm summed in
// double. dst may alias src: every read of the sum precedes the block barrier in block_sum.
__global__ void frobenius_normalize_kernel(float* dst, const float* src, int64_t n) {
  const float* s = src + blockIdx.x * n;
  float* d = dst + blockIdx.x * n;
  double sq = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sq += double(s[i]) * double(s[i]);
  const float denom = static_cast<float>(sqrt(block_sum(sq)) * 1.02 + 1e-6);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) d[i] = s[i] / denom;
}

void copy_on_stream(const TensorPtr& dst, const TensorPtr& src, int device) {
  NS_CUDA_CHECK(cudaMemcpyAsync(dst->data<float>(), src->data<float>(), src->numel() * sizeof(float),
                                cudaMemcpyDeviceToDevice, stream(device)));
}

// One iteration over the stack: y = a*x + x@B (tall) or a*x + B@x (wide), B = b*A + c*A@A with A
// the Gram matrix of x on its short side. x, y: (K, M, N); A, B: (K, s, s), s = min(M, N).
void newton_schulz_step(CudaBackendImpl& backend, const TensorPtr& x, const TensorPtr& y, const TensorPtr& A,
                        const TensorPtr& B, int64_t K, int64_t M, int64_t N, const double* coeff, int device) {
  const bool tall = M > N;
  const int64_t s = tall ? N : M;
  const int64_t mn = M * N, ss = s * s;
  if (tall) {  // A = x^T x: (N, M) @ (M, N)
    backend.gemm(GemmSpec::strided(K, true, false, N, N, M, N, mn, N, mn, N, ss, 1.0, 0.0), x, x, A);
  } else {  // A = x x^T: (M, N) @ (N, M)
    backend.gemm(GemmSpec::strided(K, false, true, M, M, N, N, mn, N, mn, M, ss, 1.0, 0.0), x, x, A);
  }
  copy_on_stream(B, A, device);
  backend.gemm(GemmSpec::strided(K, false, false, s, s, s, s, ss, s, ss, s, ss, coeff[2], coeff[1]), A, A, B);
  copy_on_stream(y, x, device);
  if (tall) {  // y = a*x + x@B: (M, N) @ (N, N)
    backend.gemm(GemmSpec::strided(K, false, false, M, N, N, N, mn, N, ss, N, mn, 1.0, coeff[0]), x, B, y);
  } else {  // y = a*x + B@x: (M, M) @ (M, N)
    backend.gemm(GemmSpec::strided(K, false, false, M, N, M, M, ss, N, mn, N, mn, 1.0, coeff[0]), B, x, y);
  }
}

// ---- Muon -----------------------------------------------------------------------------

// Nesterov momentum for matrices k0 .. k0 + gridDim.y - 1, each (n):
// mbuf = lerp(mbuf, grad, 1 - momentum); work = lerp(grad, mbuf, momentum).
__global__ void nesterov_kernel(float* __restrict__ work, float* __restrict__ mbuf, MatrixPointers<const float> grads,
                                int64_t k0, int64_t n, float one_minus_mom, float mom) {
  const int64_t base = (k0 + blockIdx.y) * n;
  const float* __restrict__ grad = grads.ptr[blockIdx.y];
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const float gi = grad[i];
    const float b = lerp(mbuf[base + i], gi, one_minus_mom);
    mbuf[base + i] = b;
    work[base + i] = lerp(gi, b, mom);
  }
}

// v_mean (K * M) = mean of g^2 along each row of each (M, N) matrix; one warp per row.
__global__ void row_mean_squares_kernel(double* __restrict__ v_mean, const float* __restrict__ g, int64_t rows,
                                        int64_t N) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; row < rows;
       row += warps) {
    const float* r = g + row * N;
    double sq = 0.0;
    for (int64_t j = lane; j < N; j += 32) sq += double(r[j]) * double(r[j]);
    sq = warp_sum(sq);
    if (lane == 0) v_mean[row] = sq / double(N);
  }
}

// v_mean (K * N) = mean of g^2 down each column of each (M, N) matrix; one thread per column,
// neighbouring threads on neighbouring columns so every row's loads coalesce.
__global__ void column_mean_squares_kernel(double* __restrict__ v_mean, const float* __restrict__ g, int64_t K,
                                           int64_t M, int64_t N) {
  const int64_t columns = K * N;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < columns; c += step) {
    const int64_t k = c / N, j = c - k * N;
    const float* col = g + k * M * N + j;
    double sq = 0.0;
    for (int64_t i = 0; i < M; ++i) sq += double(col[i * N]) * double(col[i * N]);
    v_mean[c] = sq / double(M);
  }
}

// One block per matrix k, over its `stats` statistics (reduced over `red` elements each):
// sbuf = lerp(sbuf, v_mean, 1 - beta2), step_size = 1 / sqrt(max(sbuf, 1e-10)), then
// final_scale = step_size * v_norm / max(sqrt(sum(v_mean * red * step_size^2)), 1e-10).
// v_mean is overwritten with step_size (each thread rereads only what it wrote).
__global__ void normuon_scale_kernel(float* __restrict__ final_scale, float* __restrict__ sbuf,
                                     double* __restrict__ v_mean, int64_t stats, int64_t red, float w2) {
  const int64_t base = blockIdx.x * stats;
  double v_sum = 0.0, scaled_sq_sum = 0.0;
  for (int64_t i = threadIdx.x; i < stats; i += blockDim.x) {
    const double vm = v_mean[base + i];
    v_sum += vm;
    const float sb = lerp(sbuf[base + i], static_cast<float>(vm), w2);
    sbuf[base + i] = sb;
    const double step_size = 1.0 / sqrt(std_max(double(sb), 1e-10));
    scaled_sq_sum += vm * double(red) * step_size * step_size;
    v_mean[base + i] = step_size;
  }
  v_sum = block_sum(v_sum);
  scaled_sq_sum = block_sum(scaled_sq_sum);
  const double v_norm = sqrt(v_sum * double(red));
  const double ratio = v_norm / std_max(sqrt(scaled_sq_sum), 1e-10);
  for (int64_t i = threadIdx.x; i < stats; i += blockDim.x)
    final_scale[base + i] = static_cast<float>(v_mean[base + i] * ratio);
}

// Cautious weight decay for matrices k0 .. k0 + gridDim.y - 1: u = g * final_scale (per row when
// scale_rows, else per column); p -= lr * u + lr * wd * p where u and p agree in sign.
__global__ void cautious_update_kernel(MatrixPointers<float> params, const float* __restrict__ g,
                                       const float* __restrict__ final_scale, int64_t k0, int64_t M, int64_t N,
                                       bool scale_rows, float lr, float lr_wd) {
  const int64_t k = k0 + blockIdx.y;
  float* __restrict__ p = params.ptr[blockIdx.y];
  const float* gk = g + k * M * N;
  const float* scale = final_scale + k * (scale_rows ? M : N);
  for (int64_t r = blockIdx.x; r < M; r += gridDim.x) {
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) {
      const int64_t i = r * N + j;
      const float u = gk[i] * scale[scale_rows ? r : j];
      const float pv = p[i];
      const float mask = u * pv >= 0.0f ? 1.0f : 0.0f;
      p[i] = pv - (lr * u + lr_wd * pv * mask);
    }
  }
}

// ---- checks ---------------------------------------------------------------------------

void check_f32_dense(const char* op, const TensorPtr& t, const char* name) {
  NS_CHECK(t->dtype == DType::F32, op, ": the CUDA backend supports float32 only, got ", dtype_name(t->dtype),
           " for ", name, " (shape ", shape_str(t->shape), ")");
  NS_CHECK(t->is_contiguous(), op, ": ", name, " must be contiguous (shape ", shape_str(t->shape), ")");
}

void check_ns_steps(const char* op, int64_t ns_steps) {
  NS_CHECK(ns_steps >= 1 && ns_steps <= kPolarMaxSteps, op, ": ns_steps must be in 1..", kPolarMaxSteps, ", got ",
           ns_steps);
}

}  // namespace

void CudaBackendImpl::adamw(const TensorPtr& p, const TensorPtr& grad, const TensorPtr& exp_avg,
                            const TensorPtr& exp_avg_sq, double step, double lr, double beta1, double beta2,
                            double eps, double weight_decay) {
  const std::pair<const char*, const TensorPtr*> all[] = {
      {"p", &p}, {"grad", &grad}, {"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}};
  for (const auto& [name, t] : all) {
    check_f32_dense("adamw_step", *t, name);
    NS_CHECK((*t)->numel() == p->numel(), "adamw_step: ", name, " shape ", shape_str((*t)->shape),
             " must match p shape ", shape_str(p->shape));
  }
  const int64_t n = p->numel();
  if (n == 0) return;
  const int device = device_of(p);
  DeviceGuard guard(device);
  const float decay = static_cast<float>(1.0 - lr * weight_decay);
  const float w1 = static_cast<float>(1.0 - beta1), w2 = static_cast<float>(1.0 - beta2);
  const float bias2 = static_cast<float>(1.0 - std::pow(beta2, step));
  const float step_size = static_cast<float>(lr / (1.0 - std::pow(beta1, step)));
  adamw_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream(device)>>>(
      p->data<float>(), grad->data<float>(), exp_avg->data<float>(), exp_avg_sq->data<float>(), n, decay, w1, w2,
      bias2, step_size, static_cast<float>(eps));
  NS_CUDA_LAUNCHED("adamw_step");
}

void CudaBackendImpl::polar_express(const TensorPtr& out, const TensorPtr& x, int64_t ns_steps) {
  check_f32_dense("polar_express", x, "x");
  check_f32_dense("polar_express", out, "out");
  check_ns_steps("polar_express", ns_steps);
  NS_CHECK(x->dim() == 2 || x->dim() == 3, "polar_express: expected x (M, N) or (K, M, N), got ",
           shape_str(x->shape));
  NS_CHECK(out->shape == x->shape, "polar_express: out shape ", shape_str(out->shape), " must match x shape ",
           shape_str(x->shape));
  const int64_t K = x->dim() == 3 ? x->shape[0] : 1, M = x->size(-2), N = x->size(-1);
  if (x->numel() == 0) return;
  const int device = device_of(x);
  DeviceGuard guard(device);
  const int64_t s = std::min(M, N);
  auto tmp = empty({K, M, N}, DType::F32, out->device());
  auto A = empty({K, s, s}, DType::F32, out->device());
  auto B = empty({K, s, s}, DType::F32, out->device());
  // The start buffer follows the parity of ns_steps so the last iteration lands in out.
  TensorPtr cur = ns_steps % 2 ? tmp : out;
  TensorPtr next = ns_steps % 2 ? out : tmp;
  frobenius_normalize_kernel<<<static_cast<unsigned>(K), kReduceThreads, 0, stream(device)>>>(
      cur->data<float>(), x->data<float>(), M * N);
  NS_CUDA_LAUNCHED("polar_express (normalize)");
  for (int64_t i = 0; i < ns_steps; ++i) {
    newton_schulz_step(*this, cur, next, A, B, K, M, N, kPolarCoeffs[i], device);
    std::swap(cur, next);
  }
}

void CudaBackendImpl::muon_step(const std::vector<TensorPtr>& params, const std::vector<TensorPtr>& grads,
                                const TensorPtr& momentum_buffer, const TensorPtr& second_momentum_buffer,
                                const MuonHyper& hyper) {
  NS_CHECK(!params.empty() && params.size() == grads.size(), "muon_step: needs as many grads as params, got ",
           params.size(), " params and ", grads.size(), " grads");
  check_ns_steps("muon_step", hyper.ns_steps);
  const TensorPtr& p0 = params[0];
  NS_CHECK(p0->dim() == 2, "muon_step: params must be matrices (M, N), params[0] has shape ", shape_str(p0->shape));
  const int64_t K = static_cast<int64_t>(params.size()), M = p0->shape[0], N = p0->shape[1];
  for (int64_t k = 0; k < K; ++k) {
    check_f32_dense("muon_step", params[k], ("params[" + std::to_string(k) + "]").c_str());
    check_f32_dense("muon_step", grads[k], ("grads[" + std::to_string(k) + "]").c_str());
    NS_CHECK(params[k]->shape == p0->shape && grads[k]->shape == p0->shape, "muon_step: params[", k, "] ",
             shape_str(params[k]->shape), " and grads[", k, "] ", shape_str(grads[k]->shape), " must match ",
             shape_str(p0->shape));
  }
  const bool reduce_cols = M >= N;  // one statistic per row when M >= N, else per column
  const int64_t stats = reduce_cols ? M : N, red = reduce_cols ? N : M;
  check_f32_dense("muon_step", momentum_buffer, "momentum_buffer");
  check_f32_dense("muon_step", second_momentum_buffer, "second_momentum_buffer");
  NS_CHECK(momentum_buffer->numel() == K * M * N, "muon_step: momentum_buffer has shape ",
           shape_str(momentum_buffer->shape), ", expected ", K, " x ", shape_str(p0->shape));
  NS_CHECK(second_momentum_buffer->numel() == K * stats, "muon_step: second_momentum_buffer has shape ",
           shape_str(second_momentum_buffer->shape), ", expected ", K * stats, " elements");
  if (M * N == 0) return;
  const int device = device_of(momentum_buffer);
  DeviceGuard guard(device);
  const cudaStream_t s = stream(device);
  const int64_t n = M * N;

  // Grads are read, never written: the Nesterov mix goes to the (K, M, N) work stack.
  auto work = empty({K, M, N}, DType::F32, momentum_buffer->device());
  const float mom = static_cast<float>(hyper.momentum), one_minus_mom = static_cast<float>(1.0 - hyper.momentum);
  for (int64_t k0 = 0; k0 < K; k0 += kMatricesPerLaunch) {
    const int64_t chunk = std::min<int64_t>(kMatricesPerLaunch, K - k0);
    MatrixPointers<const float> grad_ptrs{};
    for (int64_t c = 0; c < chunk; ++c) grad_ptrs.ptr[c] = grads[k0 + c]->data<float>();
    const dim3 grid(blocks_for(n, kThreads, 2048 / chunk), static_cast<unsigned>(chunk));
    nesterov_kernel<<<grid, kThreads, 0, s>>>(work->data<float>(), momentum_buffer->data<float>(), grad_ptrs, k0, n,
                                              one_minus_mom, mom);
    NS_CUDA_LAUNCHED("muon_step (nesterov)");
  }

  polar_express(work, work, hyper.ns_steps);

  // NorMuon: per-matrix statistics, kept on the device.
  auto v_mean = empty({K * stats}, DType::F64, work->device());
  auto final_scale = empty({K * stats}, DType::F32, work->device());
  if (reduce_cols) {
    row_mean_squares_kernel<<<blocks_for(K * M, kThreads / 32), kThreads, 0, s>>>(v_mean->data<double>(),
                                                                                 work->data<float>(), K * M, N);
  } else {
    column_mean_squares_kernel<<<blocks_for(K * N, kThreads), kThreads, 0, s>>>(v_mean->data<double>(),
                                                                               work->data<float>(), K, M, N);
  }
  NS_CUDA_LAUNCHED("muon_step (mean squares)");
  normuon_scale_kernel<<<static_cast<unsigned>(K), kThreads, 0, s>>>(
      final_scale->data<float>(), second_momentum_buffer->data<float>(), v_mean->data<double>(), stats, red,
      static_cast<float>(1.0 - hyper.beta2));
  NS_CUDA_LAUNCHED("muon_step (normuon)");

  const float lr = static_cast<float>(hyper.lr);
  const float lr_wd = lr * static_cast<float>(hyper.weight_decay);
  // Narrow matrices get narrower blocks instead of idle threads.
  const int update_threads = static_cast<int>(std::min<int64_t>(kThreads, (N + 31) / 32 * 32));
  for (int64_t k0 = 0; k0 < K; k0 += kMatricesPerLaunch) {
    const int64_t chunk = std::min<int64_t>(kMatricesPerLaunch, K - k0);
    MatrixPointers<float> param_ptrs{};
    for (int64_t c = 0; c < chunk; ++c) param_ptrs.ptr[c] = params[k0 + c]->data<float>();
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>(M, 2048 / chunk)), static_cast<unsigned>(chunk));
    cautious_update_kernel<<<grid, update_threads, 0, s>>>(param_ptrs, work->data<float>(),
                                                           final_scale->data<float>(), k0, M, N, reduce_cols, lr,
                                                           lr_wd);
    NS_CUDA_LAUNCHED("muon_step (update)");
  }
}

}  // namespace cuda
}  // namespace ns
