"""fastconv.dask: predict and features on the local schedulers and on a 2-worker
dask.distributed LocalCluster (127.0.0.1, no dashboard). Needs the dask extra
(``pip install ".[dask]"``): without it these tests fail, they do not skip."""
import gc
import pickle
import sys
import warnings

import numpy as np
import pytest

import dask
import dask.array as da

import fastconv
import fastconv.dask as fd
from fastconv import nn
from fastconv.models import MnistCNN

from conftest import assert_close


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, scheduler_port=0) as cluster, Client(cluster) as c:
        yield c


def _model(dtype=np.float32):
    fastconv.manual_seed(0)
    return MnistCNN().astype(dtype)


def _images(n, dtype=np.float32, chunk=32):
    x = np.random.default_rng(1).standard_normal((n, 1, 28, 28)).astype(dtype)
    return x, da.from_array(x, chunks=(chunk, -1, -1, -1))


def _used(model):
    """The model after a training forward and backward: its layers hold 256 images' activations."""
    x = np.random.default_rng(2).standard_normal((256, 1, 28, 28)).astype(model.fc1.weight.dtype)
    model.train()
    model.backward(np.ones_like(model(x)))
    return model


def _fc1(model, x):
    m = model
    h = m.pool2(m.relu2(m.conv2(m.pool1(m.relu1(m.conv1(x))))))
    return m.fc1(m.flatten(h))


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_local_schedulers_match_the_model(scheduler, dtype):
    model = _model(dtype)
    x, images = _images(100, dtype)  # chunks 32, 32, 32, 4
    y = fd.predict(model, images, batch_size=10)
    assert y.shape == (100, 10) and y.dtype == dtype and y.chunks[0] == (32, 32, 32, 4)
    with nn.no_grad():
        expected, feats = model.eval()(x), _fc1(model, x)
    assert_close(y.compute(scheduler=scheduler), expected, dtype)
    f = fd.features(model, images, layer="fc1")
    assert f.shape == (100, 128)
    assert_close(f.compute(scheduler=scheduler), feats, dtype)
    pooled = fd.features(model, images, layer="pool1").compute(scheduler=scheduler)
    assert pooled.shape == (100, 32, 14, 14)


def test_the_graph_holds_the_model_once_and_without_caches():
    model = _model()
    fresh = sum(a.nbytes for a in model.state_dict().values())
    x, images = _images(512)  # 16 chunks
    _used(model)
    y = fd.predict(model, images)
    layers = y.__dask_graph__().layers
    sizes = {name: len(pickle.dumps(dict(layer))) for name, layer in layers.items() if name != images.name}
    tasks = [s for name, s in sizes.items() if name.startswith("fastconv-predict")]
    assert len(layers[y.name]) == 16 and len(tasks) == 1
    assert tasks[0] < 16 * 1000  # 16 tasks that refer to the model, never hold it
    model_layer = [s for name, s in sizes.items() if not name.startswith("fastconv-predict")]
    assert len(model_layer) == 1 and model_layer[0] <= 1.1 * fresh  # one copy, weights only
    model.fc1.weight.data[...] = 0  # the graph took a snapshot
    with nn.no_grad():
        assert_close(y.compute(scheduler="threads"), _model().eval()(x), np.float32)


class ThreadSpy(nn.Identity):
    """Records the kernel thread count of the calling thread (module-level: pickled by reference)."""

    seen = []

    def forward(self, x):
        self.seen.append(fastconv.get_num_threads())
        return x


def test_one_kernel_thread_per_worker_thread():
    seen = ThreadSpy.seen
    model = nn.Sequential(ThreadSpy(), nn.Flatten(), nn.Linear(784, 10))
    _, images = _images(64, chunk=16)
    for num_threads, expected in ((None, 1), (2, 2)):
        y = fd.predict(model, images) if num_threads is None else fd.predict(model, images, num_threads=num_threads)
        seen.clear()  # (building the graph ran the model once, on this thread)
        y.compute(scheduler="threads")
        assert len(seen) == 4 and set(seen) == {expected}, seen


