// The CUDA backend as the rest of the engine sees it: an interface in plain C++ (no CUDA
// headers), implemented in cuda/*.cu when the build found a CUDA toolkit with cuBLAS, and
// registered at module load. The ops validate their inputs, allocate outputs on the inputs'
// device and attach autograd exactly as on the CPU; only the arithmetic comes here. Every
// tensor handed to a method is dense (contiguous) unless the method says otherwise, lives on
// one CUDA device, and is float32 unless named otherwise (ids and targets are int32).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/ops.h"

namespace ns {

struct CudaDeviceProperties {
  std::string name;
  int major = 0, minor = 0;      // compute capability
  int multiprocessors = 0;
  int64_t total_bytes = 0;
  double clock_ghz = 0;          // SM boost clock
};

// Bytes held on one device: live in tensors, their high-water mark, and free blocks kept by
// the caching allocator (reserved = live + cached).
struct CudaMemoryStats {
  int64_t live_bytes = 0;
  int64_t peak_bytes = 0;
  int64_t cached_bytes = 0;
  int64_t live_buffers = 0;
};

// How float32 matrix products run: bf16 inputs with f32 accumulation (training, the default),
// TF32 tensor cores, or full f32 (exact comparisons in tests).
enum class MatmulPrecision : uint8_t { BF16 = 0, TF32 = 1, F32 = 2 };

// out[i] = alpha * op(a[i]) @ op(b[i]) + beta * out[i] for i < batch, row-major, where op
// transposes when asked. Leading dims are row strides in elements; batch strides of 0
// broadcast one matrix over the batch. a, b, c may be views (their offsets are honoured).
struct GemmSpec {
  bool trans_a = false, trans_b = false;
  int64_t batch = 1, M = 0, N = 0, K = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  double alpha = 1, beta = 0;

  // Every field in one call: (batch, transposes, M, N, K), then each operand's leading dim and
  // batch stride, then alpha and beta.
  static GemmSpec strided(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda,
                          int64_t stride_a, int64_t ldb, int64_t stride_b, int64_t ldc, int64_t stride_c,
                          double alpha = 1, double beta = 0) {
    GemmSpec s;
    s.trans_a = trans_a;
    s.trans_b = trans_b;
    s.batch = batch;
    s.M = M;
    s.N = N;
    s.K = K;
    s.lda = lda;
    s.ldb = ldb;
    s.ldc = ldc;
    s.stride_a = stride_a;
    s.stride_b = stride_b;
    s.stride_c = stride_c;
    s.alpha = alpha;
    s.beta = beta;
    return s;
  }
};

// The result of checking an int32 index tensor against [0, limit): how many entries count
// (those not equal to `ignore`), and the first offending position and value, if any.
struct IndexCheck {
  int64_t counted = 0;
  int64_t bad_position = -1;
  int64_t bad_value = 0;
};

enum class ScalarOp : uint8_t { Add, Mul, Pow };

struct MuonHyper {
  double momentum = 0, lr = 0, weight_decay = 0, beta2 = 0;
  int64_t ns_steps = 5;
};

class CudaBackend {
 public:
  virtual ~CudaBackend() = default;

  // ---- runtime (cuda/runtime.cu) ----
  virtual int device_count() = 0;
  virtual CudaDeviceProperties properties(int device) = 0;
  // Device memory through the caching allocator; release() may reuse the block for the next
  // request of its size class on the device's stream without synchronising.
  virtual void* allocate(size_t nbytes, int device) = 0;
  virtual void release(void* ptr, size_t nbytes, int device) = 0;
  // Host <-> device copies of n bytes; they return once the host side may be reused/read.
  virtual void upload(void* device_dst, const void* host_src, size_t n, int device) = 0;
  virtual void download(void* host_dst, const void* device_src, size_t n, int device) = 0;
  virtual void synchronize(int device) = 0;
  virtual CudaMemoryStats memory(int device) = 0;
  virtual void reset_peak(int device) = 0;
  virtual void empty_cache() = 0;
  virtual void set_matmul_precision(MatmulPrecision precision) = 0;
  virtual MatmulPrecision matmul_precision() = 0;

