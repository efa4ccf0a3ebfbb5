// Matrix products on the GPU through cuBLASLt: c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i],
// row-major, strided batched (see GemmSpec in cuda/backend.h). cuBLASLt is column-major, so each
// product is computed as its transpose, c^T = op(b)^T @ op(a)^T: b becomes cuBLAS's A, a its B,
// and M and N swap; no data moves for that.
//
// Precision follows matmul_precision(): BF16 packs a and b to dense bfloat16 scratch first (the
// price of float32 master weights; keeping bf16 copies of the weights across micro-steps is the
// next optimisation) and accumulates in float32 into a float32 c; TF32 and F32 read the float32
// operands in place.
//
// Per device there is one cuBLASLt handle and one workspace, created on first use and never
// freed, and a cache of matmul plans (descriptors, layouts and the algorithm the heuristic chose)
// keyed by everything they depend on: training repeats a handful of shapes, and a heuristic query
// per call would cost more than many of the products themselves.
#include <cublasLt.h>
#include <cuda_bf16.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>

#include "cuda/backend_impl.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int64_t kWorkspaceBytes = int64_t(32) << 20;  // what cuBLASLt's Hopper kernels ask for
// Plans are small, but a test run over random shapes should not grow the cache without bound.
constexpr size_t kMaxPlansPerDevice = 4096;
constexpr uint32_t kMaxAlignment = 256;  // the alignment cuBLASLt assumes unless told otherwise

const char* cublas_status_name(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

const char* precision_name(MatmulPrecision precision) {
  switch (precision) {
    case MatmulPrecision::BF16: return "bf16";
    case MatmulPrecision::TF32: return "tf32";
    case MatmulPrecision::F32: return "f32";
  }
  return "?";
}

// The shapes of one product, for error messages.
std::string describe(const GemmSpec& s, MatmulPrecision precision) {
  std::ostringstream os;
  os << "batch=" << s.batch << " M=" << s.M << " N=" << s.N << " K=" << s.K << " trans_a=" << s.trans_a
     << " trans_b=" << s.trans_b << " lda=" << s.lda << " ldb=" << s.ldb << " ldc=" << s.ldc
     << " stride_a=" << s.stride_a << " stride_b=" << s.stride_b << " stride_c=" << s.stride_c
     << " precision=" << precision_name(precision);
  return os.str();
}

void check_cublas(cublasStatus_t status, const char* call, const GemmSpec& spec, MatmulPrecision precision) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail("matmul: ", call, " failed with ", cublas_status_name(status), " (", static_cast<int>(status), ") for ",
         describe(spec, precision));
}

// One operand as stored: `batch` row-major (rows, cols) matrices, row stride ld, batch stride
// `stride` (0 = one matrix shared by the whole batch).
struct Operand {
  const void* data;
  int64_t rows, cols, ld, stride;
  uint32_t alignment;  // bytes every matrix of the batch starts on, capped at kMaxAlignment
};

uint32_t alignment_of(const void* ptr, int64_t stride, int64_t batch, size_t element_bytes) {
  uint64_t bits = reinterpret_cast<uintptr_t>(ptr) | kMaxAlignment;
  if (batch > 1 && stride != 0) bits |= static_cast<uint64_t>(stride) * element_bytes;
  return static_cast<uint32_t>(bits & (~bits + 1));  // the lowest set bit
}

// Everything a plan depends on. Pointer alignment is part of it: an algorithm chosen for
// 256-byte aligned operands may not run on a view that starts mid-row.
struct PlanKey {
  MatmulPrecision precision;
  bool trans_a, trans_b, beta_nonzero;
  int64_t batch, M, N, K, lda, ldb, ldc, stride_a, stride_b, stride_c;
  uint32_t align_a, align_b, align_c;

