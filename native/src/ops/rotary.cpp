// rotary: placeholder until its kernel lands; throws so callers get a clear error.
#include "ops/ops.h"

namespace ns {

TensorPtr rotary(const TensorPtr&, const TensorPtr&, const TensorPtr&) { fail("rotary: not implemented yet"); }

}  // namespace ns
