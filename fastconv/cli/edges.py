"""``python -m fastconv edges [IMAGE]``: run EdgePipeline on a photograph.

The image (default: ``grace_hopper.jpg`` from matplotlib's sample data) is converted to grayscale,
resized to 300x300 and scaled to [0, 1]; the fixed Laplacian conv, relu, 2x2 max-pool, flatten and
the dense layer (22500 -> 64, default initialisation with ``--seed``) run on it. Each stage's shape
is printed, and a PNG panel of the input, the edge map, the relu output and the pooled map is
written to ``--out``.
"""
import argparse
import os

import numpy as np

NAME = "edges"
_EXAMPLES_HINT = 'pip install "fastconv[examples]"'


def register(subparsers):
    p = subparsers.add_parser(
        NAME, help="run the fixed Laplacian edge pipeline on an image and save a PNG panel",
        description="Run EdgePipeline (fixed 3x3 Laplacian conv, relu, maxpool 2, flatten, dense 22500->64) on an "
                    "image converted to grayscale and resized to 300x300; print each stage's shape and save a "
                    "PNG panel (input, edge map, relu, pooled).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("image", nargs="?", default=None,
                   help="image file (any format Pillow reads); default: matplotlib's sample grace_hopper.jpg")
    p.add_argument("--out", metavar="DIR", default=".", help="folder for edges.png")
    p.add_argument("--backend", choices=("c", "numpy"), default="c", help="run on the C kernels or the NumPy reference")
    p.add_argument("--seed", type=int, default=0, help="seed for the dense layer's initial weights")
    p.set_defaults(func=run)
    return p


def _load_gray(path):
    try:
        from PIL import Image
    except ImportError:
        raise SystemExit("fastconv edges needs Pillow (a dependency of matplotlib): %s" % _EXAMPLES_HINT) from None
    try:
        with Image.open(path) as img:
            img = img.convert("L").resize((300, 300), Image.BILINEAR)
            return np.asarray(img, dtype=np.float32) / np.float32(255)
    except (OSError, ValueError) as e:
        raise SystemExit("cannot read image %r: %s" % (path, e)) from None


def run(args):
    try:
        import matplotlib.cbook as cbook
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise SystemExit("fastconv edges needs matplotlib: %s" % _EXAMPLES_HINT) from None
    from .. import nn
    from ..backend import use_backend
    from ..models import EdgePipeline

    path = args.image
    if path is None:
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    gray = _load_gray(path)
    x = gray.reshape(1, 1, 300, 300)

    nn.init.manual_seed(args.seed)
    model = EdgePipeline().eval()
    with use_backend(args.backend):
        stages = model.stages(x)
    print("image: %s" % path)
    for name, arr in stages:
        print("%-8s %s" % (name, tuple(arr.shape)))

    out = dict(stages)
    fig = Figure(figsize=(12, 3.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    panels = [("input 300x300", out["input"][0, 0], "gray"),
              ("Laplacian (edge map)", out["conv"][0, 0], "RdBu_r"),
              ("relu", out["relu"][0, 0], "magma"),
              ("max-pool 2 -> 150x150", out["pool"][0, 0], "magma")]
    for ax, (title, img, cmap) in zip(axes, panels):
        if cmap == "RdBu_r":
            lim = float(np.max(np.abs(img))) or 1.0
            ax.imshow(img, cmap=cmap, vmin=-lim, vmax=lim)
        else:
            ax.imshow(img, cmap=cmap)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    dest = os.path.join(args.out, "edges.png")
    fig.savefig(dest, dpi=100)
    print("saved %s" % dest)
    return 0