  bool operator==(const PlanKey& o) const {
    return precision == o.precision && trans_a == o.trans_a && trans_b == o.trans_b &&
           beta_nonzero == o.beta_nonzero && batch == o.batch && M == o.M && N == o.N && K == o.K &&
           lda == o.lda && ldb == o.ldb && ldc == o.ldc && stride_a == o.stride_a && stride_b == o.stride_b &&
           stride_c == o.stride_c && align_a == o.align_a && align_b == o.align_b && align_c == o.align_c;
  }
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    size_t h = 0;
    auto mix = [&h](uint64_t v) { h ^= std::hash<uint64_t>()(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
    mix(static_cast<uint64_t>(k.precision) | uint64_t(k.trans_a) << 8 | uint64_t(k.trans_b) << 9 |
        uint64_t(k.beta_nonzero) << 10);
    for (int64_t v : {k.batch, k.M, k.N, k.K, k.lda, k.ldb, k.ldc, k.stride_a, k.stride_b, k.stride_c})
      mix(static_cast<uint64_t>(v));
    mix(uint64_t(k.align_a) | uint64_t(k.align_b) << 20 | uint64_t(k.align_c) << 40);
    return h;
  }
};

// Descriptors for one product in cuBLAS's column-major terms: lt_a describes our b, lt_b our a,
// lt_c our c (read as C and written as D).
struct MatmulPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t lt_a = nullptr, lt_b = nullptr, lt_c = nullptr;
  cublasLtMatmulAlgo_t algo{};

  void destroy() {
    if (lt_c) cublasLtMatrixLayoutDestroy(lt_c);
    if (lt_b) cublasLtMatrixLayoutDestroy(lt_b);
    if (lt_a) cublasLtMatrixLayoutDestroy(lt_a);
    if (desc) cublasLtMatmulDescDestroy(desc);
    *this = MatmulPlan{};
  }
};

struct DeviceGemmState {
  cublasLtHandle_t handle = nullptr;
  TensorPtr workspace;
  std::unordered_map<PlanKey, MatmulPlan, PlanKeyHash> plans;
};

// Guards the per-device states and their plan caches (cuBLASLt handles are not thread-safe).
std::mutex& gemm_mutex() {
  static std::mutex m;
  return m;
}

// Created on first use and deliberately leaked: destroying a cuBLASLt handle or freeing device
// memory from a static destructor can run after the CUDA driver has shut down.
DeviceGemmState& gemm_state(int device) {
  static auto* states = new std::unordered_map<int, DeviceGemmState*>();
  auto it = states->find(device);
  if (it != states->end()) return *it->second;
  auto state = std::make_unique<DeviceGemmState>();
  state->workspace = empty({kWorkspaceBytes / 4}, DType::F32, Device::cuda(device));
  const cublasStatus_t status = cublasLtCreate(&state->handle);
  if (status != CUBLAS_STATUS_SUCCESS)
    fail("matmul: cublasLtCreate failed on cuda:", device, " with ", cublas_status_name(status), " (",
         static_cast<int>(status), ")");
  return *states->emplace(device, state.release()).first->second;
}

cublasLtMatrixLayout_t make_layout(const Operand& op, cudaDataType type, int64_t batch, const GemmSpec& spec,
                                   MatmulPrecision precision) {
  // Row-major (rows, cols) with row stride ld is column-major (cols, rows) with column stride ld.
  cublasLtMatrixLayout_t layout = nullptr;
  check_cublas(cublasLtMatrixLayoutCreate(&layout, type, static_cast<uint64_t>(op.cols),
                                          static_cast<uint64_t>(op.rows), op.ld),
               "cublasLtMatrixLayoutCreate", spec, precision);
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    const int64_t stride = op.stride;
    cublasStatus_t status =
        cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count));
    if (status == CUBLAS_STATUS_SUCCESS)
      status = cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                sizeof(stride));
    if (status != CUBLAS_STATUS_SUCCESS) {
      cublasLtMatrixLayoutDestroy(layout);
      check_cublas(status, "cublasLtMatrixLayoutSetAttribute", spec, precision);
    }
  }
  return layout;
}

