"""``python -m fastconv bench``: time the seed networks' training steps, models and layers on
fastconv, the NumPy reference and torch (when installed), side by side in one process, and the
machine's limits in the same run.

Prints the machine line, numpy's BLAS and its kernel, a "limits" block (FMA peaks and copy
bandwidths at each thread count), a table of medians (with min and max), speed-ups, rates and
shares of the limits, and the speed targets; writes the results as JSON and a PNG chart of the
shares (one panel per thread count).
"""
import json
import os
import sys
import time

from .._benchmarks import KINDS
from .._limits import DEFAULT_SAMPLES as LIMIT_SAMPLES

NETWORK_NAMES = ("mnist", "simple", "cifar", "edge")


def register(subparsers):
    p = subparsers.add_parser(
        "bench", help="benchmark fastconv against the NumPy reference and torch",
        description="Time the training steps (forward + backward + SGD), the fastconv.models "
                    "models as users run them, the convs and memory-bound layers of the "
                    "MNIST, SimpleCNN, CIFAR and edge networks, batch norm (beside numpy.copyto "
                    "of the same activation) and square GEMMs, on fastconv, "
                    "the NumPy reference and torch (when installed), side by side in this "
                    "process, interleaved, with the same warm-up for each; and this machine's "
                    "limits (FMA peak per SIMD path, copy bandwidth per cache level) in the "
                    "same run.  Prints medians (min-max), speed-ups and each row's share of "
                    "its limit, writes JSON and a PNG chart of the shares.")
    p.add_argument("--threads", type=int, nargs="+", default=None, metavar="N",
                   help="thread counts to measure at (default: fastconv's default count)")
    p.add_argument("--batch", type=int, default=64, help="batch size (default: 64)")
    p.add_argument("--repeat", type=int, default=7,
                   help="timed samples per backend and row; the table shows their median, "
                        "min and max (default: 7)")
    p.add_argument("--networks", nargs="+", choices=NETWORK_NAMES, default=list(NETWORK_NAMES),
                   metavar="NAME", help=f"networks to run: {', '.join(NETWORK_NAMES)} "
                                        "(default: all)")
    p.add_argument("--gemm-sizes", type=int, nargs="*", default=[512, 1024, 2048], metavar="N",
                   help="square GEMM/dense sizes to time against numpy.matmul, float32 and "
                        "float64 (default: 512 1024 2048; add 4096 for the largest; none to "
                        "skip)")
    p.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS), metavar="KIND",
                   help=f"row kinds to run: {', '.join(KINDS)} (default: all).  step, "
                        "inference: the functional API; model: fastconv.models with nn and "
                        "optim.SGD (training step at --batch, eval-mode inference at batch 1 "
                        "and 64); layer: each conv forward and backward; memory-bound: relu, "
                        "max-pool and avg-pool forward and backward")
    p.add_argument("--no-limits", action="store_true",
                   help="do not measure the FMA peaks and copy bandwidths (no shares)")
    p.add_argument("--limit-samples", type=int, default=LIMIT_SAMPLES, metavar="N",
                   help=f"samples per limit; each figure is their best (default: "
                        f"{LIMIT_SAMPLES})")
    p.add_argument("--peak-memory", action="store_true",
                   help="also measure the peak extra memory (RSS high-water mark above the "
                        "baseline, in a fresh process per backend) of each network's model "
                        "training step at --peak-memory-batch")
    p.add_argument("--peak-memory-batch", type=int, default=256, metavar="N",
                   help="batch of the --peak-memory steps (default: 256)")
    p.add_argument("--no-numpy", action="store_true",
                   help="leave out the NumPy reference backend")
    p.add_argument("--no-torch", action="store_true", help="leave out torch even if installed")
    p.add_argument("--min-sample-time", type=float, default=0.02,
                   help="seconds one timed sample lasts at least (fast calls are repeated "
                        "within a sample; default: 0.02)")
    p.add_argument("--out", default=".", metavar="DIR",
                   help="folder for the JSON and PNG files (default: the current folder)")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="JSON output path (default: DIR/fastconv_bench.json)")
    p.add_argument("--markdown", default=None, metavar="PATH",
                   help="also write the table, targets, machine line and command as a "
                        "Markdown section (for the README)")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG chart")
    p.add_argument("--winograd", default=None,
                   choices=["off", "auto", "always", "fast", "always-f4"],
                   help="fastconv's Winograd mode for the run (fastconv.set_winograd; "
                        "default: the current one, 'auto' unless FASTCONV_WINOGRAD says "
                        "otherwise)")
    p.set_defaults(func=run)
    return p


def _loadavg():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _fmt_time(seconds):
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def _fmt_cell(m):
    if m is None:
        return "-"
    return f"{_fmt_time(m['median'])} ({_fmt_time(m['min'])}-{_fmt_time(m['max'])})"


def _rate_cells(row):
    """(rate, share) of fastconv's median on `row`, as text."""
    from .. import _limits as L
    share = (row.get("shares") or {}).get("fastconv")
    if share is None and row.get("flops"):
        fc = row["backends"]["fastconv"]["median"]
        return f"{row['flops'] / fc / 1e9:.1f} GFLOP/s", "-"
    if share is None and row.get("bytes"):
        fc = row["backends"]["fastconv"]["median"]
        return f"{row['bytes'] / fc / 1e9:.1f} GB/s", "-"
    return L.fmt_rate(share), L.fmt_share(share)


