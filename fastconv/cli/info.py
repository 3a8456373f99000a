"""``python -m fastconv info``: version, SIMD paths, build, OpenMP and threads, the detected
caches and the GEMM blocking and microkernel of the running path."""
import os
import sys

ISA_NAMES = ("reference", "scalar", "avx2", "avx512", "neon")


def register(subparsers):
    p = subparsers.add_parser("info", help="show the version, SIMD paths, build, OpenMP and threads",
                              description="Show the build and runtime configuration: which SIMD "
                                          "paths were compiled in, which this CPU has, which one "
                                          "runs, and the compiler and flags of the build.")
    p.set_defaults(func=run)
    return p


def isa_report():
    """Rows (label, text) about the SIMD paths: the one running, and why."""
    from fastconv import _kernels

    compiled = [n for n in ISA_NAMES if _kernels.isa_compiled(n)]
    cpu = [n for n in ISA_NAMES if _kernels.isa_cpu_has(n)]
    supported = [n for n in ISA_NAMES if _kernels.isa_supported(n)]
    running = _kernels.get_isa()
    forced = os.environ.get("FASTCONV_ISA")
    if forced and forced == running:
        why = "forced by FASTCONV_ISA"
    elif forced:
        why = f"FASTCONV_ISA={forced} is not available here; the best available path runs"
    else:
        why = "the best path this build and CPU support"
    rows = [("SIMD path", f"{running} ({why})"),
            ("supported paths", ", ".join(supported)),
            ("compiled paths", ", ".join(compiled)),
            ("CPU has", ", ".join(cpu))]
    missing = [n for n in cpu if n not in compiled]
    if missing:
        rows.append(("not compiled", f"{', '.join(missing)}: this CPU has the instructions but "
                                     "this build has no kernels for them (built without GCC or "
                                     "Clang on x86-64 / aarch64?)"))
    return rows


def gemm_report():
    """Rows (label, text): the CPU (family, model, microarchitecture), the detected caches and where they came from, and per dtype the
    GEMM microkernel and cache blocking of the running path (derived from those caches)."""
    import numpy as np
    from .. import _kernels
    from .._limits import describe_caches

    from .._cpu import cpu_line

    sizes, source = _kernels.cache_sizes()
    rows = [("CPU", cpu_line()), ("caches", describe_caches(sizes, source))]
    for dtype in (np.float32, np.float64):
        b = _kernels.gemm_blocking("", dtype)
        name = np.dtype(dtype).name
        if b is None:
            rows.append((f"GEMM {name}", "(no blocking reported for this path)"))
        else:
            rows.append((f"GEMM {name}", f"{b['ukernel']} ({b['mr']}x{b['nr']} tile; blocks "
                                         f"kc {b['kc']}, mc {b['mc']}, nc {b['nc']})"))
    return rows


def run(args):
    import fastconv
    from fastconv import _kernels

    compiler, flags = _kernels.build_info()
    rows = isa_report()
    rows += [("compiler", compiler), ("build flags", flags or "(unknown)")]
    if _kernels.has_openmp():
        rows += [("OpenMP", "yes"), ("threads", str(fastconv.get_num_threads()))]
    else:
        hint = "; on macOS: brew install libomp, then rebuild" if sys.platform == "darwin" else ""
        rows += [("OpenMP", f"no (this build runs every kernel on the calling thread{hint})"),
                 ("threads", "1 (built without OpenMP: set_num_threads has no effect)")]
    rows.append(("workspace limit", f"{fastconv.get_workspace_limit() // (1 << 20)} MiB"))
    rows += gemm_report()
    print(f"fastconv {fastconv.__version__}")
    for label, text in rows:
        print(f"{label + ':':<18}{text}")
    return 0
