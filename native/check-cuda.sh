#!/usr/bin/env bash
# Compiles every CUDA source of the engine to an object file, warnings as errors, without
# linking: the check for machines that have nvcc but no GPU or no cuBLAS library (the CMake
# build then leaves the CUDA backend out). cuBLAS headers are needed; point CUBLAS_INCLUDE_DIR
# at them when they are not beside the toolkit's.
#
#   bash native/check-cuda.sh                                  # sm_90 (Hopper)
#   NIGHTSHIFT_CUDA_ARCHS="80 90" bash native/check-cuda.sh    # several cards
#   bash native/check-cuda.sh --link                           # and link with the C++ engine
#
# --link also compiles the C++ engine as the CUDA build does (NS_WITH_CUDA) and links it with
# the CUDA objects into a shared object: every engine symbol must resolve (cuBLAS and the CUDA
# runtime may stay undefined when their libraries are absent).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
[[ -x "$nvcc" ]] || { echo "check-cuda: no nvcc found (set NVCC or install a CUDA toolkit)" >&2; exit 2; }
archs="${NIGHTSHIFT_CUDA_ARCHS:-90}"
includes=(-I "$here/src")
[[ -n "${CUBLAS_INCLUDE_DIR:-}" ]] && includes+=(-I "$CUBLAS_INCLUDE_DIR")
toolkit_include="${CUDA_HOME:-$(cd "$(dirname "$(readlink -f "$nvcc")")/.." && pwd)}/include"
[[ -d "$toolkit_include" ]] || toolkit_include=/usr/local/cuda/include
if [[ ! -f "${CUBLAS_INCLUDE_DIR:-/nonexistent}/cublasLt.h" && ! -f "$toolkit_include/cublasLt.h" ]]; then
  echo "check-cuda: no cublasLt.h in the toolkit ($toolkit_include); set CUBLAS_INCLUDE_DIR to cuBLAS headers" >&2
  echo "  (e.g. from Debian's non-free nvidia-cuda-dev: apt-get download it and unpack usr/include/cublas*)" >&2
  exit 2
fi
link=0
[[ "${1:-}" == "--link" ]] && link=1
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
for arch in ${archs//;/ }; do
  for src in "$here"/src/cuda/*.cu; do
    name="$(basename "$src" .cu)"
    if "$nvcc" -std=c++17 -O3 -arch="sm_$arch" --expt-relaxed-constexpr -Werror all-warnings \
        -Xcompiler -fPIC,-Wall,-Wextra,-Wno-unused-parameter,-Werror "${includes[@]}" -c "$src" -o "$out/$name-$arch.o"; then
      echo "ok   sm_$arch $name.cu"
    else
      echo "FAIL sm_$arch $name.cu"
      status=1
    fi
  done
done
[[ $status -ne 0 || $link -eq 0 ]] && exit $status

root="$(cd "$here/.." && pwd)"
first_arch="${archs%%[ ;]*}"
cxx_flags=(-std=c++17 -O1 -w -Wno-psabi -fPIC -DNS_WITH_CUDA=1 -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_DEPRECATED
  -DNAPI_CPP_EXCEPTIONS -I "$here/src" -I "$root/node_modules/node-api-headers/include"
  -I "$root/node_modules/node-addon-api" -I "$(dirname "$nvcc")/../include")
for src in "$here"/src/{core,ops,text,binding,cpu}/*.cpp; do
  g++ "${cxx_flags[@]}" -c "$src" -o "$out/cpp-$(basename "$(dirname "$src")")-$(basename "$src" .cpp).o"
done
"$nvcc" -shared -arch="sm_$first_arch" -o "$out/engine.so" "$out"/*-"$first_arch".o "$out"/cpp-*.o -lcudart
missing="$(nm -C --undefined-only "$out/engine.so" | grep -E ' ns::|for ns::' || true)"
if [[ -n "$missing" ]]; then
  echo "FAIL link: engine symbols left undefined:"
  echo "$missing"
  exit 1
fi
echo "ok   link (sm_$first_arch): every engine symbol resolves"
