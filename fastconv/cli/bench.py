"""``python -m fastconv bench``: time the seed networks' training steps and key layers on
fastconv, the NumPy reference and torch (when installed), side by side in one process.

Prints a table of medians (with min and max) and speed-ups, the machine line and the speed
targets, writes the results as JSON and a PNG bar chart of the speed-ups.
"""
import json
import os
import sys
import time

NETWORK_NAMES = ("mnist", "simple", "cifar", "edge")
KINDS = ("step", "inference", "layer", "norm", "gemm", "dense")


def register(subparsers):
    p = subparsers.add_parser(
        "bench", help="benchmark fastconv against the NumPy reference and torch",
        description="Time the training steps (forward + backward + SGD) and key layers of the "
                    "MNIST, SimpleCNN, CIFAR and edge networks, batch norm (beside "
                    "numpy.copyto of the same activation) and square GEMMs, on fastconv, "
                    "the NumPy reference and torch (when installed), side by side in this "
                    "process, interleaved, with the same warm-up for each.  Prints medians "
                    "(min-max) and speed-ups, writes JSON and a PNG chart of the speed-ups.")
    p.add_argument("--threads", type=int, nargs="+", default=None, metavar="N",
                   help="thread counts to measure at (default: fastconv's default count)")
    p.add_argument("--batch", type=int, default=64, help="batch size (default: 64)")
    p.add_argument("--repeat", type=int, default=7,
                   help="timed samples per backend and row; the table shows their median, "
                        "min and max (default: 7)")
    p.add_argument("--networks", nargs="+", choices=NETWORK_NAMES, default=list(NETWORK_NAMES),
                   metavar="NAME", help=f"networks to run: {', '.join(NETWORK_NAMES)} "
                                        "(default: all)")
    p.add_argument("--gemm-sizes", type=int, nargs="*", default=[1024, 2048], metavar="N",
                   help="square GEMM/dense sizes to time against numpy.matmul, float32 and "
                        "float64 (default: 1024 2048; none to skip)")
    p.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS), metavar="KIND",
                   help=f"row kinds to run: {', '.join(KINDS)} (default: all)")
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


def _table(rows, backends):
    header = ["threads", "case"] + [f"{b} median (min-max)" for b in backends]
    others = [b for b in backends if b != "fastconv"]
    header += [f"x {b}" for b in others] + ["GFLOP/s"]
    lines = []
    for r in rows:
        fc = r["backends"]["fastconv"]["median"]
        cells = [str(r["threads"]), r["name"]]
        cells += [_fmt_cell(r["backends"].get(b)) for b in backends]
        for b in others:
            m = r["backends"].get(b)
            cells.append("-" if m is None else f"{m['median'] / fc:.2f}")
        cells.append(f"{r['flops'] / fc / 1e9:.1f}" if r["flops"] else "-")
        lines.append(cells)
    widths = [max(len(x[i]) for x in [header] + lines) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
           "  ".join("-" * w for w in widths)]
    for cells in lines:
        out.append("  ".join((c.ljust(w) if i < 2 else c.rjust(w))
                             for i, (c, w) in enumerate(zip(cells, widths))))
    return "\n".join(out)


def _markdown(doc, backends):
    rows, others = doc["results"], [b for b in backends if b != "fastconv"]
    names = {"fastconv": "fastconv", "numpy": "NumPy reference", "torch": "torch"}
    out = ["## Benchmarks", "",
           f"Machine: {doc['machine_line']}.", "",
           f"Command: `{doc['command']}` (float32; medians of {doc['config']['repeat']} "
           "samples, min-max in parentheses; xB = B's median time / fastconv's; for the GEMM "
           "and dense rows the NumPy column is numpy.matmul).", "",
           *_load_note(doc),
           "| threads | case | " + " | ".join(names[b] for b in backends) + " | " +
           " | ".join(f"x {names[b]}" for b in others) + " | GFLOP/s |",
           "|---|---|" + "---:|" * (len(backends) + len(others) + 1)]
    for r in rows:
        fc = r["backends"]["fastconv"]["median"]
        cells = [str(r["threads"]), r["name"]] + [_fmt_cell(r["backends"].get(b))
                                                   for b in backends]
        cells += [("-" if r["backends"].get(b) is None
                   else f"{r['backends'][b]['median'] / fc:.2f}") for b in others]
        cells.append(f"{r['flops'] / fc / 1e9:.1f}" if r["flops"] else "-")
        out.append("| " + " | ".join(cells) + " |")
    if doc["targets"]:
        out += ["", "| target | threads | measured (median) | from min times | goal | met |",
                "|---|---:|---:|---:|---:|---|"]
        for t in doc["targets"]:
            out.append(f"| {t['target']} | {t['threads']} | {t['measured']:.2f} | "
                       f"{t['measured_min']:.2f} | {t['goal']:g} | "
                       f"{'yes' if t['met'] else '**no**'} |")
    return "\n".join(out) + "\n"


