// Views and layout ops: reshape, transpose, slice, contiguous, concat, cast, expand, and the
// move between devices. Views share storage and carry a node that maps the gradient back to
// the input's layout.
#include <cstring>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "cuda/backend.h"
#include "ops/ops.h"

namespace ns {
namespace {

struct ReshapeBackward : Node {
  Shape in_shape;
  const char* name() const override { return "reshape"; }
  std::vector<TensorPtr> backward(const TensorPtr& g) override { return {reshape(g, in_shape)}; }
};

struct TransposeBackward : Node {
  int64_t d0, d1;
  const char* name() const override { return "transpose"; }
  std::vector<TensorPtr> backward(const TensorPtr& g) override { return {transpose(g, d0, d1)}; }
};

struct SliceBackward : Node {
  Shape in_shape;
  int64_t dim, start;
  const char* name() const override { return "slice"; }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    auto gx = zeros(in_shape, g->dtype, g->device());
    auto region = slice(gx, dim, start, start + g->shape[dim]);
    if (g->is_cuda()) {
      cuda_backend("slice").copy(region, g);
      return {gx};
    }
    // region is a strided view of gx; write g into it row by row.
    const int64_t nd = g->dim();
    auto gd = dense(g);
    const size_t es = dtype_size(g->dtype);
    int64_t inner = 1;
    for (int64_t d = dim + 1; d < nd; ++d) inner *= g->shape[d];
    const int64_t block = g->shape[dim] * inner;  // contiguous run in gx for one outer index
    int64_t outer = 1;
    for (int64_t d = 0; d < dim; ++d) outer *= g->shape[d];
    const int64_t gx_outer_stride = in_shape[dim] * inner;
    char* dst = static_cast<char*>(gx->storage->data) + (region->offset) * es;
    const char* src = static_cast<const char*>(gd->storage->data) + gd->offset * es;
    for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + o * gx_outer_stride * es, src + o * block * es, block * es);
    return {gx};
  }
};

struct IdentityBackward : Node {
  const char* name() const override { return "contiguous"; }
  std::vector<TensorPtr> backward(const TensorPtr& g) override { return {g}; }
};

struct ConcatBackward : Node {
  int64_t dim;
  std::vector<int64_t> sizes;
  const char* name() const override { return "concat"; }
  std::vector<TensorPtr> backward(const TensorPtr& g) override {
    std::vector<TensorPtr> out;
    int64_t at = 0;
    for (int64_t s : sizes) {
      out.push_back(dense(slice(g, dim, at, at + s)));
      at += s;
    }
    return out;
  }
};

struct CastBackward : Node {
  DType in_dtype;
  const char* name() const override { return "cast"; }
  std::vector<TensorPtr> backward(const TensorPtr& g) override { return {cast(g, in_dtype)}; }
};

struct ToDeviceBackward : Node {
  Device source;
  const char* name() const override { return "to"; }
  std::vector<TensorPtr> backward(const TensorPtr& g) override { return {to_device_raw(g, source)}; }
};

struct ExpandBackward : Node {
  Shape in_shape;
  const char* name() const override { return "expand"; }
  std::vector<TensorPtr> backward(const TensorPtr& g) override { return {sum_to(g, in_shape)}; }
};

}  // namespace

TensorPtr reshape(const TensorPtr& x, Shape shape) {
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      NS_CHECK(infer < 0, "reshape: only one dimension may be -1, got ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      NS_CHECK(shape[i] >= 0, "reshape: invalid dimension ", shape[i], " in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    NS_CHECK(known > 0 && x->numel() % known == 0, "reshape: cannot reshape ", shape_str(x->shape), " (",
             x->numel(), " elements) to ", shape_str(shape));
    shape[infer] = x->numel() / known;
  }
  NS_CHECK(shape_numel(shape) == x->numel(), "reshape: cannot reshape ", shape_str(x->shape), " (", x->numel(),
           " elements) to ", shape_str(shape), " (", shape_numel(shape), " elements)");
  auto base = dense(x);
  auto out = make_view(base, shape, contiguous_strides(shape), base->offset);
  if (needs_grad({x})) {
    auto node = std::make_shared<ReshapeBackward>();
    node->in_shape = x->shape;
    attach(out, node, {x});
  }
  return out;
}

