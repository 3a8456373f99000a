"""A whole training step (forward, backward, SGD update) of each network: one group per
network and batch comparing fastconv's functional ops, the same step on the NumPy reference
(one shared definition, fastconv._benchmarks.train_step) and torch with autograd.

The loss and gradients of fastconv's and torch's step from the initial parameters are checked
against the NumPy reference's step evaluated in float64."""
import numpy as np

from .benchutil import assert_outputs_close, require_backend
from fastconv import _benchmarks as FB

DTYPE = np.float32
_ORACLE = {}


def _oracle(net, batch):
    key = (net.name, batch)
    if key not in _ORACLE:
        _ORACLE.clear()
        import fastconv.reference as R
        x, t = FB.make_batch(net, batch, np.float64)
        params = FB.copy_params(FB.init_params(net, DTYPE), np.float64)
        _ORACLE[key] = FB.train_step(R, net, params, x, t)
    return _ORACLE[key]


def _step_function(net, batch, backend):
    """A fresh step closure (own copy of the initial parameters) for `backend`."""
    x, t = FB.make_batch(net, batch, DTYPE)
    params = FB.init_params(net, DTYPE)
    if backend == "torch":
        import torch
        model = FB.TorchNet(net, params)
        xt, tt = torch.from_numpy(x), torch.from_numpy(t)
        return lambda: model.train_step(xt, tt)
    B = FB.backend_module(backend)
    return lambda: FB.train_step(B, net, params, x, t)


def test_train_step(benchmark, step_case, backend):
    require_backend(backend)
    name, batch = step_case
    net = FB.NETWORKS[name]
    benchmark.group = f"train step {name} b{batch}"
    benchmark.name = backend
    benchmark.extra_info.update(network=name, batch=batch, backend=backend,
                                flops=FB.step_flops(net, batch))
    fn = _step_function(net, batch, backend)
    if benchmark.enabled:
        # The checked step runs on its own parameters; it also warms up this backend.
        first = _step_function(net, batch, backend)()
        benchmark(fn)
    else:
        first = benchmark(fn)
    loss, grads = first
    expected_loss, expected_grads = _oracle(net, batch)
    what = f"{benchmark.group} [{backend}]"
    if backend == "numpy":
        # The reference itself: its float32 loss against its float64 loss, finite gradients
        # of the right shapes (its float32 sums are not held to the float32 tolerance).
        assert_outputs_close([loss], [expected_loss], DTYPE, what)
        for g, e in zip(grads, expected_grads):
            assert g.shape == e.shape and g.dtype == DTYPE and np.isfinite(g).all(), what
    else:
        assert_outputs_close([loss] + list(grads), [expected_loss] + list(expected_grads),
                             DTYPE, what)
