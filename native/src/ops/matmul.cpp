// matmul (batched, broadcasting batch dims) and linear (x @ w^T). Both lower to cpu/gemm with
// transpose flags instead of materialising transposed copies; CUDA tensors go to the CUDA
// backend's gemm (cuBLASLt) with the same flags, leading dims and batch strides.
#include "core/dispatch.h"
#include "core/parallel.h"
#include "cpu/gemm.h"
#include "cuda/backend.h"
#include "ops/ops.h"

namespace ns {
namespace {

// A matrix operand as gemm sees it: data, row stride, transposed flag.
template <class T>
struct MatRef {
  const T* data;
  int64_t ld;
  bool trans;
};

// Views the last two dims of `t` as a (rows, cols) matrix without copying when possible.
// Returns the tensor the pointer refers to (a dense copy if the layout was not usable).
TensorPtr as_matrix_source(const TensorPtr& t, bool& trans, int64_t& ld) {
  const int64_t nd = t->dim();
  const int64_t r = t->shape[nd - 2], c = t->shape[nd - 1];
  // Batch dims must be laid out densely over the matrices for a single batch stride.
  bool batch_dense = true;
  int64_t expect = r * c;
  for (int64_t d = nd - 3; d >= 0; --d) {
    if (t->shape[d] != 1 && t->strides[d] != expect) batch_dense = false;
    expect *= t->shape[d];
  }
  if (batch_dense && (t->strides[nd - 1] == 1 || c == 1) && (t->strides[nd - 2] == c || r == 1)) {
    trans = false;
    ld = c;
    return t;
  }
  if (batch_dense && (t->strides[nd - 2] == 1 || r == 1) && (t->strides[nd - 1] == r || c == 1)) {
    trans = true;
    ld = r;
    return t;
  }
  trans = false;
  ld = c;
  return dense(t);
}

// out (batch, M, N) = op(a) @ op(b) for each batch, with a/b batch strides (0 = broadcast).
// Small per-batch products run one per thread (a gemm called from a worker runs inline);
// large ones run in sequence, each using the whole pool. Either way each output element is
// computed by one gemm, so the result does not depend on the thread count.
template <class T>
void batched(int64_t batch, int64_t M, int64_t N, int64_t K, const T* a, int64_t lda, bool ta, int64_t sa,
             const T* b, int64_t ldb, bool tb, int64_t sb, T* out, T beta) {
  auto one = [&](int64_t i) { gemm(ta, tb, M, N, K, T(1), a + i * sa, lda, b + i * sb, ldb, beta, out + i * M * N, N); };
  constexpr int64_t kParallelWork = int64_t(1) << 22;  // gemm's own threading threshold
  if (batch > 1 && M * N * K < kParallelWork) {
    parallel_tasks(batch, one);
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i);
  }
}

// C = op(A) @ op(B) on dense matrices given as (rows, cols) tensors with flags.
TensorPtr mm(const TensorPtr& A, bool ta, const TensorPtr& B, bool tb) {
  const int64_t M = ta ? A->shape[1] : A->shape[0], K = ta ? A->shape[0] : A->shape[1];
  const int64_t N = tb ? B->shape[0] : B->shape[1];
  auto a = dense(A), b = dense(B);
  auto out = empty({M, N}, a->dtype, a->device());
  if (a->is_cuda()) {
    const auto spec = GemmSpec::strided(1, ta, tb, M, N, K, A->shape[1], 0, B->shape[1], 0, N, 0);
    if (M > 0 && N > 0) cuda_backend("matmul").gemm(spec, a, b, out);
    return out;
  }
  NS_DISPATCH_FLOAT(a->dtype, "matmul", gemm(ta, tb, M, N, K, scalar_t(1), a->data<scalar_t>(), A->shape[1],
                                            b->data<scalar_t>(), B->shape[1], scalar_t(0), out->data<scalar_t>(), N));
  return out;
}

TensorPtr flatten_rows(const TensorPtr& x) {  // (..., K) -> (rows, K)
  NoGradGuard ng;
  return reshape(x, {-1, x->shape.back()});
}

struct LinearBackward : Node {
  TensorPtr x, w;
  const char* name() const override { return "linear"; }
  void release_saved() override { x.reset(); w.reset(); }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    auto g2 = flatten_rows(g);  // (rows, N)
    TensorPtr gx, gw;
    if (inputs[0]->requires_grad) gx = reshape(mm(g2, false, w, false), x->shape);  // (rows, N) @ (N, K)
    if (inputs[1]->requires_grad) gw = mm(g2, true, flatten_rows(x), false);        // (N, rows) @ (rows, K)
    return {gx, gw};
  }
};

