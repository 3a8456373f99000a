#!/usr/bin/env bash
# Compile csrc/ for 64-bit Windows with the MinGW-w64 GCC cross compiler (Debian:
# gcc-mingw-w64-x86-64), with and without OpenMP, warnings as errors.  This checks the
# _WIN32 branches of the C sources (thread-local storage, aligned allocation, no fork) and
# that nothing POSIX-only leaks outside them.  It compiles only: nothing is linked or run, the
# Cython wrapper is not built, and it says nothing about MSVC (which setup.py refuses).
#
#   tools/check_mingw.sh            CC defaults to x86_64-w64-mingw32-gcc
#   MINGW_CC=... tools/check_mingw.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cc=${MINGW_CC:-x86_64-w64-mingw32-gcc}
jobs=${FASTCONV_BUILD_JOBS:-2}
command -v "$cc" >/dev/null || {
    echo "check_mingw.sh: no $cc (Debian: apt-get install gcc-mingw-w64-x86-64)" >&2
    exit 2
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

status=0
for omp in "" -fopenmp; do
    mkdir -p "$out/obj$omp"
    echo "check_mingw.sh: $cc -std=c11 -O2 -Wall -Wextra -Werror ${omp:-(no OpenMP)}"
    # shellcheck disable=SC2016
    if ! printf '%s\n' "$root"/csrc/*.c | xargs -P "$jobs" -I{} sh -c \
        '"$0" -std=c11 -O2 -Wall -Wextra -Werror $1 -I"$2" -c "$3" -o "$4/$(basename "$3" .c).o"' \
        "$cc" "$omp" "$root/csrc" {} "$out/obj$omp"; then
        status=1
    fi
done
if [[ $status != 0 ]]; then
    echo "check_mingw.sh: csrc/ does not compile cleanly for Windows (MinGW-w64)" >&2
    exit 1
fi
echo "check_mingw.sh: csrc/ compiles cleanly for Windows (MinGW-w64), with and without OpenMP"
