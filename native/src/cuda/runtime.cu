// The CUDA device runtime: one stream per device, device queries, host <-> device copies, the
// matmul precision setting and the caching allocator every CUDA tensor's storage comes from.
//
// Why a caching allocator: cudaMalloc and cudaFree are slow (cudaFree synchronises the device)
// and a training step allocates the same sizes every step, so after the first step nearly every
// request is served from a free list. Blocks are reused without synchronising because every
// kernel of a device runs on that device's single stream: a block released while a kernel that
// reads it is still queued can only be written by work queued after that kernel.
//
// Nothing here is ever destroyed: tensors may be released by finalizers during process
// teardown, after static destructors would have run, and release() makes no CUDA call for the
// same reason (the CUDA context may already be gone; the driver reclaims everything at exit).
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "cuda/backend_impl.cuh"

namespace ns {
namespace cuda {
namespace {

// Streams and allocator heaps are indexed by ordinal; no machine has more devices than this.
constexpr int kMaxDevices = 64;

int cached_device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      // No driver or no device: report none, and clear the error so that the next launch check
      // does not mistake it for its own.
      cudaGetLastError();
      return 0;
    }
    return n < kMaxDevices ? n : kMaxDevices;
  }();
  return count;
}

void check_device(int device, const char* what) {
  const int count = cached_device_count();
  NS_CHECK(device >= 0 && device < count, what, ": cuda:", device, " does not exist (", count,
           count == 1 ? " CUDA device)" : " CUDA devices)");
}

std::string mib(int64_t bytes) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / (1 << 20);
  return os.str();
}

// Size classes: requests up to 1 MiB round up to 512 B (at most 511 B wasted, and at most
// 2048 distinct small classes), larger ones to 2 MiB, the page size the driver maps large
// allocations with anyway, so the rounding costs no memory the driver was not already spending
// and lets slightly different large sizes (a shorter last batch) share blocks. Zero-byte
// requests get the smallest block so every storage has a valid, distinct pointer.
constexpr size_t kSmallGranularity = 512;
constexpr size_t kLargeThreshold = size_t(1) << 20;
constexpr size_t kLargeGranularity = size_t(2) << 20;

size_t size_class(size_t nbytes) {
  if (nbytes == 0) return kSmallGranularity;
  const size_t granularity = nbytes <= kLargeThreshold ? kSmallGranularity : kLargeGranularity;
  return (nbytes + granularity - 1) / granularity * granularity;
}

class CachingAllocator {
 public:
  void* allocate(size_t nbytes, int device) {
    check_device(device, "allocate");
    const size_t block = size_class(nbytes);
    if (void* p = take_cached(block, nbytes, device)) return p;

    DeviceGuard guard(device);
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, block);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // not sticky: clear it so that later launch checks do not report it
      release_cached(device);
      err = cudaMalloc(&p, block);
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      const CudaMemoryStats s = stats(device);
      fail("out of CUDA memory on cuda:", device, ": could not allocate ", mib(static_cast<int64_t>(nbytes)),
           " MiB (live ", mib(s.live_bytes), " MiB, cached ", mib(s.cached_bytes), " MiB)");
    }
    if (err != cudaSuccess) {
      cudaGetLastError();
      fail("allocate: cudaMalloc of ", block, " bytes on cuda:", device, " failed: ", cudaGetErrorString(err));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    count_live(heaps_[device], nbytes);
    return p;
  }

  void release(void* p, size_t nbytes, int device) {
    const size_t block = size_class(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    Heap& heap = heaps_[device];
    heap.free_blocks[block].push_back(p);
    heap.cached_bytes += static_cast<int64_t>(block);
    heap.live_bytes -= static_cast<int64_t>(nbytes);
    heap.live_buffers -= 1;
  }

  // Frees every cached block of `device` (after its stream has drained, since a queued kernel
  // may still read a block that was released to the cache).
  void release_cached(int device) {
    std::vector<void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      Heap& heap = heaps_[device];
      for (auto& entry : heap.free_blocks)
        for (void* p : entry.second) blocks.push_back(p);
      heap.free_blocks.clear();
      heap.cached_bytes = 0;
    }
    if (blocks.empty()) return;
    DeviceGuard guard(device);
    NS_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
    for (void* p : blocks) NS_CUDA_CHECK(cudaFree(p));
  }

  CudaMemoryStats stats(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    const Heap& heap = heaps_[device];
    CudaMemoryStats s;
    s.live_bytes = heap.live_bytes;
    s.peak_bytes = heap.peak_bytes;
    s.cached_bytes = heap.cached_bytes;
    s.live_buffers = heap.live_buffers;
    return s;
  }

  void reset_peak(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    heaps_[device].peak_bytes = heaps_[device].live_bytes;
  }

 private:
  struct Heap {
    std::unordered_map<size_t, std::vector<void*>> free_blocks;  // by size class
    int64_t live_bytes = 0;  // requested bytes, not rounded: what tensors hold
    int64_t peak_bytes = 0;
    int64_t cached_bytes = 0;  // size-class bytes sitting in free_blocks
    int64_t live_buffers = 0;
  };

  void* take_cached(size_t block, size_t nbytes, int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    Heap& heap = heaps_[device];
    auto it = heap.free_blocks.find(block);
    if (it == heap.free_blocks.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    heap.cached_bytes -= static_cast<int64_t>(block);
    count_live(heap, nbytes);
    return p;
  }

  static void count_live(Heap& heap, size_t nbytes) {
    heap.live_bytes += static_cast<int64_t>(nbytes);
    heap.live_buffers += 1;
    if (heap.live_bytes > heap.peak_bytes) heap.peak_bytes = heap.live_bytes;
  }

  std::mutex mutex_;
  std::array<Heap, kMaxDevices> heaps_;
};

