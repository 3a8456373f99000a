"""Module, Parameter and Sequential: the mechanics shared by every layer.

A Module computes ``forward(x)`` and keeps what it needs from that call; ``backward(grad_output)``
then returns ``grad_input`` and adds the gradients of its parameters into ``Parameter.grad``
(gradients accumulate, as in PyTorch, until ``zero_grad()``).

A Module made of other modules writes its ``backward`` as its ``forward`` read backwards::

    class Net(Module):
        def __init__(self):
            super().__init__()
            self.fc1 = Linear(784, 64)
            self.relu = ReLU()
            self.fc2 = Linear(64, 10)

        def forward(self, x):
            return self.fc2(self.relu(self.fc1(x)))

        def backward(self, grad_output):
            g = self.fc2.backward(grad_output)
            g = self.relu.backward(g)
            return self.fc1.backward(g)

Each child remembers its own last input, so a module whose ``forward`` calls the same child twice
must use two children instead.

What a layer keeps for backward is kept only by a forward that may be differentiated: in training
mode, outside :func:`no_grad`. A forward in eval mode (after ``eval()``) or inside ``no_grad()``
keeps nothing, so inference holds no activations and a model pickles to its parameters; a backward
after such a forward raises. ``enable_grad()`` makes eval-mode forwards keep it too (for input
gradients of an eval-mode model). A layer written by hand stores its state with
:meth:`Module.save_for_backward` and reads it with :meth:`Module.saved_for_backward` to follow
these rules.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import (IO, Any, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple,
                    TypeVar, Union, overload)

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = ["Parameter", "Module", "Sequential", "no_grad", "enable_grad"]

# Set by fastconv.nn.summary while it traces a model: called with (module, output) after forward.
_forward_hooks: List[Callable[[Module, Any], None]] = []

_M = TypeVar("_M", bound="Module")
#: where save/load read and write: a path or an open binary file
_File = Union[str, "os.PathLike[str]", IO[bytes]]

# Per-thread gradient mode: None (forwards keep state in training mode only), False (no_grad) or
# True (enable_grad). Thread-local, as PyTorch's, so that inference threads do not affect training.
class _GradModeLocal(threading.local):
    # class-level defaults: a thread that never entered no_grad()/enable_grad() finds these
    # without a failed instance lookup (getattr with a default on a missing thread-local
    # attribute costs about 1.5 us, paid by every layer's forward)
    mode: Optional[bool] = None


_grad_mode = _GradModeLocal()


class _GradMode:
    _mode: Optional[bool] = None

    def __enter__(self):
        if not hasattr(_grad_mode, "stack"):
            _grad_mode.stack = []
        _grad_mode.stack.append(_grad_mode.mode)
        _grad_mode.mode = self._mode
        return self

    def __exit__(self, exc_type, exc, tb):
        _grad_mode.mode = _grad_mode.stack.pop()
        return False

    def __call__(self, fn):
        """Use as a decorator: ``fn`` runs inside the context."""
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Context manager (and decorator) in which forwards keep nothing for backward, in any mode.

    For inference: no layer holds on to its input or output, and ``backward`` after such a forward
    raises. It applies to the calling thread only, like ``torch.no_grad``.
    """

    _mode = False


class enable_grad(_GradMode):
    """Context manager (and decorator) in which forwards keep what backward needs in any mode, eval
    mode included (for example for the input gradient of a model in eval mode). Inside ``no_grad``
    it turns keeping back on. Calling thread only."""

    _mode = True


