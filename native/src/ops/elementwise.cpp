// Elementwise ops: binary arithmetic with numpy broadcasting, unary activations, scalar ops.
// CPU kernels run over dense inputs; broadcasting walks rows of the output's last dimension.
// CUDA tensors go to the CUDA backend's kernels; the autograd nodes are shared.
#include <cmath>

#include "core/dispatch.h"
#include "cuda/backend.h"
#include "core/parallel.h"
#include "core/vmath.h"
#include "ops/ops.h"

namespace ns {

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::Max: return "maximum";
    case BinaryOp::Min: return "minimum";
  }
  return "binary";
}

const char* op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Rsqrt: return "rsqrt";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Relu: return "relu";
    case UnaryOp::Square: return "square";
    case UnaryOp::Abs: return "abs";
  }
  return "unary";
}

namespace {

constexpr int64_t kGrain = 1 << 14;

Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  const size_t nd = std::max(a.size(), b.size());
  Shape out(nd);
  for (size_t i = 0; i < nd; ++i) {
    int64_t da = i < nd - a.size() ? 1 : a[i - (nd - a.size())];
    int64_t db = i < nd - b.size() ? 1 : b[i - (nd - b.size())];
    NS_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
             " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Element strides of a dense tensor of `shape` viewed as `out` (0 on broadcast dims).
Shape broadcast_strides(const Shape& shape, const Shape& out) {
  Shape s(out.size(), 0);
  Shape dense_strides = contiguous_strides(shape);
  const size_t lead = out.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) s[i + lead] = shape[i] == 1 ? 0 : dense_strides[i];
  return s;
}

template <class T, class F>
void broadcast_apply(const Shape& out_shape, const T* a, const Shape& sa, const T* b, const Shape& sb, T* o, F f) {
  const int64_t nd = static_cast<int64_t>(out_shape.size());
  const int64_t n = shape_numel(out_shape);
  if (n == 0) return;
  const int64_t inner = nd ? out_shape[nd - 1] : 1;
  const int64_t ia = nd ? sa[nd - 1] : 0, ib = nd ? sb[nd - 1] : 0;
  const int64_t rows = n / inner;
  parallel_for(rows, std::max<int64_t>(1, kGrain / inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r, oa = 0, ob = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        const int64_t idx = rem % out_shape[d];
        rem /= out_shape[d];
        oa += idx * sa[d];
        ob += idx * sb[d];
      }
      const T* pa = a + oa;
      const T* pb = b + ob;
      T* po = o + r * inner;
      if (ia == 1 && ib == 1) {
        for (int64_t i = 0; i < inner; ++i) po[i] = f(pa[i], pb[i]);
      } else if (ia == 1 && ib == 0) {
        const T vb = pb[0];
        for (int64_t i = 0; i < inner; ++i) po[i] = f(pa[i], vb);
      } else if (ia == 0 && ib == 1) {
        const T va = pa[0];
        for (int64_t i = 0; i < inner; ++i) po[i] = f(va, pb[i]);
      } else {
        for (int64_t i = 0; i < inner; ++i) po[i] = f(pa[i * ia], pb[i * ib]);
      }
    }
  });
}

template <class T>
void binary_kernel(BinaryOp op, const Shape& out_shape, const TensorPtr& a, const TensorPtr& b, T* o) {
  const Shape sa = broadcast_strides(a->shape, out_shape), sb = broadcast_strides(b->shape, out_shape);
  const T* pa = a->data<T>();
  const T* pb = b->data<T>();
  switch (op) {
    case BinaryOp::Add: broadcast_apply(out_shape, pa, sa, pb, sb, o, [](T x, T y) { return x + y; }); break;
    case BinaryOp::Sub: broadcast_apply(out_shape, pa, sa, pb, sb, o, [](T x, T y) { return x - y; }); break;
    case BinaryOp::Mul: broadcast_apply(out_shape, pa, sa, pb, sb, o, [](T x, T y) { return x * y; }); break;
    case BinaryOp::Div: broadcast_apply(out_shape, pa, sa, pb, sb, o, [](T x, T y) { return x / y; }); break;
    case BinaryOp::Max: broadcast_apply(out_shape, pa, sa, pb, sb, o, [](T x, T y) { return x >= y ? x : y; }); break;
    case BinaryOp::Min: broadcast_apply(out_shape, pa, sa, pb, sb, o, [](T x, T y) { return x <= y ? x : y; }); break;
  }
}

