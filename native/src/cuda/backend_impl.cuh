// The concrete CUDA backend. Its methods are defined across cuda/*.cu, one concept per file;
// this header only declares them (see cuda/backend.h for each method's contract).
#pragma once
#include "cuda/backend.h"
#include "cuda/common.cuh"

namespace ns {
namespace cuda {

class CudaBackendImpl final : public CudaBackend {
 public:
  // runtime.cu
  int device_count() override;
  CudaDeviceProperties properties(int device) override;
  void* allocate(size_t nbytes, int device) override;
  void release(void* ptr, size_t nbytes, int device) override;
  void upload(void* device_dst, const void* host_src, size_t n, int device) override;
  void download(void* host_dst, const void* device_src, size_t n, int device) override;
  void synchronize(int device) override;
  CudaMemoryStats memory(int device) override;
  void reset_peak(int device) override;
  void empty_cache() override;
  void set_matmul_precision(MatmulPrecision precision) override;
  MatmulPrecision matmul_precision() override;

  // tensor_kernels.cu
  void fill(const TensorPtr& t, double value) override;
  void copy(const TensorPtr& dst, const TensorPtr& src) override;
  void cast(const TensorPtr& dst, const TensorPtr& src) override;
  IndexCheck check_indices(const TensorPtr& idx, int64_t limit, int64_t ignore) override;

  // elementwise.cu
  void binary(BinaryOp op, const TensorPtr& out, const TensorPtr& a, const TensorPtr& b) override;
  void unary(UnaryOp op, const TensorPtr& out, const TensorPtr& x) override;
  void scalar(ScalarOp op, const TensorPtr& out, const TensorPtr& x, double s) override;
  void unary_grad(UnaryOp op, const TensorPtr& gx, const TensorPtr& g, const TensorPtr& saved) override;
  void pow_grad(const TensorPtr& gx, const TensorPtr& g, const TensorPtr& x, double p) override;
  void select_grad(const TensorPtr& ga, const TensorPtr& gb, const TensorPtr& g, const TensorPtr& d,
                   bool is_max) override;
  void add_inplace(const TensorPtr& a, const TensorPtr& b) override;
  // reduce.cu
  void sum(const TensorPtr& out, const TensorPtr& x) override;

  // gemm.cu
  void gemm(const GemmSpec& spec, const TensorPtr& a, const TensorPtr& b, const TensorPtr& c) override;

  // embedding.cu, norm.cu, rotary.cu, cross_entropy.cu
  void embedding_forward(const TensorPtr& out, const TensorPtr& weight, const TensorPtr& idx) override;
  void embedding_backward(const TensorPtr& dweight, const TensorPtr& dout, const TensorPtr& idx) override;
  void rms_norm_forward(const TensorPtr& y, const TensorPtr& rstd, const TensorPtr& x, const TensorPtr& weight,
                        double eps) override;
  void rms_norm_backward(const TensorPtr& dx, const TensorPtr& dw, const TensorPtr& g, const TensorPtr& x,
                         const TensorPtr& rstd, const TensorPtr& weight) override;
  void rotary(const TensorPtr& y, const TensorPtr& x, const TensorPtr& cos, const TensorPtr& sin,
              bool inverse) override;
  void cross_entropy_forward(const TensorPtr& loss, const TensorPtr& lse, const TensorPtr& logits,
                             const TensorPtr& targets, int64_t ignore_index, double softcap) override;
  void cross_entropy_backward(const TensorPtr& dlogits, const TensorPtr& logits, const TensorPtr& targets,
                              const TensorPtr& lse, const TensorPtr& g, double g_scale, int64_t ignore_index,
                              double softcap) override;

  // attention.cu
  void attention_forward(const TensorPtr& out, const TensorPtr& lse, const TensorPtr& q, const TensorPtr& k,
                         const TensorPtr& v, int64_t window, double scale) override;
  void attention_backward(const TensorPtr& dq, const TensorPtr& dk, const TensorPtr& dv, const TensorPtr& go,
                          const TensorPtr& q, const TensorPtr& k, const TensorPtr& v, const TensorPtr& out,
                          const TensorPtr& lse, int64_t window, double scale) override;

  // optim.cu
  void adamw(const TensorPtr& p, const TensorPtr& grad, const TensorPtr& exp_avg, const TensorPtr& exp_avg_sq,
             double step, double lr, double beta1, double beta2, double eps, double weight_decay) override;
  void polar_express(const TensorPtr& out, const TensorPtr& x, int64_t ns_steps) override;
  void muon_step(const std::vector<TensorPtr>& params, const std::vector<TensorPtr>& grads,
                 const TensorPtr& momentum_buffer, const TensorPtr& second_momentum_buffer,
                 const MuonHyper& hyper) override;
};

}  // namespace cuda
}  // namespace ns