class Parameter:
    """A trainable array: ``data`` holds the values, ``grad`` the accumulated gradient (or None).

    ``requires_grad=False`` marks a fixed parameter: backward does not fill its ``grad``,
    optimisers leave it alone and ``summary`` counts it as non-trainable. It is still part of
    ``state_dict``.
    """

    __slots__ = ("data", "grad", "requires_grad")
    data: NDArray[Any]
    grad: Optional[NDArray[Any]]
    requires_grad: bool

    def __init__(self, data: ArrayLike, requires_grad: bool = True) -> None:
        arr = np.asarray(data)
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float32)
        self.data = np.array(arr, copy=True, order="C")
        self.grad = None
        self.requires_grad = bool(requires_grad)

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def __getstate__(self) -> Dict[str, Any]:
        # As torch: a pickled (or deep-copied) parameter keeps its values, not its gradient.
        return {"data": self.data, "requires_grad": self.requires_grad}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.data = state["data"]
        self.requires_grad = state["requires_grad"]
        self.grad = None

    def accumulate(self, grad: Optional[ArrayLike]) -> None:
        """Add ``grad`` into ``self.grad`` (no-op for a fixed parameter)."""
        if not self.requires_grad or grad is None:
            return
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.data.dtype, copy=True).reshape(self.data.shape)
        else:
            self.grad += grad

    def __repr__(self) -> str:
        return "Parameter(shape=%s, dtype=%s%s)" % (
            tuple(self.data.shape), self.data.dtype, "" if self.requires_grad else ", requires_grad=False")


