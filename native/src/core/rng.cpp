// xoshiro256** (Blackman & Vigna) with splitmix64 seeding.
#include "core/rng.h"

#include <cmath>

namespace ns {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

template <class T, class F>
void fill_with(const TensorPtr& t, F draw) {
  T* p = t->data<T>();
  const int64_t n = t->numel();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(draw());
}

}  // namespace

Generator::Generator(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
}

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::next_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::next_normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = next_double(), u2 = next_double();
  if (u1 < 1e-300) u1 = 1e-300;
  const double r = std::sqrt(-2.0 * std::log(u1)), theta = 6.283185307179586 * u2;
  spare_ = r * std::sin(theta);
  has_spare_ = true;
  return r * std::cos(theta);
}

void Generator::fill_uniform(const TensorPtr& t, double low, double high) {
  NS_CHECK(t->is_contiguous(), "uniform_: tensor must be contiguous");
  auto draw = [&] { return low + (high - low) * next_double(); };
  switch (t->dtype) {
    case DType::F32: fill_with<float>(t, draw); break;
    case DType::F64: fill_with<double>(t, draw); break;
    default: fail("uniform_: expected a float tensor, got ", dtype_name(t->dtype));
  }
}

void Generator::fill_normal(const TensorPtr& t, double mean, double std) {
  NS_CHECK(t->is_contiguous(), "normal_: tensor must be contiguous");
  auto draw = [&] { return mean + std * next_normal(); };
  switch (t->dtype) {
    case DType::F32: fill_with<float>(t, draw); break;
    case DType::F64: fill_with<double>(t, draw); break;
    default: fail("normal_: expected a float tensor, got ", dtype_name(t->dtype));
  }
}

}  // namespace ns
