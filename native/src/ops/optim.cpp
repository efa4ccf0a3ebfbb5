// Optimizer kernels: placeholder until they land; throw so callers get a clear error.
#include "ops/ops.h"

namespace ns {

void adamw_step(const TensorPtr&, const TensorPtr&, const TensorPtr&, const TensorPtr&, double, double, double, double,
                double, double) {
  fail("adamw_step: not implemented yet");
}
TensorPtr polar_express(const TensorPtr&, int64_t) { fail("polar_express: not implemented yet"); }
void muon_step(const std::vector<TensorPtr>&, const std::vector<TensorPtr>&, const TensorPtr&, const TensorPtr&, double,
               double, double, double, int64_t) {
  fail("muon_step: not implemented yet");
}

}  // namespace ns
