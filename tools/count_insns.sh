#!/usr/bin/env bash
# Instructions executed by each kernel on aarch64, NEON path against the scalar path, counted
# under qemu-aarch64: the kernels and tests/c/check_kernels.c are cross-compiled with the
# release flags of setup.py (-O3 -std=gnu11 -fno-math-errno -fno-trapping-math, no OpenMP:
# gnu11, not c11, because ISO C mode turns off the contraction of a * b + c into fmla), and the
# driver's --count mode runs one kernel on a fixed shape (count_one in
# tests/c/check_kernels_tmpl.h).  With -singlestep every translation block is one guest
# instruction, so the number of "Trace" lines of -d exec,nochain is the number of
# instructions executed.  A kernel's count is that of 2 calls minus that of 1 call: one warm
# call, without the program's start-up, input set-up and first-call initialisation.
# Needs gcc-aarch64-linux-gnu and qemu-user (tools/check_cross.sh installs them).
#
#   tools/count_insns.sh [KERNEL...]     default: every kernel of count_one
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cross=aarch64-linux-gnu-gcc
work=${FASTCONV_CROSS_DIR:-${TMPDIR:-/tmp}/fastconv-cross-$(id -u)}/count
rm -rf "$work"
mkdir -p "$work"
export FC_COUNT_FLAGS="-O3 -std=gnu11 -fno-math-errno -fno-trapping-math -I$root/csrc"
for src in "$root"/csrc/*.c; do
    printf '%s %s\n' "$work/$(basename "$src" .c).o" "$src"
done | xargs -P "${FASTCONV_BUILD_JOBS:-2}" -n 2 sh -c "$cross"' $FC_COUNT_FLAGS -c "$1" -o "$0"'
"$cross" $FC_COUNT_FLAGS "$root/tests/c/check_kernels.c" "$work"/*.o -lm -o "$work/check_kernels"

count() { # path kernel dtype reps -> instructions executed by the whole program
    qemu-aarch64 -L /usr/aarch64-linux-gnu -singlestep -d exec,nochain \
        "$work/check_kernels" --count "$@" 2>&1 >/dev/null | grep -c '^Trace'
}
kernels=("$@")
[[ ${#kernels[@]} -eq 0 ]] && kernels=(gemm conv conv_dw conv_cin1 conv_winograd maxpool maxpool3
                                       avgpool relu relu_backward sigmoid softmax)
printf '%-14s %-5s %12s %12s %7s\n' kernel dtype scalar neon ratio
for k in "${kernels[@]}"; do
    for dt in f32 f64; do
        s=$(( $(count scalar "$k" "$dt" 2) - $(count scalar "$k" "$dt" 1) ))
        n=$(( $(count neon "$k" "$dt" 2) - $(count neon "$k" "$dt" 1) ))
        printf '%-14s %-5s %12d %12d %7.2f\n' "$k" "$dt" "$s" "$n" "$(awk -v s="$s" -v n="$n" 'BEGIN { print s / n }')"
    done
done