  // ---- tensor primitives (cuda/tensor_kernels.cu) ----
  virtual void fill(const TensorPtr& t, double value) = 0;  // any dtype
  // dst and src any strides (views), same shape and dtype, same device; dst's elements do not
  // overlap each other.
  virtual void copy(const TensorPtr& dst, const TensorPtr& src) = 0;
  // Dense, same shape; between float32, int32 and bfloat16 (round to nearest even).
  virtual void cast(const TensorPtr& dst, const TensorPtr& src) = 0;
  virtual IndexCheck check_indices(const TensorPtr& idx, int64_t limit, int64_t ignore) = 0;

  // ---- elementwise and reductions (cuda/elementwise.cu, cuda/reduce.cu) ----
  // a, b dense, broadcast (numpy rules) to out's shape.
  virtual void binary(BinaryOp op, const TensorPtr& out, const TensorPtr& a, const TensorPtr& b) = 0;
  virtual void unary(UnaryOp op, const TensorPtr& out, const TensorPtr& x) = 0;
  virtual void scalar(ScalarOp op, const TensorPtr& out, const TensorPtr& x, double s) = 0;
  // gx = g * f'(.) where `saved` is the op's output y for Exp, Sqrt, Rsqrt, Sigmoid, Tanh and
  // its input x for Log, Relu, Square, Abs (Neg needs neither and is not asked for).
  virtual void unary_grad(UnaryOp op, const TensorPtr& gx, const TensorPtr& g, const TensorPtr& saved) = 0;
  virtual void pow_grad(const TensorPtr& gx, const TensorPtr& g, const TensorPtr& x, double p) = 0;
  // Maximum/minimum backward: with d = a - b (full shape, like g), ga = g where the forward
  // chose a (d >= 0 for max, d <= 0 for min) else 0, gb = the rest. ga or gb may be null.
  virtual void select_grad(const TensorPtr& ga, const TensorPtr& gb, const TensorPtr& g, const TensorPtr& d,
                           bool is_max) = 0;
  virtual void add_inplace(const TensorPtr& a, const TensorPtr& b) = 0;  // a += b, same shape
  // out has x's rank with every reduced dim set to 1; out = sum of x over those dims.
  virtual void sum(const TensorPtr& out, const TensorPtr& x) = 0;

  // ---- matrix products (cuda/gemm.cu) ----
  virtual void gemm(const GemmSpec& spec, const TensorPtr& a, const TensorPtr& b, const TensorPtr& c) = 0;

  // ---- model ops (cuda/embedding.cu, norm.cu, rotary.cu, cross_entropy.cu) ----
  // ids already checked. out: (n, C), weight: (V, C), idx: int32 (n).
  virtual void embedding_forward(const TensorPtr& out, const TensorPtr& weight, const TensorPtr& idx) = 0;
  // dweight: (V, C) fully written (zero for unused rows). dout: (n, C).
  virtual void embedding_backward(const TensorPtr& dweight, const TensorPtr& dout, const TensorPtr& idx) = 0;
  // x, y: (rows, C); rstd: (rows); weight (C) or null.
  virtual void rms_norm_forward(const TensorPtr& y, const TensorPtr& rstd, const TensorPtr& x,
                                const TensorPtr& weight, double eps) = 0;
  // dw may be null (then weight's gradient is not wanted); weight may be null.
  virtual void rms_norm_backward(const TensorPtr& dx, const TensorPtr& dw, const TensorPtr& g, const TensorPtr& x,
                                 const TensorPtr& rstd, const TensorPtr& weight) = 0;
  // x, y: (B, T, H, D); cos, sin: (Tc >= T, D/2), rows 0..T-1 used. inverse rotates by -angle
  // (the backward).
  virtual void rotary(const TensorPtr& y, const TensorPtr& x, const TensorPtr& cos, const TensorPtr& sin,
                      bool inverse) = 0;
  // logits: (N, V); targets: int32 (N), already checked. loss, lse: (N); loss is 0 at ignored
  // rows. softcap > 0 applies cap * tanh(logits / cap) first.
  virtual void cross_entropy_forward(const TensorPtr& loss, const TensorPtr& lse, const TensorPtr& logits,
                                     const TensorPtr& targets, int64_t ignore_index, double softcap) = 0;
  // dlogits: (N, V). The upstream gradient of row r is g[0] * g_scale when g has one element
  // (the mean: g_scale = 1 / count), else g[r] * g_scale. Ignored rows get 0.
  virtual void cross_entropy_backward(const TensorPtr& dlogits, const TensorPtr& logits, const TensorPtr& targets,
                                      const TensorPtr& lse, const TensorPtr& g, double g_scale,
                                      int64_t ignore_index, double softcap) = 0;

