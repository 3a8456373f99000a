"""Batch inference and feature extraction over Dask arrays (``pip install "fastconv[dask]"``).

:func:`predict` runs a model over a Dask array of images, blockwise along the batch axis, and
returns a Dask array of outputs; :func:`features` returns a named layer's activations instead::

    import dask.array as da
    import fastconv.dask

    images = da.from_zarr("images.zarr")                 # (N, 1, 28, 28) float32, chunked along N
    logits = fastconv.dask.predict(model, images)        # lazy (N, 10)
    labels = logits.argmax(axis=1).compute()             # threaded scheduler: both cores, no copies

    from dask.distributed import Client
    with Client("tcp://scheduler:8786"):                 # or a LocalCluster
        feats = fastconv.dask.features(model, images, layer="fc1").compute()

The model travels as its ``state_dict`` (its arrays) plus a small pickle of its structure, taken
when ``predict`` is called: once per worker (scattered to every worker of a ``dask.distributed``
client, or one shared graph key on the local schedulers), never embedded in every task, and never
with what its last forward kept. Each worker builds the model once (it keeps the last few it
built, by a hash of the weights, for a copy fetched again) and runs it in eval mode
inside ``fastconv.nn.no_grad()``, so several worker threads share it safely, each calling the
kernels with ``num_threads`` threads (default 1: one kernel thread per worker thread, so a worker
with as many threads as cores does not oversubscribe them).
"""
import io
import pickle
import sys
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

import fastconv
from .nn.module import Module, no_grad
from .validation import check_int

__all__ = ["predict", "features"]

_INSTALL_HINT = 'pip install "fastconv[dask]"'

# how many times this process built a model from a shipped payload (the tests read it)
_builds = 0
_builds_lock = threading.Lock()
# The models this process built lately, by content token, most recent last. A worker sees several
# deserialised copies of one payload: a second scatter of the same weights, and the replica that
# dask.distributed's active memory manager drops from all workers but one once no task there
# waits for it (seconds after a broadcast scatter), fetched again by the next task that needs it.
# All of them share one model. A few are kept: each holds one set of weights.
_built: "OrderedDict[str, Module]" = OrderedDict()
_BUILT_KEPT = 4


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as e:
        raise ImportError("fastconv.dask needs dask: " + _INSTALL_HINT) from e
    return dask, da


class _ShippedModel:
    """A model as it travels to the workers: its state_dict and a pickle of its structure that
    holds no array (every parameter and buffer is a reference into the state_dict)."""

    def __init__(self, model: Module) -> None:
        import cloudpickle  # a dependency of dask; pickles classes defined in __main__ by value

        arrays: Dict[int, str] = {}
        state: Dict[str, np.ndarray] = {}
        for prefix, m in model.named_modules():
            pre = prefix + ("." if prefix else "")
            for name, p in m._parameters.items():
                arrays[id(p.data)] = pre + name
                state[pre + name] = p.data.copy()  # a snapshot: later training does not leak in
            for name, b in m._buffers.items():
                if b is not None:
                    arrays[id(b)] = pre + name
                    state[pre + name] = np.array(b, copy=True)

        class Pickler(cloudpickle.Pickler):
            def persistent_id(self, obj):
                return arrays.get(id(obj)) if isinstance(obj, np.ndarray) else None

        buf = io.BytesIO()
        Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(model)
        self.structure = buf.getvalue()
        self.state = state
        from dask.base import tokenize  # hashes the bytes of every array
        self.token = "fastconv-model-" + tokenize(self.structure, sorted(state.items()))
        self._model: Optional[Module] = None
        self._lock = threading.Lock()

    def __getstate__(self) -> Dict[str, Any]:
        return {"structure": self.structure, "state": self.state, "token": self.token}

    def __setstate__(self, d: Dict[str, Any]) -> None:
        self.structure, self.state, self.token = d["structure"], d["state"], d["token"]
        self._model, self._lock = None, threading.Lock()

    def __dask_tokenize__(self) -> Any:
        return self.token

    @property
    def nbytes(self) -> int:
        return len(self.structure) + sum(a.nbytes for a in self.state.values())

    def model(self) -> Module:
        """The model, built once per process for every copy of the same payload, in eval mode."""
        global _builds
        with self._lock:
            if self._model is None:
                with _builds_lock:
                    model = _built.get(self.token)
                    if model is not None:
                        _built.move_to_end(self.token)
                    else:
                        state = self.state

                        class Unpickler(pickle.Unpickler):
                            def persistent_load(self, pid):
                                return state[pid]

                        model = Unpickler(io.BytesIO(self.structure)).load().eval()
                        _built[self.token] = model
                        if len(_built) > _BUILT_KEPT:
                            _built.popitem(last=False)
                        _builds += 1
                self._model = model
            return self._model


class _Stop(Exception):
    """Raised by the features hook to end a forward once the wanted layer has run."""

    def __init__(self, out: Any) -> None:
        super().__init__()
        self.out = out


