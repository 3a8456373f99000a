"""Coverage-guided fuzzing of fastconv.functional against fastconv.reference with atheris.

It drives the same case generator and the same checks as tests/test_fuzz.py (every public
function; random shapes, dtypes, strides, options and memory layouts, valid and invalid;
results equal to the reference or the reference's error; inputs never modified), but from
fuzzer bytes and for as long as you like.  A failed check raises, which atheris reports as a
crash and saves as crash-<hash> (replay: python tools/fuzz_atheris.py crash-<hash>).

    pip install atheris
    python setup.py build_ext --inplace
    python tools/fuzz_atheris.py -max_total_time=300 -timeout=60 -max_len=2048 [corpus_dir]

FASTCONV_FUZZ_SKIP=op1,op2 leaves functions out (to look past a known, still open finding).
Extra libFuzzer flags are passed through (-runs=N, -jobs=N, -print_final_stats=1, ...).  Run
it on a sanitizer build to catch memory errors too: build as tools/sanitize.sh does and run
with LD_PRELOAD=$(gcc -print-file-name=libasan.so).  The Python code of fastconv (validation,
frontend, reference) is instrumented for coverage feedback; the C code is checked by results.
"""
import os
import sys
import time

import atheris

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

with atheris.instrument_imports(include=["fastconv"]):
    import fastconv  # noqa: F401
    import fastconv.functional  # noqa: F401
    import fastconv.reference  # noqa: F401

import numpy as np  # noqa: E402

import test_fuzz  # noqa: E402  (the shared generator and checks)


class BytesSource(test_fuzz.Source):
    """Choices taken from the fuzzer's bytes; once they run out every choice is the lowest
    value, which keeps short inputs meaningful."""

    def __init__(self, data):
        self.fdp = atheris.FuzzedDataProvider(data)

    def int(self, lo, hi):
        if hi <= lo:
            return lo
        return self.fdp.ConsumeIntInRange(lo, hi)


_stats = {"calls": 0, "ok": 0, "error": 0, "start": time.time()}
_SKIP = set(filter(None, os.environ.get("FASTCONV_FUZZ_SKIP", "").split(",")))


def test_one_input(data):
    name, args, kwargs = test_fuzz.make_case(BytesSource(data))
    if name in _SKIP:
        return
    with np.errstate(all="ignore"):
        outcome = test_fuzz.check_case(name, args, kwargs)
    _stats["calls"] += 1
    _stats[outcome] += 1
    if _stats["calls"] % 5000 == 0:
        el = time.time() - _stats["start"]
        print(f"#fastconv {_stats['calls']} calls ({_stats['ok']} matched the reference, "
              f"{_stats['error']} raised its error) in {el:.0f} s", flush=True)


def main():
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
