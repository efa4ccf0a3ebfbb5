// embedding: rows of a (V, C) table picked by int32 ids, and its backward, a scatter-add of the
// output gradient into the rows that were read. The backward must be deterministic without
// atomics: tokens are bucketed by id (a stable counting sort), then each row of the weight
// gradient sums its tokens in position order, so the result is bit-identical whatever the
// thread count (the CUDA backend keeps the same rule). The gradient flows to the weight only;
// ids are data.
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "cuda/backend.h"
#include "ops/ops.h"

namespace ns {
namespace {

[[noreturn]] void fail_id(int64_t id, int64_t position, int64_t V, const Shape& idx_shape) {
  fail("embedding: id ", id, " at position ", position, " of ids ", shape_str(idx_shape),
       " is out of range for a table of V=", V, " rows (ids must be in [0, ", V, "))");
}

// Throws naming the first bad id, its position and V. idx: dense int32 ids on any device.
void check_ids(const TensorPtr& idx, int64_t V) {
  if (idx->is_cuda()) {
    const IndexCheck r = cuda_backend("embedding").check_indices(idx, V, std::numeric_limits<int64_t>::min());
    if (r.bad_position >= 0) fail_id(r.bad_value, r.bad_position, V, idx->shape);
    return;
  }
  const int32_t* ids = idx->data<int32_t>();
  for (int64_t i = 0; i < idx->numel(); ++i)
    if (ids[i] < 0 || ids[i] >= V) fail_id(ids[i], i, V, idx->shape);
}

// out: (n, C) = weight[idx[i]] for each i
// weight: (V, C), idx: (n)
template <class T>
void embedding_forward(T* out, const T* weight, const int32_t* idx, int64_t n, int64_t C) {
  parallel_for(n, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      std::memcpy(out + i * C, weight + static_cast<int64_t>(idx[i]) * C, static_cast<size_t>(C) * sizeof(T));
  });
}

// dweight: (V, C), zero-initialised here; row v = sum over i with idx[i] == v of dout[i], in
// increasing i. dout: (n, C), idx: (n)
template <class T>
void embedding_backward(T* dweight, const T* dout, const int32_t* idx, int64_t n, int64_t V, int64_t C) {
  // Stable counting sort of positions by id: order[start[v] .. start[v+1]) lists the positions
  // that read row v, ascending.
  std::vector<int64_t> start(static_cast<size_t>(V) + 1, 0);
  for (int64_t i = 0; i < n; ++i) ++start[static_cast<size_t>(idx[i]) + 1];
  for (int64_t v = 0; v < V; ++v) start[v + 1] += start[v];
  std::vector<int64_t> order(static_cast<size_t>(n));
  {
    std::vector<int64_t> fill_at(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < n; ++i) order[fill_at[idx[i]]++] = i;
  }
  parallel_for(V, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)), [&](int64_t v0, int64_t v1) {
    for (int64_t v = v0; v < v1; ++v) {
      T* row = dweight + v * C;
      const int64_t b = start[v], e = start[v + 1];
      if (b == e) {
        std::memset(row, 0, static_cast<size_t>(C) * sizeof(T));
        continue;
      }
      std::memcpy(row, dout + order[b] * C, static_cast<size_t>(C) * sizeof(T));
      for (int64_t k = b + 1; k < e; ++k) {
        const T* g = dout + order[k] * C;
        for (int64_t c = 0; c < C; ++c) row[c] += g[c];
      }
    }
  });
}

struct EmbeddingBackward : Node {
  TensorPtr idx;  // dense int32 ids, any shape
  int64_t V = 0, C = 0;
  DType dtype = DType::F32;
  const char* name() const override { return "embedding"; }
  void release_saved() override { idx.reset(); }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    // g: (..., C) -> dweight: (V, C)
    auto dweight = empty({V, C}, dtype, g->device());
    if (g->is_cuda()) {
      if (dweight->numel() > 0) cuda_backend("embedding").embedding_backward(dweight, g, idx);
      return {dweight, nullptr};
    }
    NS_DISPATCH_FLOAT(dtype, "embedding",
                      embedding_backward<scalar_t>(dweight->data<scalar_t>(), g->data<scalar_t>(),
                                                   idx->data<int32_t>(), idx->numel(), V, C));
    return {dweight, nullptr};
  }
};

}  // namespace

// weight: (V, C), idx: int32 (...) -> (..., C)
TensorPtr embedding(const TensorPtr& weight, const TensorPtr& idx0) {
  NS_CHECK(weight->dim() == 2, "embedding: weight must be 2-D (V, C), got shape ", shape_str(weight->shape));
  check_floating("embedding", weight, "weight");
  check_dtype("embedding", idx0, DType::I32, "ids");
  check_same_device("embedding", {weight, idx0});
  const int64_t V = weight->shape[0], C = weight->shape[1];
  auto idx = dense(idx0);
  const int64_t n = idx->numel();
  check_ids(idx, V);

  Shape out_shape = idx->shape;
  out_shape.push_back(C);
  auto out = empty(out_shape, weight->dtype, weight->device());
  auto w = dense(weight);
  if (w->is_cuda()) {
    if (out->numel() > 0) cuda_backend("embedding").embedding_forward(out, w, idx);
  } else {
    NS_DISPATCH_FLOAT(w->dtype, "embedding",
                      embedding_forward<scalar_t>(out->data<scalar_t>(), w->data<scalar_t>(), idx->data<int32_t>(),
                                                  n, C));
  }
  if (needs_grad({weight})) {
    auto node = std::make_shared<EmbeddingBackward>();
    // A private copy: callers may refill their ids buffer with the next batch before backward.
    node->idx = empty(idx->shape, DType::I32, idx->device());
    copy_into(node->idx, idx);
    node->V = V;
    node->C = C;
    node->dtype = weight->dtype;
    attach(out, node, {weight, idx0});
  }
  return out;
}

}  // namespace ns
