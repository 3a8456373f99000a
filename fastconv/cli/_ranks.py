"""How ``train`` runs: in one process, or as one rank of an MPI job (``--distributed``).

Both objects have the same methods, so the training loop is written once: each global batch is
split with :meth:`shard`, gradients are averaged by the optimizer that :meth:`start` returns, and
:meth:`sum` adds up per-rank figures (loss, correct answers) so that rank 0 reports the whole
batch's. Only the root rank prints, draws the progress bar and writes files.
"""
from typing import Any, Tuple

import numpy as np

_MPI_HINT = 'pip install "fastconv[mpi]"'


class Local:
    """One process: the whole batch, the optimizer as it is."""

    root = True
    size = 1

    def describe(self) -> str:
        return ""

    def start(self, model: Any, opt: Any) -> Any:
        return opt

    def shard(self, n: int) -> slice:
        return slice(0, n)

    def step(self, opt: Any, batch_size: int) -> None:
        opt.step()

    def sum(self, *values: float) -> Tuple[float, ...]:
        return values


class Ranks(Local):
    """One rank of an MPI job: this rank's shard of each batch, gradients averaged over ranks."""

    def __init__(self) -> None:
        try:
            from .. import distributed
            distributed.init()
        except ImportError as e:
            raise SystemExit("train --distributed needs mpi4py and an MPI library: %s (%s)" % (_MPI_HINT, e)) from None
        self.dist = distributed
        self.size = distributed.size()
        self.root = distributed.rank() == 0
        self._buf = np.zeros(0)

    def describe(self) -> str:
        import fastconv
        return "; %d ranks x %d threads" % (self.size, fastconv.get_num_threads())

    def start(self, model: Any, opt: Any) -> Any:
        opt = self.dist.DistributedOptimizer(opt)
        self.dist.broadcast_parameters(model, root=0)
        self.dist.broadcast_optimizer_state(opt, root=0)
        return opt

    def shard(self, n: int) -> slice:
        return self.dist.shard(n)

    def step(self, opt: Any, batch_size: int) -> None:
        opt.step(batch_size=batch_size)

    def sum(self, *values: float) -> Tuple[float, ...]:
        from mpi4py import MPI

        buf = np.array(values, dtype=np.float64)
        self.dist.comm().Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        return tuple(float(v) for v in buf)


def ranks(distributed: bool) -> Local:
    return Ranks() if distributed else Local()