def test_errors_are_raised_when_the_graph_is_built():
    model = _model()
    x, images = _images(8)
    with pytest.raises(TypeError, match="images must be a dask array"):
        fd.predict(model, x)
    with pytest.raises(TypeError, match="model must be a fastconv.nn.Module"):
        fd.predict(lambda v: v, images)
    with pytest.raises(ValueError, match="has no layer 'fc3'; its layers are conv1, relu1"):
        fd.features(model, images, layer="fc3")
    with pytest.raises(ValueError, match="predict: batch_size must be >= 1, got 0"):
        fd.predict(model, images, batch_size=0)
    with pytest.raises(TypeError, match="features: num_threads must be an int"):
        fd.features(model, images, layer="fc1", num_threads=1.0)
    with pytest.raises(ValueError, match="expected input"):  # the model's own error, at once
        fd.predict(model, da.zeros((8, 3, 28, 28), chunks=4, dtype=np.float32))
    with pytest.raises(TypeError, match="dtype"):
        fd.predict(model, images.astype(np.float64))
    empty = fd.predict(model, da.zeros((0, 1, 28, 28), chunks=4, dtype=np.float32)).compute()
    assert empty.shape == (0, 10) and empty.dtype == np.float32


def test_distributed_cluster_matches_and_ships_the_model_once_per_worker(client):
    model = _used(_model())  # layers hold 256 images' activations: none of it travels
    x, images = _images(512)  # 16 chunks
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "Sending large graph" warning fails the test
        # the images are in the graph; the model adds nothing to it (it is scattered to the workers)
        limit = "%dB" % (x.nbytes + (512 << 10))
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": limit}):
            y = fd.predict(model, images, batch_size=64)
            f = fd.features(model, images, layer="fc1")
            out, feats = client.compute([y, f], sync=True)
            # the active memory manager drops the replica of one worker, whose next task fetches
            # it again: a second copy of the same payload there, which must not build again
            refs = [k for k in client.who_has() if str(k).startswith("_ShippedModel-")]
            assert len(refs) == 1  # (predict and features share it)
            client.amm.run_once()
            assert len(client.who_has()[refs[0]]) == 1
            again = y.compute()
    with nn.no_grad():
        model.eval()
        assert_close(out, model(x), np.float32)
        assert_close(again, out, np.float32)
        assert_close(feats, _fc1(model, x), np.float32)
    builds = client.run(lambda: __import__("fastconv.dask").dask._builds)
    # predict and features of one model share one scattered copy: each worker built it once
    assert list(builds.values()) == [1, 1], builds


def test_copies_of_one_payload_build_one_model_per_process(monkeypatch):
    # a cluster drops a worker's scattered replica once no task there waits for it and fetches it
    # again for the next task: a later deserialised copy of the same payload reuses the model
    monkeypatch.setattr(fd, "_built", type(fd._built)())  # (earlier tests built this model here)
    model = _used(_model())
    shipped = fd._ShippedModel(model)
    before = fd._builds
    a = pickle.loads(pickle.dumps(shipped))
    first = a.model()
    del a
    gc.collect()
    b = pickle.loads(pickle.dumps(shipped))
    assert b.model() is first and fd._builds == before + 1
    assert fd._ShippedModel(model).model() is first and fd._builds == before + 1
    model.fc1.weight.data[0, 0] += 1  # other weights, another model
    c = pickle.loads(pickle.dumps(fd._ShippedModel(model)))
    assert c.model() is not first and fd._builds == before + 2
    assert c.model().fc1.weight.data[0, 0] == model.fc1.weight.data[0, 0]
    assert first.fc1.weight.data[0, 0] == model.fc1.weight.data[0, 0] - 1
    for i in range(fd._BUILT_KEPT):  # a few models are kept, the least recently used go first
        model.fc1.weight.data[0, 0] += 1
        fd._ShippedModel(model).model()
    assert fd._builds == before + 2 + fd._BUILT_KEPT and len(fd._built) == fd._BUILT_KEPT
    assert pickle.loads(pickle.dumps(shipped)).model() is not first and fd._builds == before + 3 + fd._BUILT_KEPT


def test_without_dask_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(ImportError, match=r'pip install "fastconv\[dask\]"'):
        fd.predict(_model(), None)
