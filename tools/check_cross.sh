#!/usr/bin/env bash
# The aarch64 NEON kernels checked on an x86-64 machine: cross-compiles csrc/ and the C test
# driver tests/c/check_kernels.c with aarch64-linux-gnu-gcc (-O2 -std=c11, warnings are
# errors), runs the driver under qemu-aarch64 user-mode emulation (every kernel of the scalar
# and neon paths against the reference kernels), and builds and runs the same driver natively
# (every path this CPU has; at -O1, the quick build).  Installs Debian's
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user if they are missing.  No Python, no OpenMP: the driver exercises the kernels single-threaded.
#
#   tools/check_cross.sh            objects and binaries in $FASTCONV_CROSS_DIR
#                                   (default: $TMPDIR/fastconv-cross-$UID)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)
cross=aarch64-linux-gnu-gcc
native=${CC:-gcc}
# (the C library headers of the target are only a Recommends of the compiler: named here)
pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
if ! command -v "$cross" >/dev/null || ! command -v qemu-aarch64 >/dev/null ||
   [[ ! -e /usr/aarch64-linux-gnu/include/stdio.h ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null ||
        { apt-get update -q >/dev/null &&
          apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null; }
fi
work=${FASTCONV_CROSS_DIR:-${TMPDIR:-/tmp}/fastconv-cross-$(id -u)}
rm -rf "$work"
mkdir -p "$work/aarch64" "$work/native"

export FC_CROSS_FLAGS="-O2 -std=c11 -Wall -Wextra -Werror -I$root/csrc"
# the native build is the quick one: -O1 (the same warnings)
export FC_NATIVE_FLAGS="-O1 -std=c11 -Wall -Wextra -Werror -I$root/csrc"
# every object of both builds, the largest sources first, two compiles at a time
for src in $(ls -S "$root"/csrc/*.c); do
    obj=$(basename "$src" .c).o
    printf '%s %s %s\n' "$cross" "$work/aarch64/$obj" "$src" "$native" "$work/native/$obj" "$src"
done | xargs -P "${FASTCONV_BUILD_JOBS:-2}" -n 3 sh -c \
    'case "$0" in *aarch64*) f=$FC_CROSS_FLAGS ;; *) f=$FC_NATIVE_FLAGS ;; esac
     exec "$0" $f -c "$2" -o "$1"'
"$cross" $FC_CROSS_FLAGS "$root/tests/c/check_kernels.c" "$work"/aarch64/*.o -lm \
    -o "$work/check_kernels.aarch64"
"$native" $FC_NATIVE_FLAGS "$root/tests/c/check_kernels.c" "$work"/native/*.o -lm \
    -o "$work/check_kernels.native"
echo "check_cross.sh: built in $(( $(date +%s) - start )) s"

# the two aarch64 paths and the native run side by side; their reports in order afterwards
qemu() { env -u FASTCONV_ISA qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/check_kernels.aarch64" "$@"; }
qemu neon >"$work/neon.log" 2>&1 & neon=$!
qemu scalar >"$work/scalar.log" 2>&1 & scalar=$!
env -u FASTCONV_ISA "$work/check_kernels.native" >"$work/native.log" 2>&1 & nat=$!
status=0
wait $neon || status=1
wait $scalar || status=1
wait $nat || status=1
echo "check_cross.sh: aarch64 under qemu-aarch64, path neon"
cat "$work/neon.log"
echo "check_cross.sh: aarch64 under qemu-aarch64, path scalar"
cat "$work/scalar.log"
echo "check_cross.sh: native $(uname -m), every path this CPU has"
cat "$work/native.log"
echo "check_cross.sh: $([[ $status == 0 ]] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
exit $status
