"""What users run: the seed models of :mod:`fastconv.models` trained with :mod:`fastconv.nn`
and :class:`fastconv.optim.SGD`, and evaluated in eval mode, against the same architecture as a
``torch.nn.Module`` with ``torch.optim.SGD`` (eager) and against the same fastconv model on the
NumPy reference backend (``fastconv.use_backend("numpy")``).

Every backend gets its own model with the same initial parameters: the dyadic ones of
``fastconv._benchmarks.init_params`` (exact in float32, so the backends take the same relu and
max-pool decisions and their losses, logits and gradients can be compared within the test
tolerances).  The speed of the kernels does not depend on the values.

One training step, as users write it::

    logits = model(x); loss = loss_fn(logits, y)
    opt.zero_grad(); model.backward(loss_fn.backward(), input_grad=False); opt.step()

and in torch ``loss = F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward();
opt.step()``.  Neither computes the gradient of the images (``input_grad=False``; in torch
the input does not require grad), only the parameters'.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from . import _benchmarks as FB

#: bench network name -> fastconv.models class name
MODEL_CLASSES = {"mnist": "MnistCNN", "simple": "SimpleCNN", "cifar": "CifarCNN",
                 "edge": "EdgePipeline"}
LR = 0.01


def build_model(name: str, dtype: Any = np.float32) -> Any:
    """The fastconv.models model of bench network `name`, with init_params' parameters."""
    from . import models
    net = FB.NETWORKS[name]
    model = getattr(models, MODEL_CLASSES[name])()
    params = FB.init_params(net, dtype)
    layers = [(n, m) for n, m in model.named_children() if hasattr(m, "weight")]
    values = [p for p in params if p is not None]
    if len(layers) != len(values):
        raise RuntimeError(f"{type(model).__name__} has {len(layers)} layers with weights, the "
                           f"bench network {name!r} {len(values)}")
    state = OrderedDict()
    for (prefix, m), p in zip(layers, values):
        state[prefix + ".weight"] = p[0]
        if getattr(m, "bias", None) is not None:
            if p[1] is None:
                raise RuntimeError(f"{prefix} has a bias, the bench network's layer has none")
            state[prefix + ".bias"] = p[1]
    model.load_state_dict(state)
    if dtype != np.float32:
        model.astype(dtype)
    return model


def torch_twin(model: Any) -> Any:
    """The same architecture as a torch.nn.Module (a Sequential whose children have the fastconv
    model's names, hence the same state_dict keys), with the fastconv model's parameters and
    their requires_grad.  The seed models' forward runs their children in order."""
    import torch
    from . import nn
    children = OrderedDict()
    for name, m in model.named_children():
        if isinstance(m, nn.Conv2d):
            t = torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                                m.dilation, m.groups, bias=m.bias is not None)
        elif isinstance(m, nn.Linear):
            t = torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
        elif isinstance(m, nn.ReLU):
            t = torch.nn.ReLU()
        elif isinstance(m, nn.MaxPool2d):
            t = torch.nn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation,
                                   ceil_mode=m.ceil_mode)
        elif isinstance(m, nn.Flatten):
            t = torch.nn.Flatten(m.start_dim, m.end_dim)
        else:
            raise TypeError(f"no torch twin for {type(m).__name__} ({name})")
        children[name] = t
    twin = torch.nn.Sequential(children)
    dtype = next(iter(model.parameters())).dtype
    if dtype == np.float64:
        twin = twin.double()
    state = {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}
    twin.load_state_dict(state)
    params = dict(model.named_parameters())
    for k, p in twin.named_parameters():
        p.requires_grad_(params[k].requires_grad)
    return twin


def _fastconv_step(model: Any, x: np.ndarray, t: np.ndarray, backend: str) -> Callable[[], Any]:
    from . import nn, optim
    from .backend import use_backend
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=LR)
    name = {"fastconv": "c", "numpy": "numpy"}[backend]

    def step() -> Tuple[Any, Any]:
        with use_backend(name):
            logits = model(x)
            loss = loss_fn(logits, t)
            opt.zero_grad()
            model.backward(loss_fn.backward(), input_grad=False)
            opt.step()
        return loss, logits
    step.model = model  # type: ignore[attr-defined]
    return step


def _torch_step(twin: Any, x: np.ndarray, t: np.ndarray) -> Callable[[], Any]:
    import torch
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)
    opt = torch.optim.SGD([p for p in twin.parameters() if p.requires_grad], lr=LR)
    cross_entropy = torch.nn.functional.cross_entropy

    def step() -> Tuple[Any, Any]:
        logits = twin(xt)
        loss = cross_entropy(logits, tt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss, logits
    step.model = twin  # type: ignore[attr-defined]
    return step


def _fastconv_inference(model: Any, x: np.ndarray, backend: str) -> Callable[[], Any]:
    from .backend import use_backend
    model.eval()
    name = {"fastconv": "c", "numpy": "numpy"}[backend]

    def infer() -> Any:
        with use_backend(name):
            return model(x)
    return infer


def _torch_inference(twin: Any, x: np.ndarray) -> Callable[[], Any]:
    import torch
    twin.eval()
    xt = torch.from_numpy(x)

    def infer() -> Any:
        with torch.inference_mode():
            return twin(xt)
    return infer


def model_functions(name: str, batch: int, backends: Sequence[str], mode: str = "train",
                    dtype: Any = np.float32) -> Dict[str, Callable[[], Any]]:
    """No-argument callables per backend: one training step (mode 'train', SGD lr 0.01, each
    backend on its own model; they return (loss, logits)) or one eval-mode forward (mode
    'eval'; they return the logits) of bench network `name`'s model at `batch`."""
    if mode not in ("train", "eval"):
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    net = FB.NETWORKS[name]
    x, t = FB.make_batch(net, batch, dtype)
    fns: Dict[str, Callable[[], Any]] = {}
    for b in backends:
        model = build_model(name, dtype)
        if b == "torch":
            twin = torch_twin(model)
            fns[b] = _torch_step(twin, x, t) if mode == "train" else _torch_inference(twin, x)
        else:
            fns[b] = (_fastconv_step(model, x, t, b) if mode == "train"
                      else _fastconv_inference(model, x, b))
    return fns


def gradients(step: Callable[[], Any]) -> List[np.ndarray]:
    """The gradients a training function of model_functions left in its model's trainable
    parameters, in state_dict order (the order of fastconv._benchmarks.param_names)."""
    model = step.model  # type: ignore[attr-defined]
    return [FB.to_numpy(p.grad)[0] for _, p in model.named_parameters() if p.requires_grad]


def logits_of(result: Any, mode: str) -> np.ndarray:
    """The logits of a model_functions call's result, as a NumPy array."""
    out = result[1] if mode == "train" else result
    return FB.to_numpy(out)[0]


def check_agreement(fns: Dict[str, Callable[[], Any]], mode: str, rtol: float = 1e-3,
                    atol: float = 1e-3) -> List[str]:
    """Call each function once and return the backends whose logits differ from fastconv's
    beyond rtol/atol: a guard that the twins compute the same network before they are timed
    (the tests hold them to the suite's tolerances).  A training function takes one SGD step
    here, which changes the values it then times but not the work."""
    ref = logits_of(fns["fastconv"](), mode)
    bad = []
    for b, fn in fns.items():
        if b == "fastconv":
            continue
        got = logits_of(fn(), mode)
        if got.shape != ref.shape or not np.allclose(got, ref, rtol=rtol, atol=atol):
            bad.append(b)
    return bad
