// JsGenerator: a seeded Generator exposed to JS for parameter init and sampling.
#include <napi.h>

#include "binding/addon_data.h"
#include "binding/args.h"
#include "binding/bindings.h"
#include "core/rng.h"

namespace ns {
namespace {

class JsGenerator : public Napi::ObjectWrap<JsGenerator> {
 public:
  explicit JsGenerator(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsGenerator>(info), gen_(0) {
    Args a{info, "Generator"};
    // Seeds arrive as a decimal string so all 64 bits survive the trip from JS.
    if (!info[0].IsString()) a.type_error(0, "a seed string");
    gen_ = Generator(std::stoull(info[0].As<Napi::String>().Utf8Value()));
  }

  Napi::Value Uniform(const Napi::CallbackInfo& info) {
    return guarded(info, [&] {
      Args a{info, "uniform_"};
      gen_.fill_uniform(a.tensor(0), a.number(1), a.number(2));
      return info.Env().Undefined();
    });
  }
  Napi::Value Normal(const Napi::CallbackInfo& info) {
    return guarded(info, [&] {
      Args a{info, "normal_"};
      gen_.fill_normal(a.tensor(0), a.number(1), a.number(2));
      return info.Env().Undefined();
    });
  }
  // A uniform double in [0, 1): for shuffles and sampling decided in JS.
  Napi::Value Random(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), gen_.next_double()); }

 private:
  Generator gen_;
};

}  // namespace

void register_generator(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = JsGenerator::DefineClass(env, "NativeGenerator",
                                                 {
                                                     JsGenerator::InstanceMethod<&JsGenerator::Uniform>("uniform_"),
                                                     JsGenerator::InstanceMethod<&JsGenerator::Normal>("normal_"),
                                                     JsGenerator::InstanceMethod<&JsGenerator::Random>("random"),
                                                 });
  addon_data(env).generator_ctor = Napi::Persistent(ctor);
  exports.Set("Generator", ctor);
}

}  // namespace ns