TensorPtr binary_raw(BinaryOp op, const TensorPtr& a0, const TensorPtr& b0) {
  const char* name = op_name(op);
  NS_CHECK(a0->dtype == b0->dtype, name, ": dtype mismatch, ", dtype_name(a0->dtype), " ", shape_str(a0->shape),
           " and ", dtype_name(b0->dtype), " ", shape_str(b0->shape));
  check_same_device(name, {a0, b0});
  const Shape out_shape = broadcast_shape(name, a0->shape, b0->shape);
  auto a = dense(a0), b = dense(b0);
  auto out = empty(out_shape, a->dtype, a->device());
  if (a->is_cuda()) {
    if (out->numel() > 0) cuda_backend(name).binary(op, out, a, b);
    return out;
  }
  NS_DISPATCH_FLOAT(a->dtype, name, binary_kernel<scalar_t>(op, out_shape, a, b, out->data<scalar_t>()));
  return out;
}

template <class T, class F>
TensorPtr map_unary(const TensorPtr& x0, F f) {
  auto x = dense(x0);
  auto out = empty(x->shape, x->dtype);
  const T* px = x->data<T>();
  T* po = out->data<T>();
  parallel_for(x->numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) po[i] = f(px[i]);
  });
  return out;
}

// out[i] = f(x[i], y[i]) for two same-shaped tensors (used by backward formulas).
template <class T, class F>
TensorPtr map_binary_same(const TensorPtr& x0, const TensorPtr& y0, F f) {
  auto x = dense(x0), y = dense(y0);
  auto out = empty(x->shape, x->dtype);
  const T* px = x->data<T>();
  const T* py = y->data<T>();
  T* po = out->data<T>();
  parallel_for(x->numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) po[i] = f(px[i], py[i]);
  });
  return out;
}

// out = f(x) elementwise on x's device, for the ops whose CUDA kernel takes (out, x).
template <class Launch>
TensorPtr cuda_map(const TensorPtr& x0, Launch launch) {
  auto x = dense(x0);
  auto out = empty(x->shape, x->dtype, x->device());
  if (out->numel() > 0) launch(out, x);
  return out;
}

// Same-shaped gradient formulas on CUDA: gx = f(g, saved).
template <class Launch>
TensorPtr cuda_grad(const TensorPtr& g0, const TensorPtr& saved0, Launch launch) {
  auto g = dense(g0), saved = dense(saved0);
  auto gx = empty(g->shape, g->dtype, g->device());
  if (gx->numel() > 0) launch(gx, g, saved);
  return gx;
}

TensorPtr scalar_raw(ScalarOp op, const TensorPtr& x, double s, const char* name) {
  if (x->is_cuda())
    return cuda_map(x, [&](const TensorPtr& out, const TensorPtr& xd) { cuda_backend(name).scalar(op, out, xd, s); });
  TensorPtr out;
  NS_DISPATCH_FLOAT(x->dtype, name, {
    using T = scalar_t;
    switch (op) {
      case ScalarOp::Add: out = map_unary<T>(x, [s](T v) { return v + T(s); }); break;
      case ScalarOp::Mul: out = map_unary<T>(x, [s](T v) { return v * T(s); }); break;
      case ScalarOp::Pow: out = map_unary<T>(x, [s](T v) { return T(std::pow(v, s)); }); break;
    }
  });
  return out;
}