def _forward(model: Module, x: np.ndarray, layer: Optional[str]) -> np.ndarray:
    if layer is None:
        return model(x)
    from .nn import module as _module

    target = dict(model.named_modules())[layer]
    me = threading.get_ident()

    def hook(m, out):
        if m is target and threading.get_ident() == me:
            raise _Stop(out)

    _module._forward_hooks.append(hook)
    try:
        model(x)
    except _Stop as stop:
        out = stop.out
        return out[0] if isinstance(out, tuple) else out
    finally:
        _module._forward_hooks.remove(hook)
    raise ValueError("features: layer %r did not run in the model's forward" % layer)


def _run_block(block: np.ndarray, shipped: Any, batch_size: Optional[int], num_threads: int,
               layer: Optional[str], trailing: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if not isinstance(shipped, _ShippedModel):  # a Future computed by a local scheduler
        shipped = shipped.result()
    model = shipped.model()
    n = block.shape[0]
    step = n if batch_size is None else batch_size
    with fastconv.local_num_threads(num_threads), no_grad():
        outs = [np.asarray(_forward(model, block[i:i + step], layer)) for i in range(0, n, max(step, 1))]
    if not outs:
        return np.empty((0,) + trailing, dtype)
    return outs[0] if len(outs) == 1 else np.concatenate(outs)


def _distributed_client() -> Any:
    """The default dask.distributed client, if distributed is in use in this process."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import default_client
        return default_client()
    except (ImportError, ValueError):
        return None


def _check_int(value: Any, name: str, fn: str) -> Optional[int]:
    return None if value is None else check_int(value, "%s: %s" % (fn, name), 1)


def _map(fn: str, model: Module, images: Any, layer: Optional[str], batch_size: Optional[int],
         num_threads: int) -> Any:
    dask, da = _import_dask()
    if not isinstance(model, Module):
        raise TypeError("%s: model must be a fastconv.nn.Module, got %s" % (fn, type(model).__name__))
    if not isinstance(images, da.Array):
        raise TypeError("%s: images must be a dask array of shape (N, ...), chunked along N, got %s; wrap a "
                        "NumPy array with dask.array.from_array(x, chunks=(256,) + x.shape[1:])"
                        % (fn, type(images).__name__))
    if images.ndim < 1:
        raise ValueError("%s: images must have a batch axis, got a 0-d array" % fn)
    if images.dtype.kind != "f":
        raise TypeError("%s: images must be float32 or float64, got %s" % (fn, images.dtype))
    batch_size = _check_int(batch_size, "batch_size", fn)
    num_threads = check_int(num_threads, "%s: num_threads" % fn, 1)
    if layer is not None:
        names = [name for name, _ in model.named_modules() if name]
        if layer not in names:
            raise ValueError("%s: model has no layer %r; its layers are %s" % (fn, layer, ", ".join(names)))
    if any(len(c) > 1 for c in images.chunks[1:]):
        images = images.rechunk({i: -1 for i in range(1, images.ndim)})

    # The output's shape per image and dtype, from one image of zeros (this also raises the
    # model's own error, now, for images of the wrong shape or dtype).
    shipped = _ShippedModel(model)
    with no_grad():  # (the local schedulers' tasks reuse the model built here)
        out = np.asarray(_forward(shipped.model(), np.zeros((1,) + images.shape[1:], images.dtype), layer))
    trailing, dtype = tuple(out.shape[1:]), out.dtype

    client = _distributed_client()
    if client is not None:
        ref = client.scatter(shipped, broadcast=True, hash=True)  # once per worker, not in the graph
    else:
        ref = dask.delayed(shipped, pure=True)  # one key of the graph, shared by every task
    nd_in, nd_out = images.ndim, 1 + len(trailing)
    extra = {"drop_axis": list(range(nd_out, nd_in))} if nd_out < nd_in else \
        {"new_axis": list(range(nd_in, nd_out))} if nd_out > nd_in else {}
    name = "fastconv-%s-%s" % (fn, dask.base.tokenize(images, shipped, layer, batch_size, num_threads))
    return da.map_blocks(_run_block, images, ref, batch_size, num_threads, layer, trailing, dtype,
                         chunks=(images.chunks[0],) + tuple((s,) for s in trailing), dtype=dtype,
                         meta=np.empty((0,) * nd_out, dtype), name=name, **extra)


def predict(model: Module, images: Any, batch_size: Optional[int] = None, num_threads: int = 1) -> Any:
    """The model's outputs for ``images``, a dask array ``(N, C, H, W)`` (or ``(N, ...)``) chunked
    along N, as a lazy dask array ``(N, ...)`` with the same chunks along N.

    Each chunk runs as one batch, or in batches of at most ``batch_size`` images (to bound the
    activation memory of big chunks). ``num_threads`` kernel threads per task (default 1). The
    model's current weights are used; training it afterwards does not change the result.
    """
    return _map("predict", model, images, None, batch_size, num_threads)


def features(model: Module, images: Any, layer: str, batch_size: Optional[int] = None,
             num_threads: int = 1) -> Any:
    """Like :func:`predict`, but returns the output of the layer named ``layer`` (a dotted name
    of ``model.named_modules()``, as in ``state_dict``: ``"fc1"``, ``"features.3"``); the forward
    stops there."""
    if not isinstance(layer, str):
        raise TypeError("features: layer must be a layer name (str), got %s" % type(layer).__name__)
    return _map("features", model, images, layer, batch_size, num_threads)
