// The backward pass: topological order by iterative DFS, gradient accumulation that reuses a
// gradient buffer when nobody else holds it, and graph release as nodes complete.
#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "ops/ops.h"

namespace ns {
namespace {

thread_local bool g_grad_enabled = true;

// Sum `g` into `slot`, taking ownership of g's buffer when it is dense and unshared.
void accumulate(TensorPtr& slot, const TensorPtr& g) {
  if (!slot) {
    if (g->is_contiguous() && g->storage.use_count() == 1 && g->offset == 0 && !g->grad_fn) {
      slot = g;
    } else {
      slot = empty(g->shape, g->dtype, g->device());
      copy_into(slot, g);
    }
    return;
  }
  add_inplace(slot, g);
}

}  // namespace

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }

bool needs_grad(std::initializer_list<TensorPtr> inputs) {
  if (!g_grad_enabled) return false;
  for (const auto& t : inputs)
    if (t && t->requires_grad) return true;
  return false;
}

bool needs_grad(const std::vector<TensorPtr>& inputs) {
  if (!g_grad_enabled) return false;
  for (const auto& t : inputs)
    if (t && t->requires_grad) return true;
  return false;
}

void attach(const TensorPtr& out, std::shared_ptr<Node> node, std::vector<TensorPtr> inputs) {
  node->inputs = std::move(inputs);
  out->requires_grad = true;
  out->grad_fn = std::move(node);
}

void backward(const TensorPtr& root, const TensorPtr& grad) {
  NS_CHECK(root->requires_grad, "backward: tensor of shape ", shape_str(root->shape),
           " does not require grad (no parameter it depends on has requiresGrad set)");
  TensorPtr seed = grad;
  if (!seed) {
    NS_CHECK(root->numel() == 1, "backward: a gradient is needed for a non-scalar output of shape ",
             shape_str(root->shape));
    seed = full(root->shape, root->dtype, 1.0, root->device());
  } else {
    NS_CHECK(seed->shape == root->shape && seed->dtype == root->dtype, "backward: gradient ",
             shape_str(seed->shape), " ", dtype_name(seed->dtype), " does not match output ", shape_str(root->shape),
             " ", dtype_name(root->dtype));
    NS_CHECK(seed->device() == root->device(), "backward: gradient is on ", seed->device().str(),
             " but the output is on ", root->device().str());
    seed = dense(seed);
  }

  if (!root->grad_fn) {  // a leaf: its gradient is the seed itself
    TensorPtr g = seed;
    accumulate(root->grad, g);
    return;
  }
  NS_CHECK(!root->grad_fn->released, "backward: the graph was already freed by an earlier backward()");

  // Topological order (post-order DFS, iterative to survive deep graphs).
  std::vector<Node*> order;
  std::unordered_set<Node*> visited;
  std::vector<std::pair<Node*, size_t>> stack{{root->grad_fn.get(), 0}};
  visited.insert(root->grad_fn.get());
  while (!stack.empty()) {
    auto& [node, idx] = stack.back();
    if (idx < node->inputs.size()) {
      const TensorPtr& in = node->inputs[idx++];
      if (in && in->grad_fn && !in->grad_fn->released && visited.insert(in->grad_fn.get()).second)
        stack.push_back({in->grad_fn.get(), 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  // Keep every node alive until the walk ends even if releasing inputs drops the last owner.
  std::vector<std::shared_ptr<Node>> keep_alive;
  keep_alive.reserve(order.size());
  keep_alive.push_back(root->grad_fn);
  for (Node* n : order)
    for (auto& in : n->inputs)
      if (in && in->grad_fn) keep_alive.push_back(in->grad_fn);

  NoGradGuard no_grad;  // backward formulas never build graphs of their own
  std::unordered_map<Node*, TensorPtr> pending;
  pending[root->grad_fn.get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    auto found = pending.find(node);
    TensorPtr gout;
    if (found != pending.end()) {
      gout = std::move(found->second);
      pending.erase(found);
    }
    if (gout) {
      std::vector<TensorPtr> grads = node->backward(gout);
      NS_CHECK(grads.size() == node->inputs.size(), "internal: ", node->name(), " returned ", grads.size(),
               " gradients for ", node->inputs.size(), " inputs");
      for (size_t i = 0; i < grads.size(); ++i) {
        const TensorPtr& in = node->inputs[i];
        TensorPtr& g = grads[i];
        if (!in || !in->requires_grad || !g) continue;
        NS_CHECK(g->shape == in->shape && g->dtype == in->dtype, "internal: ", node->name(), " gave a gradient ",
                 shape_str(g->shape), " for input ", i, " of shape ", shape_str(in->shape));
        if (in->grad_fn) {
          accumulate(pending[in->grad_fn.get()], g);
        } else {
          accumulate(in->grad, g);
        }
      }
    }
    node->release_saved();
    node->inputs.clear();
    node->released = true;
  }
}

}  // namespace ns