TensorPtr unary_raw(UnaryOp op, const TensorPtr& x) {
  if (x->is_cuda())
    return cuda_map(x, [&](const TensorPtr& out, const TensorPtr& xd) { cuda_backend(op_name(op)).unary(op, out, xd); });
  TensorPtr out;
  NS_DISPATCH_FLOAT(x->dtype, op_name(op), {
    using T = scalar_t;
    switch (op) {
      case UnaryOp::Neg: out = map_unary<T>(x, [](T v) { return -v; }); break;
      case UnaryOp::Exp: out = map_unary<T>(x, [](T v) { return vmath::exp(v); }); break;
      case UnaryOp::Log: out = map_unary<T>(x, [](T v) { return std::log(v); }); break;
      case UnaryOp::Sqrt: out = map_unary<T>(x, [](T v) { return std::sqrt(v); }); break;
      case UnaryOp::Rsqrt: out = map_unary<T>(x, [](T v) { return T(1) / std::sqrt(v); }); break;
      case UnaryOp::Sigmoid: out = map_unary<T>(x, [](T v) { return vmath::sigmoid(v); }); break;
      case UnaryOp::Tanh: out = map_unary<T>(x, [](T v) { return vmath::tanh(v); }); break;
      case UnaryOp::Relu: out = map_unary<T>(x, [](T v) { return v > T(0) ? v : T(0); }); break;
      case UnaryOp::Square: out = map_unary<T>(x, [](T v) { return v * v; }); break;
      case UnaryOp::Abs: out = map_unary<T>(x, [](T v) { return std::abs(v); }); break;
    }
  });
  return out;
}

struct BinaryBackward : Node {
  BinaryOp op;
  TensorPtr a, b;  // saved only for ops whose gradient needs them
  Shape a_shape, b_shape;
  const char* name() const override { return op_name(op); }
  void release_saved() override { a.reset(); b.reset(); }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    const bool ga_needed = inputs[0]->requires_grad, gb_needed = inputs[1]->requires_grad;
    TensorPtr ga, gb;
    switch (op) {
      case BinaryOp::Add:
        if (ga_needed) ga = sum_to(g, a_shape);
        if (gb_needed) gb = sum_to(g, b_shape);
        break;
      case BinaryOp::Sub:
        if (ga_needed) ga = sum_to(g, a_shape);
        if (gb_needed) gb = sum_to(unary_raw(UnaryOp::Neg, g), b_shape);
        break;
      case BinaryOp::Mul:
        if (ga_needed) ga = sum_to(binary_raw(BinaryOp::Mul, g, b), a_shape);
        if (gb_needed) gb = sum_to(binary_raw(BinaryOp::Mul, g, a), b_shape);
        break;
      case BinaryOp::Div:
        if (ga_needed) ga = sum_to(binary_raw(BinaryOp::Div, g, b), a_shape);
        if (gb_needed) {
          // d(a/b)/db = -a / b^2
          auto q = binary_raw(BinaryOp::Div, binary_raw(BinaryOp::Mul, g, a), unary_raw(UnaryOp::Square, b));
          gb = sum_to(unary_raw(UnaryOp::Neg, q), b_shape);
        }
        break;
      case BinaryOp::Max:
      case BinaryOp::Min: {
        // The gradient goes to the selected operand (a wins ties, as the forward does).
        auto ab = binary_raw(BinaryOp::Sub, a, b);
        const bool is_max = op == BinaryOp::Max;
        if (g->is_cuda()) {
          auto gfull = binary_raw(BinaryOp::Add, g, zeros(ab->shape, g->dtype, g->device()));
          TensorPtr ga_full = ga_needed ? empty_like(gfull) : nullptr;
          TensorPtr gb_full = gb_needed ? empty_like(gfull) : nullptr;
          if (gfull->numel() > 0) cuda_backend(name()).select_grad(ga_full, gb_full, gfull, ab, is_max);
          if (ga_needed) ga = sum_to(ga_full, a_shape);
          if (gb_needed) gb = sum_to(gb_full, b_shape);
          break;
        }
        NS_DISPATCH_FLOAT(g->dtype, name(), {
          using T = scalar_t;
          auto gfull = binary_raw(BinaryOp::Add, g, zeros(ab->shape, g->dtype));
          auto mask_a = map_unary<T>(ab, [is_max](T d) { return (is_max ? d >= T(0) : d <= T(0)) ? T(1) : T(0); });
          if (ga_needed) ga = sum_to(binary_raw(BinaryOp::Mul, gfull, mask_a), a_shape);
          if (gb_needed)
            gb = sum_to(map_binary_same<T>(gfull, mask_a, [](T gv, T m) { return gv * (T(1) - m); }), b_shape);
        });
        break;
      }
    }
    return {ga, gb};
  }
};

