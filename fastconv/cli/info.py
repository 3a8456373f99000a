"""``python -m fastconv info``: version, SIMD paths, OpenMP and threads."""

ISA_NAMES = ("reference", "scalar", "avx2", "avx512")


def register(subparsers):
    p = subparsers.add_parser("info", help="show the version, SIMD paths, OpenMP and threads",
                              description="Show the build and runtime configuration.")
    p.set_defaults(func=run)
    return p


def run(args):
    import fastconv
    from fastconv import _kernels

    supported = [name for name in ISA_NAMES if _kernels.isa_supported(name)]
    print(f"fastconv {fastconv.__version__}")
    print(f"SIMD path:        {_kernels.get_isa()}")
    print(f"supported paths:  {', '.join(supported)}")
    print(f"OpenMP:           {'yes' if _kernels.has_openmp() else 'no'}")
    print(f"threads:          {fastconv.get_num_threads()}")
    print(f"workspace limit:  {fastconv.get_workspace_limit() // (1 << 20)} MiB")
    return 0
