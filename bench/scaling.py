"""Figures for "Beyond one machine": MPI data-parallel training steps and Dask batch inference.

    python bench/scaling.py [--steps 30] [--rounds 3] [--out scaling.json]

needs the mpi and dask extras. It times, on this machine:

* the MNIST training step (MnistCNN, Adam, global batch 64) as 1 process x 1 thread, 1 process
  x 2 threads and 2 MPI ranks x 1 thread (each rank half of the batch), the MPI runs started
  with ``mpiexec -n N python -m mpi4py`` from here, the configurations interleaved over rounds;
* per step, the Allreduce of the fused gradient buffer against forward+backward+update, for
  every seed network and a 10x larger MNIST network (fc1 3136 -> 1280), with 2 ranks;
* ``fastconv.dask.predict`` on 4096 MNIST images (chunks of 256) with Dask's synchronous and
  threaded schedulers (1 kernel thread per task), beside one process calling the model on
  2 threads;

and prints the ratios, plus an estimate of the step time on N nodes over 10 and 100 Gb/s
networks from the measured gradient sizes and compute times (ring Allreduce:
``2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency``, no overlap with backward, since
fastconv averages after backward).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GLOBAL_BATCH = 64


def _models():
    from fastconv import nn
    from fastconv.models import CifarCNN, MnistCNN, SimpleCNN

    class MnistCNN10x(MnistCNN):
        """MnistCNN with a 10x wider first dense layer: 4.05 M parameters (9.6x)."""

        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(64 * 7 * 7, 1280)
            self.fc2 = nn.Linear(1280, 10)

    return {"simple": SimpleCNN, "mnist": MnistCNN, "cifar": CifarCNN, "mnist10x": MnistCNN10x}


def worker(model_name, steps):
    """One rank (or the only process): time `steps` training steps; rank 0 prints JSON."""
    import fastconv
    from fastconv import distributed as dist, nn, optim

    dist.init()
    fastconv.manual_seed(0)
    model = _models()[model_name]()
    shape = model.input_shape
    rng = np.random.default_rng(dist.rank())
    mine = dist.shard(GLOBAL_BATCH)
    n = mine.stop - mine.start
    x = rng.standard_normal((n,) + tuple(shape)).astype(np.float32)
    y = rng.integers(0, 10, n)
    opt = dist.DistributedOptimizer(optim.Adam(model.parameters(), lr=1e-4))
    dist.broadcast_parameters(model)
    loss_fn = nn.CrossEntropyLoss()
    times = {"compute": [], "reduce": [], "update": [], "step": []}
    for i in range(steps + 5):
        dist.comm().Barrier()
        t0 = time.perf_counter()
        loss_fn(model(x), y)
        model.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
        t1 = time.perf_counter()
        opt.synchronize(batch_size=n)  # the step as it runs: waits for the slowest rank, then reduces
        t2 = time.perf_counter()
        opt.optimizer.step()
        t3 = time.perf_counter()
        dist.comm().Barrier()
        t4 = time.perf_counter()
        opt.synchronize(batch_size=n)  # the Allreduce alone, every rank ready (timed, not applied)
        t5 = time.perf_counter()
        if i >= 5:  # warm-up steps left out
            for k, v in (("compute", t1 - t0), ("reduce", t5 - t4), ("update", t3 - t2), ("step", t3 - t0)):
                times[k].append(v)
    stats = dist.comm().gather({k: statistics.median(v) for k, v in times.items()}, root=0)
    if dist.rank() == 0:
        worst = {k: max(s[k] for s in stats) for k in stats[0]}
        worst.update(ranks=dist.size(), threads=fastconv.get_num_threads(), grad_bytes=opt.fused_buffer_bytes,
                     params=sum(p.size for p in model.parameters()))
        print(json.dumps(worst), flush=True)


def _mpiexec():
    path = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return path if os.access(path, os.X_OK) else "mpiexec"


def run_config(model_name, ranks, threads, steps):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", __file__, "--worker", model_name,
           "--steps", str(steps)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=900).stdout
    return json.loads(out.strip().splitlines()[-1])


def dask_figures(rounds):
    import dask.array as da

    import fastconv
    import fastconv.dask as fd
    from fastconv import nn
    from fastconv.models import MnistCNN

    fastconv.manual_seed(0)
    model = MnistCNN().eval()
    x = np.random.default_rng(0).standard_normal((4096, 1, 28, 28)).astype(np.float32)
    y = fd.predict(model, da.from_array(x, chunks=(256, -1, -1, -1)))
    y.compute(scheduler="threads")  # warm-up
    times = {"sync": [], "threads": [], "in-process, 2 threads": []}
    for _ in range(rounds):
        for sched in ("sync", "threads"):
            t0 = time.perf_counter()
            y.compute(scheduler=sched)
            times[sched].append(time.perf_counter() - t0)
        fastconv.set_num_threads(2)
        t0 = time.perf_counter()
        with nn.no_grad():
            for i in range(0, len(x), 256):
                model(x[i:i + 256])
        times["in-process, 2 threads"].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def estimate(step_s, grad_bytes, nodes, gbit, latency=20e-6):
    """Step time on `nodes` nodes (one rank each, fixed per-node batch): compute + ring Allreduce."""
    if nodes == 1:
        return step_s
    bw = gbit * 1e9 / 8
    return step_s + 2 * (nodes - 1) / nodes * grad_bytes / bw + 2 * (nodes - 1) * latency


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", metavar="MODEL", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="also write the figures as JSON here")
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.steps)

    import fastconv
    from fastconv import _benchmarks, _kernels

    print("fastconv %s, SIMD %s, CPU: %s, %d cores" % (fastconv.__version__, _kernels.get_isa(),
                                                        _benchmarks.cpu_model(), len(os.sched_getaffinity(0))))
    configs = [(1, 1), (1, 2), (2, 1)]
    mnist = {c: [] for c in configs}
    for _ in range(args.rounds):
        for ranks, threads in configs:
            mnist[(ranks, threads)].append(run_config("mnist", ranks, threads, args.steps))
    step = {c: statistics.median(r["step"] for r in runs) for c, runs in mnist.items()}
    print("\nMNIST training step, global batch %d (median of %d rounds x %d steps):" % (GLOBAL_BATCH, args.rounds,
                                                                                       args.steps))
    for (ranks, threads), s in step.items():
        print("  %d rank(s) x %d thread(s): %.1f ms/step, %.0f images/s" % (ranks, threads, s * 1e3,
                                                                         GLOBAL_BATCH / s))
    print("  2 ranks x 1 thread over 1 x 1: %.2fx throughput" % (step[(1, 1)] / step[(2, 1)]))
    print("  2 ranks x 1 thread over 1 process x 2 threads: %.2fx throughput" % (step[(1, 2)] / step[(2, 1)]))

    print("\nPer step on 2 ranks x 1 thread (each rank %d images): compute (forward+backward), Allreduce "
          "(pack, reduce, unpack, every rank ready) and update:" % (GLOBAL_BATCH // 2))
    per_model = {}
    for name in _models():
        runs = [run_config(name, 2, 1, args.steps) for _ in range(args.rounds)]
        r = {k: statistics.median(run[k] for run in runs) for k in ("compute", "reduce", "update", "step")}
        r.update(grad_bytes=runs[0]["grad_bytes"], params=runs[0]["params"])
        per_model[name] = r
        print("  %-9s %9d params, %6.2f MB gradient: compute %6.2f ms, Allreduce %5.2f ms (%4.1f%%), update "
              "%5.2f ms" % (name, r["params"], r["grad_bytes"] / 1e6, r["compute"] * 1e3, r["reduce"] * 1e3,
                            100 * r["reduce"] / r["step"], r["update"] * 1e3))

    print("\nEstimated step time on N nodes (one rank per node, %d images per rank), relative to one node:"
          % (GLOBAL_BATCH // 2))
    for gbit in (10, 100):
        print("  %d Gb/s, 20 us latency:" % gbit)
        for name, r in per_model.items():
            base = r["compute"] + r["update"]
            cells = ["N=%d %.2fx" % (n, estimate(base, r["grad_bytes"], n, gbit) / base) for n in (2, 4, 8, 16, 64)]
            print("    %-9s %s" % (name, ", ".join(cells)))

    d = dask_figures(args.rounds)
    print("\nfastconv.dask.predict, MnistCNN, 4096 images in chunks of 256 (1 kernel thread per task):")
    for k, v in d.items():
        print("  %-22s %.3f s (%.0f images/s)" % (k, v, 4096 / v))
    print("  threaded over synchronous: %.2fx" % (d["sync"] / d["threads"]))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"mnist_step": {"%dx%d" % c: v for c, v in step.items()}, "per_model": per_model,
                       "dask": d}, fh, indent=1)


if __name__ == "__main__":
    sys.exit(main())
