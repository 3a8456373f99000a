#!/usr/bin/env bash
# The aarch64 NEON kernels checked on an x86-64 machine: cross-compiles csrc/ and the C test
# driver tests/c/check_kernels.c with aarch64-linux-gnu-gcc (-O2 -std=c11, warnings are
# errors), runs the driver under qemu-aarch64 user-mode emulation (every kernel of the scalar
# and neon paths against the reference kernels), and builds and runs the same driver natively
# (every path this CPU has).  Installs Debian's gcc-aarch64-linux-gnu and qemu-user if they
# are missing.  No Python, no OpenMP: the driver exercises the kernels single-threaded.
#
#   tools/check_cross.sh            objects and binaries in $FASTCONV_CROSS_DIR
#                                   (default: $TMPDIR/fastconv-cross-$UID)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)
cross=aarch64-linux-gnu-gcc
native=${CC:-gcc}
if ! command -v "$cross" >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends gcc-aarch64-linux-gnu qemu-user >/dev/null ||
        { apt-get update -q >/dev/null &&
          apt-get install -y -q --no-install-recommends gcc-aarch64-linux-gnu qemu-user >/dev/null; }
fi
work=${FASTCONV_CROSS_DIR:-${TMPDIR:-/tmp}/fastconv-cross-$(id -u)}
rm -rf "$work"
mkdir -p "$work/aarch64" "$work/native"

export FC_CROSS_FLAGS="-O2 -std=c11 -Wall -Wextra -Werror -I$root/csrc"
# every object of both builds, two compiles at a time
for src in "$root"/csrc/*.c; do
    obj=$(basename "$src" .c).o
    printf '%s %s %s\n' "$cross" "$work/aarch64/$obj" "$src" "$native" "$work/native/$obj" "$src"
done | xargs -P "${FASTCONV_BUILD_JOBS:-2}" -n 3 sh -c '"$0" $FC_CROSS_FLAGS -c "$2" -o "$1"'
"$cross" $FC_CROSS_FLAGS "$root/tests/c/check_kernels.c" "$work"/aarch64/*.o -lm \
    -o "$work/check_kernels.aarch64"
"$native" $FC_CROSS_FLAGS "$root/tests/c/check_kernels.c" "$work"/native/*.o -lm \
    -o "$work/check_kernels.native"
echo "check_cross.sh: built in $(( $(date +%s) - start )) s"

status=0
echo "check_cross.sh: aarch64 under qemu-aarch64"
env -u FASTCONV_ISA qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/check_kernels.aarch64" || status=1
echo "check_cross.sh: native $(uname -m)"
env -u FASTCONV_ISA "$work/check_kernels.native" || status=1
echo "check_cross.sh: $([[ $status == 0 ]] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
exit $status
