"""Shared test configuration: the one place for tolerances, the dtype and ISA fixtures, and
the hypothesis profiles.

Hypothesis profiles: "ci" (default; deadline=None because the machine is shared and noisy,
a fixed modest max_examples so the suite stays within minutes), "dev" (fewer examples) and
"thorough" (many examples).  Pick one with ``--hypothesis-profile NAME`` or the environment
variable FASTCONV_HYPOTHESIS_PROFILE.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, max_examples=30, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=10,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("FASTCONV_HYPOTHESIS_PROFILE", "ci"))

# ---------------------------------------------------------------------------------------
# Tolerances: the only place they are set.
#   float32: rtol 1e-4, atol 1e-5.
#   float64: rtol 1e-10, plus atol 1e-12.  The atol is needed for outputs near 0: such a
#   value is a sum of O(1) terms that cancel, so its absolute error is about
#   (number of terms) * eps64 * (term size) ~ 100 * 2.2e-16 ~ 2e-14 per unit of magnitude,
#   which no relative tolerance can cover.  Our test data are O(1), so 1e-12 leaves a
#   50x margin and is still 10^4 times smaller than the float32 atol.
# ---------------------------------------------------------------------------------------
TOLERANCES = {
    np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5),
    np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12),
}

# Central-difference gradient checks (float64 only): step h and relative tolerance.  The
# absolute tolerance is derived per check from the rounding error of the difference
# quotient, about eps * sum(|terms of the loss|) / h (see gradcheck in test_reference.py).
GRADCHECK_H = 1e-6
GRADCHECK_RTOL = 1e-6

ISA_NAMES = ("reference", "scalar", "avx2", "avx512", "neon")


def tolerance(dtype):
    return TOLERANCES[np.dtype(dtype)]


def assert_close(actual, expected, dtype, err_msg=""):
    """assert_allclose with the tolerances of `dtype`; also checks shape and dtype.

    NaNs must sit at the same positions in both arrays.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape} {err_msg}"
    assert actual.dtype == np.dtype(dtype), f"dtype {actual.dtype} != {np.dtype(dtype)} {err_msg}"
    np.testing.assert_allclose(actual, expected.astype(actual.dtype, copy=False),
                               equal_nan=True, err_msg=err_msg, **tolerance(dtype))


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


def supported_isas():
    from fastconv import _kernels
    return [name for name in ISA_NAMES if _kernels.isa_supported(name)]


@pytest.fixture(params=supported_isas())
def isa(request):
    """Runs the test on each instruction-set path this CPU supports, then restores the path."""
    from fastconv import _kernels
    previous = _kernels.get_isa()
    assert _kernels.set_isa(request.param) == 0
    assert _kernels.get_isa() == request.param
    try:
        yield request.param
    finally:
        assert _kernels.set_isa(previous) == 0


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def _up(a):
    if isinstance(a, np.ndarray) and a.dtype == np.float32:
        return a.astype(np.float64)
    if isinstance(a, (tuple, list)) and a and isinstance(a[0], np.ndarray):
        return type(a)(_up(v) for v in a)
    return a


class _Float64Reference:
    """fastconv.reference evaluated in float64 on the same input values.

    The oracle for float32 results: it removes the reference's own float32 rounding, so the
    comparison measures only the error of the backend under test (float32 sums of a few
    hundred terms otherwise differ by ~2 float32 ulps of the sum of |terms| between two
    correct implementations).
    """

    def __getattr__(self, name):
        import fastconv.reference
        fn = getattr(fastconv.reference, name)

        def call(*args, **kwargs):
            return fn(*[_up(a) for a in args], **{k: _up(v) for k, v in kwargs.items()})
        return call


R64 = _Float64Reference()


# ---------------------------------------------------------------------------------------
# Hardening figures: test_fuzz, test_leaks, test_memory, test_threads and test_bigindex
# record what they measured with record_figure(); the terminal summary prints them.
# ---------------------------------------------------------------------------------------
HARDENING_FIGURES = {}


def record_figure(name, value):
    """Record one measured figure (a short string) for the end-of-run summary."""
    HARDENING_FIGURES[name] = str(value)


def _sanitizer_runtime_loaded():
    try:
        with open("/proc/self/maps") as fh:
            maps = fh.read()
    except OSError:
        return False
    return "libasan" in maps


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    figures = dict(HARDENING_FIGURES)
    if _sanitizer_runtime_loaded():
        # halt_on_error=1: the first ASan/UBSan report aborts the process, so reaching this
        # summary means no finding in the tests that ran.
        figures["sanitizer findings"] = (
            f"0 (ASan+UBSan runtime loaded, halt_on_error=1; pytest exit status {exitstatus})")
    if not figures:
        return
    terminalreporter.section("fastconv hardening figures")
    for name in sorted(figures):
        terminalreporter.write_line(f"{name}: {figures[name]}")
