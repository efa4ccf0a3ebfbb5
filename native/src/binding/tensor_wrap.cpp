// JsTensor methods: metadata, gradients, data export and disposal.
#include "binding/tensor_wrap.h"

#include <cstring>

#include "binding/addon_data.h"
#include "binding/args.h"
#include "core/autograd.h"
#include "ops/ops.h"

namespace ns {

Napi::Function JsTensor::Define(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {
                         InstanceAccessor<&JsTensor::Shape>("shape"),
                         InstanceAccessor<&JsTensor::Strides>("strides"),
                         InstanceAccessor<&JsTensor::DTypeName>("dtype"),
                         InstanceAccessor<&JsTensor::RequiresGrad, &JsTensor::SetRequiresGrad>("requiresGrad"),
                         InstanceAccessor<&JsTensor::Grad>("grad"),
                         InstanceAccessor<&JsTensor::IsLeaf>("isLeaf"),
                         InstanceAccessor<&JsTensor::IsContiguous>("isContiguous"),
                         InstanceAccessor<&JsTensor::IsDisposed>("isDisposed"),
                         InstanceMethod<&JsTensor::ZeroGrad>("zeroGrad"),
                         InstanceMethod<&JsTensor::Backward>("backward"),
                         InstanceMethod<&JsTensor::Item>("item"),
                         InstanceMethod<&JsTensor::ToArray>("toArray"),
                         InstanceMethod<&JsTensor::Detach>("detach"),
                         InstanceMethod<&JsTensor::CopyFrom>("copyFrom"),
                         InstanceMethod<&JsTensor::Fill>("fill"),
                         InstanceMethod<&JsTensor::Dispose>("dispose"),
                     });
}

JsTensor::JsTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsTensor>(info) {
  // Only constructed from C++ (Wrap) with an External carrying the tensor.
  if (info.Length() != 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "NativeTensor cannot be constructed directly; use the engine's factories");
  tensor_ = *info[0].As<Napi::External<TensorPtr>>().Data();
}

Napi::Object JsTensor::Wrap(Napi::Env env, TensorPtr t) {
  auto ext = Napi::External<TensorPtr>::New(env, &t);
  return addon_data(env).tensor_ctor.New({ext});
}

TensorPtr JsTensor::From(const Napi::Value& v, const char* what) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw Napi::TypeError::New(env, std::string(what) + ": expected a tensor");
  Napi::Object obj = v.As<Napi::Object>();
  if (!obj.InstanceOf(addon_data(env).tensor_ctor.Value()))
    throw Napi::TypeError::New(env, std::string(what) + ": expected a tensor");
  JsTensor* self = Napi::ObjectWrap<JsTensor>::Unwrap(obj);
  if (!self->tensor_) throw Napi::Error::New(env, std::string(what) + ": tensor was disposed");
  return self->tensor_;
}

const TensorPtr& JsTensor::live(Napi::Env env) const {
  if (!tensor_) throw Napi::Error::New(env, "tensor was disposed");
  return tensor_;
}

static Napi::Array to_js_ints(Napi::Env env, const std::vector<int64_t>& v) {
  auto arr = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(env, double(v[i])));
  return arr;
}