TensorPtr transpose(const TensorPtr& x, int64_t d0, int64_t d1) {
  d0 = wrap_dim(d0, x->dim(), "transpose");
  d1 = wrap_dim(d1, x->dim(), "transpose");
  Shape shape = x->shape, strides = x->strides;
  std::swap(shape[d0], shape[d1]);
  std::swap(strides[d0], strides[d1]);
  auto out = make_view(x, shape, strides, x->offset);
  if (needs_grad({x})) {
    auto node = std::make_shared<TransposeBackward>();
    node->d0 = d0;
    node->d1 = d1;
    attach(out, node, {x});
  }
  return out;
}

TensorPtr slice(const TensorPtr& x, int64_t dim, int64_t start, int64_t end) {
  dim = wrap_dim(dim, x->dim(), "slice");
  const int64_t n = x->shape[dim];
  if (start < 0) start += n;
  if (end < 0) end += n;
  NS_CHECK(start >= 0 && end <= n && start <= end, "slice: range [", start, ", ", end, ") is out of bounds for dim ",
           dim, " of size ", n, " in a tensor of shape ", shape_str(x->shape));
  Shape shape = x->shape;
  shape[dim] = end - start;
  auto out = make_view(x, shape, x->strides, x->offset + start * x->strides[dim]);
  if (needs_grad({x})) {
    auto node = std::make_shared<SliceBackward>();
    node->in_shape = x->shape;
    node->dim = dim;
    node->start = start;
    attach(out, node, {x});
  }
  return out;
}

TensorPtr contiguous(const TensorPtr& x) {
  if (x->is_contiguous()) return x;
  auto out = dense(x);
  if (needs_grad({x})) attach(out, std::make_shared<IdentityBackward>(), {x});
  return out;
}

TensorPtr concat(const std::vector<TensorPtr>& xs, int64_t dim) {
  NS_CHECK(!xs.empty(), "concat: needs at least one tensor");
  const auto& first = xs[0];
  dim = wrap_dim(dim, first->dim(), "concat");
  Shape shape = first->shape;
  shape[dim] = 0;
  std::vector<int64_t> sizes;
  for (const auto& t : xs) {
    NS_CHECK(t->device() == first->device(), "concat: all tensors must be on one device, got ",
             first->device().str(), " and ", t->device().str());
    NS_CHECK(t->dtype == first->dtype, "concat: dtype mismatch, ", dtype_name(first->dtype), " and ",
             dtype_name(t->dtype));
    NS_CHECK(t->dim() == first->dim(), "concat: rank mismatch, ", shape_str(first->shape), " and ",
             shape_str(t->shape));
    for (int64_t d = 0; d < t->dim(); ++d)
      NS_CHECK(d == dim || t->shape[d] == first->shape[d], "concat: shapes ", shape_str(first->shape), " and ",
               shape_str(t->shape), " differ outside dim ", dim);
    shape[dim] += t->shape[dim];
    sizes.push_back(t->shape[dim]);
  }
  auto out = empty(shape, first->dtype, first->device());
  if (first->is_cuda()) {
    int64_t at = 0;  // along dim
    for (const auto& t : xs) {
      Shape region_shape = shape;
      region_shape[dim] = t->shape[dim];
      const auto region = make_view(out, region_shape, out->strides, at * out->strides[dim]);
      if (t->numel() > 0) cuda_backend("concat").copy(region, t);
      at += t->shape[dim];
    }
  } else {
    const size_t es = dtype_size(first->dtype);
    int64_t inner = 1, outer = 1;
    for (int64_t d = dim + 1; d < first->dim(); ++d) inner *= shape[d];
    for (int64_t d = 0; d < dim; ++d) outer *= shape[d];
    const int64_t out_block = shape[dim] * inner;
    int64_t at = 0;  // in elements within an output block
    char* dst = static_cast<char*>(out->storage->data);
    for (const auto& t : xs) {
      auto td = dense(t);
      const int64_t block = t->shape[dim] * inner;
      const char* src = static_cast<const char*>(td->storage->data) + td->offset * es;
      parallel_for(outer, 64, [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o)
          std::memcpy(dst + (o * out_block + at) * es, src + o * block * es, block * es);
      });
      at += block;
    }
  }
  if (needs_grad(xs)) {
    auto node = std::make_shared<ConcatBackward>();
    node->dim = dim;
    node->sizes = sizes;
    attach(out, node, xs);
  }
  return out;
}