  // ---- attention (cuda/attention.cu) ----
  // Follows the matmul precision: bf16 tensor cores (BF16, TF32) where the shape allows them
  // (D <= 128, D % 4 == 0, 16-byte aligned, sm_80+), else exact f32 kernels (F32, any shape).
  // q: (B, T, H, D); k, v: (B, T, Hkv, D); out: (B, T, H, D); lse: (B, H, T) natural-log
  // sum-exp of the scaled scores. window < 0: plain causal; else keys i - window <= j <= i.
  virtual void attention_forward(const TensorPtr& out, const TensorPtr& lse, const TensorPtr& q, const TensorPtr& k,
                                 const TensorPtr& v, int64_t window, double scale) = 0;
  // dq or (dk, dv) may be null when not wanted. go = dL/dout.
  virtual void attention_backward(const TensorPtr& dq, const TensorPtr& dk, const TensorPtr& dv, const TensorPtr& go,
                                  const TensorPtr& q, const TensorPtr& k, const TensorPtr& v, const TensorPtr& out,
                                  const TensorPtr& lse, int64_t window, double scale) = 0;

  // ---- optimizers (cuda/optim.cu) ----
  virtual void adamw(const TensorPtr& p, const TensorPtr& grad, const TensorPtr& exp_avg,
                     const TensorPtr& exp_avg_sq, double step, double lr, double beta1, double beta2, double eps,
                     double weight_decay) = 0;
  // x, out: (K, M, N) dense.
  virtual void polar_express(const TensorPtr& out, const TensorPtr& x, int64_t ns_steps) = 0;
  // params, grads: K tensors (M, N) (grads dense); momentum: (K, M, N); second: (K, M, 1) if
  // M >= N else (K, 1, N).
  virtual void muon_step(const std::vector<TensorPtr>& params, const std::vector<TensorPtr>& grads,
                         const TensorPtr& momentum_buffer, const TensorPtr& second_momentum_buffer,
                         const MuonHyper& hyper) = 0;
};

// True when this build carries the CUDA backend (a toolkit and cuBLAS were found).
bool cuda_compiled();
// True when it is compiled and at least one device answers.
bool cuda_available();
// The backend; throws an EngineError saying why there is none (not built, no device) naming `op`.
CudaBackend& cuda_backend(const char* op);
// The backend to hold memory on `device`; throws naming the device when the engine has no
// CUDA or no such device is visible. Allocation calls this: its check builds no message.
CudaBackend& cuda_backend_for(Device device);
// Called once at module load by the CUDA build.
void register_cuda_backend(CudaBackend* backend);

namespace cuda {
// Defined only in CUDA builds (cuda/runtime.cu): registers the backend's single instance.
void install_backend();
}  // namespace cuda

}  // namespace ns