CachingAllocator& allocator() {
  static CachingAllocator* instance = new CachingAllocator();
  return *instance;
}

// A mistyped value is an error at the first product, not a silent bf16 run.
MatmulPrecision initial_matmul_precision() {
  const char* env = std::getenv("NIGHTSHIFT_CUDA_MATMUL");
  if (!env || std::strcmp(env, "bf16") == 0) return MatmulPrecision::BF16;
  if (std::strcmp(env, "tf32") == 0) return MatmulPrecision::TF32;
  if (std::strcmp(env, "f32") == 0) return MatmulPrecision::F32;
  fail("NIGHTSHIFT_CUDA_MATMUL must be bf16, tf32 or f32, got '", env, "'");
}

std::atomic<MatmulPrecision>& matmul_precision_setting() {
  static std::atomic<MatmulPrecision> setting{initial_matmul_precision()};
  return setting;
}

}  // namespace

cudaStream_t stream(int device) {
  static std::array<std::atomic<cudaStream_t>, kMaxDevices> streams{};
  static std::mutex create_mutex;
  check_device(device, "stream");
  cudaStream_t s = streams[device].load(std::memory_order_acquire);
  if (s) return s;
  std::lock_guard<std::mutex> lock(create_mutex);
  s = streams[device].load(std::memory_order_relaxed);
  if (!s) {
    DeviceGuard guard(device);
    // Non-blocking: the legacy default stream, which other libraries in the process may use,
    // must not serialise with our work.
    NS_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    streams[device].store(s, std::memory_order_release);
  }
  return s;
}

void install_backend() {
  static CudaBackendImpl* backend = new CudaBackendImpl();
  register_cuda_backend(backend);
}

int CudaBackendImpl::device_count() { return cached_device_count(); }

CudaDeviceProperties CudaBackendImpl::properties(int device) {
  check_device(device, "properties");
  cudaDeviceProp prop;
  NS_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  int clock_khz = 0;
  NS_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device));
  CudaDeviceProperties p;
  p.name = prop.name;
  p.major = prop.major;
  p.minor = prop.minor;
  p.multiprocessors = prop.multiProcessorCount;
  p.total_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  p.clock_ghz = clock_khz / 1e6;
  return p;
}

void* CudaBackendImpl::allocate(size_t nbytes, int device) { return allocator().allocate(nbytes, device); }

void CudaBackendImpl::release(void* ptr, size_t nbytes, int device) {
  if (ptr) allocator().release(ptr, nbytes, device);
}

// Synchronous on return because the host buffer may be pageable and reused (or freed) at once.
void CudaBackendImpl::upload(void* device_dst, const void* host_src, size_t n, int device) {
  if (n == 0) return;
  DeviceGuard guard(device);
  const cudaStream_t s = stream(device);
  NS_CUDA_CHECK(cudaMemcpyAsync(device_dst, host_src, n, cudaMemcpyHostToDevice, s));
  NS_CUDA_CHECK(cudaStreamSynchronize(s));
}

void CudaBackendImpl::download(void* host_dst, const void* device_src, size_t n, int device) {
  if (n == 0) return;
  DeviceGuard guard(device);
  const cudaStream_t s = stream(device);
  NS_CUDA_CHECK(cudaMemcpyAsync(host_dst, device_src, n, cudaMemcpyDeviceToHost, s));
  NS_CUDA_CHECK(cudaStreamSynchronize(s));
}

void CudaBackendImpl::synchronize(int device) {
  DeviceGuard guard(device);
  NS_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
}

CudaMemoryStats CudaBackendImpl::memory(int device) {
  check_device(device, "memory");
  return allocator().stats(device);
}

void CudaBackendImpl::reset_peak(int device) {
  check_device(device, "reset_peak");
  allocator().reset_peak(device);
}

void CudaBackendImpl::empty_cache() {
  for (int device = 0; device < cached_device_count(); ++device) allocator().release_cached(device);
}

void CudaBackendImpl::set_matmul_precision(MatmulPrecision precision) { matmul_precision_setting().store(precision); }

MatmulPrecision CudaBackendImpl::matmul_precision() { return matmul_precision_setting().load(); }

}  // namespace cuda
}  // namespace ns
