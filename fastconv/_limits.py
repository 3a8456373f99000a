"""The machine's limits, measured in the same run as the benchmark rows, and every row's share
of its limit.

Two probes shipped in the C kernels (``fastconv._kernels``) do the work; this module times
them:

- **FMA peak**: ``probe_fma`` runs independent register-only multiply-add chains on an ISA
  path's widest vectors (FMA on avx2/avx512, multiply + add at the baseline on scalar) on
  ``threads`` OpenMP threads.  Measured in float32 and float64 for every path this build and
  CPU support, at every thread count the benchmark runs.
- **Copy bandwidth**: ``probe_copy`` copies one float32 array into another, each thread the
  same slice every time.  Measured at four working sets (source + destination) derived from
  the detected cache sizes: half of each thread's L1d and of its L2 (so at ``t`` threads
  ``t`` times that in all), half of the shared L3 (at most 16 MiB: see ``L3_SET_MAX``), and a
  DRAM-sized set (8x the L3, at least 256 MiB and at most 1 GiB).  Bytes moved are counted as
  read + written, as STREAM's copy counts them.

Each figure is the best of several short samples: on a shared machine a sample can only be
slowed down, never sped up, so the fastest is the closest to the hardware.

A compute-bound row (GEMM, conv, training step, inference) reports GFLOP/s and its share of
the FMA peak of the path that ran, at its thread count and dtype.  A memory-bound row (relu,
pooling) reports GB/s of the bytes it must move (its byte model) and its share of the copy
bandwidth of the smallest level its working set fits in: per thread within L1d or L2, in all
within the L3 (at most twice ``L3_SET_MAX``), else DRAM.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

LEVELS = ("L1", "L2", "L3", "DRAM")
DTYPES = ("float32", "float64")
MIB = 1 << 20

# The DRAM working set: 8x the last-level cache, within these bounds.
DRAM_MIN = 256 * MIB
DRAM_MAX = 1024 * MIB

# The L3 working set: half of the L3, at most this. A server's L3 is the whole socket's (260 MiB
# on an Emerald Rapids host, shared by every tenant of a 2-core virtual machine): half of it was
# copied at 12 GB/s there, below its DRAM figure, while 4-64 MiB ran at 28 GB/s on one thread.
# The same rule bounds what counts as L3-resident (twice this) when classifying a row. On the
# 32 MiB L3s of Zen 3/4/5 both are what half the L3 gives.
L3_SET_MAX = 16 * MIB

# The destination starts this many bytes past a 4 KiB boundary, the source on one: with both
# on the same offset modulo 4 KiB every store looks like it aliases the next loads (4K
# aliasing), which cut the L1 copy rate here by 4x.
_DST_OFFSET = 2048 + 64

# Many short samples: on a shared machine a short sample has a better chance to run without
# being preempted (and, at two threads, with both threads on a core at once).
DEFAULT_SAMPLES = 15
DEFAULT_SAMPLE_TIME = 0.005


# ---------------------------------------------------------------------------------------------
# What the machine has
# ---------------------------------------------------------------------------------------------
def isa_paths() -> List[str]:
    """The ISA paths this build and CPU support, as `_kernels.isa_supported` tells."""
    from . import _kernels
    from .cli.info import ISA_NAMES
    return [name for name in ISA_NAMES if _kernels.isa_supported(name)]


def cache_sizes() -> Tuple[Tuple[int, int, int], str]:
    """((L1d, L2, L3) bytes, where they came from) as the kernels detected them."""
    from . import _kernels
    sizes, source = _kernels.cache_sizes()
    return (int(sizes[0]), int(sizes[1]), int(sizes[2])), str(source)


def working_sets(caches: Sequence[int], threads: int) -> Dict[str, int]:
    """Bytes (source + destination) of the copy probe at each level, at `threads` threads.

    L1 and L2 are per core, so `threads` threads copy half of each one's cache; the L3 is
    shared.  A machine without L3 (size 0) gets no L3 level."""
    l1, l2, l3 = (int(c) for c in caches)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    out = {"L1": threads * l1 // 2, "L2": threads * l2 // 2}
    if l3 > 0:
        out["L3"] = min(l3 // 2, L3_SET_MAX)
    out["DRAM"] = min(max(8 * max(l3, threads * l2), DRAM_MIN), DRAM_MAX)
    return out


def level_of(nbytes: float, caches: Sequence[int], threads: int) -> str:
    """The smallest level a working set of `nbytes` fits in at `threads` threads (each thread
    holding its share in its own L1d or L2; the L3 shared, and counted up to twice
    `L3_SET_MAX`, the most its probe copies)."""
    l1, l2, l3 = (int(c) for c in caches)
    per_thread = nbytes / max(1, threads)
    if per_thread <= l1:
        return "L1"
    if per_thread <= l2:
        return "L2"
    if l3 > 0 and nbytes <= min(l3, 2 * L3_SET_MAX):
        return "L3"
    return "DRAM"


# ---------------------------------------------------------------------------------------------
# Timing the probes
# ---------------------------------------------------------------------------------------------
def best_rate(run: Callable[[int], float], sample_time: float = DEFAULT_SAMPLE_TIME,
              samples: int = DEFAULT_SAMPLES,
              calibrate: Optional[Callable[[int], float]] = None,
              clock: Callable[[], float] = time.perf_counter) -> Tuple[float, List[float]]:
    """The best rate (work per second) of `run(k)`, which does k units and returns the work
    done, over `samples` samples of about `sample_time` seconds; and all the sample rates.

    k is found on `calibrate` (default: `run`; the probes calibrate on one thread, whose
    timing does not wait for a second thread to be scheduled): it starts at 1 and grows
    fourfold until a call lasts an eighth of a sample (the fastest of three tries, so that
    one preemption does not stop the growth early), then is scaled up to a whole sample."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    cal = run if calibrate is None else calibrate
    k = 1
    while True:
        elapsed = []
        for _ in range(3):
            t0 = clock()
            cal(k)
            elapsed.append(clock() - t0)
        t = min(elapsed)
        if t >= sample_time / 8 or k >= 1 << 40:
            break
        k *= 4
    k = max(1, int(math.ceil(k * sample_time / max(t, 1e-9))))
    rates = []
    for _ in range(samples):
        t0 = clock()
        work = run(k)
        dt = clock() - t0
        rates.append(work / dt if dt > 0 else 0.0)
    return max(rates), rates


