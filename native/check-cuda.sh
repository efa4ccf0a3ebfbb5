#!/usr/bin/env bash
# Compiles every CUDA source of the engine to an object file, warnings as errors, without
# linking: the check for machines that have nvcc but no GPU or no cuBLAS library (the CMake
# build then leaves the CUDA backend out). cuBLAS headers are needed; point CUBLAS_INCLUDE_DIR
# at them when they are not beside the toolkit's.
#
#   bash native/check-cuda.sh                                  # sm_90 (Hopper)
#   NIGHTSHIFT_CUDA_ARCHS="80 90" bash native/check-cuda.sh    # several cards
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
[[ -x "$nvcc" ]] || { echo "check-cuda: no nvcc found (set NVCC or install a CUDA toolkit)" >&2; exit 2; }
archs="${NIGHTSHIFT_CUDA_ARCHS:-90}"
includes=(-I "$here/src")
[[ -n "${CUBLAS_INCLUDE_DIR:-}" ]] && includes+=(-I "$CUBLAS_INCLUDE_DIR")
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
for arch in ${archs//;/ }; do
  for src in "$here"/src/cuda/*.cu; do
    name="$(basename "$src" .cu)"
    if "$nvcc" -std=c++17 -O3 -arch="sm_$arch" --expt-relaxed-constexpr -Werror all-warnings \
        -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-Werror "${includes[@]}" -c "$src" -o "$out/$name-$arch.o"; then
      echo "ok   sm_$arch $name.cu"
    else
      echo "FAIL sm_$arch $name.cu"
      status=1
    fi
  done
done
exit $status
