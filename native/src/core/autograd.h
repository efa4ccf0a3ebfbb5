// Reverse-mode autograd. Each differentiable op that produced a tensor attaches a Node holding
// what its backward needs; backward() walks the graph once in reverse topological order,
// accumulates gradients into leaves' .grad, and frees every node it visited.
#pragma once
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace ns {

struct Node {
  // The inputs gradients flow to, in the order backward() returns gradients.
  std::vector<TensorPtr> inputs;
  bool released = false;

  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // Returns one gradient per input (nullptr where an input gets none). `grad_out` is dense.
  virtual std::vector<TensorPtr> backward(const TensorPtr& grad_out) = 0;
  // Drops saved tensors; called once the node has run so memory returns immediately.
  virtual void release_saved() {}
};

bool grad_enabled();
void set_grad_enabled(bool enabled);

class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }

 private:
  bool prev_;
};

// True when grad mode is on and any input requires grad.
bool needs_grad(std::initializer_list<TensorPtr> inputs);
bool needs_grad(const std::vector<TensorPtr>& inputs);

// Marks `out` as produced by `node` over `inputs` (only call when needs_grad(inputs)).
void attach(const TensorPtr& out, std::shared_ptr<Node> node, std::vector<TensorPtr> inputs);

// Runs backward from `root`. `grad` may be null only when root has one element (then 1).
void backward(const TensorPtr& root, const TensorPtr& grad);

}  // namespace ns