struct MatmulBackward : Node {
  TensorPtr a, b;
  const char* name() const override { return "matmul"; }
  void release_saved() override { a.reset(); b.reset(); }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    TensorPtr ga, gb;
    if (inputs[0]->requires_grad) ga = sum_to(matmul(g, transpose(b, -1, -2)), a->shape);
    if (inputs[1]->requires_grad) gb = sum_to(matmul(transpose(a, -1, -2), g), b->shape);
    return {ga, gb};
  }
};

}  // namespace

TensorPtr linear(const TensorPtr& x, const TensorPtr& w) {
  NS_CHECK(x->dim() >= 1 && w->dim() == 2, "linear: expected x (..., K) and w (N, K), got ", shape_str(x->shape),
           " and ", shape_str(w->shape));
  NS_CHECK(x->shape.back() == w->shape[1], "linear: x ", shape_str(x->shape), " and w ", shape_str(w->shape),
           " disagree on K (", x->shape.back(), " vs ", w->shape[1], ")");
  NS_CHECK(x->dtype == w->dtype, "linear: dtype mismatch, x is ", dtype_name(x->dtype), ", w is ",
           dtype_name(w->dtype));
  check_floating("linear", x, "x");
  check_same_device("linear", {x, w});
  auto x2 = flatten_rows(x);
  auto out2 = mm(x2, false, w, true);  // (rows, K) @ (K, N)
  Shape out_shape = x->shape;
  out_shape.back() = w->shape[0];
  auto out = make_view(out2, out_shape, contiguous_strides(out_shape), 0);
  if (needs_grad({x, w})) {
    auto node = std::make_shared<LinearBackward>();
    node->x = x;
    node->w = w;
    attach(out, node, {x, w});
  }
  return out;
}

TensorPtr matmul(const TensorPtr& a, const TensorPtr& b) {
  NS_CHECK(a->dim() >= 2 && b->dim() >= 2, "matmul: both operands need at least 2 dims, got ", shape_str(a->shape),
           " and ", shape_str(b->shape));
  NS_CHECK(a->dtype == b->dtype, "matmul: dtype mismatch, ", dtype_name(a->dtype), " and ", dtype_name(b->dtype));
  check_floating("matmul", a, "a");
  check_same_device("matmul", {a, b});
  const int64_t M = a->size(-2), K = a->size(-1), N = b->size(-1);
  NS_CHECK(b->size(-2) == K, "matmul: shapes ", shape_str(a->shape), " and ", shape_str(b->shape),
           " are incompatible (inner dims ", K, " vs ", b->size(-2), ")");
  // Broadcast batch dims.
  Shape ab(a->shape.begin(), a->shape.end() - 2), bb(b->shape.begin(), b->shape.end() - 2);
  const size_t nb = std::max(ab.size(), bb.size());
  Shape batch(nb);
  for (size_t i = 0; i < nb; ++i) {
    int64_t da = i < nb - ab.size() ? 1 : ab[i - (nb - ab.size())];
    int64_t db = i < nb - bb.size() ? 1 : bb[i - (nb - bb.size())];
    NS_CHECK(da == db || da == 1 || db == 1, "matmul: batch dims of ", shape_str(a->shape), " and ",
             shape_str(b->shape), " cannot be broadcast");
    batch[i] = da == 1 ? db : da;
  }
  const int64_t nbatch = shape_numel(batch);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  auto out = empty(out_shape, a->dtype, a->device());

  auto operand = [&](const TensorPtr& t, const Shape& tb, int64_t& stride, bool& trans, int64_t& ld) -> TensorPtr {
    const int64_t tn = shape_numel(tb);
    TensorPtr src = t;
    if (tn != nbatch && tn != 1) {  // partially broadcast batch: materialise the full batch
      Shape full_shape = batch;
      full_shape.push_back(t->size(-2));
      full_shape.push_back(t->size(-1));
      NoGradGuard ng;
      src = expand(t, full_shape);
    }
    src = as_matrix_source(src, trans, ld);
    stride = tn == 1 ? 0 : src->size(-2) * src->size(-1);
    return src;
  };
  int64_t sa, sb, lda, ldb;
  bool ta, tb;
  auto as = operand(a, ab, sa, ta, lda);
  auto bs = operand(b, bb, sb, tb, ldb);
  if (a->is_cuda()) {
    const auto spec = GemmSpec::strided(nbatch, ta, tb, M, N, K, lda, sa, ldb, sb, N, M * N);
    if (out->numel() > 0) cuda_backend("matmul").gemm(spec, as, bs, out);
  } else {
    NS_DISPATCH_FLOAT(a->dtype, "matmul",
                      batched<scalar_t>(nbatch, M, N, K, as->data<scalar_t>(), lda, ta, sa, bs->data<scalar_t>(),
                                        ldb, tb, sb, out->data<scalar_t>(), scalar_t(0)));
  }
  if (needs_grad({a, b})) {
    auto node = std::make_shared<MatmulBackward>();
    node->a = a;
    node->b = b;
    attach(out, node, {a, b});
  }
  return out;
}

}  // namespace ns
