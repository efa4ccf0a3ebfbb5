// (a, b, c) per Newton–Schulz iteration of the polar-express orthogonalisation, from
// autoresearch's polar_express_coeffs; shared by the CPU and CUDA optimizer kernels.
#pragma once
#include <cstdint>

namespace ns {

constexpr int64_t kPolarMaxSteps = 5;
constexpr double kPolarCoeffs[kPolarMaxSteps][3] = {
    {8.156554524902461, -22.48329292557795, 15.878769915207462},
    {4.042929935166739, -2.808917465908714, 0.5000178451051316},
    {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
    {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
    {2.3465413258596377, -1.7097828382687081, 0.42323551169305323},
};

}  // namespace ns
