#!/usr/bin/env bash
# Build fastconv's extension with AddressSanitizer + UndefinedBehaviorSanitizer (gcc's
# runtimes, C asserts on) in a scratch copy of the tree, and run the tests under it.
#
#   tools/sanitize.sh                 the whole test suite except tests marked slow
#   tools/sanitize.sh --ci [ARGS...]  the subset CI runs (see CI_SUBSET below)
#   tools/sanitize.sh ARGS...         any pytest arguments, e.g. tests/test_fuzz.py -x
#
# The copy lives in $FASTCONV_SANITIZE_DIR (default: $TMPDIR/fastconv-sanitize-$UID); the
# normal in-place build and its build/ directory are not touched.  The instrumented build is
# reused when the sources have not changed.  Every ASan/UBSan report stops the process
# (halt_on_error=1) and is written to $FASTCONV_SANITIZE_DIR/reports/; the script prints
# them, counts them as findings and exits non-zero if there is any finding or test failure.
set -euo pipefail

# The subset CI runs (2,995 tests; measured on a 2-core machine shared with other jobs: 10 min
# wall, of which ~6 min tests, 3.8 min CPU in all; less on an idle machine):
# every kernel through the public API and the raw wrapper on every ISA path
# (test_functional, test_kernels_ref, test_gemm, test_pool_kernels), the fuzz test with 300
# examples in its main test (FASTCONV_FUZZ_EXAMPLES), the thread/fork tests, the workspace
# tiling tests, the big-index checks on small tensors, and test_nn_modes (the per-thread
# thread count, and models trained and pickled).  Left out for time:
# test_reference/test_validation (NumPy and Python only, no C), test_torch_parity (PyTorch
# under ASan is slow), test_leaks and the peak-memory test (ASan's quarantine and shadow
# memory make their memory figures meaningless), and the slow big-index test (17 GB).
# The whole suite under the sanitizers: 3,746 tests in 6.3 minutes here (build cached).
CI_SUBSET=(tests/test_functional.py tests/test_kernels_ref.py tests/test_gemm.py tests/test_norm.py tests/test_blocks.py
           tests/test_pool_kernels.py tests/test_fuzz.py tests/test_threads.py
           tests/test_memory.py tests/test_bigindex.py tests/test_nn_modes.py -m "not slow" -k "not peak_memory")

root=$(cd "$(dirname "$0")/.." && pwd)
work=${FASTCONV_SANITIZE_DIR:-${TMPDIR:-/tmp}/fastconv-sanitize-$(id -u)}
cc=${CC:-gcc}
python=${PYTHON:-python3}

if [[ $# -eq 0 ]]; then
    args=(tests -m "not slow")
elif [[ $1 == --ci ]]; then
    args=("${CI_SUBSET[@]}" "${@:2}")
    export FASTCONV_FUZZ_EXAMPLES=${FASTCONV_FUZZ_EXAMPLES:-300}
else
    args=("$@")
fi

libasan=$($cc -print-file-name=libasan.so)
libubsan=$($cc -print-file-name=libubsan.so)
# libstdc++ is preloaded after libasan so that ASan finds the real __cxa_throw when it starts;
# otherwise the first C++ exception of a C++ extension loaded later (PyTorch in the parity
# tests) aborts with "CHECK failed: ... real___cxa_throw".
libstdcxx=$($cc -print-file-name=libstdc++.so.6)
if [[ ! -e $libasan || ! -e $libubsan ]]; then
    echo "sanitize.sh: $cc has no libasan.so/libubsan.so (install gcc's sanitizer runtimes)" >&2
    exit 2
fi

# 1. Scratch copy of the sources (keeps mtimes, so an unchanged tree is not rebuilt).
# shellcheck source=tools/scratch_copy.sh
. "$root/tools/scratch_copy.sh"
scratch_copy "$root" "$work"

# 2. Instrumented build, C asserts on (FASTCONV_DEBUG=1: -UNDEBUG -O1 -g).
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
echo "sanitize.sh: building in $work with $san"
(
    cd "$work"
    CC=$cc FASTCONV_DEBUG=1 FASTCONV_EXTRA_CFLAGS="$san" FASTCONV_EXTRA_LDFLAGS="$san" \
        "$python" setup.py build_ext --inplace -j 2 >"$work/build.log" 2>&1
) || { tail -40 "$work/build.log"; echo "sanitize.sh: build failed" >&2; exit 2; }
so=$(ls "$work"/fastconv/_kernels*.so)
if [[ $(ldd "$so") != *libasan* ]]; then
    echo "sanitize.sh: $so is not linked against libasan" >&2
    exit 2
fi

# 3. Run the tests against the instrumented copy.
reports="$work/reports"
rm -rf "$reports"
mkdir -p "$reports"
preload=$libasan
[[ -e $libstdcxx ]] && preload="$preload:$libstdcxx"
export LD_PRELOAD="$preload${LD_PRELOAD:+:$LD_PRELOAD}"
# detect_leaks=0: the interpreter itself keeps memory until exit (tests/test_leaks.py checks
# fastconv's own leaks).  allocator_may_return_null=1: a failed huge allocation returns NULL
# (NumPy turns it into MemoryError) as it does without ASan.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=0:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1:log_path=$reports/ubsan"
export PYTHONMALLOC=malloc          # every Python allocation goes through ASan too
export PYTHONFAULTHANDLER=1
cd "$work"
"$python" -c "import fastconv, sys; assert fastconv.__file__.startswith('$work'), fastconv.__file__; \
from fastconv import _kernels; print('sanitize.sh: testing', _kernels.__file__, 'ISA', _kernels.get_isa())"
start=$(date +%s)
set +e
"$python" -m pytest -p no:cacheprovider -q "${args[@]}"
status=$?
set -e
elapsed=$(( $(date +%s) - start ))

# 4. Findings: every report file is printed; ASan/UBSan errors count as findings, anything
# else the runtimes wrote (e.g. an internal CHECK failure) as a tool failure.
findings=0
tool_errors=0
shopt -s nullglob
for f in "$reports"/*; do
    echo "==== $f"
    cat "$f"
    n=$(grep -c -E "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$f" || true)
    if [[ $n -gt 0 ]]; then
        findings=$(( findings + n ))
    else
        tool_errors=$(( tool_errors + 1 ))
    fi
done
echo "sanitize.sh: pytest exit status $status, sanitizer findings: $findings," \
     "other sanitizer runtime reports: $tool_errors, tests took ${elapsed} s"
if [[ $findings -gt 0 ]]; then
    exit 1
fi
if [[ $tool_errors -gt 0 ]]; then
    exit 2
fi
exit "$status"