Napi::Value JsTensor::Shape(const Napi::CallbackInfo& info) { return to_js_ints(info.Env(), live(info.Env())->shape); }
Napi::Value JsTensor::Strides(const Napi::CallbackInfo& info) {
  return to_js_ints(info.Env(), live(info.Env())->strides);
}
Napi::Value JsTensor::DTypeName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtype_name(live(info.Env())->dtype));
}
Napi::Value JsTensor::RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), live(info.Env())->requires_grad);
}
void JsTensor::SetRequiresGrad(const Napi::CallbackInfo& info, const Napi::Value& v) {
  const auto& t = live(info.Env());
  if (!v.IsBoolean()) throw Napi::TypeError::New(info.Env(), "requiresGrad must be a boolean");
  const bool want = v.As<Napi::Boolean>().Value();
  if (want && !is_floating(t->dtype))
    throw Napi::Error::New(info.Env(), std::string("requiresGrad: only float tensors can require grad, got ") +
                                           dtype_name(t->dtype));
  if (!t->is_leaf())
    throw Napi::Error::New(info.Env(), "requiresGrad can only be set on leaf tensors (use detach() first)");
  t->requires_grad = want;
}
Napi::Value JsTensor::Grad(const Napi::CallbackInfo& info) {
  const auto& t = live(info.Env());
  if (!t->grad) return info.Env().Null();
  return Wrap(info.Env(), t->grad);
}
Napi::Value JsTensor::ZeroGrad(const Napi::CallbackInfo& info) {
  live(info.Env())->grad.reset();
  return info.Env().Undefined();
}
Napi::Value JsTensor::IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), live(info.Env())->is_leaf());
}
Napi::Value JsTensor::IsContiguous(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), live(info.Env())->is_contiguous());
}
Napi::Value JsTensor::IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !tensor_); }

Napi::Value JsTensor::Backward(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Args a{info, "backward"};
    ns::backward(live(info.Env()), info.Length() > 0 ? a.optional_tensor(0) : nullptr);
    return info.Env().Undefined();
  });
}

Napi::Value JsTensor::Item(const Napi::CallbackInfo& info) {
  const auto& t = live(info.Env());
  if (t->numel() != 1)
    throw Napi::Error::New(info.Env(), "item: tensor has " + std::to_string(t->numel()) + " elements, shape " +
                                           shape_str(t->shape) + "; item() needs exactly one");
  switch (t->dtype) {
    case DType::F32: return Napi::Number::New(info.Env(), t->data<float>()[0]);
    case DType::F64: return Napi::Number::New(info.Env(), t->data<double>()[0]);
    case DType::I32: return Napi::Number::New(info.Env(), t->data<int32_t>()[0]);
    default: throw Napi::Error::New(info.Env(), "item: bfloat16 has no CPU access");
  }
}

Napi::Value JsTensor::ToArray(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto t = dense(live(info.Env()));
    const size_t n = static_cast<size_t>(t->numel());
    const size_t bytes = n * dtype_size(t->dtype);
    auto buf = Napi::ArrayBuffer::New(info.Env(), bytes);
    if (bytes) std::memcpy(buf.Data(), static_cast<char*>(t->storage->data) + t->offset * dtype_size(t->dtype), bytes);
    switch (t->dtype) {
      case DType::F32: return Napi::Float32Array::New(info.Env(), n, buf, 0);
      case DType::F64: return Napi::Float64Array::New(info.Env(), n, buf, 0);
      case DType::I32: return Napi::Int32Array::New(info.Env(), n, buf, 0);
      default: return Napi::Uint16Array::New(info.Env(), n, buf, 0);
    }
  });
}

Napi::Value JsTensor::Detach(const Napi::CallbackInfo& info) {
  const auto& t = live(info.Env());
  auto d = make_view(t, t->shape, t->strides, t->offset);
  return Wrap(info.Env(), d);
}

// In-place copy of another tensor's values (no autograd): for loading and optimizer state.
Napi::Value JsTensor::CopyFrom(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Args a{info, "copyFrom"};
    const auto& t = live(info.Env());
    auto src = a.tensor(0);
    NS_CHECK(t->is_contiguous(), "copyFrom: destination must be contiguous");
    copy_into(t, src);
    return info.Env().Undefined();
  });
}

Napi::Value JsTensor::Fill(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Args a{info, "fill"};
    fill(live(info.Env()), a.number(0));
    return info.Env().Undefined();
  });
}

Napi::Value JsTensor::Dispose(const Napi::CallbackInfo& info) {
  tensor_.reset();
  return info.Env().Undefined();
}

}  // namespace ns
