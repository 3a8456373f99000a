# Sourced by the tools/ scripts that build fastconv in a scratch copy of the tree:
#   scratch_copy ROOT DEST   copies the sources of ROOT into DEST, keeping mtimes (so an
#                            unchanged tree is not rebuilt), without builds, caches or .git.
scratch_copy() {
    mkdir -p "$2"
    tar -C "$1" --exclude=./build --exclude=./.git --exclude='*.so' --exclude='*.egg-info' \
        --exclude=__pycache__ --exclude=.hypothesis --exclude=.pytest_cache \
        --exclude='./.devobj-*' --exclude=./fastconv/_kernels.c --exclude=./.benchmarks \
        -cf - . | tar -C "$2" -xf -
}