class Module:
    """Base class of every layer and model (PyTorch's ``nn.Module`` in NumPy)."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- attribute registration -------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                "cannot assign %s before Module.__init__() call" % name)
        params, buffers, modules = self._parameters, self._buffers, self._modules
        for d in (params, buffers, modules):
            d.pop(name, None)
        self.__dict__.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        # Parameters and submodules are also instance attributes, so that reading one is a
        # plain attribute lookup (a failed lookup and __getattr__ cost about 1 us: a dozen
        # per forward of a small network); the registries stay the source of truth.
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError("'%s' object has no attribute '%s'" % (type(self).__name__, name))

    def __delattr__(self, name: str) -> None:
        for key in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[key]:
                del self.__dict__[key][name]
                self.__dict__.pop(name, None)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError("cannot assign '%s' object to parameter '%s' (fastconv.nn.Parameter or None required)"
                            % (type(param).__name__, name))
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, array: Optional[ArrayLike]) -> None:
        """Non-trainable state that belongs in ``state_dict`` (e.g. running statistics)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = None if array is None else np.asarray(array)

    def add_module(self, name: str, module: Optional[Module]) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError("%s is not a Module subclass" % type(module).__name__)
        if module is None:
            self._modules.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, module)

    # ---- what forward keeps for backward -----------------------------------------------------
    def _keeps_for_backward(self):
        mode = _grad_mode.mode
        return self.training if mode is None else mode

    def save_for_backward(self, **values: Any) -> None:
        """Set the attributes ``values`` (name -> object) that this module's backward reads, if
        this forward may be differentiated: in training mode outside ``no_grad()``, or inside
        ``enable_grad()``. Otherwise set them to None, dropping what an earlier forward kept, so
        that a backward raises (:meth:`backward_error`) instead of using a stale forward. Pickling
        leaves these attributes out."""
        d = self.__dict__
        keep = self._keeps_for_backward()
        if not keep and d.get("_saved") is False and d.get("_saved_last") == list(values):
            return  # the forward before kept nothing either: these are all None already
        names = d.setdefault("_saved_names", [])
        for k in names:  # each forward replaces all that the one before kept
            object.__setattr__(self, k, None)
        for k, v in values.items():
            object.__setattr__(self, k, v if keep else None)
            if k not in names:
                names.append(k)
        d["_saved_last"] = list(values)
        d["_saved"] = keep
        if not keep:
            d["_saved_why"] = "no_grad" if _grad_mode.mode is False else "eval"

    def saved_for_backward(self) -> Dict[str, Any]:
        """The attributes set by the last :meth:`save_for_backward` call, by name; raises
        :meth:`backward_error` when the last forward kept nothing."""
        if not self.__dict__.get("_saved"):
            raise self.backward_error()
        return {k: getattr(self, k) for k in self.__dict__.get("_saved_last", ())}

    def backward_error(self) -> RuntimeError:
        """The RuntimeError for a backward with nothing kept, saying why (no forward yet, a forward
        in eval mode or inside ``no_grad()``, or a pickled or copied module)."""
        name = type(self).__name__
        why = None if self.__dict__.get("_saved") else self.__dict__.get("_saved_why")
        if why == "eval":
            return RuntimeError(
                "%s.backward called after a forward in eval mode, which keeps nothing for backward: call "
                "train() before that forward, or run it inside fastconv.nn.enable_grad()" % name)
        if why == "no_grad":
            return RuntimeError(
                "%s.backward called after a forward inside fastconv.nn.no_grad(), which keeps nothing for "
                "backward: run that forward outside no_grad()" % name)
        if why == "copied":
            return RuntimeError(
                "%s.backward called on a pickled or copied module, which keeps nothing of the original's "
                "last forward: run forward first, it keeps what backward needs" % name)
        return RuntimeError("%s.backward called before forward: run forward first, it keeps what backward needs"
                            % name)

    def __getstate__(self) -> Dict[str, Any]:
        # Pickling (and copy.deepcopy) leaves out what the last forward kept: a used model pickles
        # to the size of a fresh one.
        state = dict(self.__dict__)
        for k in state.get("_saved_names", ()):
            state[k] = None
        if state.get("_saved"):
            state["_saved"] = False
            state["_saved_why"] = "copied"
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ---- computation ------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError('Module [%s] is missing the required "forward" function' % type(self).__name__)

    def backward(self, grad_output: Any) -> Any:
        raise NotImplementedError(
            'Module [%s] is missing the required "backward" function: run the children\'s backward '
            'in the reverse order of forward and return the gradient with respect to the input'
            % type(self).__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.forward(*args, **kwargs)
        if _forward_hooks:
            for hook in list(_forward_hooks):
                hook(self, out)
        return out

    # ---- traversal --------------------------------------------------------------------------
    def named_children(self) -> Iterator[Tuple[str, Module]]:
        for name, m in self._modules.items():
            yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo: Optional[Set[int]] = None,
                      prefix: str = "") -> Iterator[Tuple[str, Module]]:
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[Tuple[str, Parameter]]:
        """Yield ``(name, Parameter)`` with PyTorch's dotted names; a shared parameter appears once."""
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, p in m._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield mprefix + ("." if mprefix else "") + name, p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[Tuple[str, NDArray[Any]]]:
        for mprefix, m in self.named_modules(prefix=prefix):
            for name, b in m._buffers.items():
                if b is not None:
                    yield mprefix + ("." if mprefix else "") + name, b

    # ---- modes and gradients ----------------------------------------------------------------
    def train(self: _M, mode: bool = True) -> _M:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self: _M) -> _M:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients: ``None`` by default (as PyTorch 2), zeros with set_to_none=False."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def astype(self: _M, dtype: DTypeLike) -> _M:
        """Convert every parameter and floating buffer to ``dtype`` (float32 or float64), in place."""
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError("astype: dtype must be float32 or float64, got %s" % dtype)
        for m in self.modules():
            for p in m._parameters.values():
                p.data = p.data.astype(dtype)
                if p.grad is not None:
                    p.grad = p.grad.astype(dtype)
            for k, b in list(m._buffers.items()):
                if b is not None and b.dtype.kind == "f":
                    m._buffers[k] = b.astype(dtype)
        return self

    def float(self: _M) -> _M:
        return self.astype(np.float32)

    def double(self: _M) -> _M:
        return self.astype(np.float64)

    # ---- state ------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, NDArray[Any]]:
        """OrderedDict of name -> copy of the array, with PyTorch's keys (``conv1.weight``, ``0.bias``)."""
        out = OrderedDict()
        for mprefix, m in self.named_modules():
            pre = mprefix + ("." if mprefix else "")
            for name, p in m._parameters.items():
                out[pre + name] = p.data.copy()
            for name, b in m._buffers.items():
                if b is not None:
                    out[pre + name] = np.array(b, copy=True)
        return out

    def load_state_dict(self, state_dict: Mapping[str, ArrayLike],
                        strict: bool = True) -> Tuple[List[str], List[str]]:
        """Copy arrays into the parameters, keeping each parameter's dtype.

        Accepts any mapping of name -> array-like (for example the dict of NumPy arrays made from a
        torch ``state_dict()``, or an open ``.npz``). With ``strict`` (default), missing or unexpected
        keys raise; a shape mismatch always raises. Returns ``(missing_keys, unexpected_keys)``.
        """
        targets = OrderedDict()
        for mprefix, m in self.named_modules():
            pre = mprefix + ("." if mprefix else "")
            for name in m._parameters:
                targets[pre + name] = (m, "p", name)
            for name, b in m._buffers.items():
                if b is not None:
                    targets[pre + name] = (m, "b", name)
        keys = list(state_dict.keys())
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in keys if k not in targets]
        errors = []
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: %s. " % ", ".join('"%s"' % k for k in unexpected))
            if missing:
                errors.append("Missing key(s) in state_dict: %s. " % ", ".join('"%s"' % k for k in missing))
        values = {}
        for k, (m, kind, name) in targets.items():
            if k not in state_dict:
                continue
            value = np.asarray(state_dict[k])
            current = m._parameters[name].data if kind == "p" else m._buffers[name]
            if value.shape != current.shape:
                errors.append("size mismatch for %s: copying a param with shape %s from checkpoint, the shape in "
                              "current model is %s." % (k, tuple(value.shape), tuple(current.shape)))
                continue
            values[k] = value
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for %s:\n\t%s"
                               % (type(self).__name__, "\n\t".join(errors)))
        for k, value in values.items():
            m, kind, name = targets[k]
            if kind == "p":
                p = m._parameters[name]
                p.data = np.array(value, dtype=p.data.dtype, copy=True, order="C")
            else:
                m._buffers[name] = np.array(value, dtype=m._buffers[name].dtype, copy=True)
        return missing, unexpected

    def save(self, path: _File) -> None:
        """Write ``state_dict()`` to a ``.npz`` file (NumPy adds the suffix when it is missing)."""
        arrays: Dict[str, Any] = dict(self.state_dict())
        np.savez(path, **arrays)

    def load(self, path: _File, strict: bool = True) -> Tuple[List[str], List[str]]:
        """Load a ``.npz`` written by :meth:`save` (or by ``numpy.savez`` of a torch state dict)."""
        with np.load(path, allow_pickle=False) as data:
            return self.load_state_dict({k: data[k] for k in data.files}, strict=strict)

    # ---- printing ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append("(%s): %s" % (name, sub))
        main = type(self).__name__ + "(" + self.extra_repr()
        if lines:
            main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