TensorPtr cast(const TensorPtr& x, DType dtype) {
  if (x->dtype == dtype) return x;
  auto xd = dense(x);
  auto out = empty(x->shape, dtype, x->device());
  if (x->is_cuda()) {
    // float32 is the only differentiable dtype on CUDA, so no gradient flows through a cast there.
    if (x->numel() > 0) cuda_backend("cast").cast(out, xd);
    return out;
  }
  NS_CHECK(x->dtype != DType::BF16 && dtype != DType::BF16, "cast: bfloat16 has no CPU kernels");
  const int64_t n = x->numel();
  auto convert = [&](auto* dst) {
    using D = std::remove_pointer_t<decltype(dst)>;
    switch (x->dtype) {
      case DType::F32: { const float* s = xd->data<float>(); for (int64_t i = 0; i < n; ++i) dst[i] = D(s[i]); break; }
      case DType::F64: { const double* s = xd->data<double>(); for (int64_t i = 0; i < n; ++i) dst[i] = D(s[i]); break; }
      case DType::I32: { const int32_t* s = xd->data<int32_t>(); for (int64_t i = 0; i < n; ++i) dst[i] = D(s[i]); break; }
      default: break;
    }
  };
  switch (dtype) {
    case DType::F32: convert(out->data<float>()); break;
    case DType::F64: convert(out->data<double>()); break;
    case DType::I32: convert(out->data<int32_t>()); break;
    default: break;
  }
  if (needs_grad({x}) && is_floating(x->dtype) && is_floating(dtype)) {
    auto node = std::make_shared<CastBackward>();
    node->in_dtype = x->dtype;
    attach(out, node, {x});
  }
  return out;
}

TensorPtr expand(const TensorPtr& x, const Shape& shape) {
  NS_CHECK(static_cast<int64_t>(shape.size()) >= x->dim(), "expand: cannot expand ", shape_str(x->shape), " to ",
           shape_str(shape));
  const int64_t lead = static_cast<int64_t>(shape.size()) - x->dim();
  Shape strides(shape.size(), 0);
  for (int64_t d = 0; d < x->dim(); ++d) {
    const int64_t od = d + lead;
    NS_CHECK(x->shape[d] == shape[od] || x->shape[d] == 1, "expand: cannot expand ", shape_str(x->shape), " to ",
             shape_str(shape));
    strides[od] = x->shape[d] == 1 ? 0 : x->strides[d];
  }
  auto view = make_view(x, shape, strides, x->offset);
  auto out = empty(shape, x->dtype, x->device());
  copy_into(out, view);
  if (needs_grad({x})) {
    auto node = std::make_shared<ExpandBackward>();
    node->in_shape = x->shape;
    attach(out, node, {x});
  }
  return out;
}

}  // namespace ns

namespace ns {

TensorPtr to_device(const TensorPtr& x, Device device) {
  if (x->device() == device) return x;
  auto out = to_device_raw(x, device);
  if (needs_grad({x})) {
    auto node = std::make_shared<ToDeviceBackward>();
    node->source = x->device();
    attach(out, node, {x});
  }
  return out;
}

}  // namespace ns