def _fma_runner(isa: str, dtype: str, threads: int) -> Callable[[int], float]:
    from . import _kernels
    size = np.dtype(dtype).itemsize

    def run(k: int) -> float:
        flops = _kernels.probe_fma(isa, size, threads, 4096 * k)
        if flops < 0:
            raise ValueError(f"the FMA probe does not support path {isa!r} ({dtype})")
        return float(flops)
    return run


def aligned_pair(nbytes: int) -> Tuple[np.ndarray, np.ndarray]:
    """Source and destination float32 arrays of `nbytes` each, the source 4 KiB-aligned and
    the destination _DST_OFFSET bytes past a 4 KiB boundary, both written once."""
    n = max(16, nbytes // 4)

    def make(offset: int, value: float) -> np.ndarray:
        buf = np.empty(n + (4096 + offset) // 4, np.float32)
        start = ((-buf.ctypes.data) % 4096 + offset) // 4
        a = buf[start:start + n]
        a.fill(value)
        return a
    return make(0, 1.0), make(_DST_OFFSET, 0.0)


def _copy_runner(src: np.ndarray, dst: np.ndarray, threads: int) -> Callable[[int], float]:
    from . import _kernels

    def run(k: int) -> float:
        return float(_kernels.probe_copy(src, dst, threads, k))
    run(1)
    return run


# ---------------------------------------------------------------------------------------------
# The limits of one run
# ---------------------------------------------------------------------------------------------
@dataclass
class Limits:
    """FMA peaks and copy bandwidths measured in one run.

    fma:  {(isa, dtype, threads): (FLOP/s, [sample FLOP/s])}
    copy: {(level, threads): (working-set bytes, bytes/s, [sample bytes/s])}"""
    caches: Tuple[int, int, int]
    cache_source: str
    samples: int = DEFAULT_SAMPLES
    sample_time: float = DEFAULT_SAMPLE_TIME
    fma: Dict[Tuple[str, str, int], Tuple[float, List[float]]] = field(default_factory=dict)
    copy: Dict[Tuple[str, int], Tuple[int, float, List[float]]] = field(default_factory=dict)

    @classmethod
    def detect(cls, samples: int = DEFAULT_SAMPLES,
               sample_time: float = DEFAULT_SAMPLE_TIME) -> "Limits":
        caches, source = cache_sizes()
        return cls(caches, source, samples, sample_time)

    @property
    def threads(self) -> List[int]:
        return sorted({k[-1] for k in self.fma} | {k[-1] for k in self.copy})

    def measure(self, threads: int, isas: Optional[Sequence[str]] = None,
                dtypes: Sequence[str] = DTYPES, levels: Sequence[str] = LEVELS) -> None:
        """Measure the FMA peaks (each path in `isas`, default: all supported, and dtype) and
        the copy bandwidths (each level) at `threads` threads.  fastconv's thread count must
        allow `threads` (the probes never use more than set_num_threads).

        Measuring again adds the new samples to the earlier ones and keeps the best: a limit is
        what the machine can do, and a second measurement (the benchmark takes one before and
        one after each thread count's rows) covers a stretch in which another process held a
        core for a whole measurement."""
        for isa in isa_paths() if isas is None else isas:
            for dtype in dtypes:
                rate, rates = best_rate(_fma_runner(isa, dtype, threads), self.sample_time,
                                        self.samples, calibrate=_fma_runner(isa, dtype, 1))
                old = self.fma.get((isa, dtype, threads))
                if old is not None:
                    rate, rates = max(rate, old[0]), old[1] + rates
                self.fma[isa, dtype, threads] = (rate, rates)
        sets = working_sets(self.caches, threads)
        for level in levels:
            if level not in sets:
                continue
            src, dst = aligned_pair(sets[level] // 2)
            rate, rates = best_rate(_copy_runner(src, dst, threads), self.sample_time,
                                    self.samples, calibrate=_copy_runner(src, dst, 1))
            del src, dst
            before = self.copy.get((level, threads))
            if before is not None:
                rate, rates = max(rate, before[1]), before[2] + rates
            self.copy[level, threads] = (sets[level], rate, rates)

    # --- look-ups ---------------------------------------------------------------------------
    def peak(self, isa: str, dtype: str, threads: int) -> Optional[float]:
        """FLOP/s of the FMA probe on `isa` in `dtype` at `threads` threads, if measured."""
        got = self.fma.get((isa, np.dtype(dtype).name, threads))
        return None if got is None else got[0]

    def best_peak(self, dtype: str, threads: int) -> Optional[Tuple[str, float]]:
        """(path, FLOP/s) of the fastest path measured in `dtype` at `threads` threads."""
        cands = [(rate, isa) for (isa, dt, t), (rate, _) in self.fma.items()
                 if dt == np.dtype(dtype).name and t == threads]
        if not cands:
            return None
        rate, isa = max(cands)
        return isa, rate

    def bandwidth(self, nbytes: float, threads: int) -> Optional[Tuple[str, float]]:
        """(level, bytes/s) for a working set of `nbytes` at `threads` threads: the copy
        bandwidth of the smallest level it fits in (the next larger level measured if that
        one was not)."""
        level = level_of(nbytes, self.caches, threads)
        for name in LEVELS[LEVELS.index(level):]:
            got = self.copy.get((name, threads))
            if got is not None:
                return name, got[1]
        return None

    # --- JSON -------------------------------------------------------------------------------
    def as_dict(self) -> Dict[str, Any]:
        l1, l2, l3 = self.caches
        return {
            "caches": {"l1d": l1, "l2": l2, "l3": l3, "source": self.cache_source},
            "samples": self.samples, "sample_time": self.sample_time,
            "fma": [{"isa": isa, "dtype": dt, "threads": t, "flops_per_s": rate,
                     "samples": rates}
                    for (isa, dt, t), (rate, rates) in self.fma.items()],
            "copy": [{"level": level, "threads": t, "working_set": ws, "bytes_per_s": rate,
                      "samples": rates}
                     for (level, t), (ws, rate, rates) in self.copy.items()],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Limits":
        c = d["caches"]
        lim = cls((int(c["l1d"]), int(c["l2"]), int(c["l3"])), str(c.get("source", "?")),
                  int(d.get("samples", DEFAULT_SAMPLES)),
                  float(d.get("sample_time", DEFAULT_SAMPLE_TIME)))
        for e in d.get("fma", []):
            lim.fma[e["isa"], e["dtype"], int(e["threads"])] = (float(e["flops_per_s"]),
                                                               list(e.get("samples", [])))
        for e in d.get("copy", []):
            lim.copy[e["level"], int(e["threads"])] = (int(e["working_set"]),
                                                       float(e["bytes_per_s"]),
                                                       list(e.get("samples", [])))
        return lim

    # --- text -------------------------------------------------------------------------------
    def cache_line(self) -> str:
        return describe_caches(self.caches, self.cache_source)

    def block(self, threads: Optional[Sequence[int]] = None) -> str:
        """The "limits" block: one line per figure, a column per thread count."""
        threads = list(self.threads if threads is None else threads)
        counts = sorted({len(v[-1]) for k, v in self.fma.items() if k[-1] in threads} |
                        {len(v[-1]) for k, v in self.copy.items() if k[-1] in threads})
        if not counts:
            n = str(self.samples)
        else:   # one measurement: its sample count; more: the fewest to the most
            n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        head = [f"limits (best of {n} samples of {self.sample_time * 1e3:.0f} ms "
                "each, measured in this run)",
                f"  caches: {self.cache_line()}"]
        label_w, cw = 36, 17
        cols = "".join(f"{_threads_label(t):>{cw}}" for t in threads)
        lines = [f"  {'FMA peak, GFLOP/s':<{label_w}}{cols}"]
        paths = []
        for isa, _, _ in self.fma:
            if isa not in paths:
                paths.append(isa)
        for isa in paths:
            for dt in DTYPES:
                vals = [self.peak(isa, dt, t) for t in threads]
                if all(v is None for v in vals):
                    continue
                cells = "".join(f"{'-' if v is None else f'{v / 1e9:.1f}':>{cw}}" for v in vals)
                lines.append(f"  {'peak ' + isa + ' ' + dt:<{label_w}}{cells}")
        lines.append(f"  {'copy bandwidth, GB/s (working set)':<{label_w}}{cols}")
        for level in LEVELS:
            got = [self.copy.get((level, t)) for t in threads]
            if all(g is None for g in got):
                continue
            cells = "".join(f"{'-' if g is None else _bw_cell(g[1], g[0]):>{cw}}" for g in got)
            lines.append(f"  {'copy ' + level:<{label_w}}{cells}")
        return "\n".join(head + lines)


def _threads_label(t: int) -> str:
    return f"{t} thread" + ("" if t == 1 else "s")


def _bw_cell(rate: float, ws: int) -> str:
    return f"{rate / 1e9:.1f} ({fmt_bytes(ws)})"


def fmt_bytes(n: float) -> str:
    """1536 -> '1.5 KiB', 33554432 -> '32 MiB'."""
    for unit, size in (("GiB", 1 << 30), ("MiB", MIB), ("KiB", 1 << 10)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if abs(v - round(v)) < 0.05 else f"{v:.1f} {unit}"
    return f"{int(n)} B"


def describe_caches(caches: Sequence[int], source: str) -> str:
    l1, l2, l3 = caches
    where = {"sysfs": "from /sys/devices/system/cpu", "sysconf": "from sysconf",
             "sysctl": "from sysctl", "set": "set by set_cache_sizes",
             "default": "defaults: nothing answered"}.get(source, source)
    l3_text = fmt_bytes(l3) if l3 else "none"
    return f"L1d {fmt_bytes(l1)}, L2 {fmt_bytes(l2)}, L3 {l3_text} ({where})"


# ---------------------------------------------------------------------------------------------
# Shares
# ---------------------------------------------------------------------------------------------
def row_share(row: Mapping[str, Any], limits: Limits, backend: str = "fastconv",
              stat: str = "median") -> Optional[Dict[str, Any]]:
    """`backend`'s rate on `row` (a JSON row of the bench) and its share of the row's limit.

    A row with "bytes" > 0 is memory-bound: rate in bytes/s against the copy bandwidth of its
    working set ("working_set", default its bytes).  Otherwise a row with "flops" > 0 is
    compute-bound: FLOP/s against the FMA peak of the path that ran ("isa"; for another
    backend than fastconv, the fastest path measured) in the row's dtype (meta "dtype",
    default float32) at its thread count.  None if the row has neither or its limit was not
    measured."""
    m = row["backends"].get(backend)
    if m is None or not m.get(stat):
        return None
    seconds = float(m[stat])
    threads = int(row["threads"])
    nbytes = row.get("bytes") or 0
    if nbytes:
        bw = limits.bandwidth(row.get("working_set") or nbytes, threads)
        if bw is None:
            return None
        level, rate_limit = bw
        rate = nbytes / seconds
        return {"rate": rate, "unit": "B/s", "limit": rate_limit, "limit_name": f"{level} copy",
                "share": rate / rate_limit}
    flops = row.get("flops") or 0
    if not flops:
        return None
    dtype = np.dtype(row.get("meta", {}).get("dtype", "float32")).name
    if backend == "fastconv" and row.get("isa"):
        isa = row["isa"]
        peak = limits.peak(isa, dtype, threads)
    else:
        best = limits.best_peak(dtype, threads)
        isa, peak = (None, None) if best is None else best
    if not peak:
        return None
    rate = flops / seconds
    return {"rate": rate, "unit": "FLOP/s", "limit": peak,
            "limit_name": f"{isa} {dtype} peak", "share": rate / peak}


def fmt_rate(share: Optional[Mapping[str, Any]]) -> str:
    if share is None:
        return "-"
    if share["unit"] == "B/s":
        return f"{share['rate'] / 1e9:.1f} GB/s"
    return f"{share['rate'] / 1e9:.1f} GFLOP/s"


def fmt_share(share: Optional[Mapping[str, Any]]) -> str:
    if share is None:
        return "-"
    return f"{100 * share['share']:.0f}% {share['limit_name']}"


# ---------------------------------------------------------------------------------------------
# numpy's BLAS
# ---------------------------------------------------------------------------------------------
def blas_info() -> List[Dict[str, Any]]:
    """threadpoolctl's description of numpy's BLAS libraries ([] without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [dict(i) for i in threadpool_info() if i.get("user_api") == "blas"]


def blas_line(infos: Sequence[Mapping[str, Any]]) -> str:
    """'openblas 0.3.31 (kernel Haswell, pthreads)': the library numpy runs and its kernel."""
    if not infos:
        return ("unknown (install threadpoolctl to see numpy's BLAS and its kernel: "
                "pip install threadpoolctl)")
    parts = []
    for i in infos:
        extra = [f"kernel {i['architecture']}"] if i.get("architecture") else []
        if i.get("threading_layer"):
            extra.append(str(i["threading_layer"]))
        parts.append(f"{i.get('internal_api')} {i.get('version')}"
                     + (f" ({', '.join(extra)})" if extra else ""))
    return "; ".join(parts)


def blas_warnings(infos: Sequence[Mapping[str, Any]],
                  environ: Mapping[str, str] = os.environ) -> List[str]:
    """Warnings about environment variables that change numpy's OpenBLAS kernel or
    blocking: OPENBLAS_CORETYPE forces a kernel (e.g. Haswell's AVX2 one on an AVX-512 CPU,
    where numpy.matmul then looks half as fast) and OPENBLAS_L2_SIZE its cache blocking."""
    out: List[str] = []
    core = environ.get("OPENBLAS_CORETYPE")
    l2 = environ.get("OPENBLAS_L2_SIZE")
    if core is None and l2 is None:
        return out
    kernels = [str(i["architecture"]) for i in infos
               if i.get("internal_api") == "openblas" and i.get("architecture")]
    running = f" (running: {', '.join(kernels)})" if kernels else ""
    if core is not None:
        out.append(f"OPENBLAS_CORETYPE={core} forces numpy's OpenBLAS kernel{running}, "
                   "which may not be this CPU's best: numpy.matmul and the NumPy reference "
                   "can then run slower than this machine allows")
    if l2 is not None:
        out.append(f"OPENBLAS_L2_SIZE={l2} sets numpy's OpenBLAS cache blocking instead of "
                   "the detected L2 size")
    out.append("for numpy's own choice run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
               "python -m fastconv bench ...")
    return out
