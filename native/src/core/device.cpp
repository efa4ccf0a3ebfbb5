// Device names, and the registry through which a CUDA build hands its backend to the engine.
#include "core/device.h"

#include <atomic>
#include <cstdlib>

#include "core/error.h"
#include "cuda/backend.h"

namespace ns {

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

Device parse_device(const std::string& spec) {
  if (spec == "cpu") return Device::cpu();
  if (spec == "cuda") return Device::cuda(0);
  if (spec.rfind("cuda:", 0) == 0 && spec.size() > 5 && spec.size() <= 8) {
    char* end = nullptr;
    const long index = std::strtol(spec.c_str() + 5, &end, 10);
    if (*end == '\0' && index >= 0 && spec[5] != '+' && spec[5] != '-') return Device::cuda(static_cast<int>(index));
  }
  fail("unknown device '", spec, "': expected 'cpu', 'cuda' or 'cuda:N'");
}

namespace {
std::atomic<CudaBackend*> registered{nullptr};
}  // namespace

void register_cuda_backend(CudaBackend* backend) { registered.store(backend); }

CudaBackend& cuda_backend_for(Device device) {
  CudaBackend* b = registered.load();
  if (b && device.index < b->device_count()) return *b;
  const std::string where = "a tensor on " + device.str();
  CudaBackend& cuda = cuda_backend(where.c_str());
  const int count = cuda.device_count();
  NS_CHECK(count > 0, where, ": no CUDA device is visible (no GPU, no driver, or CUDA_VISIBLE_DEVICES hides them)");
  fail(where, ": there is no ", device.str(), " (", count, " CUDA device", count == 1 ? "" : "s", " visible)");
}

bool cuda_compiled() { return registered.load() != nullptr; }

bool cuda_available() {
  CudaBackend* b = registered.load();
  return b != nullptr && b->device_count() > 0;
}

CudaBackend& cuda_backend(const char* op) {
  CudaBackend* b = registered.load();
  NS_CHECK(b != nullptr, op,
           ": this engine was built without CUDA (no CUDA toolkit with cuBLAS was found when it was "
           "built); rebuild on a machine with one (see README, 'GPU')");
  return *b;
}

}  // namespace ns
