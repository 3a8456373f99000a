"""Build fastconv's C kernels and their Cython wrapper.

Environment switches (all optional):
  FASTCONV_NO_OPENMP=1  build without OpenMP even when the compiler has it.
  FASTCONV_NATIVE=1     add -march=native (the wheel then runs only on CPUs like this one;
                        the default build runs on any x86-64 and picks SIMD paths at run time).
  FASTCONV_DEBUG=1      keep C asserts on (-UNDEBUG) and build with -O1 -g.
  FASTCONV_EXTRA_CFLAGS / FASTCONV_EXTRA_LDFLAGS  extra flags, split on spaces (sanitizers).
  FASTCONV_BUILD_JOBS=n compile n C sources at a time (default: the number of cores).
  CC=clang              build with Clang (GCC and Clang both get the AVX2/AVX-512 kernels).
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from glob import glob

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def _flag(name):
    return os.environ.get(name, "").strip() not in ("", "0", "false", "no")


def _compiler_accepts(flags, code="int main(void){return 0;}\n"):
    """Try to compile and link a tiny C program with `flags`."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cc = cc.split()
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write(code)
        cmd = cc + [src, "-o", os.path.join(tmp, "probe")] + flags
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


OPENMP_PROBE = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"

# Where Homebrew puts libomp (Apple Silicon, then Intel), as scikit-learn's build looks for it.
HOMEBREW_LIBOMP = ("/opt/homebrew/opt/libomp", "/usr/local/opt/libomp")


