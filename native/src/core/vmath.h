// Branch-free float exp / tanh / sigmoid that compilers auto-vectorize (glibc's expf and
// tanhf are scalar calls unless -ffast-math). Accuracy: exp within ~2 ulp over its range,
// tanh and sigmoid within ~1e-7 absolute (tanh uses its odd Taylor series near 0 to keep
// small inputs accurate relative to themselves). float64 callers use std:: functions instead.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace ns {
namespace vmath {

inline float exp(float x) {
  // Clamp to the range where the result is a normal float (beyond: 0 / +inf behaviour is
  // replaced by the nearest finite value, which callers never rely on).
  x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  // n = round(x / ln 2) by the 1.5·2^23 trick (no rounding instruction needed).
  const float shifter = 12582912.0f;
  float t = x * 1.44269504088896341f + shifter;
  float n = t - shifter;
  // r = x - n·ln 2, in two parts for accuracy.
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  // exp(r) on [-ln2/2, ln2/2]: Cephes' degree-6 polynomial.
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // Scale by 2^n through the exponent bits.
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float tanh(float x) {
  const float ax = std::fabs(x);
  // 1 - 2 / (e^{2|x|} + 1), sign restored; exact to ~6e-8 absolute.
  const float big = 1.0f - 2.0f / (vmath::exp(2.0f * ax) + 1.0f);
  // Near 0 the subtraction above loses relative accuracy; the odd series is exact to 1e-10 there.
  const float x2 = x * x;
  const float small = x * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * -0.0539682540f)));
  const float r = std::copysign(big, x);
  return ax < 0.1f ? small : r;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + vmath::exp(-x)); }

// float64 overloads: the accurate library functions (used by gradient checks).
inline double exp(double x) { return std::exp(x); }
inline double tanh(double x) { return std::tanh(x); }
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace vmath
}  // namespace ns
