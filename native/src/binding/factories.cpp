// Tensor factories: from a typed array, zeros, full, empty.
#include <cstring>

#include "binding/args.h"
#include "binding/bindings.h"

namespace ns {
namespace {

Napi::Value FromArray(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Args a{info, "fromArray"};
    if (!info[0].IsTypedArray()) a.type_error(0, "a typed array");
    auto arr = info[0].As<Napi::TypedArray>();
    auto shape = a.ints(1);
    DType dtype = a.dtype(2);
    const Device device = a.device(3);
    check_device_dtype(device, dtype);
    auto t = empty(shape, dtype);
    const size_t want = static_cast<size_t>(t->numel()) * dtype_size(dtype);
    NS_CHECK(arr.ByteLength() == want, "fromArray: ", arr.ElementLength(), " values do not fill shape ",
             shape_str(shape), " (", t->numel(), " elements)");
    if (want) std::memcpy(t->storage->data, static_cast<char*>(arr.ArrayBuffer().Data()) + arr.ByteOffset(), want);
    return handle_of(info.Env(), to_device_raw(t, device));
  });
}

Napi::Value Full(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Args a{info, "full"};
    check_device_dtype(a.device(3), a.dtype(1));
    return handle_of(info.Env(), full(a.ints(0), a.dtype(1), a.number(2), a.device(3)));
  });
}

Napi::Value Zeros(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Args a{info, "zeros"};
    check_device_dtype(a.device(2), a.dtype(1));
    return handle_of(info.Env(), zeros(a.ints(0), a.dtype(1), a.device(2)));
  });
}

}  // namespace

void register_tensor_factories(Napi::Env env, Napi::Object exports) {
  exports.Set("fromArray", Napi::Function::New<FromArray>(env, "fromArray"));
  exports.Set("full", Napi::Function::New<Full>(env, "full"));
  exports.Set("zeros", Napi::Function::New<Zeros>(env, "zeros"));
}

}  // namespace ns
