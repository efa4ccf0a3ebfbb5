// The engine's op set. Every differentiable op validates its inputs (throwing EngineError that
// names the op and the shapes), computes its forward result and, when grad mode is on and an
// input requires grad, attaches a Node whose backward is defined next to its forward.
// Layout conventions: row-major; attention tensors are (B, T, H, D) as in FlashAttention.
#pragma once
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/tensor.h"

namespace ns {

// ---- shape and views (shape.cpp) -------------------------------------------------------
TensorPtr reshape(const TensorPtr& x, Shape shape);        // one dim may be -1
TensorPtr transpose(const TensorPtr& x, int64_t d0, int64_t d1);  // a view
TensorPtr slice(const TensorPtr& x, int64_t dim, int64_t start, int64_t end);  // a view, step 1
TensorPtr contiguous(const TensorPtr& x);                  // identity when already dense
TensorPtr concat(const std::vector<TensorPtr>& xs, int64_t dim);
TensorPtr cast(const TensorPtr& x, DType dtype);           // between float32 and float64 (and int32)
TensorPtr expand(const TensorPtr& x, const Shape& shape);   // broadcast to shape (materialised)
TensorPtr to_device(const TensorPtr& x, Device device);    // a copy on `device` (x itself when there)

// ---- elementwise (elementwise.cpp) ----------------------------------------------------
enum class BinaryOp { Add, Sub, Mul, Div, Max, Min };
enum class UnaryOp { Neg, Exp, Log, Sqrt, Rsqrt, Sigmoid, Tanh, Relu, Square, Abs };
// The op's user-facing name ("add", "maximum", "rsqrt", ...), for messages and autograd nodes.
const char* op_name(BinaryOp op);
const char* op_name(UnaryOp op);
TensorPtr binary(BinaryOp op, const TensorPtr& a, const TensorPtr& b);  // numpy broadcasting
TensorPtr unary(UnaryOp op, const TensorPtr& x);
TensorPtr add_scalar(const TensorPtr& x, double s);
TensorPtr mul_scalar(const TensorPtr& x, double s);
TensorPtr pow_scalar(const TensorPtr& x, double p);
// Sum of `b` into `a` (no autograd); b is broadcast to a's shape. Used by gradient accumulation.
void add_inplace(const TensorPtr& a, const TensorPtr& b);
// Reduces a broadcast gradient back to `shape` (sum over broadcast dims).
TensorPtr sum_to(const TensorPtr& g, const Shape& shape);

// ---- reductions (reduce.cpp) ----------------------------------------------------------
// dims empty = all dims. keepdim keeps reduced dims as size 1.
TensorPtr sum(const TensorPtr& x, std::vector<int64_t> dims, bool keepdim);
TensorPtr mean(const TensorPtr& x, std::vector<int64_t> dims, bool keepdim);

// ---- matrix products (matmul.cpp) -----------------------------------------------------
// a: (..., M, K), b: (..., K, N) with broadcast batch dims, or b: (K, N) -> (..., M, N)
TensorPtr matmul(const TensorPtr& a, const TensorPtr& b);
// x: (..., K), w: (N, K) -> (..., N), i.e. x @ w^T as torch.nn.functional.linear (no bias)
TensorPtr linear(const TensorPtr& x, const TensorPtr& w);

// ---- model ops ------------------------------------------------------------------------
// weight: (V, C), idx: int32 (...) -> (..., C). Out-of-range ids throw.       (embedding.cpp)
TensorPtr embedding(const TensorPtr& weight, const TensorPtr& idx);
// RMS norm over the last dim: x / sqrt(mean(x^2) + eps) [* weight]. weight may be null. (norm.cpp)
TensorPtr rms_norm(const TensorPtr& x, const TensorPtr& weight, double eps);
// Rotary embedding as autoresearch's apply_rotary_emb (halves, not interleaved).  (rotary.cpp)
// x: (B, T, H, D), cos/sin: (T, D/2) -> (B, T, H, D)
TensorPtr rotary(const TensorPtr& x, const TensorPtr& cos, const TensorPtr& sin);
// Fused causal attention with online softmax; never materialises (T, T).         (attention.cpp)
// q: (B, T, H, D), k/v: (B, T, Hkv, D) with H % Hkv == 0 (grouped-query) -> (B, T, H, D)
// Query i sees keys j with i - window <= j <= i; window < 0 means unlimited (plain causal).
TensorPtr attention(const TensorPtr& q, const TensorPtr& k, const TensorPtr& v, int64_t window, double scale);
// Cross-entropy over logits (N, V) and int32 targets (N); targets equal to ignore_index
// contribute nothing. softcap > 0 applies cap * tanh(logits / cap) first, fused.   (cross_entropy.cpp)
// mean=true: mean over counted targets -> scalar; mean=false: per-token loss (N) (0 at ignored).
TensorPtr cross_entropy(const TensorPtr& logits, const TensorPtr& targets, int64_t ignore_index, double softcap,
                        bool mean);

// ---- optimizer kernels (optim.cpp): in place, no autograd -----------------------------
// AdamW exactly as autoresearch's adamw_step_fused (decoupled decay, bias correction).
void adamw_step(const TensorPtr& p, const TensorPtr& grad, const TensorPtr& exp_avg, const TensorPtr& exp_avg_sq,
                double step, double lr, double beta1, double beta2, double eps, double weight_decay);
// Polar-express Newton–Schulz orthogonalisation of each matrix in x: (K, M, N) or (M, N).
TensorPtr polar_express(const TensorPtr& x, int64_t ns_steps);
// Muon as autoresearch's muon_step_fused over a group of same-shaped matrices:
// Nesterov momentum, polar express, NorMuon variance reduction, cautious weight decay.
// momentum_buffer: (K, M, N); second_momentum_buffer: (K, M, 1) if M >= N else (K, 1, N).
// `lr` is the already shape-scaled rate (lr * max(1, M/N)^0.5).
void muon_step(const std::vector<TensorPtr>& params, const std::vector<TensorPtr>& grads,
               const TensorPtr& momentum_buffer, const TensorPtr& second_momentum_buffer, double momentum, double lr,
               double weight_decay, double beta2, int64_t ns_steps);

}  // namespace ns
