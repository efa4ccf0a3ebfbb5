// embedding: placeholder until its kernel lands; throws so callers get a clear error.
#include "ops/ops.h"

namespace ns {

TensorPtr embedding(const TensorPtr&, const TensorPtr&) { fail("embedding: not implemented yet"); }

}  // namespace ns
