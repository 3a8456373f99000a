"""The chart of ``python -m fastconv bench``: one panel per thread count, the rows grouped by
network (then the GEMM and the memory-bound groups), a bar per row showing fastconv's share of
the row's limit (the FMA peak of its SIMD path, or the copy bandwidth at its working set), and
the speed-ups over torch and the NumPy reference as text beside it."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

GEMM_GROUP = "GEMM and dense (x = vs numpy.matmul)"
MEMORY_GROUP = "memory-bound layers (share of copy bandwidth)"
_NAMES = {"numpy": "NumPy", "torch": "torch"}
CLIP = 1.5


def group_of(row: Mapping[str, Any]) -> str:
    """The chart group of a JSON row: its network's title, GEMM, or memory-bound."""
    from .. import _benchmarks as FB
    if row["kind"] in ("gemm", "dense"):
        return GEMM_GROUP
    if row["kind"] == "memory-bound":
        return MEMORY_GROUP
    meta = row.get("meta", {})
    net = meta.get("network") or (meta.get("networks") or [None])[0]
    if net in FB.NETWORKS:
        return FB.NETWORKS[net].title
    return "other"


def layout(rows: Sequence[Mapping[str, Any]]) -> List[Tuple[str, List[str]]]:
    """[(group, [row names in run order])], networks first (in NETWORKS order), then the GEMM
    and memory-bound groups; each name once even if several thread counts ran it."""
    from .. import _benchmarks as FB
    groups: Dict[str, List[str]] = {}
    for r in rows:
        names = groups.setdefault(group_of(r), [])
        if r["name"] not in names:
            names.append(r["name"])
    order = [n.title for n in FB.NETWORKS.values()] + ["other", GEMM_GROUP, MEMORY_GROUP]
    return [(g, groups[g]) for g in order if g in groups]


def annotation(row: Mapping[str, Any]) -> str:
    """'62% of avx2 float32 peak  x1.60 torch  x5.54 NumPy' for a row."""
    share = (row.get("shares") or {}).get("fastconv")
    parts = [f"{100 * share['share']:.0f}% {share['limit_name']}" if share else "no limit"]
    fc = row["backends"]["fastconv"]["median"]
    gemm = row["kind"] in ("gemm", "dense")
    for b in ("numpy",) if gemm else ("torch", "numpy"):
        m = row["backends"].get(b)
        if m is not None:
            parts.append(f"x{m['median'] / fc:.2f} {'numpy.matmul' if gemm else _NAMES[b]}")
    return "  ".join(parts)


def plot(doc: Mapping[str, Any], path: str) -> None:
    """Write the chart of a bench JSON document `doc` to `path` (PNG)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("the chart needs matplotlib: pip install 'fastconv[examples]' "
                           "(or pass --no-plot)") from None
    rows = doc["results"]
    threads = sorted({r["threads"] for r in rows}) or [1]
    groups = layout(rows)
    # y positions: one per row name, a gap and a title line per group
    ypos: Dict[str, float] = {}
    titles: List[Tuple[float, str]] = []
    y = 0.0
    for g, names in groups:
        titles.append((y, g))
        y += 1.0
        for n in names:
            ypos[n] = y
            y += 1.0
        y += 0.6
    height = max(3.0, 0.22 * y + 1.6)
    fig, axes = plt.subplots(1, len(threads), figsize=(7.5 * len(threads) + 3.0, height),
                             sharey=True, squeeze=False)
    colors = {"memory-bound": "#4c9f70", "gemm": "#7f7f7f", "dense": "#a0a0a0"}
    # shares above CLIP (a limit measured too low on a busy machine) are drawn at CLIP with
    # an arrow; their text gives the figure
    shares = [s["share"] for r in rows for s in [(r.get("shares") or {}).get("fastconv")] if s]
    xmax = max([1.0] + [min(v, CLIP) for v in shares])
    for ax, t in zip(axes[0], threads):
        for r in (r for r in rows if r["threads"] == t):
            s = (r.get("shares") or {}).get("fastconv")
            yy = ypos[r["name"]]
            width = min(s["share"], CLIP) if s else 0.0
            if s:
                ax.barh(yy, width, height=0.7, color=colors.get(r["kind"], "#3b75af"))
                if s["share"] > CLIP:
                    ax.plot([width], [yy], marker=">", color="black", markersize=4)
            ax.text(width + 0.015 * xmax, yy, annotation(r), va="center", fontsize=6.5)
        for ty, g in titles:
            ax.text(0.0, ty, g, va="center", fontsize=8.5, fontweight="bold")
            if ty > 0:
                ax.axhline(ty - 0.8, color="#cccccc", linewidth=0.6)
        ax.axvline(1.0, color="black", linewidth=0.6, linestyle=":")
        ax.set_xlim(0, xmax * 1.9)
        ticks = [v / 4 for v in range(int(xmax * 4) + 1)]
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{100 * v:.0f}%" for v in ticks], fontsize=8)
        ax.set_xlabel("fastconv's share of the row's limit (100% = the limit measured in "
                      "this run)", fontsize=8)
        ax.set_title(f"{t} thread" + ("" if t == 1 else "s"), fontsize=11)
        ax.grid(axis="x", color="#eeeeee", linewidth=0.5)
        ax.set_axisbelow(True)
    ax0 = axes[0][0]
    ax0.set_ylim(y, -1.0)
    ax0.set_yticks(list(ypos.values()))
    ax0.set_yticklabels(list(ypos.keys()), fontsize=7)
    machine = doc.get("machine_line", "")
    fig.suptitle("fastconv: share of the machine's limits (FMA peak of the SIMD path that ran, "
                 "or copy bandwidth at the working set), with speed-ups\n" + machine,
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / height))
    fig.savefig(path, dpi=110)
    plt.close(fig)
