"""Run by tests/test_distributed.py under ``mpiexec -n 2 python -m mpi4py``.

``train OUT``: float64 MnistCNN training with SGD and Adam, on equal and unequal shards of the
same global batches; every rank saves its final parameters to OUT, and rank 0 writes what the
collective checks (broadcasts, refused mistakes) saw to OUT/checks.json.

``fail``: rank 1 raises while rank 0 waits in a collective.
"""
import json
import os
import sys

import numpy as np

import fastconv
from fastconv import distributed as dist
from fastconv import nn, optim
from fastconv.models import MnistCNN

STEPS, BATCH, SEED = 4, 8, 0
# rows of each global batch that each of the 2 ranks owns: shard() halves, and a 6 / 2 split
SPLITS = {"equal": None, "unequal": (slice(0, 6), slice(6, 8))}
OPTIMIZERS = {"sgd": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
              "adam": lambda ps: optim.Adam(ps, lr=1e-3)}


def data():
    rng = np.random.default_rng(42)
    return rng.standard_normal((STEPS, BATCH, 1, 28, 28)), rng.integers(0, 10, (STEPS, BATCH))


def train(out):
    xs, ys = data()
    loss_fn = nn.CrossEntropyLoss()
    for opt_name, make_opt in OPTIMIZERS.items():
        for split_name, split in SPLITS.items():
            fastconv.manual_seed(SEED + dist.rank())  # different on each rank until the broadcast
            model = MnistCNN().double()
            opt = dist.DistributedOptimizer(make_opt(model.parameters()))
            dist.broadcast_parameters(model, root=0)
            dist.broadcast_optimizer_state(opt, root=0)
            mine = dist.shard(BATCH) if split is None else split[dist.rank()]
            for x, y in zip(xs, ys):
                loss_fn(model(x[mine]), y[mine])
                model.zero_grad()
                model.backward(loss_fn.backward())
                opt.step(batch_size=len(y[mine]))
            model.save(os.path.join(out, "%s_%s_rank%d.npz" % (opt_name, split_name, dist.rank())))
            if opt_name == "adam" and split_name == "equal":
                adam_model, adam_opt = model, opt
    checks = {"size": dist.size(), "local_size": dist.local_size(), "threads": fastconv.get_num_threads()}

    # broadcast_optimizer_state: rank 1's state and lr are overwritten with rank 0's
    if dist.rank() == 1:
        adam_opt.param_groups[0]["lr"] = 0.5
        for st in adam_opt.state.values():
            st["exp_avg"] *= 3.0
            st["step"] = 99
    dist.broadcast_optimizer_state(adam_opt, root=0)
    params = list(adam_model.parameters())
    summary = (adam_opt.param_groups[0]["lr"], [adam_opt.state[id(p)]["step"] for p in params],
               float(sum(adam_opt.state[id(p)]["exp_avg"].sum() for p in params)))
    checks["optimizer_state_equal"] = len({repr(s) for s in dist.comm().allgather(summary)}) == 1

    # mistakes refused on every rank with the same error
    errors = {}
    other = nn.Linear(4, 3 if dist.rank() == 0 else 2)
    for name, call in [
        ("optimizer", lambda: dist.DistributedOptimizer(optim.SGD(other.parameters(), lr=0.1))),
        ("broadcast", lambda: dist.broadcast_parameters(other)),
        ("batch_size", lambda: opt.step(batch_size=4 if dist.rank() == 0 else None)),
    ]:
        try:
            call()
            errors[name] = None
        except ValueError as e:
            errors[name] = str(e)
    checks["errors"] = dist.comm().gather(errors, root=0)
    if dist.rank() == 0:
        with open(os.path.join(out, "checks.json"), "w") as fh:
            json.dump(checks, fh)


def fail():
    if dist.rank() == 1:
        raise RuntimeError("rank 1 fails on purpose")
    dist.comm().Barrier()  # rank 0 would wait here forever without python -m mpi4py


if __name__ == "__main__":
    dist.init()
    if sys.argv[1] == "train":
        train(sys.argv[2])
    else:
        fail()
