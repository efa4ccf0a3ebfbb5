// Type dispatch for kernels: NS_DISPATCH_FLOAT runs its body with scalar_t = float or double
// and rejects other dtypes with an error naming the op.
#pragma once
#include "core/dtype.h"
#include "core/error.h"

#define NS_DISPATCH_FLOAT(DTYPE, OPNAME, ...)                                                   \
  switch (DTYPE) {                                                                              \
    case ::ns::DType::F32: {                                                                    \
      using scalar_t = float;                                                                   \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    case ::ns::DType::F64: {                                                                    \
      using scalar_t = double;                                                                  \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    default:                                                                                    \
      ::ns::fail(OPNAME, ": expected a float32 or float64 tensor, got ", ::ns::dtype_name(DTYPE)); \
  }
