// Per-addon state, owned by the environment (freed by Node when a worker or the process tears
// the addon down): the JsTensor constructor and the generators created from JS.
#pragma once
#include <napi.h>

namespace ns {

struct AddonData {
  Napi::FunctionReference tensor_ctor;
  Napi::FunctionReference generator_ctor;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace ns
