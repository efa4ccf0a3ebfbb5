// Seeded random numbers for parameter init and data order: xoshiro256** seeded through
// splitmix64. Filling is sequential, so a seed gives bit-identical tensors on any machine.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace ns {

class Generator {
 public:
  explicit Generator(uint64_t seed);
  uint64_t next_u64();
  double next_double();  // uniform in [0, 1)
  double next_normal();  // standard normal (Box–Muller, both draws used)

  void fill_uniform(const TensorPtr& t, double low, double high);
  void fill_normal(const TensorPtr& t, double mean, double std);

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0;
};

}  // namespace ns
