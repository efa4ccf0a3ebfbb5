// Element types the engine stores. f32 is the training type, f64 exists for gradient checks,
// i32 holds token ids and indices; bf16 is reserved for the CUDA backend (no CPU kernels).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ns {

enum class DType : uint8_t { F32 = 0, F64 = 1, I32 = 2, BF16 = 3 };

inline size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::BF16: return 2;
  }
  return 0;
}

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I32: return "int32";
    case DType::BF16: return "bfloat16";
  }
  return "?";
}

inline bool is_floating(DType d) { return d == DType::F32 || d == DType::F64; }

}  // namespace ns
