"""What users run: the seed models of fastconv.models trained with fastconv.nn and
optim.SGD (forward, loss, zero_grad, backward, step) at each --bench-step-batches size, and
their eval-mode inference at batch 1 and 64, on fastconv, on the NumPy reference backend
(fastconv.use_backend("numpy")) and as a torch.nn.Module twin with torch.optim.SGD: one group
per model, mode and batch (see fastconv._model_bench).

The loss, logits and gradients of each backend's first call are checked against the NumPy
reference evaluated in float64 on the same initial parameters, within the tolerances of
tests/conftest.py (under --benchmark-disable each call runs once: a smoke test)."""
import numpy as np
import pytest

from .benchutil import assert_outputs_close, require_backend
from fastconv import _benchmarks as FB
from fastconv import _model_bench as MB

DTYPE = np.float32
INFERENCE_BATCHES = (1, 64)


_ORACLE = {}


def _oracle(name, batch, mode):
    key = (name, batch, mode)
    if key not in _ORACLE:
        _ORACLE.clear()                 # the backends of one case run one after the other
        _ORACLE[key] = _compute_oracle(name, batch, mode)
    return _ORACLE[key]


def _compute_oracle(name, batch, mode):
    import fastconv.reference as R
    net = FB.NETWORKS[name]
    x, t = FB.make_batch(net, batch, np.float64)
    params = FB.copy_params(FB.init_params(net, DTYPE), np.float64)
    if mode == "eval":
        return FB.inference(R, net, params, x)
    logits = FB.inference(R, net, params, x)
    loss, grads = FB.train_step(R, net, params, x, t, lr=MB.LR)
    return loss, logits, grads


def pytest_generate_tests(metafunc):
    if "model_case" in metafunc.fixturenames:
        batches = [int(v) for v in
                   metafunc.config.getoption("--bench-step-batches").replace(",", " ").split()]
        params, ids = [], []
        for name in FB.NETWORKS:
            cases = [("train", b) for b in batches] + [("eval", b) for b in INFERENCE_BATCHES]
            for mode, batch in cases:
                for backend in FB.BACKENDS:
                    params.append(((name, mode, batch), backend))
                    ids.append(f"{name}-{mode}-b{batch}-{backend}")
        metafunc.parametrize("model_case,backend", params, ids=ids)


def test_model(benchmark, model_case, backend):
    require_backend(backend)
    name, mode, batch = model_case
    net = FB.NETWORKS[name]
    what = "step" if mode == "train" else "inference"
    benchmark.group = f"model {what} {MB.MODEL_CLASSES[name]} b{batch}"
    benchmark.name = backend
    flops = FB.step_flops(net, batch) if mode == "train" else FB.inference_flops(net, batch)
    benchmark.extra_info.update(network=name, mode=mode, batch=batch, backend=backend,
                                flops=flops)
    fn = MB.model_functions(name, batch, [backend], mode)[backend]
    if benchmark.enabled:
        # the checked call runs on a model of its own; it also warms up this backend
        first_fn = MB.model_functions(name, batch, [backend], mode)[backend]
        first = first_fn()
        benchmark(fn)
    else:
        first_fn = fn
        first = benchmark(fn)
    where = f"{benchmark.group} [{backend}]"
    if mode == "eval":
        assert_outputs_close(MB.logits_of(first, mode), _oracle(name, batch, mode), DTYPE, where)
        return
    loss, logits, grads = _oracle(name, batch, mode)
    got_loss, got_logits = first
    got_grads = MB.gradients(first_fn)
    assert len(got_grads) == len(grads) == len(FB.param_names(net)), where
    assert_outputs_close([got_loss, got_logits], [loss, logits], DTYPE, where)
    if backend == "numpy":
        # the reference's own float32 sums are not held to the float32 tolerance
        for g, e in zip(got_grads, grads):
            assert g.shape == e.shape and g.dtype == DTYPE and np.isfinite(g).all(), where
    else:
        assert_outputs_close(got_grads, grads, DTYPE, where)