struct UnaryBackward : Node {
  UnaryOp op;
  TensorPtr x, y;  // input and output, saved as the formula needs
  const char* name() const override { return op_name(op); }
  void release_saved() override { x.reset(); y.reset(); }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    if (op == UnaryOp::Neg) return {unary_raw(UnaryOp::Neg, g)};
    if (g->is_cuda()) {
      return {cuda_grad(g, y ? y : x, [&](const TensorPtr& gx, const TensorPtr& gd, const TensorPtr& saved) {
        cuda_backend(name()).unary_grad(op, gx, gd, saved);
      })};
    }
    TensorPtr gx;
    NS_DISPATCH_FLOAT(g->dtype, name(), {
      using T = scalar_t;
      switch (op) {
        case UnaryOp::Neg: break;  // handled above
        case UnaryOp::Exp: gx = map_binary_same<T>(g, y, [](T gv, T yv) { return gv * yv; }); break;
        case UnaryOp::Log: gx = map_binary_same<T>(g, x, [](T gv, T xv) { return gv / xv; }); break;
        case UnaryOp::Sqrt: gx = map_binary_same<T>(g, y, [](T gv, T yv) { return gv / (T(2) * yv); }); break;
        case UnaryOp::Rsqrt:
          gx = map_binary_same<T>(g, y, [](T gv, T yv) { return T(-0.5) * gv * yv * yv * yv; });
          break;
        case UnaryOp::Sigmoid:
          gx = map_binary_same<T>(g, y, [](T gv, T yv) { return gv * yv * (T(1) - yv); });
          break;
        case UnaryOp::Tanh: gx = map_binary_same<T>(g, y, [](T gv, T yv) { return gv * (T(1) - yv * yv); }); break;
        case UnaryOp::Relu:
          gx = map_binary_same<T>(g, x, [](T gv, T xv) { return xv > T(0) ? gv : T(0); });
          break;
        case UnaryOp::Square: gx = map_binary_same<T>(g, x, [](T gv, T xv) { return T(2) * gv * xv; }); break;
        case UnaryOp::Abs:
          gx = map_binary_same<T>(g, x, [](T gv, T xv) { return xv > T(0) ? gv : (xv < T(0) ? -gv : T(0)); });
          break;
      }
    });
    return {gx};
  }
};

struct ScalarBackward : Node {
  enum Kind { Add, Mul, Pow } kind;
  double s;
  TensorPtr x;
  const char* name() const override { return kind == Add ? "add_scalar" : kind == Mul ? "mul_scalar" : "pow_scalar"; }
  void release_saved() override { x.reset(); }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    if (kind == Add) return {g};
    if (kind == Mul) return {mul_scalar(g, s)};
    const double p = s;
    if (g->is_cuda()) {
      return {cuda_grad(g, x, [&](const TensorPtr& gx, const TensorPtr& gd, const TensorPtr& xd) {
        cuda_backend(name()).pow_grad(gx, gd, xd, p);
      })};
    }
    TensorPtr gx;
    NS_DISPATCH_FLOAT(g->dtype, name(), {
      using T = scalar_t;
      gx = map_binary_same<T>(g, x, [p](T gv, T xv) { return gv * T(p) * T(std::pow(xv, p - 1)); });
    });
    return {gx};
  }
};

}  // namespace

