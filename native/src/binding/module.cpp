// Addon entry: creates the per-addon state and assembles the binding files.
#include <napi.h>

#include "binding/addon_data.h"
#include "binding/bindings.h"
#include "binding/tensor_wrap.h"

namespace ns {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted by Node at addon teardown
  Napi::Function tensor_ctor = JsTensor::Define(env);
  data->tensor_ctor = Napi::Persistent(tensor_ctor);
  exports.Set("Tensor", tensor_ctor);
  register_tensor_factories(env, exports);
  register_generator(env, exports);
  register_ops(env, exports);
  register_optim(env, exports);
  register_runtime(env, exports);
  return exports;
}

}  // namespace ns

// NODE_API_MODULE pastes the name into a declaration, so it needs an unqualified function.
static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ns::Init(env, exports); }
NODE_API_MODULE(nightshift_engine, InitAddon)