MatmulPlan make_plan(cublasLtHandle_t handle, const GemmSpec& spec, MatmulPrecision precision, const Operand& a,
                     const Operand& b, const Operand& c) {
  const bool bf16 = precision == MatmulPrecision::BF16;
  const cudaDataType operand_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
  const cublasComputeType_t compute =
      precision == MatmulPrecision::TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  MatmulPlan plan;
  cublasLtMatmulPreference_t preference = nullptr;
  try {
    check_cublas(cublasLtMatmulDescCreate(&plan.desc, compute, CUDA_R_32F), "cublasLtMatmulDescCreate", spec,
                 precision);
    const cublasOperation_t op_lt_a = spec.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_lt_b = spec.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    check_cublas(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_lt_a, sizeof(op_lt_a)),
                 "cublasLtMatmulDescSetAttribute(TRANSA)", spec, precision);
    check_cublas(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_lt_b, sizeof(op_lt_b)),
                 "cublasLtMatmulDescSetAttribute(TRANSB)", spec, precision);
    plan.lt_a = make_layout(b, operand_type, spec.batch, spec, precision);
    plan.lt_b = make_layout(a, operand_type, spec.batch, spec, precision);
    plan.lt_c = make_layout(c, CUDA_R_32F, spec.batch, spec, precision);

    check_cublas(cublasLtMatmulPreferenceCreate(&preference), "cublasLtMatmulPreferenceCreate", spec, precision);
    const uint64_t workspace_bytes = kWorkspaceBytes;
    check_cublas(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &workspace_bytes, sizeof(workspace_bytes)),
                 "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)", spec, precision);
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> alignments[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, b.alignment},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, a.alignment},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, c.alignment},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, c.alignment}};
    for (const auto& [attribute, bytes] : alignments)
      check_cublas(cublasLtMatmulPreferenceSetAttribute(preference, attribute, &bytes, sizeof(bytes)),
                   "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT)", spec, precision);

    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    check_cublas(cublasLtMatmulAlgoGetHeuristic(handle, plan.desc, plan.lt_a, plan.lt_b, plan.lt_c, plan.lt_c,
                                                preference, 1, &result, &found),
                 "cublasLtMatmulAlgoGetHeuristic", spec, precision);
    if (found == 0) fail("matmul: cuBLASLt found no algorithm for ", describe(spec, precision));
    plan.algo = result.algo;
    cublasLtMatmulPreferenceDestroy(preference);
  } catch (...) {
    if (preference) cublasLtMatmulPreferenceDestroy(preference);
    plan.destroy();
    throw;
  }
  return plan;
}

// dst: (matrices, rows, cols) dense bf16 <- src (float32, row stride ld, matrix stride), one warp
// per row so any view packs with coalesced reads and one division per row.
__global__ void pack_bf16_rows(__nv_bfloat16* __restrict__ dst, const float* __restrict__ src, int64_t matrices,
                               int64_t rows, int64_t cols, int64_t ld, int64_t stride) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  const int64_t total_rows = matrices * rows;
  for (int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; row < total_rows;
       row += warps) {
    const int64_t m = row / rows, r = row - m * rows;
    const float* s = src + m * stride + r * ld;
    __nv_bfloat16* d = dst + row * cols;
    for (int64_t j = lane; j < cols; j += 32) d[j] = __float2bfloat16_rn(s[j]);
  }
}

// dst (n) bf16 <- src (n) float32, both dense; src 16-byte and dst 8-byte aligned.
__global__ void pack_bf16_dense(__nv_bfloat16* __restrict__ dst, const float* __restrict__ src, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t quads = n / 4;
  const float4* src4 = reinterpret_cast<const float4*>(src);
  __nv_bfloat162* dst2 = reinterpret_cast<__nv_bfloat162*>(dst);
  for (int64_t i = first; i < quads; i += step) {
    const float4 v = src4[i];
    dst2[2 * i] = __floats2bfloat162_rn(v.x, v.y);
    dst2[2 * i + 1] = __floats2bfloat162_rn(v.z, v.w);
  }
  for (int64_t i = quads * 4 + first; i < n; i += step) dst[i] = __float2bfloat16_rn(src[i]);
}

// c[m, r, j] = beta * c[m, r, j] (zero when beta is 0, without reading c): the product when K == 0.
__global__ void scale_matrices(float* __restrict__ c, int64_t matrices, int64_t rows, int64_t cols, int64_t ld,
                               int64_t stride, float beta) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  const int64_t total_rows = matrices * rows;
  for (int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; row < total_rows;
       row += warps) {
    const int64_t m = row / rows, r = row - m * rows;
    float* d = c + m * stride + r * ld;
    for (int64_t j = lane; j < cols; j += 32) d[j] = beta == 0.0f ? 0.0f : beta * d[j];
  }
}

