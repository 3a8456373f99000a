"""Data-parallel training over MPI, in Horovod's shape, on mpi4py (``pip install "fastconv[mpi]"``).

Every rank (process) holds the whole model and trains on its own part of each global batch; after
backward, :class:`DistributedOptimizer` averages the gradients of all ranks with one ``Allreduce``
per dtype, so that every rank applies the same update and the parameters stay identical::

    import fastconv
    from fastconv import distributed as dist, nn, optim

    dist.init()                                   # also sets this rank's kernel threads
    fastconv.manual_seed(0)
    model = MnistCNN()
    opt = dist.DistributedOptimizer(optim.Adam(model.parameters(), lr=1e-3))
    dist.broadcast_parameters(model, root=0)      # same start on every rank
    dist.broadcast_optimizer_state(opt, root=0)
    for xb, yb in global_batches:
        mine = dist.shard(len(xb))                # this rank's contiguous slice of the batch
        loss = loss_fn(model(xb[mine]), yb[mine])
        model.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step(batch_size=len(xb[mine]))        # weighted by shard size: the global-batch mean

Run it with ``mpiexec -n 2 python -m mpi4py script.py``: ``python -m mpi4py`` makes a rank that
raises abort the whole job, instead of leaving the other ranks waiting in a collective forever.

mpi4py is imported by :func:`init`, not when this module is imported. Collective calls
(everything but :func:`shard` and the queries) must be made by every rank, in the same order.
"""
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from .nn.module import Module, Parameter
from .validation import check_int

__all__ = ["init", "is_initialized", "comm", "rank", "size", "local_rank", "local_size", "shard",
           "broadcast_parameters", "broadcast_optimizer_state", "DistributedOptimizer",
           "default_num_threads"]

_INSTALL_HINT = 'pip install "fastconv[mpi]"  (mpi4py and the MPICH library, both from PyPI)'

_state: Dict[str, Any] = {"comm": None, "local": None, "MPI": None}


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("fastconv.distributed needs mpi4py and an MPI library: " + _INSTALL_HINT) from e
    return MPI


def _comm():
    c = _state["comm"]
    if c is None:
        raise RuntimeError("fastconv.distributed is not initialised: call fastconv.distributed.init() first")
    return c


