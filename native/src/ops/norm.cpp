// rms_norm: y = x / sqrt(mean(x^2, last dim) + eps) [* weight], as torch's F.rms_norm, and its
// backward. Rows are independent, so both directions run parallel over rows; the weight
// gradient (a sum over rows) is built from fixed 64-row chunks combined in chunk order, and row
// reductions use a fixed lane split, so results are bit-identical whatever the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "cuda/backend.h"
#include "ops/ops.h"

namespace ns {
namespace {

// Row reductions keep kLanes independent partial sums (which the compiler turns into SIMD
// registers; a plain serial sum would not vectorise without -ffast-math) and add them up in a
// fixed order.
constexpr int kLanes = 16;
constexpr int64_t kRowsPerChunk = 64;

template <class T>
T combine_lanes(T* acc) {
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
  return acc[0];
}

// sum_i x[i]^2. x: (n)
template <class T>
T sum_squares(const T* x, int64_t n) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += x[i + k] * x[i + k];
  for (int k = 0; i < n; ++i, ++k) acc[k] += x[i] * x[i];
  return combine_lanes(acc);
}

// sum_i a[i] * b[i] [* w[i]] (w may be null). a, b, w: (n)
template <class T>
T dot(const T* a, const T* b, const T* w, int64_t n) {
  T acc[kLanes] = {};
  int64_t i = 0;
  if (w) {
    for (; i + kLanes <= n; i += kLanes)
      for (int k = 0; k < kLanes; ++k) acc[k] += a[i + k] * b[i + k] * w[i + k];
    for (int k = 0; i < n; ++i, ++k) acc[k] += a[i] * b[i] * w[i];
  } else {
    for (; i + kLanes <= n; i += kLanes)
      for (int k = 0; k < kLanes; ++k) acc[k] += a[i + k] * b[i + k];
    for (int k = 0; i < n; ++i, ++k) acc[k] += a[i] * b[i];
  }
  return combine_lanes(acc);
}

// y: (rows, C), rstd: (rows) written. x: (rows, C), w: (C) or null
template <class T>
void rms_norm_forward(T* y, T* rstd, const T* x, const T* w, int64_t rows, int64_t C, double eps) {
  parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      T* yr = y + r * C;
      const T rs = T(1) / std::sqrt(sum_squares(xr, C) / T(C) + T(eps));
      rstd[r] = rs;
      if (w) {
        for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * rs * w[c];
      } else {
        for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * rs;
      }
    }
  });
}

// dx: (rows, C) and, when dw is given, dw: (C). g, x: (rows, C), rstd: (rows), w: (C) or null.
// With xhat = x * rstd and gh = g [* w]: dx = rstd * (gh - xhat * mean(gh * xhat)),
// dw = sum over rows of g * xhat.
template <class T>
void rms_norm_backward(T* dx, T* dw, const T* g, const T* x, const T* rstd, const T* w, int64_t rows, int64_t C) {
  const int64_t nchunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  std::vector<T> partial(dw ? static_cast<size_t>(nchunks * C) : 0, T(0));
  parallel_tasks(nchunks, [&](int64_t chunk) {
    const int64_t r0 = chunk * kRowsPerChunk, r1 = std::min(rows, r0 + kRowsPerChunk);
    T* part = dw ? partial.data() + chunk * C : nullptr;
    for (int64_t r = r0; r < r1; ++r) {
      const T* gr = g + r * C;
      const T* xr = x + r * C;
      T* dxr = dx + r * C;
      const T rs = rstd[r];
      // mean(gh * xhat) * rstd, folded into one coefficient on x
      const T k = dot(gr, xr, w, C) * rs * rs * rs / T(C);
      if (w) {
        for (int64_t c = 0; c < C; ++c) dxr[c] = rs * gr[c] * w[c] - k * xr[c];
      } else {
        for (int64_t c = 0; c < C; ++c) dxr[c] = rs * gr[c] - k * xr[c];
      }
      if (part)
        for (int64_t c = 0; c < C; ++c) part[c] += gr[c] * xr[c] * rs;
    }
  });
  if (!dw) return;
  parallel_for(C, 256, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) dw[c] = T(0);
    for (int64_t chunk = 0; chunk < nchunks; ++chunk) {
      const T* part = partial.data() + chunk * C;
      for (int64_t c = c0; c < c1; ++c) dw[c] += part[c];
    }
  });
}