def _row_cells(r, backends):
    others = [b for b in backends if b != "fastconv"]
    fc = r["backends"]["fastconv"]["median"]
    cells = [str(r["threads"]), r["name"]]
    cells += [_fmt_cell(r["backends"].get(b)) for b in backends]
    for b in others:
        m = r["backends"].get(b)
        cells.append("-" if m is None else f"{m['median'] / fc:.2f}")
    return cells + list(_rate_cells(r))


def _table(rows, backends):
    header = ["threads", "case"] + [f"{b} median (min-max)" for b in backends]
    others = [b for b in backends if b != "fastconv"]
    header += [f"x {b}" for b in others] + ["fastconv rate", "share of limit"]
    lines = [_row_cells(r, backends) for r in rows]
    widths = [max(len(x[i]) for x in [header] + lines) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
           "  ".join("-" * w for w in widths)]
    for cells in lines:
        out.append("  ".join((c.ljust(w) if i < 2 or i == len(cells) - 1 else c.rjust(w))
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip())
    return "\n".join(out)


def _markdown(doc, backends):
    rows, others = doc["results"], [b for b in backends if b != "fastconv"]
    names = {"fastconv": "fastconv", "numpy": "NumPy reference", "torch": "torch"}
    out = ["## Benchmarks", "",
           f"Machine: {doc['machine_line']}.", "",
           f"Command: `{doc['command']}` (float32 unless stated; medians of "
           f"{doc['config']['repeat']} samples, min-max in parentheses; xB = B's median time / "
           "fastconv's; for the GEMM and dense rows the NumPy column is numpy.matmul; rate and "
           "share of limit are fastconv's median against the limits measured in the same "
           "run).", "",
           *_load_note(doc)]
    if doc["config"].get("winograd", "auto") != "auto":
        out += [f"fastconv's Winograd mode: `{doc['config']['winograd']}` "
                "(`fastconv.set_winograd`).", ""]
    if doc.get("limits"):
        from .. import _limits as L
        out += ["```", L.Limits.from_dict(doc["limits"]).block(), "```", ""]
    out += ["| threads | case | " + " | ".join(names[b] for b in backends) + " | " +
            " | ".join(f"x {names[b]}" for b in others) + " | rate | share of limit |",
            "|---|---|" + "---:|" * (len(backends) + len(others) + 1) + "---|"]
    for r in rows:
        out.append("| " + " | ".join(_row_cells(r, backends)) + " |")
    if doc["targets"]:
        out += ["", "| target | threads | measured (median) | from min times | goal | met |",
                "|---|---:|---:|---:|---:|---|"]
        for t in doc["targets"]:
            out.append(f"| {t['target']} | {t['threads']} | {_fmt_target(t, 'measured')} | "
                       f"{_fmt_target(t, 'measured_min')} | {_fmt_target(t, 'goal')} | "
                       f"{'yes' if t['met'] else '**no**'} |")
    if doc.get("peak_memory"):
        out += ["", "| peak extra memory, training step | " + " | ".join(
            names[b] for b in backends) + " |", "|---|" + "---:|" * len(backends)]
        for p in doc["peak_memory"]:
            out.append(f"| {p['name']} | " + " | ".join(
                _fmt_mib(p["backends"].get(b)) for b in backends) + " |")
    return "\n".join(out) + "\n"


def _fmt_target(t, key):
    v = t[key]
    return f"{100 * v:.0f}%" if t["unit"] == "of limit" else f"{v:.2f}x"


def _fmt_mib(m):
    return "-" if m is None else f"{m['rss_peak_extra'] / 2 ** 20:.1f} MiB"


def _load_note(doc):
    load = doc.get("load_average") or {}
    if load.get("start") is None:
        return []
    return [f"Load average (1 min) at the start and end of the run: {load['start']:.1f} and "
            f"{load['end']:.1f} on {doc['machine']['cores']} cores.", ""]


def _threads_ok(threads):
    return all(t >= 1 for t in threads)


def run(args):
    import fastconv
    from .. import _benchmarks as FB
    from .. import _limits as L
    from . import _chart

    for name, value, low in (("--repeat", args.repeat, 1), ("--batch", args.batch, 1),
                             ("--limit-samples", args.limit_samples, 1),
                             ("--peak-memory-batch", args.peak_memory_batch, 1)):
        if value < low:
            print(f"error: {name} must be >= {low}", file=sys.stderr)
            return 2
    threads = args.threads or [fastconv.get_num_threads()]
    if not _threads_ok(threads):
        print("error: --threads must be >= 1", file=sys.stderr)
        return 2
    if args.winograd is not None:
        fastconv.set_winograd(args.winograd)
    winograd = fastconv.get_winograd()
    backends = ["fastconv"]
    if not args.no_numpy:
        backends.append("numpy")
    if not args.no_torch and FB.torch_or_none() is not None:
        backends.append("torch")
    os.makedirs(args.out, exist_ok=True)
    json_path = args.json or os.path.join(args.out, "fastconv_bench.json")
    png_path = os.path.join(args.out, "fastconv_bench.png")

    info = FB.machine_info()
    blas = L.blas_info()
    print("machine: " + FB.machine_line(info))
    command = "python -m fastconv bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"]
                                                      else sys.argv[1:])
    print(f"command: {command.strip()}")
    print(f"numpy BLAS: {L.blas_line(blas)}")
    print(f"fastconv Winograd mode: {winograd}")
    for w in L.blas_warnings(blas):
        print(f"warning: {w}")
    print(f"batch {args.batch}, {args.repeat} samples per backend, float32 unless stated; "
          "x B = B's median time / fastconv's; rate and share: fastconv's median against the "
          "limit of its row (FMA peak of its SIMD path, or copy bandwidth at its working set)",
          flush=True)

    load_start = _loadavg()
    if load_start is not None and load_start > 0.5 * info["cores"]:
        print(f"warning: load average {load_start:.1f} on {info['cores']} cores: other "
              "processes share the CPU and the timings will be noisy", flush=True)
    limits = None if args.no_limits else L.Limits.detect(samples=args.limit_samples)
    isa = info["isa"]
    rows = []
    t_start = time.perf_counter()
    for t in threads:
        FB.warm_thread_pools(t)
        if limits is not None:
            if t > 1:
                time.sleep(FB.POOL_IDLE_WAIT)      # the other libraries' pools stop spinning
            limits.measure(t)
            print()
            print(limits.block([t]), flush=True)
            print()
        for make in FB.workloads(args.networks, args.batch, backends, tuple(args.gemm_sizes),
                                 kinds=tuple(args.only)):
            w = make()
            timings = FB.compare(w.functions, repeat=args.repeat,
                                 min_sample_time=args.min_sample_time,
                                 idle_wait=FB.POOL_IDLE_WAIT if t > 1 else 0.0)
            row = {"name": w.name, "kind": w.kind, "threads": t, "flops": w.flops,
                   "bytes": w.nbytes, "isa": isa, "meta": w.meta,
                   "backends": {b: tm.as_dict() for b, tm in timings.items()}}
            if limits is not None:      # provisional: the limits are measured again below
                row["shares"] = {b: L.row_share(row, limits, b) for b in row["backends"]}
            rows.append(row)
            print("  " + _table([row], backends).splitlines()[-1].strip(), flush=True)
            del w, timings
        if limits is not None:
            if t > 1:
                time.sleep(FB.POOL_IDLE_WAIT)
            limits.measure(t)                  # again, after the rows: the best of both counts
    if limits is not None:
        for row in rows:
            row["shares"] = {b: L.row_share(row, limits, b) for b in row["backends"]}
    peak_memory = []
    if args.peak_memory:
        from .. import _peakmem
        for name in args.networks:
            entry = {"name": f"model step {name} b{args.peak_memory_batch}", "network": name,
                     "batch": args.peak_memory_batch, "threads": threads[0], "backends": {}}
            for b in backends:
                entry["backends"][b] = _peakmem.measure(name, args.peak_memory_batch, b,
                                                        threads[0])
            print(f"  peak extra memory, {entry['name']} ({threads[0]} thread(s)): " +
                  ", ".join(f"{b} {_fmt_mib(m)}" for b, m in entry["backends"].items()),
                  flush=True)
            peak_memory.append(entry)
    elapsed = time.perf_counter() - t_start

    print()
    if limits is not None:
        print(limits.block())
        print()
    print(_table(rows, backends))
    targets = FB.evaluate_targets(rows, limits)
    if targets:
        print()
        print("targets:")
        for tg in targets:
            status = "met" if tg["met"] else "MISSED"
            print(f"  [{tg['threads']}t] {tg['target']}: {_fmt_target(tg, 'measured')} "
                  f"(from the min times: {_fmt_target(tg, 'measured_min')}; goal "
                  f"{_fmt_target(tg, 'goal')}) {status}")
    doc = {"machine": info, "machine_line": FB.machine_line(info), "command": command.strip(),
           "blas": blas, "blas_warnings": L.blas_warnings(blas),
           "config": {"threads": threads, "batch": args.batch, "repeat": args.repeat,
                      "winograd": winograd,
                      "networks": list(args.networks), "gemm_sizes": list(args.gemm_sizes),
                      "kinds": list(args.only),
                      "backends": backends, "min_sample_time": args.min_sample_time,
                      "dtype": "float32"},
           "elapsed_seconds": elapsed, "load_average": {"start": load_start, "end": _loadavg()},
           "limits": None if limits is None else limits.as_dict(),
           "results": rows, "targets": targets, "peak_memory": peak_memory}
    parent = os.path.dirname(os.path.abspath(json_path))
    os.makedirs(parent, exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"\nwrote {json_path}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(_markdown(doc, backends))
        print(f"wrote {args.markdown}")
    if not args.no_plot:
        try:
            _chart.plot(doc, png_path)
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"wrote {png_path}")
    return 0
