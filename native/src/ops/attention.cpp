// attention: placeholder until its kernel lands; throws so callers get a clear error.
#include "ops/ops.h"

namespace ns {

TensorPtr attention(const TensorPtr&, const TensorPtr&, const TensorPtr&, int64_t, double) { fail("attention: not implemented yet"); }

}  // namespace ns