struct RmsNormBackward : Node {
  TensorPtr x, weight, rstd;  // x: dense (..., C); weight: dense (C) or null; rstd: (rows)
  const char* name() const override { return "rms_norm"; }
  void release_saved() override { x.reset(); weight.reset(); rstd.reset(); }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    const int64_t C = x->shape.back();
    const int64_t rows = C == 0 ? 0 : x->numel() / C;
    auto dx = empty(x->shape, x->dtype, x->device());
    TensorPtr dw;
    if (weight && inputs[1] && inputs[1]->requires_grad) dw = empty({C}, x->dtype, x->device());
    if (x->is_cuda()) {
      if (rows > 0 && C > 0) {
        cuda_backend("rms_norm").rms_norm_backward(dx, dw, g, x, rstd, weight);
      } else if (dw) {
        fill(dw, 0.0);
      }
      return {inputs[0]->requires_grad ? dx : nullptr, dw};
    }
    NS_DISPATCH_FLOAT(x->dtype, "rms_norm", {
      using T = scalar_t;
      rms_norm_backward<T>(dx->data<T>(), dw ? dw->data<T>() : nullptr, g->data<T>(), x->data<T>(), rstd->data<T>(),
                           weight ? weight->data<T>() : nullptr, rows, C);
    });
    return {inputs[0]->requires_grad ? dx : nullptr, dw};
  }
};

}  // namespace

// x: (..., C), weight: (C) or null -> (..., C)
TensorPtr rms_norm(const TensorPtr& x0, const TensorPtr& weight0, double eps) {
  NS_CHECK(x0->dim() >= 1, "rms_norm: x must have at least 1 dim (..., C), got shape ", shape_str(x0->shape));
  check_floating("rms_norm", x0, "x");
  NS_CHECK(std::isfinite(eps) && eps >= 0, "rms_norm: eps must be a finite number >= 0, got ", eps);
  const int64_t C = x0->shape.back();
  if (weight0) {
    NS_CHECK(weight0->dim() == 1 && weight0->shape[0] == C, "rms_norm: weight must have shape [", C,
             "] to match x ", shape_str(x0->shape), ", got ", shape_str(weight0->shape));
    NS_CHECK(weight0->dtype == x0->dtype, "rms_norm: dtype mismatch, x is ", dtype_name(x0->dtype), ", weight is ",
             dtype_name(weight0->dtype));
  }
  check_same_device("rms_norm", {x0, weight0});
  auto x = dense(x0);
  auto w = weight0 ? dense(weight0) : nullptr;
  const int64_t rows = C == 0 ? 0 : x->numel() / C;
  auto y = empty(x->shape, x->dtype, x->device());
  auto rstd = empty({rows}, x->dtype, x->device());
  if (x->is_cuda()) {
    if (rows > 0 && C > 0) cuda_backend("rms_norm").rms_norm_forward(y, rstd, x, w, eps);
  } else {
    NS_DISPATCH_FLOAT(x->dtype, "rms_norm", {
      using T = scalar_t;
      rms_norm_forward<T>(y->data<T>(), rstd->data<T>(), x->data<T>(), w ? w->data<T>() : nullptr, rows, C, eps);
    });
  }
  if (needs_grad({x0, weight0})) {
    auto node = std::make_shared<RmsNormBackward>();
    node->x = x;
    node->weight = w;
    node->rstd = rstd;
    attach(y, node, {x0, weight0});
  }
  return y;
}

}  // namespace ns
