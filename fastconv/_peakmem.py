"""Peak extra memory of one model training step, measured in a fresh process.

``measure(network, batch, backend, threads)`` starts ``python -m fastconv._peakmem`` and returns
what it printed: the resident-set high-water mark during one training step above the RSS just
before it (``rss_peak_extra``, bytes), and the RSS before (``rss_before``).  The child builds the
model (fastconv.models with nn and optim.SGD, or its torch twin: see fastconv._model_bench)
and its batch, takes one batch-1 step on another copy of the model (libraries loaded, thread
pools started, nothing of it kept), then resets the high-water mark and takes the measured
step.  The model holds no activations before that step, so the figure is everything the step
keeps (the saved activations, the gradients) and its scratch at the peak.

On Linux the high-water mark is reset through /proc/self/clear_refs and read from
/proc/self/status (VmHWM); elsewhere it is the process's ru_maxrss, which cannot be reset
(``method`` says which).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional


def _status(key: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _maxrss() -> int:
    import resource
    v = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(v) if sys.platform == "darwin" else int(v) * 1024


def _rss() -> int:
    rss = _status("VmRSS")
    return _maxrss() if rss is None else rss


def run_child(network: str, batch: int, backend: str, threads: int) -> Dict[str, Any]:
    """The measurement itself (in the child process)."""
    import fastconv
    from . import _benchmarks as FB
    from . import _model_bench as MB
    fastconv.set_num_threads(threads)
    if backend == "torch":
        import torch
        torch.set_num_threads(threads)
    warm = MB.model_functions(network, 1, [backend], "train")[backend]
    warm()
    del warm
    step = MB.model_functions(network, batch, [backend], "train")[backend]
    reset = _reset_peak()
    before = _rss()
    loss, _ = step()
    peak = _status("VmHWM") if reset else None
    method = "VmHWM after clear_refs"
    if peak is None:
        peak, method = _maxrss(), "ru_maxrss"
    return {"network": network, "batch": batch, "backend": backend, "threads": threads,
            "rss_before": before, "rss_peak_extra": max(0, peak - before), "method": method,
            "loss": float(FB.to_numpy(loss)[0])}


def measure(network: str, batch: int, backend: str, threads: int,
            timeout: float = 600) -> Dict[str, Any]:
    """Run the measurement in a fresh process (this package, this interpreter)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "fastconv._peakmem", network, str(batch), backend,
           str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"peak-memory child failed ({' '.join(cmd)}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print("usage: python -m fastconv._peakmem NETWORK BATCH BACKEND THREADS",
              file=sys.stderr)
        return 2
    print(json.dumps(run_child(args[0], int(args[1]), args[2], int(args[3]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