class Sequential(Module):
    """Run modules in order; ``backward`` runs them in reverse. Children are named ``0``, ``1``, ...
    (or by the keys of an OrderedDict), so state_dict keys are ``0.weight`` as in PyTorch."""

    @overload
    def __init__(self, *args: Module) -> None: ...
    @overload
    def __init__(self, arg: OrderedDict[str, Module], /) -> None: ...

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, child in args[0].items():
                self.add_module(name, child)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: Union[int, slice]) -> Module:
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        n = len(self)
        if not -n <= idx < n:
            raise IndexError("index %d is out of range" % idx)
        return list(self._modules.values())[idx % n]

    #: Run every Conv2d -> ReLU [-> MaxPool2d] and Linear -> ReLU run of children as one fused
    #: block (fastconv.nn.fused): same results, gradients and state_dict keys, fewer passes
    #: over memory.  Set to False on an instance to run the children one by one.
    fuse: bool = True

    def _steps(self) -> List[Any]:
        """The children in order, fusable runs as blocks (cached until the children change)."""
        from .fused import plan
        mods = tuple(self._modules.values())
        key = (tuple(id(m) for m in mods), bool(self.fuse))
        cached = self.__dict__.get("_plan")
        if cached is None or cached[0] != key:
            cached = (key, plan(mods) if self.fuse else list(mods))
            self.__dict__["_plan"] = cached
        return list(cached[1])

    def forward(self, x: Any) -> Any:
        steps = self._steps()
        for m in steps:
            x = m(x)
        self.__dict__["_steps_run"] = steps  # what backward runs in reverse
        return x

    def backward(self, grad_output: Any) -> Any:
        g = grad_output
        steps = self.__dict__.get("_steps_run") or self._steps()
        for m in reversed(steps):
            g = m.backward(g)
        return g