def default_num_threads(local_comm: Any = None) -> int:
    """Kernel threads for this rank: the cores it may run on, shared among the ranks of this
    node that may run on them too. Unbound ranks (every rank may use every core) get
    ``cores // local ranks``; ranks that the launcher bound to their own cores get those cores.
    Never less than 1. A collective over ``local_comm`` (default: this node's ranks)."""
    try:
        mine = frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        mine = frozenset(range(os.cpu_count() or 1))
    local = _state["local"] if local_comm is None else local_comm
    if local is None:
        raise RuntimeError("fastconv.distributed is not initialised: call fastconv.distributed.init() first")
    sharing = sum(1 for other in local.allgather(mine) if other & mine)
    return max(1, len(mine) // max(1, sharing))


def init(comm: Any = None, num_threads: Optional[int] = None) -> None:
    """Start (or join) the MPI job and size this rank's kernel threads.

    ``comm`` is an mpi4py communicator (default ``MPI.COMM_WORLD``). Threads: ``num_threads`` if
    given; else ``OMP_NUM_THREADS`` if it is set; else :func:`default_num_threads` (cores divided
    among the ranks on this node, so that the ranks do not oversubscribe the cores). A collective:
    every rank calls it.
    """
    import fastconv

    MPI = _import_mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    _state.update(comm=comm, local=local, MPI=MPI)
    if num_threads is not None:
        fastconv.set_num_threads(num_threads)
        return
    threads = default_num_threads(local)  # a collective: every rank computes it
    if not os.environ.get("OMP_NUM_THREADS", "").strip():
        fastconv.set_num_threads(threads)


def is_initialized() -> bool:
    """True once :func:`init` has run in this process."""
    return _state["comm"] is not None


def comm() -> Any:
    """The mpi4py communicator that :func:`init` set up (for collectives of your own)."""
    return _comm()


def rank() -> int:
    """This process's rank, 0 .. size() - 1."""
    return _comm().Get_rank()


def size() -> int:
    """The number of ranks."""
    return _comm().Get_size()


def local_rank() -> int:
    """This process's rank among the ranks on the same node."""
    _comm()
    return _state["local"].Get_rank()


def local_size() -> int:
    """The number of ranks on this node (for sizing threads: cores // local_size())."""
    _comm()
    return _state["local"].Get_size()


def shard(n: int, rank: Optional[int] = None, size: Optional[int] = None) -> slice:
    """The ``slice`` of a global batch of ``n`` samples that rank ``rank`` of ``size`` owns (default:
    this process's rank and the job's size). The slices are contiguous, in rank order, cover
    ``0 .. n`` and differ in length by at most one (the first ``n % size`` ranks get one more)."""
    n = check_int(n, "shard: n", 0)
    if size is None:
        size = _comm().Get_size()
    if rank is None:
        rank = _comm().Get_rank()
    size = check_int(size, "shard: size", 1)
    rank = check_int(rank, "shard: rank", 0)
    if rank >= size:
        raise ValueError("shard: rank must be < size, got rank %d and size %d" % (rank, size))
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def _check_root(root: Any, comm: Any) -> int:
    root = check_int(root, "root", 0)
    if root >= comm.Get_size():
        raise ValueError("root must be a rank < %d, got %d" % (comm.Get_size(), root))
    return root


Signature = List[Tuple[str, Tuple[int, ...], str]]


def _agree(comm: Any, root: int, signature: Signature, what: str) -> None:
    """Raise the same ValueError on every rank unless every rank's signature equals root's."""
    sigs = comm.allgather(signature)
    ref = sigs[root]
    problems = []
    for r, sig in enumerate(sigs):
        if sig == ref:
            continue
        if len(sig) != len(ref):
            problems.append("rank %d has %d, rank %d has %d" % (r, len(sig), root, len(ref)))
            continue
        i = next(i for i, (a, b) in enumerate(zip(sig, ref)) if a != b)
        problems.append("item %d is %s on rank %d but %s on rank %d" % (i, _describe(sig[i]), r, _describe(ref[i]), root))
    if problems:
        raise ValueError("%s differ between ranks: %s" % (what, "; ".join(problems)))


def _describe(entry: Tuple[str, Tuple[int, ...], str]) -> str:
    label, shape, dt = entry
    return " ".join(s for s in (label, str(shape), np.dtype(dt).name) if s)


def _signature(names: Sequence[str], arrays: Sequence[np.ndarray]) -> Signature:
    return [(n, tuple(a.shape), a.dtype.str) for n, a in zip(names, arrays)]


def _by_dtype(arrays: Sequence[np.ndarray]) -> List[List[int]]:
    """Indices of ``arrays`` grouped by dtype, groups in a fixed order (the same on every rank)."""
    groups: Dict[str, List[int]] = {}
    for i, a in enumerate(arrays):
        groups.setdefault(a.dtype.str, []).append(i)
    return [groups[k] for k in sorted(groups)]


def _bcast_arrays(comm: Any, arrays: Sequence[np.ndarray], root: int) -> None:
    """Broadcast root's values into ``arrays`` (written in place), one fused Bcast per dtype."""
    for group in _by_dtype(arrays):
        sizes = [arrays[i].size for i in group]
        buf: np.ndarray
        if comm.Get_rank() == root:
            buf = np.concatenate([arrays[i].reshape(-1) for i in group])
        else:
            buf = np.empty(sum(sizes), dtype=arrays[group[0]].dtype)
        comm.Bcast(buf, root=root)
        if comm.Get_rank() != root:
            offset = 0
            for i, n in zip(group, sizes):
                arrays[i][...] = buf[offset:offset + n].reshape(arrays[i].shape)
                offset += n


def _parameter_list(params: Iterable[Parameter], fn: str) -> List[Parameter]:
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError("%s: expected a Module or fastconv.nn.Parameter objects, but item %d is %s"
                            % (fn, i, type(p).__name__))
    return params


def broadcast_parameters(params: Union[Module, Iterable[Parameter]], root: int = 0) -> None:
    """Copy rank ``root``'s parameters (and buffers) to every rank, in place.

    ``params`` is a Module (its whole ``state_dict``: parameters and buffers) or an iterable of
    Parameters. Every rank must hold the same names, shapes and dtypes, else every rank raises
    ValueError saying which item differs. A collective.
    """
    c = _comm()
    root = _check_root(root, c)
    if isinstance(params, Module):
        state = params.state_dict()
        names, arrays = list(state), list(state.values())
    else:
        plist = _parameter_list(params, "broadcast_parameters")
        names, arrays = [""] * len(plist), [p.data for p in plist]
    _agree(c, root, _signature(names, arrays), "broadcast_parameters: the parameters")
    _bcast_arrays(c, arrays, root)
    if isinstance(params, Module) and c.Get_rank() != root:
        params.load_state_dict(state)


def _unwrap(optimizer: Any) -> Any:
    return optimizer.optimizer if isinstance(optimizer, DistributedOptimizer) else optimizer


def _optimizer_params(optimizer: Any) -> List[Parameter]:
    return [p for g in optimizer.param_groups for p in g["params"]]


def broadcast_optimizer_state(optimizer: Any, root: int = 0) -> None:
    """Copy rank ``root``'s optimizer state (step counts, moment or momentum buffers) and
    hyperparameters (lr, betas, ...) to every rank. ``optimizer`` is a fastconv optimizer or a
    :class:`DistributedOptimizer`; its parameter groups must match across ranks (else every rank
    raises ValueError). A collective."""
    c = _comm()
    root = _check_root(root, c)
    opt = _unwrap(optimizer)
    params = _optimizer_params(opt)
    sig = _signature(["group %d:" % gi for gi, g in enumerate(opt.param_groups) for _ in g["params"]],
                     [p.data for p in params])
    _agree(c, root, sig, "broadcast_optimizer_state: the optimizer's parameters")
    meta = None
    arrays: List[np.ndarray] = []
    if c.Get_rank() == root:
        groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        states = []
        for p in params:
            entry: Dict[str, Tuple[Any, ...]] = {}
            for k, v in opt.state.get(id(p), {}).items():
                if isinstance(v, np.ndarray):
                    entry[k] = ("array", v.shape, v.dtype.str)
                    arrays.append(v)
                else:
                    entry[k] = ("value", v)
            states.append(entry)
        meta = {"groups": groups, "states": states}
    meta = c.bcast(meta, root=root)
    if c.Get_rank() != root:
        arrays = [np.empty(v[1], v[2]) for entry in meta["states"] for v in entry.values() if v[0] == "array"]
    _bcast_arrays(c, arrays, root)
    if c.Get_rank() == root:
        return
    for g, hyper in zip(opt.param_groups, meta["groups"]):
        g.update(hyper)
    received = iter(arrays)
    for p, entry in zip(params, meta["states"]):
        opt.state.pop(id(p), None)
        if entry:
            opt.state[id(p)] = {k: next(received) if v[0] == "array" else v[1] for k, v in entry.items()}


class DistributedOptimizer:
    """Wrap an optimizer so that :meth:`step` first averages the gradients over all ranks.

    The trainable parameters' gradients are packed into one buffer per dtype (allocated once)
    and summed with a single ``Allreduce`` per dtype, in place; each rank then runs the wrapped
    optimizer's step on the average, so the ranks stay identical. Everything else (``zero_grad``,
    ``param_groups``, ``state``) is the wrapped optimizer's. Building one is a collective: it
    checks that every rank's optimizer has the same parameters (count, shapes, dtypes,
    ``requires_grad``) and raises ValueError on every rank if not.
    """

    def __init__(self, optimizer: Any) -> None:
        if isinstance(optimizer, DistributedOptimizer):
            raise TypeError("DistributedOptimizer: the optimizer is already distributed")
        if not hasattr(optimizer, "param_groups") or not hasattr(optimizer, "step"):
            raise TypeError("DistributedOptimizer: expected a fastconv optimizer, got %s" % type(optimizer).__name__)
        c = _comm()
        self.optimizer = optimizer
        params = _optimizer_params(optimizer)
        sig = _signature(["" if p.requires_grad else "fixed" for p in params], [p.data for p in params])
        _agree(c, 0, sig, "DistributedOptimizer: the optimizer's parameters")
        trainable = [p for p in params if p.requires_grad]
        self._groups = []
        for group in _by_dtype([p.data for p in trainable]):
            ps = [trainable[i] for i in group]
            shapes = [p.data.shape for p in ps]
            n = sum(p.data.size for p in ps)
            # gradients, then one presence flag per parameter, then (weight, batch_size given)
            buf = np.empty(n + len(ps) + 2, dtype=ps[0].data.dtype)
            self._groups.append((ps, shapes, buf))

    def __getattr__(self, name: str) -> Any:
        if name == "optimizer":
            raise AttributeError(name)
        return getattr(self.optimizer, name)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)

    @property
    def fused_buffer_bytes(self) -> int:
        """Bytes sent into the Allreduce per step (the fused buffers, all dtypes)."""
        return sum(buf.nbytes for _, _, buf in self._groups)

    def synchronize(self, batch_size: Optional[int] = None) -> None:
        """Replace every trainable parameter's gradient by its average over the ranks (what
        :meth:`step` does before the update). A collective.

        ``batch_size`` is the number of samples this rank's gradient is a mean over. Given (on
        every rank), rank r is weighted by it, so uneven shards give exactly the mean gradient of
        the global batch; a rank with ``batch_size=0`` contributes nothing. Without it the ranks
        weigh the same (Horovod's Average). A parameter without a gradient counts as zero; one
        without a gradient on every rank keeps ``grad = None``.
        """
        MPI = _state["MPI"]
        c = _comm()
        if batch_size is None:
            weight, given = 1.0, 0.0
        else:
            weight, given = float(check_int(batch_size, "DistributedOptimizer.step: batch_size", 0)), 1.0
        for ps, shapes, buf in self._groups:
            nparams = len(ps)
            flags = buf[-(nparams + 2):-2]
            offset = 0
            for i, (p, shape) in enumerate(zip(ps, shapes)):
                if p.data.shape != shape:
                    raise ValueError("DistributedOptimizer: parameter %d changed shape from %s to %s since the "
                                     "optimizer was wrapped" % (i, shape, p.data.shape))
                n = p.data.size
                part = buf[offset:offset + n]
                if p.grad is None or weight == 0.0:  # (0 * a NaN gradient of an empty batch is NaN)
                    part[...] = 0
                    flags[i] = 0
                else:
                    np.multiply(p.grad.reshape(-1), weight, out=part)
                    flags[i] = 1
                offset += n
            buf[-2], buf[-1] = weight, given
            c.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            total, n_given = float(buf[-2]), int(round(float(buf[-1])))
            if 0 < n_given < c.Get_size():
                raise ValueError("DistributedOptimizer.step: batch_size was given on %d of %d ranks: give it "
                                 "on every rank or on none" % (n_given, c.Get_size()))
            if total == 0.0:
                raise ValueError("DistributedOptimizer.step: batch_size is 0 on every rank, so there is no "
                                 "gradient to average")
            offset = 0
            for i, (p, shape) in enumerate(zip(ps, shapes)):
                n = p.data.size
                if flags[i] == 0:
                    p.grad = None
                else:
                    p.grad = (buf[offset:offset + n] / buf.dtype.type(total)).reshape(shape)
                offset += n

    def step(self, batch_size: Optional[int] = None) -> None:
        """Average the gradients over the ranks (:meth:`synchronize`), then run the wrapped
        optimizer's step. A collective."""
        self.synchronize(batch_size)
        self.optimizer.step()
