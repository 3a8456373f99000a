#!/usr/bin/env bash
# Build fastconv with another compiler or without OpenMP, in a scratch copy of the tree, and
# run the kernel tests against that build (every kernel on every ISA path the CPU has).
#
#   tools/check_build.sh clang                 Clang, with OpenMP when it has it (libomp)
#   tools/check_build.sh gcc --no-openmp       GCC without OpenMP
#   tools/check_build.sh CC [--no-openmp] [-- PYTEST ARGS...]
#
# Checks that the build has the x86 SIMD paths compiled in (on x86-64) and that OpenMP is
# on or off as asked, then runs KERNEL_TESTS (or the pytest arguments after --).  The copy
# lives in $FASTCONV_CHECK_DIR (default: $TMPDIR/fastconv-check-$UID-CC[-noomp]); the normal
# in-place build is not touched.
set -euo pipefail

KERNEL_TESTS=(tests/test_functional.py tests/test_kernels_ref.py tests/test_gemm.py tests/test_norm.py tests/test_blocks.py
              tests/test_pool_kernels.py tests/test_threads.py)

root=$(cd "$(dirname "$0")/.." && pwd)
cc=${1:?usage: tools/check_build.sh CC [--no-openmp] [-- PYTEST ARGS...]}
shift
omp=1
if [[ ${1:-} == --no-openmp ]]; then omp=0; shift; fi
if [[ ${1:-} == -- ]]; then shift; fi
args=("$@")
[[ ${#args[@]} -eq 0 ]] && args=("${KERNEL_TESTS[@]}")
python=${PYTHON:-python3}
suffix=$cc$([[ $omp == 0 ]] && echo -noomp || true)
work=${FASTCONV_CHECK_DIR:-${TMPDIR:-/tmp}/fastconv-check-$(id -u)-$suffix}

# shellcheck source=tools/scratch_copy.sh
. "$root/tools/scratch_copy.sh"
scratch_copy "$root" "$work"
echo "check_build.sh: building in $work with CC=$cc, OpenMP $([[ $omp == 1 ]] && echo on || echo off)"
(
    cd "$work"
    if [[ $omp == 0 ]]; then export FASTCONV_NO_OPENMP=1; fi
    CC=$cc "$python" setup.py build_ext --inplace >"$work/build.log" 2>&1
) || { tail -40 "$work/build.log"; echo "check_build.sh: build failed" >&2; exit 2; }
if grep -E "warning:" "$work/build.log" | grep -v "_kernels.c" >&2; then
    echo "check_build.sh: the C sources compiled with warnings under $cc" >&2
    exit 1
fi

cd "$work"
"$python" - "$work" "$omp" <<'PY'
import platform, sys
import fastconv
from fastconv import _kernels
work, omp = sys.argv[1], sys.argv[2] == "1"
assert fastconv.__file__.startswith(work), fastconv.__file__
compiler, flags = _kernels.build_info()
print(f"check_build.sh: testing {_kernels.__file__}\n  compiler {compiler}; flags {flags}; "
      f"ISA {_kernels.get_isa()}; OpenMP {_kernels.has_openmp()}")
if platform.machine() in ("x86_64", "AMD64"):
    for name in ("avx2", "avx512"):
        assert _kernels.isa_compiled(name), f"{name} kernels not compiled in by {compiler}"
assert _kernels.has_openmp() == omp, \
    "OpenMP asked for but the compiler has none" if omp else "OpenMP on although turned off"
PY
exec "$python" -m pytest -p no:cacheprovider -q "${args[@]}"
