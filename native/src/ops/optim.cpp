// Fused optimizer kernels, as autoresearch's train.py: adamw_step_fused, the polar-express
// Newton–Schulz orthogonalisation and muon_step_fused (+ its copy-back). They update parameters
// and optimizer state in place and never touch autograd. Results are bit-identical whatever the
// thread count: every reduction runs over fixed chunks (or whole rows/columns) combined in a
// fixed order, and gemm keeps a fixed K order. autoresearch runs the Newton–Schulz iterations
// in bfloat16 on the GPU; here they run in the input's dtype (float32 in training). The float64
// references live in test/engine/optim.test.ts.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "cpu/gemm.h"
#include "cuda/backend.h"
#include "ops/ops.h"
#include "ops/polar_express.h"

namespace ns {
namespace {

constexpr int64_t kGrain = 1 << 14;

// torch.lerp: start + w * (end - start), evaluated from the nearer end as torch does.
template <class T>
inline T lerp(T start, T end, T w) {
  return w < T(0.5) ? start + w * (end - start) : end - (end - start) * (T(1) - w);
}

// Runs fn(k) for each of `count` matrices. With at least as many matrices as threads, each
// matrix is one task (its inner parallel_for and gemm calls then run inline, no per-gemm
// synchronisation); otherwise matrices run one after another, each parallel inside. Both
// orders compute the same bits.
void for_each_matrix(int64_t count, const std::function<void(int64_t)>& fn) {
  if (count > 1 && count >= num_threads()) {
    parallel_tasks(count, fn);
  } else {
    for (int64_t k = 0; k < count; ++k) fn(k);
  }
}

// ---- AdamW ----------------------------------------------------------------------------

// p, g, m, v: (n) dense. One pass: decoupled decay, moment updates, bias-corrected step.
template <class T>
void adamw_kernel(T* p, const T* g, T* m, T* v, int64_t n, double step, double lr, double beta1, double beta2,
                  double eps, double wd) {
  const T decay = T(1.0 - lr * wd);
  const T w1 = T(1.0 - beta1), w2 = T(1.0 - beta2);
  const T bias2 = T(1.0 - std::pow(beta2, step));
  const T step_size = T(lr / (1.0 - std::pow(beta1, step)));
  const T e = T(eps);
  // Captured by value: with [&] the pointers are reloaded after every store and the loop
  // stays scalar.
  parallel_for(n, kGrain, [=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T gi = g[i];
      const T mi = lerp(m[i], gi, w1);
      const T vi = lerp(v[i], gi * gi, w2);
      m[i] = mi;
      v[i] = vi;
      const T denom = std::sqrt(vi / bias2) + e;
      p[i] = p[i] * decay - step_size * (mi / denom);
    }
  });
}

// Sum of x[i]^2 in double, in a fixed order: eight interleaved partial sums (so the loop
// vectorizes without -ffast-math) added up at the end.
template <class T>
double sum_squares(const T* x, int64_t n) {
  constexpr int64_t kLanes = 8;
  double lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lane[l] += double(x[i + l]) * double(x[i + l]);
  double acc = 0.0;
  for (; i < n; ++i) acc += double(x[i]) * double(x[i]);
  for (int64_t l = 0; l < kLanes; ++l) acc += lane[l];
  return acc;
}

// ---- polar express --------------------------------------------------------------------

// dst (n) = src / (||src||_F * 1.02 + 1e-6); dst may alias src. The sum of squares runs in
// double over fixed chunks, combined in order.
template <class T>
void frobenius_normalize(const T* src, T* dst, int64_t n) {
  const int64_t chunks = (n + kGrain - 1) / kGrain;
  std::vector<double> partial(chunks, 0.0);
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      partial[c] = sum_squares(src + c * kGrain, std::min(n, (c + 1) * kGrain) - c * kGrain);
    }
  });
  double sq = 0.0;
  for (double s : partial) sq += s;
  const T denom = T(std::sqrt(sq) * 1.02 + 1e-6);
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = src[i] / denom;
  });
}

