// CPU feature detection through the compiler's cpuid builtins.
#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace ns {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    case Isa::Generic: return "generic";
  }
  return "generic";
}

bool cpu_runs(Isa isa) {
  if (isa == Isa::Generic) return true;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == Isa::Avx2) return avx2;
  return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

Isa choose_isa(const char* env_var) {
  if (const char* want = std::getenv(env_var))
    for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512})
      if (std::strcmp(want, isa_name(isa)) == 0 && cpu_runs(isa)) return isa;
  for (Isa isa : {Isa::Avx512, Isa::Avx2})
    if (cpu_runs(isa)) return isa;
  return Isa::Generic;
}

}  // namespace ns
