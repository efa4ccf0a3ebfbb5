// Engine runtime: grad mode, threads, memory counters and CPU facts for device info.
#include <thread>

#include "binding/args.h"
#include "binding/bindings.h"
#include "core/autograd.h"
#include "core/parallel.h"
#include "cpu/gemm.h"

namespace ns {
namespace {

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  Args a{info, "setGradEnabled"};
  const bool prev = grad_enabled();
  set_grad_enabled(a.boolean(0));
  return Napi::Boolean::New(info.Env(), prev);
}

Napi::Value GradEnabled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), grad_enabled()); }

Napi::Value NumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), num_threads()); }

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Args a{info, "setNumThreads"};
  set_num_threads(static_cast<int>(a.integer(0)));
  return info.Env().Undefined();
}

Napi::Value MemoryStatsJs(const Napi::CallbackInfo& info) {
  auto& s = memory_stats();
  auto o = Napi::Object::New(info.Env());
  o.Set("liveBytes", Napi::Number::New(info.Env(), double(s.live_bytes.load())));
  o.Set("peakBytes", Napi::Number::New(info.Env(), double(s.peak_bytes.load())));
  o.Set("liveBuffers", Napi::Number::New(info.Env(), double(s.live_buffers.load())));
  o.Set("cachedBytes", Napi::Number::New(info.Env(), double(s.cached_bytes.load())));
  return o;
}

Napi::Value ResetPeakMemory(const Napi::CallbackInfo& info) {
  auto& s = memory_stats();
  s.peak_bytes.store(s.live_bytes.load());
  return info.Env().Undefined();
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  empty_cache();
  return info.Env().Undefined();
}

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("gemmKernel", Napi::String::New(info.Env(), gemm_kernel_name()));
  o.Set("hardwareThreads", Napi::Number::New(info.Env(), double(std::thread::hardware_concurrency())));
  return o;
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  exports.Set("setGradEnabled", Napi::Function::New<SetGradEnabled>(env, "setGradEnabled"));
  exports.Set("gradEnabled", Napi::Function::New<GradEnabled>(env, "gradEnabled"));
  exports.Set("numThreads", Napi::Function::New<NumThreads>(env, "numThreads"));
  exports.Set("setNumThreads", Napi::Function::New<SetNumThreads>(env, "setNumThreads"));
  exports.Set("memoryStats", Napi::Function::New<MemoryStatsJs>(env, "memoryStats"));
  exports.Set("resetPeakMemory", Napi::Function::New<ResetPeakMemory>(env, "resetPeakMemory"));
  exports.Set("emptyCache", Napi::Function::New<EmptyCache>(env, "emptyCache"));
  exports.Set("cpuInfo", Napi::Function::New<CpuInfo>(env, "cpuInfo"));
}

}  // namespace ns