// One iteration y = a*x + x*B (tall) or a*x + B*x (wide), B = b*A + c*A*A with A the Gram matrix
// of x on its short side. x, y: (M, N); A, B: (s, s), s = min(M, N).
template <class T>
void newton_schulz_step(const T* x, T* y, T* A, T* B, int64_t M, int64_t N, const double* coeff) {
  const T a = T(coeff[0]), b = T(coeff[1]), c = T(coeff[2]);
  const bool tall = M > N;
  const int64_t s = tall ? N : M;
  if (tall) {
    gemm(true, false, N, N, M, T(1), x, N, x, N, T(0), A, N);  // A = x^T x: (N, M) @ (M, N)
  } else {
    gemm(false, true, M, M, N, T(1), x, N, x, N, T(0), A, M);  // A = x x^T: (M, N) @ (N, M)
  }
  std::copy(A, A + s * s, B);
  gemm(false, false, s, s, s, c, A, s, A, s, b, B, s);  // B = b*A + c*A@A
  std::copy(x, x + M * N, y);
  if (tall) {
    gemm(false, false, M, N, N, T(1), x, N, B, N, a, y, N);  // y = a*x + x@B: (M, N) @ (N, N)
  } else {
    gemm(false, false, M, N, M, T(1), B, M, x, N, a, y, N);  // y = a*x + B@x: (M, M) @ (M, N)
  }
}

// Scratch for one matrix's iterations: the ping-pong partner of x and the two Gram buffers.
struct PolarScratch {
  TensorPtr tmp, A, B;
  PolarScratch(int64_t M, int64_t N, DType dtype) {
    const int64_t s = std::min(M, N);
    tmp = empty({M, N}, dtype);
    A = zeros({s, s}, dtype);  // zeroed once: gemm with beta = 0 then never reads stale bits
    B = empty({s, s}, dtype);
  }
};

// src: (M, N) -> dst: (M, N), the polar-express orthogonalisation; dst may alias src. The start
// buffer is picked by the parity of `steps` so the last iteration lands in dst without a copy.
template <class T>
void polar_express_matrix(const T* src, T* dst, PolarScratch& scratch, int64_t M, int64_t N, int64_t steps) {
  T* tmp = scratch.tmp->data<T>();
  T* x = steps % 2 ? tmp : dst;
  T* y = steps % 2 ? dst : tmp;
  frobenius_normalize(src, x, M * N);
  for (int64_t i = 0; i < steps; ++i) {
    newton_schulz_step(x, y, scratch.A->data<T>(), scratch.B->data<T>(), M, N, kPolarCoeffs[i]);
    std::swap(x, y);
  }
}

void check_ns_steps(const char* op, int64_t ns_steps) {
  NS_CHECK(ns_steps >= 1 && ns_steps <= kPolarMaxSteps, op, ": ns_steps must be in 1..", kPolarMaxSteps, ", got ",
           ns_steps);
}

// ---- Muon -----------------------------------------------------------------------------

// One matrix of the group. p, grad, mbuf: (M, N); sbuf: (M) when M >= N else (N).
template <class T>
void muon_matrix(T* p, const T* grad, T* mbuf, T* sbuf, int64_t M, int64_t N, DType dtype, const MuonHyper& h) {
  const int64_t n = M * N;
  auto work_t = empty({M, N}, dtype);
  T* g = work_t->data<T>();

  // Nesterov momentum: mbuf = lerp(mbuf, grad, 1 - momentum); g = lerp(grad, mbuf, momentum).
  const T mom = T(h.momentum), one_minus_mom = T(1.0 - h.momentum);
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T b = lerp(mbuf[i], grad[i], one_minus_mom);
      mbuf[i] = b;
      g[i] = lerp(grad[i], b, mom);
    }
  });

  PolarScratch scratch(M, N, dtype);
  polar_express_matrix(g, g, scratch, M, N, h.ns_steps);

  // NorMuon: mean of g² along red_dim: one statistic per row when M >= N (red_dim = -1),
  // per column otherwise (red_dim = -2).
  const bool reduce_cols = M >= N;
  const int64_t stats = reduce_cols ? M : N;
  const int64_t red = reduce_cols ? N : M;
  std::vector<double> v_mean(stats, 0.0);
  if (reduce_cols) {
    parallel_for(M, std::max<int64_t>(1, kGrain / N), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) v_mean[r] = sum_squares(g + r * N, N) / double(red);
    });
  } else {
    parallel_for(N, std::max<int64_t>(16, kGrain / M), [&](int64_t c0, int64_t c1) {
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = c0; j < c1; ++j) v_mean[j] += double(g[i * N + j]) * double(g[i * N + j]);
      for (int64_t j = c0; j < c1; ++j) v_mean[j] /= double(red);
    });
  }
  double v_sum = 0.0;
  for (double v : v_mean) v_sum += v;
  const double v_norm = std::sqrt(v_sum * double(red));
  const T w2 = T(1.0 - h.beta2);
  std::vector<double> step_size(stats);
  double scaled_sq_sum = 0.0;
  for (int64_t i = 0; i < stats; ++i) {
    sbuf[i] = lerp(sbuf[i], T(v_mean[i]), w2);
    step_size[i] = 1.0 / std::sqrt(std::max(double(sbuf[i]), 1e-10));
    scaled_sq_sum += v_mean[i] * double(red) * step_size[i] * step_size[i];
  }
  const double ratio = v_norm / std::max(std::sqrt(scaled_sq_sum), 1e-10);
  std::vector<T> final_scale(stats);
  for (int64_t i = 0; i < stats; ++i) final_scale[i] = T(step_size[i] * ratio);

  // Cautious weight decay: decay only where the update and the parameter agree in sign.
  const T lr = T(h.lr), lr_wd = T(h.lr) * T(h.weight_decay);
  parallel_for(M, std::max<int64_t>(1, kGrain / N), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T* pr = p + r * N;
      const T* gr = g + r * N;
      for (int64_t j = 0; j < N; ++j) {
        const T u = gr[j] * final_scale[reduce_cols ? r : j];
        const T pv = pr[j];
        const T mask = u * pv >= T(0) ? T(1) : T(0);
        pr[j] = pv - (lr * u + lr_wd * pv * mask);
      }
    }
  });
}

}  // namespace

