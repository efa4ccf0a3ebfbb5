// Fused optimizer kernels exposed to JS; they update their tensors in place.
#include "binding/args.h"
#include "binding/bindings.h"
#include "ops/ops.h"

namespace ns {
namespace {

Napi::Value AdamwStep(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Args a{info, "adamwStep"};
    adamw_step(a.tensor(0), a.tensor(1), a.tensor(2), a.tensor(3), a.number(4), a.number(5), a.number(6),
               a.number(7), a.number(8), a.number(9));
    return info.Env().Undefined();
  });
}

Napi::Value PolarExpress(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args a{info, "polarExpress"};
    NoGradGuard ng;
    return handle_of(info.Env(), polar_express(a.tensor(0), a.integer(1)));
  });
}

Napi::Value MuonStep(const Napi::CallbackInfo& info) {
  return guarded(info, [&] {
    Args a{info, "muonStep"};
    muon_step(a.tensors(0), a.tensors(1), a.tensor(2), a.tensor(3), a.number(4), a.number(5), a.number(6),
              a.number(7), a.integer(8));
    return info.Env().Undefined();
  });
}

}  // namespace

void register_optim(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwStep", Napi::Function::New<AdamwStep>(env, "adamwStep"));
  exports.Set("polarExpress", Napi::Function::New<PolarExpress>(env, "polarExpress"));
  exports.Set("muonStep", Napi::Function::New<MuonStep>(env, "muonStep"));
}

}  // namespace ns