TensorPtr binary(BinaryOp op, const TensorPtr& a, const TensorPtr& b) {
  auto out = binary_raw(op, a, b);
  if (needs_grad({a, b})) {
    auto node = std::make_shared<BinaryBackward>();
    node->op = op;
    node->a_shape = a->shape;
    node->b_shape = b->shape;
    if (op != BinaryOp::Add && op != BinaryOp::Sub) {
      node->a = a;
      node->b = b;
    }
    attach(out, node, {a, b});
  }
  return out;
}

TensorPtr unary(UnaryOp op, const TensorPtr& x) {
  auto out = unary_raw(op, x);
  if (needs_grad({x})) {
    auto node = std::make_shared<UnaryBackward>();
    node->op = op;
    switch (op) {
      case UnaryOp::Exp: case UnaryOp::Sqrt: case UnaryOp::Rsqrt: case UnaryOp::Sigmoid: case UnaryOp::Tanh:
        node->y = std::make_shared<TensorImpl>(*out);  // a plain alias: no grad_fn, no cycle
        node->y->grad_fn.reset();
        node->y->requires_grad = false;
        break;
      case UnaryOp::Neg: break;
      default: node->x = x; break;
    }
    attach(out, node, {x});
  }
  return out;
}

TensorPtr add_scalar(const TensorPtr& x, double s) {
  auto out = scalar_raw(ScalarOp::Add, x, s, "add_scalar");
  if (needs_grad({x})) {
    auto node = std::make_shared<ScalarBackward>();
    node->kind = ScalarBackward::Add;
    node->s = s;
    attach(out, node, {x});
  }
  return out;
}

TensorPtr mul_scalar(const TensorPtr& x, double s) {
  auto out = scalar_raw(ScalarOp::Mul, x, s, "mul_scalar");
  if (needs_grad({x})) {
    auto node = std::make_shared<ScalarBackward>();
    node->kind = ScalarBackward::Mul;
    node->s = s;
    attach(out, node, {x});
  }
  return out;
}

TensorPtr pow_scalar(const TensorPtr& x, double p) {
  auto out = scalar_raw(ScalarOp::Pow, x, p, "pow_scalar");
  if (needs_grad({x})) {
    auto node = std::make_shared<ScalarBackward>();
    node->kind = ScalarBackward::Pow;
    node->s = p;
    node->x = x;
    attach(out, node, {x});
  }
  return out;
}

void add_inplace(const TensorPtr& a, const TensorPtr& b0) {
  NS_CHECK(a->is_contiguous(), "add_inplace: destination must be contiguous");
  NS_CHECK(a->dtype == b0->dtype, "add_inplace: dtype mismatch ", dtype_name(a->dtype), " vs ", dtype_name(b0->dtype));
  check_same_device("add_inplace", {a, b0});
  auto b = dense(b0);
  if (a->shape == b->shape && a->is_cuda()) {
    if (a->numel() > 0) cuda_backend("add_inplace").add_inplace(a, b);
    return;
  }
  if (a->shape == b->shape) {
    NS_DISPATCH_FLOAT(a->dtype, "add_inplace", {
      scalar_t* pa = a->data<scalar_t>();
      const scalar_t* pb = b->data<scalar_t>();
      parallel_for(a->numel(), kGrain, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) pa[i] += pb[i];
      });
    });
    return;
  }
  auto sum_ab = binary_raw(BinaryOp::Add, a, b);
  NS_CHECK(sum_ab->shape == a->shape, "add_inplace: cannot broadcast ", shape_str(b->shape), " into ",
           shape_str(a->shape));
  copy_into(a, sum_ab);
}

TensorPtr sum_to(const TensorPtr& g, const Shape& shape) {
  if (g->shape == shape) return g;
  const int64_t lead = g->dim() - static_cast<int64_t>(shape.size());
  NS_CHECK(lead >= 0, "sum_to: cannot reduce ", shape_str(g->shape), " to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < g->dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && g->shape[d] != 1)) dims.push_back(d);
  NoGradGuard no_grad;
  auto r = dims.empty() ? g : sum(g, dims, true);
  return reshape(r, shape);
}

}  // namespace ns