void adamw_step(const TensorPtr& p, const TensorPtr& grad, const TensorPtr& exp_avg, const TensorPtr& exp_avg_sq,
                double step, double lr, double beta1, double beta2, double eps, double weight_decay) {
  check_floating("adamw_step", p, "p");
  const std::pair<const char*, const TensorPtr*> others[] = {
      {"grad", &grad}, {"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}};
  for (const auto& [name, t] : others) {
    NS_CHECK((*t)->shape == p->shape, "adamw_step: ", name, " shape ", shape_str((*t)->shape),
             " must match p shape ", shape_str(p->shape));
    NS_CHECK((*t)->dtype == p->dtype, "adamw_step: ", name, " dtype ", dtype_name((*t)->dtype),
             " must match p dtype ", dtype_name(p->dtype), " (shape ", shape_str(p->shape), ")");
  }
  const std::pair<const char*, const TensorPtr*> all[] = {
      {"p", &p}, {"grad", &grad}, {"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}};
  for (const auto& [name, t] : all)
    NS_CHECK((*t)->is_contiguous(), "adamw_step: ", name, " must be contiguous (shape ", shape_str((*t)->shape), ")");
  NS_CHECK(step >= 1, "adamw_step: step must be >= 1 (bias correction), got ", step);
  check_same_device("adamw_step", {p, grad, exp_avg, exp_avg_sq});
  if (p->is_cuda()) {
    if (p->numel() > 0)
      cuda_backend("adamw_step").adamw(p, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay);
    return;
  }
  NS_DISPATCH_FLOAT(p->dtype, "adamw_step",
                    adamw_kernel(p->data<scalar_t>(), grad->data<scalar_t>(), exp_avg->data<scalar_t>(),
                                 exp_avg_sq->data<scalar_t>(), p->numel(), step, lr, beta1, beta2, eps,
                                 weight_decay));
}

TensorPtr polar_express(const TensorPtr& x, int64_t ns_steps) {
  NS_CHECK(x->dim() == 2 || x->dim() == 3, "polar_express: expected x (M, N) or (K, M, N), got ",
           shape_str(x->shape));
  check_floating("polar_express", x, "x");
  check_ns_steps("polar_express", ns_steps);
  const int64_t M = x->size(-2), N = x->size(-1), K = x->dim() == 3 ? x->shape[0] : 1;
  NS_CHECK(M > 0 && N > 0, "polar_express: matrices must be non-empty, got ", shape_str(x->shape));
  auto src = dense(x);
  auto out = empty(x->shape, x->dtype, x->device());
  if (x->is_cuda()) {
    cuda_backend("polar_express").polar_express(out, src, ns_steps);
    return out;
  }
  NS_DISPATCH_FLOAT(x->dtype, "polar_express", {
    const scalar_t* in = src->data<scalar_t>();
    scalar_t* o = out->data<scalar_t>();
    for_each_matrix(K, [&](int64_t k) {
      PolarScratch scratch(M, N, x->dtype);
      polar_express_matrix(in + k * M * N, o + k * M * N, scratch, M, N, ns_steps);
    });
  });
  return out;
}

void muon_step(const std::vector<TensorPtr>& params, const std::vector<TensorPtr>& grads,
               const TensorPtr& momentum_buffer, const TensorPtr& second_momentum_buffer, double momentum, double lr,
               double weight_decay, double beta2, int64_t ns_steps) {
  NS_CHECK(!params.empty() && params.size() == grads.size(), "muon_step: needs as many grads as params, got ",
           params.size(), " params and ", grads.size(), " grads");
  const TensorPtr& p0 = params[0];
  NS_CHECK(p0->dim() == 2, "muon_step: params must be matrices (M, N), params[0] has shape ", shape_str(p0->shape));
  check_floating("muon_step", p0, "params[0]");
  check_ns_steps("muon_step", ns_steps);
  const int64_t K = static_cast<int64_t>(params.size()), M = p0->shape[0], N = p0->shape[1];
  NS_CHECK(M > 0 && N > 0, "muon_step: matrices must be non-empty, params[0] has shape ", shape_str(p0->shape));
  const DType dt = p0->dtype;
  for (int64_t k = 0; k < K; ++k) {
    const TensorPtr& p = params[k];
    const TensorPtr& g = grads[k];
    NS_CHECK(p->shape == p0->shape, "muon_step: params[", k, "] has shape ", shape_str(p->shape),
             " but params[0] has ", shape_str(p0->shape), " (a group must share one shape)");
    NS_CHECK(p->dtype == dt, "muon_step: params[", k, "] dtype ", dtype_name(p->dtype), " mismatch with params[0] ",
             dtype_name(dt));
    NS_CHECK(p->is_contiguous(), "muon_step: params[", k, "] must be contiguous (shape ", shape_str(p->shape), ")");
    NS_CHECK(g->shape == p0->shape, "muon_step: grads[", k, "] has shape ", shape_str(g->shape),
             " but must match the params' shape ", shape_str(p0->shape));
    NS_CHECK(g->dtype == dt, "muon_step: grads[", k, "] dtype ", dtype_name(g->dtype), " mismatch with params ",
             dtype_name(dt));
    check_same_device("muon_step", {p0, p, g, momentum_buffer, second_momentum_buffer});
  }
  const Shape want_m = {K, M, N};
  const Shape want_s = M >= N ? Shape{K, M, 1} : Shape{K, 1, N};
  NS_CHECK(momentum_buffer->shape == want_m, "muon_step: momentum_buffer must have shape ", shape_str(want_m),
           " for ", K, " params of shape ", shape_str(p0->shape), ", got ", shape_str(momentum_buffer->shape));
  NS_CHECK(second_momentum_buffer->shape == want_s, "muon_step: second_momentum_buffer must have shape ",
           shape_str(want_s), " for ", K, " params of shape ", shape_str(p0->shape), ", got ",
           shape_str(second_momentum_buffer->shape));
  for (const auto* b : {&momentum_buffer, &second_momentum_buffer}) {
    const char* name = b == &momentum_buffer ? "momentum_buffer" : "second_momentum_buffer";
    NS_CHECK((*b)->dtype == dt, "muon_step: ", name, " dtype ", dtype_name((*b)->dtype), " mismatch with params ",
             dtype_name(dt));
    NS_CHECK((*b)->is_contiguous(), "muon_step: ", name, " must be contiguous (shape ", shape_str((*b)->shape), ")");
  }

  // Grads are read, never written: the Nesterov mix goes to a per-matrix work buffer.
  std::vector<TensorPtr> grads_dense(K);
  for (int64_t k = 0; k < K; ++k) grads_dense[k] = dense(grads[k]);
  const MuonHyper h{momentum, lr, weight_decay, beta2, ns_steps};
  if (p0->is_cuda()) {
    cuda_backend("muon_step").muon_step(params, grads_dense, momentum_buffer, second_momentum_buffer, h);
    return;
  }
  const int64_t stats = M >= N ? M : N;
  NS_DISPATCH_FLOAT(dt, "muon_step", {
    scalar_t* mbuf = momentum_buffer->data<scalar_t>();
    scalar_t* sbuf = second_momentum_buffer->data<scalar_t>();
    for_each_matrix(K, [&](int64_t k) {
      muon_matrix(params[k]->data<scalar_t>(), grads_dense[k]->data<scalar_t>(), mbuf + k * M * N,
                  sbuf + k * stats, M, N, dt, h);
    });
  });
}

}  // namespace ns