def _brew_libomp_prefix():
    """`brew --prefix libomp`, or None when there is no brew (or it fails)."""
    brew = shutil.which("brew")
    if not brew:
        return None
    try:
        out = subprocess.run([brew, "--prefix", "libomp"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    prefix = out.stdout.strip()
    return prefix if out.returncode == 0 and prefix else None


def openmp_candidates(platform=None, brew_prefix=None, isdir=os.path.isdir):
    """The (compile args, link args) pairs to try, in order, for OpenMP.

    Everywhere: -fopenmp (GCC; Clang with libomp).  On macOS also Apple Clang's form,
    -Xpreprocessor -fopenmp with -lomp, first as is (libomp on the default paths, or in
    CPPFLAGS/LDFLAGS), then with each Homebrew libomp prefix that exists: `brew --prefix
    libomp` (`brew_prefix`), /opt/homebrew/opt/libomp, /usr/local/opt/libomp."""
    platform = sys.platform if platform is None else platform
    candidates = [(["-fopenmp"], ["-fopenmp"])]
    if platform == "darwin":
        apple = ["-Xpreprocessor", "-fopenmp"]
        candidates.append((apple, ["-lomp"]))
        prefixes = []
        for prefix in ((brew_prefix,) if brew_prefix else ()) + HOMEBREW_LIBOMP:
            prefix = os.path.normpath(prefix)
            if prefix not in prefixes and isdir(prefix):
                prefixes.append(prefix)
        for prefix in prefixes:
            inc, lib = os.path.join(prefix, "include"), os.path.join(prefix, "lib")
            candidates.append((apple + ["-I" + inc], ["-L" + lib, "-lomp", "-Wl,-rpath," + lib]))
    return candidates


def openmp_missing_message(platform=None):
    """The build message when the compiler has no usable OpenMP."""
    platform = sys.platform if platform is None else platform
    if platform == "darwin":
        hint = ("install libomp (`brew install libomp`) and rebuild; the build looks for it "
                "in `brew --prefix libomp`, " + " and ".join(HOMEBREW_LIBOMP))
    else:
        hint = ("install your compiler's OpenMP runtime (GCC: libgomp, usually with gcc; "
                "Clang: libomp, e.g. Debian's libomp-dev) and rebuild")
    return ("fastconv: building without OpenMP: the compiler accepted none of the OpenMP "
            "flags tried, so the kernels will run on one thread; " + hint)


def find_openmp():
    """The first OpenMP candidate that compiles, links and runs-to-link the probe, or None."""
    brew_prefix = _brew_libomp_prefix() if sys.platform == "darwin" else None
    for compile_args, link_args in openmp_candidates(brew_prefix=brew_prefix):
        if _compiler_accepts(compile_args + link_args, OPENMP_PROBE):
            return compile_args, link_args
    return None


def build_flags():
    compile_args = ["-O3", "-std=gnu11", "-fno-math-errno", "-fno-trapping-math"]
    link_args = []
    # NPY_TARGET_VERSION: the extension runs on every NumPy from pyproject's floor (1.23) up,
    # whatever NumPy builds it (NumPy 2's own default moves up with time)
    macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
              ("NPY_TARGET_VERSION", "NPY_1_23_API_VERSION")]
    if _flag("FASTCONV_NO_OPENMP"):
        print("fastconv: building without OpenMP (FASTCONV_NO_OPENMP is set); the kernels "
              "will run on one thread", file=sys.stderr)
    else:
        found = find_openmp()
        if found:
            compile_args += found[0]
            link_args += found[1]
            print(f"fastconv: building with OpenMP: compile {' '.join(found[0])}, "
                  f"link {' '.join(found[1])}", file=sys.stderr)
        else:
            print(openmp_missing_message(), file=sys.stderr)
    if _flag("FASTCONV_NATIVE"):
        compile_args.append("-march=native")
    if _flag("FASTCONV_DEBUG"):
        compile_args += ["-UNDEBUG", "-O1", "-g"]
    compile_args += os.environ.get("FASTCONV_EXTRA_CFLAGS", "").split()
    link_args += os.environ.get("FASTCONV_EXTRA_LDFLAGS", "").split()
    # reported by `python -m fastconv info` (fc_build_flags)
    flags = " ".join(compile_args).replace("\\", "\\\\").replace('"', '\\"')
    macros.append(("FC_BUILD_FLAGS", f'"{flags}"'))
    return compile_args, link_args, macros


MSVC_UNSUPPORTED = (
    "fastconv does not build with MSVC: its C kernels use GCC/Clang extensions that MSVC lacks "
    "(vector types, __attribute__((vector_size)) and __builtin_shuffle/shufflevector; per-function "
    "target attributes for the AVX2/AVX-512 paths; __builtin_cpu_supports; __atomic builtins; "
    "__attribute__((aligned))).  On Windows, use WSL (Windows Subsystem for Linux) and build "
    "there with GCC or Clang; see README, Building.")


def _compile_in_parallel(compiler, jobs):
    """Make a Unix-style distutils compiler compile an extension's sources `jobs` at a time
    (setuptools compiles the sources of one extension one after another)."""

    def compile(sources, output_dir=None, macros=None, include_dirs=None, debug=0,
                extra_preargs=None, extra_postargs=None, depends=None):
        macros, objects, extra_postargs, pp_opts, build = compiler._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs)
        cc_args = compiler._get_cc_args(pp_opts, debug, extra_preargs)
        todo = [(obj,) + tuple(build[obj]) for obj in objects if obj in build]

        def one(item):
            obj, src, ext = item
            compiler._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, todo))  # re-raises the first compile error
        return objects

    compiler.compile = compile


class build_ext(_build_ext):
    """build_ext that compiles the C sources in parallel (FASTCONV_BUILD_JOBS, default: the
    number of cores)."""

    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            raise SystemExit("error: " + MSVC_UNSUPPORTED)
        jobs = int(os.environ.get("FASTCONV_BUILD_JOBS", "0") or 0) or (os.cpu_count() or 1)
        if self.compiler.compiler_type == "unix" and jobs > 1:
            _compile_in_parallel(self.compiler, jobs)
        super().build_extensions()


def extensions():
    compile_args, link_args, macros = build_flags()
    c_sources = sorted(os.path.relpath(p, HERE) for p in glob(os.path.join(HERE, "csrc", "*.c")))
    ext = Extension(
        "fastconv._kernels",
        sources=["fastconv/_kernels.pyx"] + c_sources,
        include_dirs=["csrc", np.get_include()],
        define_macros=macros,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        depends=glob(os.path.join("csrc", "*.h")) + glob(os.path.join("csrc", "*.inc")),
    )
    return cythonize(
        [ext],
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
            "embedsignature": True,
        },
    )


# setuptools runs this file as __main__ (`pip install .`, `python setup.py ...`); tests import it
# for the probe logic without building.
if __name__ == "__main__":
    setup(ext_modules=extensions(), cmdclass={"build_ext": build_ext})
