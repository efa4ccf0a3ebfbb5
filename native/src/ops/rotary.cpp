// rotary: rotary position embedding as autoresearch's apply_rotary_emb (the two halves of each
// head rotated together, not interleaved pairs), and its backward, the inverse rotation.
// cos/sin are constant tables: they get no gradient. Rows (b, t) run in parallel.
#include <algorithm>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "cuda/backend.h"
#include "ops/ops.h"

namespace ns {
namespace {

// One (b, t) row: H heads, each rotated by the same angles. With d = D/2,
// x1 = x[..., :d], x2 = x[..., d:]:
//   forward (sign = +1): y1 = x1*cos + x2*sin ; y2 = -x1*sin + x2*cos
//   backward (sign = -1, the transpose): y1 = x1*cos - x2*sin ; y2 = x1*sin + x2*cos
// y, x: (H, D), c, s: (D/2)
template <class T>
void rotary_row(T* y, const T* x, const T* c, const T* s, int64_t H, int64_t D, T sign) {
  const int64_t d = D / 2;
  for (int64_t h = 0; h < H; ++h) {
    const T* x1 = x + h * D;
    const T* x2 = x1 + d;
    T* y1 = y + h * D;
    T* y2 = y1 + d;
    for (int64_t j = 0; j < d; ++j) {
      const T a = x1[j], b = x2[j], sj = sign * s[j];
      y1[j] = a * c[j] + b * sj;
      y2[j] = b * c[j] - a * sj;
    }
  }
}

// y, x: (B, T, H, D), cos/sin: (>= T, D/2), rows 0..T-1 used
template <class T>
void rotary_apply(T* y, const T* x, const T* cos, const T* sin, int64_t B, int64_t Tn, int64_t H, int64_t D,
                  T sign) {
  const int64_t d = D / 2, row = H * D;
  parallel_for(B * Tn, std::max<int64_t>(1, 8192 / std::max<int64_t>(row, 1)), [=](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = r % Tn;
      rotary_row(y + r * row, x + r * row, cos + t * d, sin + t * d, H, D, sign);
    }
  });
}

struct RotaryBackward : Node {
  TensorPtr cos, sin;  // dense (Tc, D/2)
  Shape x_shape;       // (B, T, H, D)
  const char* name() const override { return "rotary"; }
  void release_saved() override { cos.reset(); sin.reset(); }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    // g: (B, T, H, D) -> dx: (B, T, H, D)
    auto dx = empty(x_shape, g->dtype, g->device());
    if (g->is_cuda()) {
      if (dx->numel() > 0) cuda_backend("rotary").rotary(dx, g, cos, sin, /*inverse=*/true);
      return {dx, nullptr, nullptr};
    }
    NS_DISPATCH_FLOAT(g->dtype, "rotary", {
      using T = scalar_t;
      rotary_apply<T>(dx->data<T>(), g->data<T>(), cos->data<T>(), sin->data<T>(), x_shape[0], x_shape[1], x_shape[2],
                      x_shape[3], T(-1));
    });
    return {dx, nullptr, nullptr};
  }
};

}  // namespace

// x: (B, T, H, D), cos/sin: (Tc, D/2) with Tc >= T -> (B, T, H, D)
TensorPtr rotary(const TensorPtr& x0, const TensorPtr& cos0, const TensorPtr& sin0) {
  NS_CHECK(x0->dim() == 4, "rotary: x must be 4-D (B, T, H, D), got shape ", shape_str(x0->shape));
  check_floating("rotary", x0, "x");
  const int64_t B = x0->shape[0], Tn = x0->shape[1], H = x0->shape[2], D = x0->shape[3];
  NS_CHECK(D % 2 == 0, "rotary: head dim D must be even, got x ", shape_str(x0->shape));
  NS_CHECK(cos0->dtype == x0->dtype && sin0->dtype == x0->dtype, "rotary: dtype mismatch, x is ",
           dtype_name(x0->dtype), ", cos is ", dtype_name(cos0->dtype), ", sin is ", dtype_name(sin0->dtype));
  NS_CHECK(cos0->dim() == 2 && cos0->shape[1] == D / 2 && sin0->shape == cos0->shape,
           "rotary: cos and sin must both be (Tc, D/2) = (Tc, ", D / 2, ") for x ", shape_str(x0->shape),
           ", got cos ", shape_str(cos0->shape), " and sin ", shape_str(sin0->shape));
  NS_CHECK(cos0->shape[0] >= Tn, "rotary: cos/sin tables ", shape_str(cos0->shape), " are too short for x ",
           shape_str(x0->shape), " (need at least T=", Tn, " rows)");
  check_same_device("rotary", {x0, cos0, sin0});
  auto x = dense(x0), cos = dense(cos0), sin = dense(sin0);
  auto y = empty(x->shape, x->dtype, x->device());
  if (x->is_cuda()) {
    if (y->numel() > 0) cuda_backend("rotary").rotary(y, x, cos, sin, /*inverse=*/false);
  } else {
    NS_DISPATCH_FLOAT(x->dtype, "rotary", {
      using T = scalar_t;
      rotary_apply<T>(y->data<T>(), x->data<T>(), cos->data<T>(), sin->data<T>(), B, Tn, H, D, T(1));
    });
  }
  if (needs_grad({x0})) {
    auto node = std::make_shared<RotaryBackward>();
    node->cos = cos;
    node->sin = sin;
    node->x_shape = x->shape;
    attach(y, node, {x0, cos0, sin0});
  }
  return y;
}

}  // namespace ns
