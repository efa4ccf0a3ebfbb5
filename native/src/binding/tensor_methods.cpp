// Tensor methods over handles: metadata, gradients, data export, release.
#include <cstring>

#include "binding/args.h"
#include "binding/bindings.h"
#include "core/autograd.h"
#include "ops/ops.h"

namespace ns {
namespace {

Napi::Array to_js_ints(Napi::Env env, const std::vector<int64_t>& v) {
  auto arr = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(env, double(v[i])));
  return arr;
}

// Defines binding `name` whose body sees `a` (Args) and `t` (the tensor of argument 0).
#define NS_TENSOR_METHOD(name, ...)                             \
  Napi::Value name(const Napi::CallbackInfo& info) {            \
    return guarded(info, [&]() -> Napi::Value {                 \
      Args a{info, #name};                                      \
      const TensorPtr t = a.tensor(0);                          \
      Napi::Env env = info.Env();                               \
      __VA_ARGS__                                               \
    });                                                         \
  }

NS_TENSOR_METHOD(shape, return to_js_ints(env, t->shape);)
NS_TENSOR_METHOD(strides, return to_js_ints(env, t->strides);)
NS_TENSOR_METHOD(dtype, return Napi::String::New(env, dtype_name(t->dtype));)
NS_TENSOR_METHOD(device, return Napi::String::New(env, t->device().str());)
NS_TENSOR_METHOD(requiresGrad, return Napi::Boolean::New(env, t->requires_grad);)
NS_TENSOR_METHOD(isLeaf, return Napi::Boolean::New(env, t->is_leaf());)
NS_TENSOR_METHOD(isContiguous, return Napi::Boolean::New(env, t->is_contiguous());)

NS_TENSOR_METHOD(setRequiresGrad, {
  const bool want = a.boolean(1);
  NS_CHECK(!want || is_floating(t->dtype), "requiresGrad: only float tensors can require grad, got ",
           dtype_name(t->dtype));
  NS_CHECK(t->is_leaf(), "requiresGrad can only be set on leaf tensors (use detach() first)");
  t->requires_grad = want;
  return env.Undefined();
})

// A new handle on the leaf's accumulated gradient, or null.
NS_TENSOR_METHOD(grad, {
  if (!t->grad) return env.Null();
  return handle_of(env, t->grad);
})

NS_TENSOR_METHOD(zeroGrad, {
  t->grad.reset();
  return env.Undefined();
})

NS_TENSOR_METHOD(backward, {
  ns::backward(t, a.optional_tensor(1));
  return env.Undefined();
})

NS_TENSOR_METHOD(item, {
  NS_CHECK(t->numel() == 1, "item: tensor has ", t->numel(), " elements, shape ", shape_str(t->shape),
           "; item() needs exactly one");
  NS_CHECK(t->dtype != DType::BF16, "item: bfloat16 has no CPU access");
  const TensorPtr h = to_device_raw(t, Device::cpu());
  switch (h->dtype) {
    case DType::F32: return Napi::Number::New(env, h->data<float>()[0]);
    case DType::F64: return Napi::Number::New(env, h->data<double>()[0]);
    case DType::I32: return Napi::Number::New(env, h->data<int32_t>()[0]);
    default: fail("item: bfloat16 has no CPU access");
  }
})

NS_TENSOR_METHOD(toArray, {
  auto d = to_device_raw(dense(t), Device::cpu());
  const size_t n = static_cast<size_t>(d->numel());
  const size_t bytes = n * dtype_size(d->dtype);
  auto buf = Napi::ArrayBuffer::New(env, bytes);
  if (bytes) std::memcpy(buf.Data(), d->raw_data(), bytes);
  switch (d->dtype) {
    case DType::F32: return Napi::Float32Array::New(env, n, buf, 0);
    case DType::F64: return Napi::Float64Array::New(env, n, buf, 0);
    case DType::I32: return Napi::Int32Array::New(env, n, buf, 0);
    default: return Napi::Uint16Array::New(env, n, buf, 0);
  }
})

// Copies a float32 tensor's values into a caller's Float32Array of the same length: a serving
// loop that reuses one host buffer skips the page faults of a fresh 32 MB array per batch.
NS_TENSOR_METHOD(copyToArray, {
  NS_CHECK(t->dtype == DType::F32, "copyToArray: needs a float32 tensor, got ", dtype_name(t->dtype));
  NS_CHECK(info.Length() > 1 && info[1].IsTypedArray() && info[1].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array,
           "copyToArray: the destination must be a Float32Array");
  auto dest = info[1].As<Napi::Float32Array>();
  NS_CHECK(dest.ElementLength() == static_cast<size_t>(t->numel()), "copyToArray: the destination holds ", dest.ElementLength(),
           " values, the tensor ", t->numel());
  auto d = to_device_raw(dense(t), Device::cpu());
  if (d->numel()) std::memcpy(dest.Data(), d->raw_data(), static_cast<size_t>(d->numel()) * sizeof(float));
  return env.Undefined();
})

// Same data, no autograd history.
NS_TENSOR_METHOD(detach, return handle_of(env, make_view(t, t->shape, t->strides, t->offset));)

// In-place copy of another tensor's values (no autograd): for loading and optimizer state.
NS_TENSOR_METHOD(copyFrom, {
  NS_CHECK(t->is_contiguous(), "copyFrom: destination must be contiguous");
  copy_into(t, to_device_raw(a.tensor(1), t->device()));
  return env.Undefined();
})

NS_TENSOR_METHOD(fill, {
  ns::fill(t, a.number(1));
  return env.Undefined();
})

#undef NS_TENSOR_METHOD

// Drops a handle's reference now. Stale or repeated releases are no-ops.
Napi::Value Release(const Napi::CallbackInfo& info) {
  Args a{info, "release"};
  addon_data(info.Env()).tensors.release(a.number(0));
  return info.Env().Undefined();
}

Napi::Value LiveHandles(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(addon_data(info.Env()).tensors.live()));
}

}  // namespace

void register_tensor_methods(Napi::Env env, Napi::Object exports) {
  auto add = [&](const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, fn, name));
  };
  add("shape", shape);
  add("strides", strides);
  add("dtype", dtype);
  add("device", device);
  add("requiresGrad", requiresGrad);
  add("setRequiresGrad", setRequiresGrad);
  add("isLeaf", isLeaf);
  add("isContiguous", isContiguous);
  add("grad", grad);
  add("zeroGrad", zeroGrad);
  add("backward", backward);
  add("item", item);
  add("toArray", toArray);
  add("copyToArray", copyToArray);
  add("detach", detach);
  add("copyFrom", copyFrom);
  add("fill", fill);
  add("release", Release);
  add("liveHandles", LiveHandles);
}

}  // namespace ns