def _load_note(doc):
    load = doc.get("load_average") or {}
    if load.get("start") is None:
        return []
    return [f"Load average (1 min) at the start and end of the run: {load['start']:.1f} and "
            f"{load['end']:.1f} on {doc['machine']['cores']} cores.", ""]


def _plot(rows, backends, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("the speed-up chart needs matplotlib: pip install "
                           "'fastconv[examples]' (or pass --no-plot)") from None
    others = [b for b in backends if b != "fastconv"]
    labels = [f"{r['name']} [{r['threads']}t]" for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) * max(1, len(others)) + 1.5))
    height = 0.8 / max(1, len(others))
    for j, b in enumerate(others):
        ys, xs = [], []
        for i, r in enumerate(rows):
            m = r["backends"].get(b)
            if m is not None:
                ys.append(i + (j - (len(others) - 1) / 2) * height)
                xs.append(m["median"] / r["backends"]["fastconv"]["median"])
        ax.barh(ys, xs, height=height, label=f"fastconv vs {b}")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up (median time of the other backend / fastconv's), log scale")
    ax.set_title("fastconv speed-ups")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args):
    import fastconv
    from fastconv import _benchmarks as FB

    if args.repeat < 1:
        print("error: --repeat must be >= 1", file=sys.stderr)
        return 2
    if args.batch < 1:
        print("error: --batch must be >= 1", file=sys.stderr)
        return 2
    threads = args.threads or [fastconv.get_num_threads()]
    if any(t < 1 for t in threads):
        print("error: --threads must be >= 1", file=sys.stderr)
        return 2
    backends = ["fastconv"]
    if not args.no_numpy:
        backends.append("numpy")
    if not args.no_torch and FB.torch_or_none() is not None:
        backends.append("torch")
    os.makedirs(args.out, exist_ok=True)
    json_path = args.json or os.path.join(args.out, "fastconv_bench.json")
    png_path = os.path.join(args.out, "fastconv_bench.png")

    info = FB.machine_info()
    print("machine: " + FB.machine_line(info))
    command = "python -m fastconv bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"]
                                                      else sys.argv[1:])
    print(f"command: {command.strip()}")
    print(f"batch {args.batch}, {args.repeat} samples per backend, float32 unless stated; "
          "x B = B's median time / fastconv's", flush=True)

    load_start = _loadavg()
    if load_start is not None and load_start > 0.5 * info["cores"]:
        print(f"warning: load average {load_start:.1f} on {info['cores']} cores: other "
              "processes share the CPU and the timings will be noisy", flush=True)
    rows = []
    t_start = time.perf_counter()
    for t in threads:
        FB.warm_thread_pools(t)
        for make in FB.workloads(args.networks, args.batch, backends, tuple(args.gemm_sizes),
                                 kinds=tuple(args.only)):
            w = make()
            timings = FB.compare(w.functions, repeat=args.repeat,
                                 min_sample_time=args.min_sample_time,
                                 idle_wait=FB.POOL_IDLE_WAIT if t > 1 else 0.0)
            row = {"name": w.name, "kind": w.kind, "threads": t, "flops": w.flops,
                   "meta": w.meta, "backends": {b: tm.as_dict() for b, tm in timings.items()}}
            rows.append(row)
            print("  " + _table([row], backends).splitlines()[-1].strip(), flush=True)
            del w, timings
    elapsed = time.perf_counter() - t_start

    print()
    print(_table(rows, backends))
    targets = FB.evaluate_targets(rows)
    if targets:
        print()
        print("targets:")
        for tg in targets:
            status = "met" if tg["met"] else "MISSED"
            unit = "x" if tg["unit"] == "x" else f" {tg['unit']}"
            print(f"  [{tg['threads']}t] {tg['target']}: {tg['measured']:.2f}{unit} "
                  f"(from the min times: {tg['measured_min']:.2f}; goal {tg['goal']:g}{unit}) "
                  f"{status}")
    doc = {"machine": info, "machine_line": FB.machine_line(info), "command": command.strip(),
           "config": {"threads": threads, "batch": args.batch, "repeat": args.repeat,
                      "networks": list(args.networks), "gemm_sizes": list(args.gemm_sizes),
                      "kinds": list(args.only),
                      "backends": backends, "min_sample_time": args.min_sample_time,
                      "dtype": "float32"},
           "elapsed_seconds": elapsed, "load_average": {"start": load_start, "end": _loadavg()},
           "results": rows, "targets": targets}
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
            _plot(rows, backends, png_path)
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"wrote {png_path}")
    return 0
