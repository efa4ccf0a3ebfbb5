// Addon entry: creates the per-addon state and assembles the binding files.
#include <napi.h>

#include "binding/addon_data.h"
#include "binding/bindings.h"
#include "cuda/backend.h"

namespace ns {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted by Node at addon teardown
#ifdef NS_WITH_CUDA
  cuda::install_backend();
#endif
  register_tensor_methods(env, exports);
  register_tensor_factories(env, exports);
  register_generator(env, exports);
  register_ops(env, exports);
  register_optim(env, exports);
  register_runtime(env, exports);
  register_tokenizer(env, exports);
  return exports;
}

}  // namespace ns

// NODE_API_MODULE pastes the name into a declaration, so it needs an unqualified function.
static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ns::Init(env, exports); }
NODE_API_MODULE(nightshift_engine, InitAddon)