constexpr int kThreads = 256;

// The bf16 copy of a float32 operand, dense: (matrices, rows, cols), one matrix when it is
// broadcast over the batch. `scratch` keeps the buffer alive until the product is enqueued.
Operand pack_bf16(const Operand& op, int64_t batch, int device, TensorPtr& scratch) {
  const int64_t matrices = op.stride == 0 ? 1 : batch;
  const int64_t n = matrices * op.rows * op.cols;
  scratch = empty({n}, DType::BF16, Device::cuda(device));
  auto* dst = scratch->data<__nv_bfloat16>();
  const auto* src = static_cast<const float*>(op.data);
  const cudaStream_t s = stream(device);
  const bool dense = (op.ld == op.cols || op.rows == 1) && (matrices == 1 || op.stride == op.rows * op.cols);
  const bool aligned = reinterpret_cast<uintptr_t>(src) % 16 == 0 && reinterpret_cast<uintptr_t>(dst) % 8 == 0;
  if (dense && aligned) {
    pack_bf16_dense<<<blocks_for(n / 4 + 1, kThreads), kThreads, 0, s>>>(dst, src, n);
  } else {
    pack_bf16_rows<<<blocks_for(matrices * op.rows, kThreads / 32), kThreads, 0, s>>>(
        dst, src, matrices, op.rows, op.cols, op.ld, op.stride);
  }
  NS_CUDA_LAUNCHED("matmul (bf16 pack)");
  const int64_t stride = op.stride == 0 ? 0 : op.rows * op.cols;
  return Operand{dst, op.rows, op.cols, op.cols, stride, alignment_of(dst, stride, batch, sizeof(__nv_bfloat16))};
}

// Throws unless t is float32 on `device` and every element the product touches lies in its storage.
void check_operand(const char* name, const TensorPtr& t, int device, int64_t batch, int64_t stride, int64_t rows,
                   int64_t cols, int64_t ld, const GemmSpec& spec) {
  NS_CHECK(t->dtype == DType::F32, "matmul: the CUDA backend supports float32 only, got ", dtype_name(t->dtype),
           " for ", name);
  NS_CHECK(t->device() == Device::cuda(device), "matmul: ", name, " is on ", t->device().str(), ", expected cuda:",
           device);
  NS_CHECK(stride >= 0 && ld >= 0 && (rows <= 1 || ld >= cols), "matmul: bad leading dim or batch stride for ", name,
           " (rows=", rows, " cols=", cols, " ld=", ld, " stride=", stride, ")");
  const int64_t last = t->offset + (batch - 1) * stride + (rows - 1) * ld + cols;
  const int64_t capacity = static_cast<int64_t>(t->storage->nbytes / sizeof(float));
  NS_CHECK(last <= capacity, "matmul: ", name, " reaches element ", last, " of a storage of ", capacity,
           " elements (shape ", shape_str(t->shape), ", rows=", rows, " cols=", cols, " ld=", ld, " stride=", stride,
           ", batch=", spec.batch, ")");
}

}  // namespace

