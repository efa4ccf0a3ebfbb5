// Engine runtime: grad mode, threads, memory counters, CPU facts for device info, and the CUDA
// devices (count, properties, memory, matmul precision) when the backend is built.
#include <thread>

#include "binding/args.h"
#include "binding/bindings.h"
#include "core/autograd.h"
#include "core/parallel.h"
#include "cpu/gemm.h"
#include "cuda/backend.h"

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

Napi::Value CudaCompiled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), cuda_compiled()); }

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), cuda_compiled() ? cuda_backend("deviceCount").device_count() : 0);
  });
}

// The CUDA device named by argument i (an index), checked against the devices present.
int cuda_index(const Args& a, size_t i, const char* op) {
  const int64_t index = a.integer(i);
  const int count = cuda_backend(op).device_count();
  NS_CHECK(index >= 0 && index < count, op, ": no CUDA device ", index, " (", count, " visible)");
  return static_cast<int>(index);
}

Napi::Value CudaProperties(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args a{info, "cudaProperties"};
    const CudaDeviceProperties p = cuda_backend("cudaProperties").properties(cuda_index(a, 0, "cudaProperties"));
    auto o = Napi::Object::New(info.Env());
    o.Set("name", Napi::String::New(info.Env(), p.name));
    o.Set("major", Napi::Number::New(info.Env(), p.major));
    o.Set("minor", Napi::Number::New(info.Env(), p.minor));
    o.Set("multiprocessors", Napi::Number::New(info.Env(), p.multiprocessors));
    o.Set("totalBytes", Napi::Number::New(info.Env(), double(p.total_bytes)));
    o.Set("clockGhz", Napi::Number::New(info.Env(), p.clock_ghz));
    return o;
  });
}

Napi::Value CudaMemoryStatsJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args a{info, "cudaMemoryStats"};
    const CudaMemoryStats m = cuda_backend("cudaMemoryStats").memory(cuda_index(a, 0, "cudaMemoryStats"));
    auto o = Napi::Object::New(info.Env());
    o.Set("liveBytes", Napi::Number::New(info.Env(), double(m.live_bytes)));
    o.Set("peakBytes", Napi::Number::New(info.Env(), double(m.peak_bytes)));
    o.Set("liveBuffers", Napi::Number::New(info.Env(), double(m.live_buffers)));
    o.Set("cachedBytes", Napi::Number::New(info.Env(), double(m.cached_bytes)));
    return o;
  });
}

Napi::Value CudaResetPeak(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args a{info, "cudaResetPeakMemory"};
    cuda_backend("cudaResetPeakMemory").reset_peak(cuda_index(a, 0, "cudaResetPeakMemory"));
    return info.Env().Undefined();
  });
}

Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Args a{info, "cudaSynchronize"};
    cuda_backend("cudaSynchronize").synchronize(cuda_index(a, 0, "cudaSynchronize"));
    return info.Env().Undefined();
  });
}

const char* precision_name(MatmulPrecision p) {
  switch (p) {
    case MatmulPrecision::BF16: return "bf16";
    case MatmulPrecision::TF32: return "tf32";
    case MatmulPrecision::F32: return "f32";
  }
  return "?";
}

Napi::Value CudaSetMatmulPrecision(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "setMatmulPrecision: expected 'bf16', 'tf32' or 'f32'");
    const std::string s = info[0].As<Napi::String>().Utf8Value();
    MatmulPrecision p = MatmulPrecision::BF16;
    if (s == "tf32") p = MatmulPrecision::TF32;
    else if (s == "f32") p = MatmulPrecision::F32;
    else NS_CHECK(s == "bf16", "setMatmulPrecision: unknown precision '", s, "': expected 'bf16', 'tf32' or 'f32'");
    cuda_backend("setMatmulPrecision").set_matmul_precision(p);
    return info.Env().Undefined();
  });
}

Napi::Value CudaMatmulPrecision(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), precision_name(cuda_backend("matmulPrecision").matmul_precision()));
  });
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
  exports.Set("cudaCompiled", Napi::Function::New<CudaCompiled>(env, "cudaCompiled"));
  exports.Set("cudaDeviceCount", Napi::Function::New<CudaDeviceCount>(env, "cudaDeviceCount"));
  exports.Set("cudaProperties", Napi::Function::New<CudaProperties>(env, "cudaProperties"));
  exports.Set("cudaMemoryStats", Napi::Function::New<CudaMemoryStatsJs>(env, "cudaMemoryStats"));
  exports.Set("cudaResetPeakMemory", Napi::Function::New<CudaResetPeak>(env, "cudaResetPeakMemory"));
  exports.Set("cudaSynchronize", Napi::Function::New<CudaSynchronize>(env, "cudaSynchronize"));
  exports.Set("cudaSetMatmulPrecision", Napi::Function::New<CudaSetMatmulPrecision>(env, "cudaSetMatmulPrecision"));
  exports.Set("cudaMatmulPrecision", Napi::Function::New<CudaMatmulPrecision>(env, "cudaMatmulPrecision"));
}

}  // namespace ns
