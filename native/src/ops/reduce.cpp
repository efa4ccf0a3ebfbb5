// sum and mean over any set of dims. Three layouts cover everything: a suffix of dims (row
// sums), a prefix (column sums) and the general case. Partial sums are combined in a fixed
// order, so results are bit-identical whatever the thread count. CUDA tensors are summed by the
// CUDA backend (deterministic too: no floating-point atomics).
#include <algorithm>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "cuda/backend.h"
#include "ops/ops.h"

namespace ns {
namespace {

struct Plan {
  std::vector<int64_t> dims;  // sorted, unique
  Shape out_keep;             // output shape with reduced dims as 1
  Shape out_shape;            // output shape honoring keepdim
  int64_t count = 1;          // elements reduced into each output
};

Plan make_plan(const char* op, const TensorPtr& x, std::vector<int64_t> dims, bool keepdim) {
  Plan p;
  if (dims.empty())
    for (int64_t d = 0; d < x->dim(); ++d) dims.push_back(d);
  for (auto& d : dims) d = wrap_dim(d, x->dim(), op);
  std::sort(dims.begin(), dims.end());
  dims.erase(std::unique(dims.begin(), dims.end()), dims.end());
  p.dims = dims;
  p.out_keep = x->shape;
  for (int64_t d : dims) {
    p.count *= x->shape[d];
    p.out_keep[d] = 1;
  }
  for (int64_t d = 0; d < x->dim(); ++d)
    if (keepdim || !std::binary_search(dims.begin(), dims.end(), d)) p.out_shape.push_back(p.out_keep[d]);
  return p;
}

template <class T>
void sum_kernel(const TensorPtr& x, const Plan& p, T* out) {
  const T* px = x->data<T>();
  const int64_t nd = x->dim();
  const int64_t nred = static_cast<int64_t>(p.dims.size());
  const bool is_suffix = nred > 0 && p.dims.front() == nd - nred;
  const bool is_prefix = nred > 0 && p.dims.back() == nred - 1;
  const int64_t n_out = shape_numel(p.out_keep);
  if (nd == 0) {
    out[0] = px[0];
    return;
  }
  if (is_suffix) {
    // rows of length count; each row summed in fixed blocks of 4 accumulators.
    const int64_t R = p.count;
    parallel_for(n_out, std::max<int64_t>(1, 16384 / std::max<int64_t>(R, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = px + r * R;
        double acc = 0;
        for (int64_t i = 0; i < R; ++i) acc += row[i];
        out[r] = T(acc);
      }
    });
    return;
  }
  if (is_prefix) {
    // (count, n_out) column sums: parallel over column blocks, rows in order.
    const int64_t C = n_out, R = p.count;
    parallel_for(C, 64, [&](int64_t c0, int64_t c1) {
      std::vector<double> acc(c1 - c0, 0.0);
      for (int64_t r = 0; r < R; ++r) {
        const T* row = px + r * C;
        for (int64_t c = c0; c < c1; ++c) acc[c - c0] += row[c];
      }
      for (int64_t c = c0; c < c1; ++c) out[c] = T(acc[c - c0]);
    });
    return;
  }
  // General: for each output element walk the reduced dims with an odometer.
  const Shape strides = contiguous_strides(x->shape);
  Shape red_shape, red_strides;
  for (int64_t d : p.dims) {
    red_shape.push_back(x->shape[d]);
    red_strides.push_back(strides[d]);
  }
  const Shape keep_strides = contiguous_strides(p.out_keep);
  parallel_for(n_out, 16, [&](int64_t o0, int64_t o1) {
    std::vector<int64_t> idx(nred);
    for (int64_t o = o0; o < o1; ++o) {
      int64_t base = 0, rem = o;
      for (int64_t d = 0; d < nd; ++d) {
        const int64_t i = rem / keep_strides[d];
        rem %= keep_strides[d];
        base += i * strides[d];
      }
      std::fill(idx.begin(), idx.end(), 0);
      double acc = 0;
      for (int64_t k = 0; k < p.count; ++k) {
        int64_t off = base;
        for (int64_t j = 0; j < nred; ++j) off += idx[j] * red_strides[j];
        acc += px[off];
        for (int64_t j = nred - 1; j >= 0; --j) {
          if (++idx[j] < red_shape[j]) break;
          idx[j] = 0;
        }
      }
      out[o] = T(acc);
    }
  });
}

TensorPtr sum_raw(const TensorPtr& x0, const Plan& p, const char* op) {
  auto x = dense(x0);
  if (x->is_cuda()) {
    auto kept = empty(p.out_keep, x->dtype, x->device());
    if (x->numel() == 0) {
      fill(kept, 0.0);
    } else if (kept->numel() > 0) {
      cuda_backend(op).sum(kept, x);
    }
    return make_view(kept, p.out_shape, contiguous_strides(p.out_shape), 0);
  }
  auto out = empty(p.out_shape, x->dtype);
  NS_DISPATCH_FLOAT(x->dtype, op, sum_kernel<scalar_t>(x, p, out->data<scalar_t>()));
  return out;
}

struct ReduceBackward : Node {
  Shape in_shape, keep_shape;
  double scale;  // 1 for sum, 1/count for mean
  const char* name() const override { return scale == 1.0 ? "sum" : "mean"; }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    auto gk = reshape(g, keep_shape);
    auto gx = expand(gk, in_shape);
    if (scale != 1.0) gx = mul_scalar(gx, scale);
    return {gx};
  }
};

TensorPtr reduce(const TensorPtr& x, std::vector<int64_t> dims, bool keepdim, bool is_mean) {
  const char* op = is_mean ? "mean" : "sum";
  check_floating(op, x, "input");
  Plan p = make_plan(op, x, std::move(dims), keepdim);
  auto out = sum_raw(x, p, op);
  const double scale = is_mean ? 1.0 / std::max<int64_t>(p.count, 1) : 1.0;
  if (is_mean) {
    NoGradGuard ng;
    auto scaled = mul_scalar(out, scale);
    out = scaled;
  }
  if (needs_grad({x})) {
    auto node = std::make_shared<ReduceBackward>();
    node->in_shape = x->shape;
    node->keep_shape = p.out_keep;
    node->scale = scale;
    attach(out, node, {x});
  }
  return out;
}

}  // namespace

TensorPtr sum(const TensorPtr& x, std::vector<int64_t> dims, bool keepdim) { return reduce(x, std::move(dims), keepdim, false); }
TensorPtr mean(const TensorPtr& x, std::vector<int64_t> dims, bool keepdim) { return reduce(x, std::move(dims), keepdim, true); }

}  // namespace ns
