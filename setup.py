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


def build_flags():
    compile_args = ["-O3", "-std=gnu11", "-fno-math-errno", "-fno-trapping-math"]
    link_args = []
    macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
    if sys.platform == "win32":  # MSVC: keep it plain
        return ["/O2"], [], macros
    if not _flag("FASTCONV_NO_OPENMP") and _compiler_accepts(["-fopenmp"], OPENMP_PROBE):
        compile_args.append("-fopenmp")
        link_args.append("-fopenmp")
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


setup(ext_modules=extensions(), cmdclass={"build_ext": build_ext})
