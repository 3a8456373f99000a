"""Benchmark support shared by ``python -m fastconv bench`` and the ``bench/`` pytest suite.

It holds, written once:

- the seed networks (MNIST, SimpleCNN, CIFAR, edge pipeline) as layer lists;
- one training step (forward, backward, SGD update) per network, generic over a backend module
  with the functional API (``fastconv.functional`` or ``fastconv.reference``), and the same
  step for PyTorch with autograd;
- the per-layer cases of those networks (every conv, relu, pool, linear and loss, forward and
  backward) with their inputs and one callable per backend;
- the timing helpers: allocator priming, thread-pool warm-up, interleaved side-by-side timing
  with medians, min and max;
- the machine description (CPU, cores, SIMD path, OpenMP, library versions).

Only NumPy is required.  PyTorch and threadpoolctl are used when importable.
"""
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

# ---------------------------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------------------------
BACKENDS = ("numpy", "fastconv", "torch")


def torch_or_none():
    """The torch module, or None when it is not importable."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def available_backends():
    return tuple(b for b in BACKENDS if b != "torch" or torch_or_none() is not None)


def backend_module(name):
    """The functional module of a NumPy-array backend ('fastconv' or 'numpy')."""
    if name == "fastconv":
        import fastconv.functional as F
        return F
    if name == "numpy":
        import fastconv.reference as R
        return R
    raise ValueError(f"backend must be 'fastconv' or 'numpy', got {name!r}")


class _BlasLimiter:
    """Limits numpy's BLAS threads through threadpoolctl when it is installed."""

    def __init__(self):
        try:
            from threadpoolctl import ThreadpoolController
            self._ctl = ThreadpoolController()
        except Exception:               # not installed, or no BLAS found
            self._ctl = None

    def set(self, n):
        if self._ctl is not None:
            self._ctl.limit(limits=n, user_api="blas")


_BLAS = None


def _limits_mod():
    from . import _limits
    return _limits


def _blas():
    global _BLAS
    if _BLAS is None:
        _BLAS = _BlasLimiter()
    return _BLAS


def set_threads(n):
    """Use `n` threads in fastconv, in numpy's BLAS (via threadpoolctl) and in torch."""
    import fastconv
    fastconv.set_num_threads(n)
    _blas().set(n)
    torch = torch_or_none()
    if torch is not None:
        torch.set_num_threads(n)


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Conv:
    cin: int
    cout: int
    k: int = 3
    pad: int = 0
    fixed: str = ""          # "laplacian": a fixed, non-trainable edge filter without bias
    kind: str = "conv2d"


@dataclass(frozen=True)
class ReLU:
    kind: str = "relu"


@dataclass(frozen=True)
class MaxPool:
    k: int = 2
    kind: str = "max_pool2d"


@dataclass(frozen=True)
class AvgPool:
    """Not in the seed networks: the memory-bound rows time it on their max-pools' shapes."""
    k: int = 2
    kind: str = "avg_pool2d"


@dataclass(frozen=True)
class Flatten:
    kind: str = "flatten"


@dataclass(frozen=True)
class Linear:
    din: int
    dout: int
    kind: str = "linear"


@dataclass(frozen=True)
class Network:
    name: str
    title: str
    input_shape: tuple          # (C, H, W)
    layers: tuple
    classes: int

    def trainable(self, layer):
        return layer.kind == "linear" or (layer.kind == "conv2d" and not layer.fixed)


NETWORKS = {
    "mnist": Network("mnist", "MNIST network", (1, 28, 28), (
        Conv(1, 32, 3, 1), ReLU(), MaxPool(2), Conv(32, 64, 3, 1), ReLU(), MaxPool(2),
        Flatten(), Linear(3136, 128), ReLU(), Linear(128, 10)), 10),
    "simple": Network("simple", "SimpleCNN", (1, 28, 28), (
        Conv(1, 32, 3, 0), ReLU(), MaxPool(2), Flatten(), Linear(5408, 10)), 10),
    "cifar": Network("cifar", "CIFAR network", (3, 32, 32), (
        Conv(3, 32, 3, 1), ReLU(), MaxPool(2), Conv(32, 64, 3, 1), ReLU(), MaxPool(2),
        Flatten(), Linear(4096, 128), ReLU(), Linear(128, 10)), 10),
    # A fixed Laplacian edge filter, relu, pool and a dense 22500 -> 64 layer; the training
    # step trains the dense layer with a 64-class cross-entropy head.
    "edge": Network("edge", "edge pipeline", (1, 300, 300), (
        Conv(1, 1, 3, 1, fixed="laplacian"), ReLU(), MaxPool(2), Flatten(),
        Linear(22500, 64)), 64),
}

LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def layer_shapes(net, batch):
    """[(layer, input_shape, output_shape)] for a batch of `batch` images."""
    shape = (batch,) + tuple(net.input_shape)
    out = []
    for layer in net.layers:
        if layer.kind == "conv2d":
            n, c, h, w = shape
            o = (n, layer.cout, h + 2 * layer.pad - layer.k + 1, w + 2 * layer.pad - layer.k + 1)
        elif layer.kind == "max_pool2d":
            n, c, h, w = shape
            o = (n, c, h // layer.k, w // layer.k)
        elif layer.kind == "flatten":
            o = (shape[0], int(np.prod(shape[1:])))
        elif layer.kind == "linear":
            o = (shape[0], layer.dout)
        else:
            o = shape
        out.append((layer, shape, o))
        shape = o
    return out


def init_params(net, dtype=np.float32, seed=0):
    """Parameters of `net` as a list (one entry per layer: None or [weight, bias_or_None]).

    Weights and biases are integers in {-1, 0, 1} times a power of two per layer, chosen so
    that the layer's outputs on make_batch's images have a standard deviation near 1 (as with
    PyTorch's default initialisation).  With binary images every forward value up to the last
    layer is then a dyadic number whose sums are exact in float32: every backend, in float32
    or float64, takes the same relu and max-pool decisions, and a float32 step can be checked
    against a float64 one within the float32 tolerance (continuous random data puts about one
    near-tie per batch into the pools, where float32 and float64 pick different windows).
    The speed of the kernels does not depend on the values."""
    rng = np.random.default_rng(seed)
    x, _ = make_batch(net, 8, np.float64, seed=seed + 1)
    params = []
    h = x
    import fastconv.reference as R
    for layer in net.layers:
        p = None
        if layer.kind == "conv2d":
            shape = (layer.cout, layer.cin, layer.k, layer.k)
            if layer.fixed == "laplacian":
                p = [np.broadcast_to(LAPLACIAN, shape).astype(np.float64), None]
            else:
                p = [rng.integers(-1, 2, shape).astype(np.float64),
                     rng.integers(-1, 2, layer.cout).astype(np.float64)]
                std = float(R.conv2d(h, p[0], p[1], padding=layer.pad).std()) or 1.0
                scale = 2.0 ** -round(math.log2(std))
                p = [p[0] * scale, p[1] * scale]
            h = R.conv2d(h, p[0], p[1], padding=layer.pad)
        elif layer.kind == "linear":
            p = [rng.integers(-1, 2, (layer.dout, layer.din)).astype(np.float64),
                 rng.integers(-1, 2, layer.dout).astype(np.float64)]
            std = float(R.linear(h, p[0], p[1]).std()) or 1.0
            scale = 2.0 ** -round(math.log2(std))
            p = [p[0] * scale, p[1] * scale]
            h = R.linear(h, p[0], p[1])
        elif layer.kind == "relu":
            h = R.relu(h)
        elif layer.kind == "max_pool2d":
            h = R.max_pool2d(h, layer.k)
        elif layer.kind == "flatten":
            h = h.reshape(h.shape[0], -1)
        params.append(None if p is None else
                      [None if a is None else np.ascontiguousarray(a, dtype=dtype) for a in p])
    return params


def copy_params(params, dtype=None):
    return [None if p is None else [None if a is None else
                                    np.array(a, dtype=dtype or a.dtype, copy=True) for a in p]
            for p in params]


def make_batch(net, batch, dtype=np.float32, seed=1):
    """Binary images (values 0 and 1) of shape (batch, C, H, W) and int64 class targets."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, (batch,) + tuple(net.input_shape)).astype(dtype)
    t = rng.integers(0, net.classes, batch).astype(np.int64)
    return x, t


def param_names(net):
    names = []
    for i, layer in enumerate(net.layers):
        if net.trainable(layer):
            names += [f"{i}.weight", f"{i}.bias"]
    return names


def forward(B, net, params, x, training=True):
    """The logits of `net` on `x` with backend module B, and the caches for backward."""
    caches = []
    h = x
    for layer, p in zip(net.layers, params):
        kind = layer.kind
        if kind == "conv2d":
            caches.append(h)
            h = B.conv2d(h, p[0], p[1], padding=layer.pad)
        elif kind == "relu":
            h = B.relu(h)
            caches.append(h)
        elif kind == "max_pool2d":
            if training:
                shape = h.shape
                h, idx = B.max_pool2d(h, layer.k, return_indices=True)
                caches.append((idx, shape))
            else:
                h = B.max_pool2d(h, layer.k)
                caches.append(None)
        elif kind == "flatten":
            caches.append(h.shape)
            h = h.reshape(h.shape[0], -1)
        elif kind == "linear":
            caches.append(h)
            h = B.linear(h, p[0], p[1])
    return h, caches


def backward(B, net, params, caches, grad):
    """Gradients [(weight_grad, bias_grad)] of the trainable layers, first layer first.

    The chain stops at the first trainable layer: nothing below it needs a gradient."""
    first = min(i for i, layer in enumerate(net.layers) if net.trainable(layer))
    grads = []
    g = grad
    for i in range(len(net.layers) - 1, first - 1, -1):
        layer, p, cache = net.layers[i], params[i], caches[i]
        kind = layer.kind
        # the first trainable layer's input needs no gradient (torch skips it too: the
        # network's input does not require grad)
        need_input = i > first
        if kind == "conv2d":
            train = net.trainable(layer)
            g_in, gw, gb = B.conv2d_backward(g, cache, p[0], padding=layer.pad,
                                             output_mask=(need_input, train, train))
            if train:
                grads.append((gw, gb))
            g = g_in
        elif kind == "linear":
            g_in, gw, gb = B.linear_backward(g, cache, p[0],
                                             output_mask=(need_input, True, True))
            grads.append((gw, gb))
            g = g_in
        elif kind == "relu":
            g = B.relu_backward(g, cache)
        elif kind == "max_pool2d":
            g = B.max_pool2d_backward(g, cache[0], cache[1])
        elif kind == "flatten":
            g = g.reshape(cache)
    grads.reverse()
    return grads


def train_step(B, net, params, x, target, lr=0.01):
    """One SGD training step of `net` with backend module B; updates `params` in place.

    Returns (loss, grads): the loss before the update and the gradients as a flat list in
    the order of param_names(net)."""
    logits, caches = forward(B, net, params, x, training=True)
    loss = B.cross_entropy(logits, target)
    grads = backward(B, net, params, caches, B.cross_entropy_backward(logits, target))
    flat = []
    trainable = [p for layer, p in zip(net.layers, params) if net.trainable(layer)]
    for p, (gw, gb) in zip(trainable, grads):
        p[0] -= lr * gw
        p[1] -= lr * gb
        flat += [gw, gb]
    return loss, flat


def inference(B, net, params, x):
    """The logits of `net` on `x` (no indices kept, nothing cached)."""
    return forward(B, net, params, x, training=False)[0]


class TorchNet:
    """`net` in PyTorch (torch.nn.functional, autograd for backward, SGD by hand)."""

    def __init__(self, net, params):
        torch = torch_or_none()
        if torch is None:
            raise ImportError("torch is not installed")
        self.torch = torch
        self.net = net
        self.params = []
        self.trainable = []
        for layer, p in zip(net.layers, params):
            if p is None:
                self.params.append(None)
                continue
            tp = [None if a is None else torch.tensor(np.array(a)) for a in p]
            if net.trainable(layer):
                for t in tp:
                    t.requires_grad_(True)
                self.trainable += tp
            self.params.append(tp)

    def forward(self, x):
        tf = self.torch.nn.functional
        h = x
        for layer, p in zip(self.net.layers, self.params):
            kind = layer.kind
            if kind == "conv2d":
                h = tf.conv2d(h, p[0], p[1], padding=layer.pad)
            elif kind == "relu":
                h = tf.relu(h)
            elif kind == "max_pool2d":
                h = tf.max_pool2d(h, layer.k)
            elif kind == "flatten":
                h = h.flatten(1)
            elif kind == "linear":
                h = tf.linear(h, p[0], p[1])
        return h

    def train_step(self, x, target, lr=0.01):
        torch = self.torch
        for p in self.trainable:
            p.grad = None
        loss = torch.nn.functional.cross_entropy(self.forward(x), target)
        loss.backward()
        with torch.no_grad():
            for p in self.trainable:
                p.add_(p.grad, alpha=-lr)
        return loss.detach(), [p.grad for p in self.trainable]

    def inference(self, x):
        with self.torch.inference_mode():
            return self.forward(x)


def step_flops(net, batch):
    """FLOPs of one training step's convs and linears (multiply-add = 2): forward, the weight
    gradient, and the input gradient of every layer above the first trainable one."""
    total = 0
    first = min(i for i, layer in enumerate(net.layers) if net.trainable(layer))
    for i, (layer, shape, out) in enumerate(layer_shapes(net, batch)):
        f = layer_flops(layer, shape, out)
        if not f:
            continue
        total += f                                   # forward
        if i >= first:
            total += f if net.trainable(layer) else 0    # weight gradient
            total += f if i > first else 0               # input gradient
    return total


def inference_flops(net, batch):
    return sum(layer_flops(layer, s, o) for layer, s, o in layer_shapes(net, batch))


def layer_flops(layer, shape, out):
    if layer.kind == "conv2d":
        n, f, oh, ow = out
        return 2 * n * f * oh * ow * layer.cin * layer.k * layer.k
    if layer.kind == "linear":
        return 2 * shape[0] * layer.din * layer.dout
    return 0


# ---------------------------------------------------------------------------------------------
# Per-layer cases
# ---------------------------------------------------------------------------------------------
@dataclass
class LayerCase:
    """One layer shape: op ('conv2d', 'relu', 'max_pool2d', 'linear', 'cross_entropy'), the
    input shape, the layer, and the networks it occurs in."""
    op: str
    shape: tuple
    layer: object = None
    classes: int = 0
    networks: list = field(default_factory=list)

    @property
    def key(self):
        return (self.op, self.shape, self.layer, self.classes)

    @property
    def name(self):
        dims = "x".join(map(str, self.shape[1:]))
        b = f"b{self.shape[0]}"
        if self.op == "conv2d":
            L = self.layer
            return f"conv2d {L.cin}->{L.cout} k{L.k} p{L.pad} {dims} {b}"
        if self.op == "linear":
            return f"linear {self.layer.din}->{self.layer.dout} {b}"
        if self.op in ("max_pool2d", "avg_pool2d"):
            return f"{self.op} k{self.layer.k} {dims} {b}"
        if self.op == "cross_entropy":
            return f"cross_entropy {dims} {b}"
        return f"{self.op} {dims} {b}"

    def flops(self):
        if self.op in ("conv2d", "linear"):
            out = layer_shapes_one(self.layer, self.shape)
            return layer_flops(self.layer, self.shape, out)
        return 0


def layer_shapes_one(layer, shape):
    if layer.kind == "conv2d":
        n, c, h, w = shape
        return (n, layer.cout, h + 2 * layer.pad - layer.k + 1, w + 2 * layer.pad - layer.k + 1)
    return (shape[0], layer.dout)


def layer_cases(networks, batches):
    """The distinct layer cases of `networks` (names) at each batch size, in network order."""
    cases = {}
    for b in batches:
        for name in networks:
            net = NETWORKS[name]
            shapes = layer_shapes(net, b)
            for layer, shape, out in shapes:
                if layer.kind == "flatten":
                    continue
                lay = None if layer.kind == "relu" else layer
                case = LayerCase(layer.kind, tuple(shape), lay)
                cases.setdefault(case.key, case).networks.append(name)
            loss = LayerCase("cross_entropy", tuple(shapes[-1][2]), None, net.classes)
            cases.setdefault(loss.key, loss).networks.append(name)
    return list(cases.values())


def case_inputs(case, dtype=np.float32, seed=2):
    """The arrays of a layer case, the same for every backend (forward and backward).

    Convs and linears get small integers (inputs 0..3, weights, biases and output gradients
    -2..2): every product and partial sum is then an integer far below 2**24, exact in
    float32 in any summation order, so every backend's result is exact and they can be
    compared within the float32 tolerance even for the 23-million-term weight-gradient sums of
    the batch-256 edge conv (random real data leaves float32 with errors near 1e-3 there).
    The speed of these kernels does not depend on the values.  relu, max-pool and the loss
    are elementwise or exact and get signed normal data."""
    rng = np.random.default_rng(seed)

    def ints(lo, hi, shape):
        return rng.integers(lo, hi + 1, shape).astype(dtype)

    d = {}
    if case.op == "conv2d":
        L = case.layer
        d["x"] = ints(0, 3, case.shape)
        d["w"] = ints(-2, 2, (L.cout, L.cin, L.k, L.k))
        d["b"] = ints(-2, 2, L.cout)
        d["gy"] = ints(-2, 2, layer_shapes_one(L, case.shape))
    elif case.op == "linear":
        L = case.layer
        d["x"] = ints(0, 3, case.shape)
        d["w"] = ints(-2, 2, (L.dout, L.din))
        d["b"] = ints(-2, 2, L.dout)
        d["gy"] = ints(-2, 2, (case.shape[0], L.dout))
    elif case.op == "relu":
        d["x"] = rng.standard_normal(case.shape).astype(dtype)
        d["y"] = np.maximum(d["x"], 0)
        d["gy"] = rng.standard_normal(case.shape).astype(dtype)
    elif case.op == "max_pool2d":
        import fastconv.reference as R
        d["x"] = rng.standard_normal(case.shape).astype(dtype)
        y, d["idx"] = R.max_pool2d(d["x"], case.layer.k, return_indices=True)
        d["gy"] = rng.standard_normal(y.shape).astype(dtype)
    elif case.op == "avg_pool2d":
        k = case.layer.k
        n, c, h, w = case.shape
        d["x"] = rng.standard_normal(case.shape).astype(dtype)
        d["gy"] = rng.standard_normal((n, c, h // k, w // k)).astype(dtype)
    elif case.op == "cross_entropy":
        d["x"] = rng.standard_normal(case.shape).astype(dtype)
        d["t"] = rng.integers(0, case.shape[1], case.shape[0]).astype(np.int64)
    else:
        raise ValueError(case.op)
    return d


def case_function(case, direction, backend, d):
    """A no-argument callable running `case` forward ('fwd'), backward ('bwd') or both
    ('fwdbwd'; the backward pass gets the same indices/gradients as its forward) on `backend`
    ('fastconv', 'numpy' or 'torch') with the arrays `d` from case_inputs.  It returns the
    outputs (torch tensors for torch; see to_numpy)."""
    if direction == "fwdbwd":
        fwd = case_function(case, "fwd", backend, d)
        bwd = case_function(case, "bwd", backend, d)
        return lambda: (fwd(), bwd())
    if backend == "torch":
        return _torch_case_function(case, direction, d)
    B = backend_module(backend)
    op = case.op
    if op == "conv2d":
        p = case.layer.pad
        if direction == "fwd":
            return lambda: B.conv2d(d["x"], d["w"], d["b"], padding=p)
        return lambda: B.conv2d_backward(d["gy"], d["x"], d["w"], padding=p)
    if op == "linear":
        if direction == "fwd":
            return lambda: B.linear(d["x"], d["w"], d["b"])
        return lambda: B.linear_backward(d["gy"], d["x"], d["w"])
    if op == "relu":
        if direction == "fwd":
            return lambda: B.relu(d["x"])
        return lambda: B.relu_backward(d["gy"], d["y"])
    if op == "max_pool2d":
        k = case.layer.k
        if direction == "fwd":
            return lambda: B.max_pool2d(d["x"], k, return_indices=True)
        return lambda: B.max_pool2d_backward(d["gy"], d["idx"], d["x"].shape)
    if op == "avg_pool2d":
        k = case.layer.k
        if direction == "fwd":
            return lambda: B.avg_pool2d(d["x"], k)
        return lambda: B.avg_pool2d_backward(d["gy"], d["x"].shape, k)
    if op == "cross_entropy":
        if direction == "fwd":
            return lambda: B.cross_entropy(d["x"], d["t"])
        return lambda: B.cross_entropy_backward(d["x"], d["t"])
    raise ValueError(op)


def _torch_case_function(case, direction, d):
    """The same computation in torch, without autograd: the ATen functions autograd calls."""
    torch = torch_or_none()
    aten = torch.ops.aten
    t = {k: torch.from_numpy(v) for k, v in d.items()}
    op = case.op
    if op == "conv2d":
        p = case.layer.pad
        if direction == "fwd":
            return lambda: torch.nn.functional.conv2d(t["x"], t["w"], t["b"], padding=p)
        bias_sizes = [case.layer.cout]
        return lambda: aten.convolution_backward(t["gy"], t["x"], t["w"], bias_sizes, [1, 1],
                                                 [p, p], [1, 1], False, [0, 0], 1,
                                                 [True, True, True])
    if op == "linear":
        if direction == "fwd":
            return lambda: torch.nn.functional.linear(t["x"], t["w"], t["b"])
        gy, x, w = t["gy"], t["x"], t["w"]
        return lambda: (gy.mm(w), gy.t().mm(x), gy.sum(0))
    if op == "relu":
        if direction == "fwd":
            return lambda: torch.relu(t["x"])
        return lambda: aten.threshold_backward(t["gy"], t["y"], 0)
    if op == "max_pool2d":
        k = case.layer.k
        if direction == "fwd":
            return lambda: aten.max_pool2d_with_indices(t["x"], [k, k], [k, k])
        return lambda: aten.max_pool2d_with_indices_backward(
            t["gy"], t["x"], [k, k], [k, k], [0, 0], [1, 1], False, t["idx"])
    if op == "avg_pool2d":
        k = case.layer.k
        if direction == "fwd":
            return lambda: torch.nn.functional.avg_pool2d(t["x"], k)
        return lambda: aten.avg_pool2d_backward(t["gy"], t["x"], [k, k], [k, k], [0, 0], False,
                                                True, None)
    if op == "cross_entropy":
        x, tg = t["x"], t["t"]
        if direction == "fwd":
            return lambda: torch.nn.functional.cross_entropy(x, tg)
        # What autograd runs for cross_entropy's backward, given the saved log-softmax.
        logp = aten._log_softmax(x, 1, False)
        total_weight = aten.nll_loss_forward(logp, tg, None, 1, -100)[1]
        one = torch.ones((), dtype=x.dtype)

        def bwd():
            g = aten.nll_loss_backward(one, logp, tg, None, 1, -100, total_weight)
            return aten._log_softmax_backward_data(g, logp, 1, x.dtype)
        return bwd
    raise ValueError(op)


def to_numpy(result):
    """Outputs as a flat list of NumPy arrays (torch tensors converted, None dropped)."""
    if isinstance(result, (tuple, list)):
        out = []
        for r in result:
            out += to_numpy(r)
        return out
    if result is None:
        return []
    if hasattr(result, "detach"):
        return [result.detach().numpy()]
    return [np.asarray(result)]


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------
def prime_allocator(max_mib=32):
    """Allocate, touch and free buffers of 1 .. max_mib MiB.

    glibc serves large blocks with fresh mmap()s until a freed block raises its dynamic mmap
    threshold (up to 32 MiB); until then every 1-30 MiB output costs page faults, which
    changed timings here by up to 10x."""
    size = 1 << 20
    while size <= max_mib << 20:
        a = np.ones(size // 8)
        del a
        size *= 2


def warm_thread_pools(threads):
    """Run small parallel work in every thread pool (fastconv's OpenMP, numpy's BLAS, torch)
    at `threads` threads so that the first timed call does not pay for thread start-up."""
    set_threads(threads)
    import fastconv.functional as F
    x = np.random.default_rng(0).random((8, 8, 32, 32)).astype(np.float32)
    w = np.random.default_rng(1).random((16, 8, 3, 3)).astype(np.float32)
    a = np.ones((256, 256), np.float32)
    for _ in range(3):
        F.conv2d(x, w)
        F.max_pool2d(x, 2)
        a @ a
    torch = torch_or_none()
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        for _ in range(3):
            torch.nn.functional.conv2d(tx, tw)
            torch.from_numpy(a) @ torch.from_numpy(a)


@dataclass
class Timing:
    """Seconds per call: the median, min and max over the samples (each sample is the mean of
    `number` consecutive calls)."""
    samples: list
    number: int

    @property
    def median(self):
        return statistics.median(self.samples)

    @property
    def min(self):
        return min(self.samples)

    @property
    def max(self):
        return max(self.samples)

    def as_dict(self):
        return {"median": self.median, "min": self.min, "max": self.max,
                "number": self.number, "samples": list(self.samples)}


def _time_calls(fn, number, clock=time.perf_counter):
    t0 = clock()
    for _ in range(number):
        fn()
    return (clock() - t0) / number


def calibrate(fn, min_sample_time=0.02, clock=time.perf_counter):
    """Calls per sample so that one sample lasts at least `min_sample_time` seconds, and the
    time of one call."""
    t = _time_calls(fn, 1, clock)
    if t <= 0:
        t = 1e-9
    return max(1, int(math.ceil(min_sample_time / t))), t


# OpenBLAS's worker threads keep spinning for up to 2**28 cycles (about 0.1 s) after a call,
# and an OpenMP team for a while too; a sample taken meanwhile on the same cores runs at up
# to half speed.  With more than one thread, compare() waits this long before each sample.
POOL_IDLE_WAIT = 0.15
# After that wait the cores have been idle: the first milliseconds of work run slowly (a
# 100 us two-thread kernel measured 25-90% slower over a 20 ms sample than in a loop), so
# compare() runs the function this long, untimed, before the sample.
POOL_REWARM = 0.01


def compare(functions, repeat=5, min_sample_time=0.02, warmup=2, switch_warmup_limit=0.1,
            idle_wait=0.0, clock=time.perf_counter):
    """Time the callables of `functions` (name -> fn) side by side in this process.

    Every function gets the same treatment: `warmup` untimed calls (after the allocator is
    primed), calibration of the calls per sample, then `repeat` rounds; each round takes one
    sample of every function, in an order rotated from round to round.  Before each sample one
    untimed call is made when a call is shorter than `switch_warmup_limit` seconds, so that
    the previous backend's busy-waiting worker threads have gone idle and this backend's pool
    is awake; with `idle_wait` > 0 it first sleeps that many seconds, long enough for every
    other pool to stop spinning (use POOL_IDLE_WAIT when timing more than one thread), and
    then calls the function, untimed, for POOL_REWARM seconds, so that the sample starts on
    busy cores, as in a loop of work.
    Returns {name: Timing}."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    names = list(functions)
    prime_allocator()
    numbers, single = {}, {}
    for name in names:
        fn = functions[name]
        for _ in range(warmup):
            fn()
        numbers[name], single[name] = calibrate(fn, min_sample_time, clock)
    samples = {name: [] for name in names}
    for r in range(repeat):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            fn = functions[name]
            if idle_wait > 0:
                time.sleep(idle_wait)
            if idle_wait > 0:
                t0 = clock()
                fn()
                while clock() - t0 < POOL_REWARM:
                    fn()
            elif single[name] < switch_warmup_limit:
                fn()
            samples[name].append(_time_calls(fn, numbers[name], clock))
    return {name: Timing(samples[name], numbers[name]) for name in names}


# ---------------------------------------------------------------------------------------------
# Machine description
# ---------------------------------------------------------------------------------------------
def cpu_model():
    """The brand string with family, model and microarchitecture (fastconv._cpu)."""
    from ._cpu import cpu_line
    return cpu_line()


def machine_info():
    import fastconv
    from fastconv import _kernels
    torch = torch_or_none()
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return {
        "cpu": cpu_model(),
        "cores": cores,
        "isa": _kernels.get_isa(),
        "openmp": bool(_kernels.has_openmp()),
        "fastconv": fastconv.__version__,
        "numpy": np.__version__,
        "blas": _limits_mod().blas_line(_limits_mod().blas_info()),
        "torch": None if torch is None else torch.__version__,
        "python": platform.python_version(),
    }


def machine_line(info=None):
    info = info or machine_info()
    torch = info["torch"] or "not installed"
    return (f"{info['cpu']}, {info['cores']} cores, fastconv {info['fastconv']} "
            f"(SIMD path {info['isa']}, OpenMP {'yes' if info['openmp'] else 'no'}), "
            f"numpy {info['numpy']} ({info['blas']}), torch {torch}, Python {info['python']}")


# ---------------------------------------------------------------------------------------------
# The workloads of `python -m fastconv bench`
# ---------------------------------------------------------------------------------------------
@dataclass
class Workload:
    """One row of the bench table: callables per backend doing the same work.

    A compute-bound row has `flops` (multiply-add = 2); a memory-bound one has `nbytes`, the
    bytes its op must move (see bytes_moved), which are also its working set."""
    name: str
    kind: str                 # one of KINDS
    functions: dict
    flops: int = 0
    meta: dict = field(default_factory=dict)
    nbytes: int = 0


#: the row kinds of `python -m fastconv bench`
KINDS = ("step", "inference", "model", "layer", "memory-bound", "norm", "gemm", "dense")


def step_functions(net, batch, backends, dtype=np.float32):
    """Training-step closures per backend, each on its own copy of the same parameters."""
    x, t = make_batch(net, batch, dtype)
    params = init_params(net, dtype)
    fns = {}
    for b in backends:
        if b == "torch":
            torch = torch_or_none()
            model = TorchNet(net, params)
            xt, tt = torch.from_numpy(x), torch.from_numpy(t)
            fns[b] = (lambda m=model, xt=xt, tt=tt: m.train_step(xt, tt))
        else:
            B, p = backend_module(b), copy_params(params)
            fns[b] = (lambda B=B, p=p: train_step(B, net, p, x, t))
    return fns


def inference_functions(net, batch, backends, dtype=np.float32):
    x, _ = make_batch(net, batch, dtype)
    params = init_params(net, dtype)
    fns = {}
    for b in backends:
        if b == "torch":
            model = TorchNet(net, params)
            xt = torch_or_none().from_numpy(x)
            fns[b] = (lambda m=model, xt=xt: m.inference(xt))
        else:
            B = backend_module(b)
            fns[b] = (lambda B=B: inference(B, net, params, x))
    return fns


def conv_cases(networks, batch):
    """The convs of `networks` at `batch` (distinct shapes)."""
    return [c for c in layer_cases(networks, [batch]) if c.op == "conv2d"]


def memory_bound_cases(networks, batch):
    """The memory-bound layers of `networks` at `batch`: every relu and max-pool on a 4-D
    activation, and an average pool of the same size on each max-pool's input (distinct
    shapes).  The relus of the dense layers (a few KiB) are left out: a call is all overhead."""
    out = []
    for c in layer_cases(networks, [batch]):
        if c.op in ("relu", "max_pool2d") and len(c.shape) == 4:
            out.append(c)
            if c.op == "max_pool2d":
                out.append(LayerCase("avg_pool2d", c.shape, AvgPool(c.layer.k),
                                     networks=list(c.networks)))
    return out


def bytes_moved(case, direction, itemsize=4):
    """The bytes `case` must move in `direction` ('fwd' or 'bwd'): each input read once and
    each output written once (n input elements of `itemsize` bytes, m output elements).

    - relu fwd: read x, write y: 2 n s.  relu bwd: read grad_output and y, write grad_input:
      3 n s.
    - max_pool2d fwd (with int64 indices): read x, write y and the indices: n s + m (s + 8).
      bwd: read grad_output and the indices, write grad_input: m (s + 8) + n s.
    - avg_pool2d fwd: read x, write y: n s + m s.  bwd: read grad_output, write grad_input:
      m s + n s."""
    n = int(np.prod(case.shape))
    s = int(itemsize)
    if case.op == "relu":
        return 2 * n * s if direction == "fwd" else 3 * n * s
    if case.op in ("max_pool2d", "avg_pool2d"):
        k = case.layer.k
        b, c, h, w = case.shape
        m = b * c * (h // k) * (w // k)
        extra = 8 * m if case.op == "max_pool2d" else 0
        return n * s + m * s + extra
    raise ValueError(f"no byte model for {case.op}")


def gemm_functions(n, dtype, op):
    """fastconv's GEMM (op 'gemm': C = A @ B in place) or dense layer (op 'dense':
    F.linear(X, W) = X @ W.T) against numpy.matmul on the same square operands."""
    from fastconv import _kernels
    import fastconv.functional as F
    rng = np.random.default_rng(3)
    a = rng.random((n, n)).astype(dtype)
    b = rng.random((n, n)).astype(dtype)
    c1, c2 = np.empty((n, n), dtype), np.empty((n, n), dtype)
    if op == "gemm":
        return {"fastconv": lambda: _kernels.gemm(False, False, 1.0, a, b, 0.0, c1),
                "numpy": lambda: np.matmul(a, b, out=c2)}
    bt = b.T
    return {"fastconv": lambda: F.linear(a, b),
            "numpy": lambda: np.matmul(a, bt, out=c2)}


def _model_workload(name, batch, backends, mode):
    from . import _model_bench as MB
    net = NETWORKS[name]
    fns = MB.model_functions(name, batch, backends, mode)
    bad = MB.check_agreement(fns, mode)
    if bad:
        raise RuntimeError(f"model {name} ({mode}): the logits of {', '.join(bad)} differ from "
                           "fastconv's: the twins do not compute the same network")
    what = "step" if mode == "train" else "inference"
    flops = step_flops(net, batch) if mode == "train" else inference_flops(net, batch)
    return Workload(f"model {what} {MB.MODEL_CLASSES[name]} b{batch}", "model", fns, flops,
                    {"network": name, "batch": batch, "mode": mode,
                     "model": MB.MODEL_CLASSES[name]})


#: the activation (C, H, W) of the batch-norm rows (as the MNIST net's first conv output)
BATCH_NORM_SHAPE = (32, 28, 28)


def batch_norm_functions(batch, direction, backends, dtype=np.float32):
    """Training-mode batch norm of a (batch, 32, 28, 28) activation, forward ('fwd': y and the
    batch statistics) or backward ('bwd': the three gradients), per backend, plus "copy":
    numpy.copyto of one activation (the bandwidth baseline).  Returns (functions, arrays):
    arrays is the number of activation-sized arrays the op reads or writes at least (fwd 2:
    x, y; bwd 3: grad_output, x, grad_input)."""
    rng = np.random.default_rng(4)
    shape = (batch,) + BATCH_NORM_SHAPE
    x = rng.standard_normal(shape).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    c = shape[1]
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    dst = np.empty_like(x)
    fns = {"copy": lambda: np.copyto(dst, x)}
    for name in backends:
        if name == "torch":
            torch = torch_or_none()
            tx, tgy, tw, tb = (torch.from_numpy(a) for a in (x, gy, w, b))
            rm, rv = torch.zeros(c, dtype=tx.dtype), torch.ones(c, dtype=tx.dtype)
            _, sm, si = torch.ops.aten.native_batch_norm(tx, tw, tb, None, None, True, 0.1, 1e-5)
            if direction == "fwd":
                fns[name] = (lambda: torch.ops.aten.native_batch_norm(tx, tw, tb, rm, rv, True,
                                                                      0.1, 1e-5))
            else:
                fns[name] = (lambda: torch.ops.aten.native_batch_norm_backward(
                    tgy, tx, tw, None, None, sm, si, True, 1e-5, [True, True, True]))
            continue
        B = backend_module(name)
        rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
        _, sm, si = B.batch_norm(x, None, None, w, b, training=True, return_stats=True)
        if direction == "fwd":
            fns[name] = (lambda B=B, rm=rm, rv=rv: B.batch_norm(x, rm, rv, w, b, training=True,
                                                                return_stats=True))
        else:
            fns[name] = (lambda B=B, sm=sm, si=si: B.batch_norm_backward(gy, x, w, None, None, sm,
                                                                         si, True))
    return fns, 2 if direction == "fwd" else 3


def workloads(networks, batch, backends, gemm_sizes=(512, 1024, 2048),
              gemm_dtypes=("float32", "float64"), inference_batch=1, kinds=KINDS,
              model_inference_batches=(1, 64)):
    """The rows of the bench table (of the given kinds), built lazily: inputs exist only
    while a row is timed."""
    for name in networks if "step" in kinds else ():
        net = NETWORKS[name]
        yield lambda net=net: Workload(f"train step {net.name} b{batch}", "step",
                                       step_functions(net, batch, backends),
                                       step_flops(net, batch),
                                       {"network": net.name, "batch": batch})
    for name in networks if "inference" in kinds else ():
        net = NETWORKS[name]
        yield lambda net=net: Workload(f"inference {net.name} b{inference_batch}", "inference",
                                       inference_functions(net, inference_batch, backends),
                                       inference_flops(net, inference_batch),
                                       {"network": net.name, "batch": inference_batch})
    for name in networks if "model" in kinds else ():
        yield lambda name=name: _model_workload(name, batch, backends, "train")
        for b in model_inference_batches:
            yield lambda name=name, b=b: _model_workload(name, b, backends, "eval")
    for case in conv_cases(networks, batch) if "layer" in kinds else ():
        for direction in ("fwd", "bwd"):
            def make(case=case, direction=direction):
                d = case_inputs(case)
                return Workload(f"{case.name} {direction}", "layer",
                                {b: case_function(case, direction, b, d) for b in backends},
                                case.flops() * (2 if direction == "bwd" else 1),
                                {"op": case.op, "direction": direction,
                                 "shape": list(case.shape), "batch": case.shape[0],
                                 "networks": sorted(set(case.networks))})
            yield make
    for case in memory_bound_cases(networks, batch) if "memory-bound" in kinds else ():
        for direction in ("fwd", "bwd"):
            def make(case=case, direction=direction):
                d = case_inputs(case)
                return Workload(f"{case.name} {direction}", "memory-bound",
                                {b: case_function(case, direction, b, d) for b in backends},
                                0, {"op": case.op, "direction": direction,
                                    "shape": list(case.shape), "batch": case.shape[0],
                                    "networks": sorted(set(case.networks))},
                                bytes_moved(case, direction))
            yield make
    for direction in ("fwd", "bwd") if "norm" in kinds else ():
        def make_bn(direction=direction):
            fns, arrays = batch_norm_functions(batch, direction, backends)
            return Workload(f"batch_norm train {direction} "
                            f"{'x'.join(map(str, BATCH_NORM_SHAPE))} b{batch}", "norm", fns, 0,
                            {"op": "batch_norm", "direction": direction, "batch": batch,
                             "arrays": arrays, "bytes": arrays * batch * 4 *
                             int(np.prod(BATCH_NORM_SHAPE))},
                            arrays * batch * 4 * int(np.prod(BATCH_NORM_SHAPE)))
        yield make_bn
    for n in gemm_sizes:
        for dt in gemm_dtypes:
            for op in [k for k in ("gemm", "dense") if k in kinds]:
                short = {"float32": "f32", "float64": "f64"}[np.dtype(dt).name]
                yield (lambda n=n, dt=dt, op=op, short=short: Workload(
                    f"{op} {n}x{n}x{n} {short}", op,
                    # numpy.matmul is the baseline here, not the reference backend, so
                    # --no-numpy does not remove it.
                    gemm_functions(n, np.dtype(dt), op),
                    2 * n ** 3, {"n": n, "dtype": np.dtype(dt).name}))


#: the goals of the speed issues, model level, float32 batch 64: fastconv vs torch
MODEL_STEP_GOALS = {"mnist": 3.0, "simple": 4.0, "cifar": 2.5, "edge": 10.0}
MNIST_INFERENCE_GOALS = {1: 4.0, 64: 3.0}
CONV_VS_TORCH_GOAL = 1.3          # conv 32->64 forward + backward
CONV_SHARE_GOAL = 0.8             # conv 32->64 forward, backward: share of the FMA peak, 1 thread
GEMM_VS_NUMPY_GOAL = 1.0          # square GEMM 512..4096 vs numpy.matmul, 1 and 2 threads
GEMM_SHARE_GOAL = 0.85            # square GEMM >= 1024 at 1 thread: share of the FMA peak
MEMORY_SHARE_GOAL = 0.6           # memory-bound rows: share of the copy bandwidth


def evaluate_targets(rows, limits=None):
    """The speed targets that `rows` (the JSON rows of one run) allow to evaluate; the share
    targets need `limits` (a fastconv._limits.Limits of the same run).

    Returns dicts: target, threads, measured (from the medians), measured_min (from the min
    times: the quiet-machine figure), goal, unit ('x' or 'of limit'), met (on the medians)."""
    from . import _limits as L
    out = []

    def add(target, t, ratio, goal, unit="x"):
        measured = ratio("median")
        best = ratio("min")
        if measured is None or best is None:
            return
        out.append({"target": target, "threads": t, "measured": measured,
                    "measured_min": best, "goal": goal, "unit": unit,
                    "met": measured >= goal})

    def vs(r, other):
        def ratio(stat):
            m = r["backends"].get(other)
            return None if m is None else m[stat] / r["backends"]["fastconv"][stat]
        return ratio

    def share(r):
        def ratio(stat):
            if limits is None:
                return None
            got = L.row_share(r, limits, "fastconv", stat)
            return None if got is None else got["share"]
        return ratio

    by = {(r["threads"], r["name"]): r for r in rows}
    for (t, name), r in sorted(by.items()):
        kind, meta = r["kind"], r["meta"]
        if kind == "model" and meta.get("mode") == "train" and meta.get("batch") == 64:
            goal = MODEL_STEP_GOALS.get(meta["network"])
            if goal is not None:
                add(f"{name}: fastconv vs torch", t, vs(r, "torch"), goal)
        elif kind == "model" and meta.get("mode") == "eval" and meta.get("network") == "mnist":
            goal = MNIST_INFERENCE_GOALS.get(meta["batch"])
            if goal is not None:
                add(f"{name}: fastconv vs torch", t, vs(r, "torch"), goal)
        elif kind == "layer" and name.startswith("conv2d 32->64 ") and meta.get("batch") == 64:
            if t == 1:
                add(f"{name}: share of the FMA peak", t, share(r), CONV_SHARE_GOAL, "of limit")
            if meta.get("direction") == "fwd":
                bwd = by.get((t, name[:-len("fwd")] + "bwd"))
                if bwd is not None:
                    both = {"backends": {b: {s: m[s] + bwd["backends"][b][s]
                                             for s in ("median", "min")}
                                         for b, m in r["backends"].items()
                                         if b in bwd["backends"]}}
                    add(f"{name[:-len('fwd')]}fwd+bwd: fastconv vs torch", t,
                        vs(both, "torch"), CONV_VS_TORCH_GOAL)
        elif kind == "gemm" and 512 <= meta.get("n", 0) <= 4096:
            add(f"{name}: fastconv vs numpy.matmul", t, vs(r, "numpy"), GEMM_VS_NUMPY_GOAL)
            if t == 1 and meta["n"] >= 1024:
                add(f"{name}: share of the FMA peak", t, share(r), GEMM_SHARE_GOAL, "of limit")
        elif kind == "norm" and meta.get("batch") == 64 and "copy" in r["backends"]:
            # bytes the op must move per second, against numpy.copyto's (read + write of one
            # activation) in the same process
            add(f"{name}: share of numpy.copyto bandwidth", t,
                lambda stat, r=r, meta=meta: meta["arrays"] / 2 * r["backends"]["copy"][stat]
                / r["backends"]["fastconv"][stat], 0.6, "of copy")
        elif kind == "memory-bound" and meta.get("batch") == 64:
            add(f"{name}: share of the copy bandwidth", t, share(r), MEMORY_SHARE_GOAL,
                "of limit")
    return out