void CudaBackendImpl::gemm(const GemmSpec& spec, const TensorPtr& a, const TensorPtr& b, const TensorPtr& c) {
  const int device = device_of(c);
  DeviceGuard guard(device);
  const MatmulPrecision precision = matmul_precision();
  NS_CHECK(spec.batch >= 0 && spec.M >= 0 && spec.N >= 0 && spec.K >= 0, "matmul: negative size in ",
           describe(spec, precision));
  NS_CHECK(spec.batch <= INT32_MAX, "matmul: batch ", spec.batch, " exceeds cuBLASLt's int32 batch count");
  if (spec.batch == 0 || spec.M == 0 || spec.N == 0) return;
  NS_CHECK(spec.batch == 1 || spec.stride_c != 0, "matmul: c cannot be broadcast over the batch (stride_c = 0) in ",
           describe(spec, precision));
  check_operand("c", c, device, spec.batch, spec.stride_c, spec.M, spec.N, spec.ldc, spec);
  const cudaStream_t s = stream(device);
  const float alpha = static_cast<float>(spec.alpha), beta = static_cast<float>(spec.beta);

  if (spec.K == 0) {
    scale_matrices<<<blocks_for(spec.batch * spec.M, kThreads / 32), kThreads, 0, s>>>(
        c->data<float>(), spec.batch, spec.M, spec.N, spec.ldc, spec.stride_c, beta);
    NS_CUDA_LAUNCHED("matmul (K = 0)");
    return;
  }

  // Stored shapes: a is (M, K), or (K, M) when transposed; b is (K, N), or (N, K).
  const int64_t a_rows = spec.trans_a ? spec.K : spec.M, a_cols = spec.trans_a ? spec.M : spec.K;
  const int64_t b_rows = spec.trans_b ? spec.N : spec.K, b_cols = spec.trans_b ? spec.K : spec.N;
  check_operand("a", a, device, spec.batch, spec.stride_a, a_rows, a_cols, spec.lda, spec);
  check_operand("b", b, device, spec.batch, spec.stride_b, b_rows, b_cols, spec.ldb, spec);
  // A single row's leading dim is never used to step, but cuBLASLt still wants it >= its length.
  auto usable_ld = [](int64_t rows, int64_t cols, int64_t ld) { return rows == 1 && ld < cols ? cols : ld; };
  const int64_t batch = spec.batch;
  Operand op_a{a->data<float>(), a_rows, a_cols, usable_ld(a_rows, a_cols, spec.lda), spec.stride_a, 0};
  Operand op_b{b->data<float>(), b_rows, b_cols, usable_ld(b_rows, b_cols, spec.ldb), spec.stride_b, 0};
  Operand op_c{c->data<float>(), spec.M, spec.N, usable_ld(spec.M, spec.N, spec.ldc), spec.stride_c, 0};
  op_c.alignment = alignment_of(op_c.data, op_c.stride, batch, sizeof(float));

  TensorPtr packed_a, packed_b;
  if (precision == MatmulPrecision::BF16) {
    // x @ x^T and A @ A (Newton–Schulz) read one matrix twice: pack it once.
    const bool same_source = op_a.data == op_b.data && op_a.rows == op_b.rows && op_a.cols == op_b.cols &&
                             op_a.ld == op_b.ld && op_a.stride == op_b.stride;
    op_a = pack_bf16(op_a, batch, device, packed_a);
    op_b = same_source ? op_a : pack_bf16(op_b, batch, device, packed_b);
  } else {
    op_a.alignment = alignment_of(op_a.data, op_a.stride, batch, sizeof(float));
    op_b.alignment = alignment_of(op_b.data, op_b.stride, batch, sizeof(float));
  }

  const PlanKey key{precision,     spec.trans_a,  spec.trans_b,  beta != 0.0f,   batch,         spec.M,
                    spec.N,        spec.K,        op_a.ld,       op_b.ld,        op_c.ld,       op_a.stride,
                    op_b.stride,   op_c.stride,   op_a.alignment, op_b.alignment, op_c.alignment};

  std::lock_guard<std::mutex> lock(gemm_mutex());
  DeviceGemmState& state = gemm_state(device);
  auto it = state.plans.find(key);
  if (it == state.plans.end()) {
    if (state.plans.size() >= kMaxPlansPerDevice) {
      // Safe while products are in flight: cublasLtMatmul reads the descriptors when it enqueues.
      for (auto& entry : state.plans) entry.second.destroy();
      state.plans.clear();
    }
    it = state.plans.emplace(key, make_plan(state.handle, spec, precision, op_a, op_b, op_c)).first;
  }
  const MatmulPlan& plan = it->second;
  check_cublas(cublasLtMatmul(state.handle, plan.desc, &alpha, op_b.data, plan.lt_a, op_a.data, plan.lt_b, &beta,
                              op_c.data, plan.lt_c, c->data<float>(), plan.lt_c, &plan.algo,
                              state.workspace->data<float>(), static_cast<size_t>(kWorkspaceBytes), s),
               "cublasLtMatmul", spec, precision);
}

}  // namespace cuda
}  // namespace ns
