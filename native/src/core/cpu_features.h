// Which SIMD instruction set a kernel family runs: detected once, overridable per family by an
// environment variable (for testing every path on one machine). Kernels compiled for several
// instruction sets (cpu/gemm_*, ops/cross_entropy, ops/attention) all choose through here.
#pragma once

namespace ns {

enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2 };

const char* isa_name(Isa isa);  // "generic", "avx2", "avx512"

// Whether this CPU can execute code built for `isa` (AVX2 means AVX2 + FMA; AVX-512 means the
// F, BW, VL and DQ subsets + FMA).
bool cpu_runs(Isa isa);

// The widest instruction set this CPU runs, or the one `env_var` names (generic|avx2|avx512)
// when the CPU runs that one; other values are ignored.
Isa choose_isa(const char* env_var);

}  // namespace ns
