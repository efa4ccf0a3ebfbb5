// Per-addon state, owned by the environment (freed by Node when a worker or the process tears
// the addon down): the tensor handle table and the generator constructor.
#pragma once
#include <napi.h>

#include "binding/handles.h"

namespace ns {

struct AddonData {
  HandleTable tensors;
  Napi::FunctionReference generator_ctor;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace ns
