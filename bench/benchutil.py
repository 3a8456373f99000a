"""Helpers of the benchmark suite (a module of its own, so that test files never import
``conftest`` by name: tests/ has a conftest.py too)."""
import importlib.util
import os

import numpy as np
import pytest

from fastconv import _benchmarks as FB

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load_test_config():
    """tests/conftest.py, loaded under its own name: the one place tolerances are set."""
    path = os.path.join(os.path.dirname(_HERE), "tests", "conftest.py")
    spec = importlib.util.spec_from_file_location("fastconv_tests_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TEST_CONFIG = _load_test_config()


def require_backend(backend):
    if backend == "torch":
        pytest.importorskip("torch")


def assert_outputs_close(actual, expected, dtype, what):
    """Float outputs within the tolerances of tests/conftest.py, integer outputs exact."""
    actual, expected = FB.to_numpy(actual), FB.to_numpy(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        if e.dtype.kind in "iu":
            np.testing.assert_array_equal(a, e, err_msg=f"{what}: output {i}")
        else:
            TEST_CONFIG.assert_close(a, e, dtype, err_msg=f"{what}: output {i}")
