// JsTensor: the JS handle of a TensorImpl. It holds one reference; dispose() drops it at once,
// the GC finalizer drops it otherwise. TypeScript (src/engine) validates arguments and wraps
// these handles; this layer only converts and calls.
#pragma once
#include <napi.h>

#include "core/tensor.h"

namespace ns {

class JsTensor : public Napi::ObjectWrap<JsTensor> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, TensorPtr t);
  // The tensor behind a JS handle; throws a TypeError naming `what` if it is not a live tensor.
  static TensorPtr From(const Napi::Value& v, const char* what);

  explicit JsTensor(const Napi::CallbackInfo& info);

 private:
  const TensorPtr& live(Napi::Env env) const;

  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Strides(const Napi::CallbackInfo& info);
  Napi::Value DTypeName(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  void SetRequiresGrad(const Napi::CallbackInfo& info, const Napi::Value& v);
  Napi::Value Grad(const Napi::CallbackInfo& info);
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info);
  Napi::Value IsLeaf(const Napi::CallbackInfo& info);
  Napi::Value IsContiguous(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
  Napi::Value Item(const Napi::CallbackInfo& info);
  Napi::Value ToArray(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value CopyFrom(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  TensorPtr tensor_;
};

}  // namespace ns
