"""setup.py's OpenMP probe: the flags it tries on each platform, and its build messages.

setup.py is imported (not run): its setup() call is behind `if __name__ == "__main__"`."""
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP = os.path.join(ROOT, "setup.py")

pytest.importorskip("Cython")
pytest.importorskip("setuptools")


@pytest.fixture(scope="module")
def setup_py():
    if not os.path.exists(SETUP):
        pytest.skip("no setup.py next to the tests (installed tests)")
    spec = importlib.util.spec_from_file_location("fastconv_setup", SETUP)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_linux_tries_only_fopenmp(setup_py):
    assert setup_py.openmp_candidates("linux", brew_prefix="/opt/homebrew/opt/libomp",
                                      isdir=lambda p: True) == [(["-fopenmp"], ["-fopenmp"])]


def test_darwin_without_homebrew(setup_py):
    cands = setup_py.openmp_candidates("darwin", brew_prefix=None, isdir=lambda p: False)
    assert cands == [(["-fopenmp"], ["-fopenmp"]),
                     (["-Xpreprocessor", "-fopenmp"], ["-lomp"])]


def test_darwin_homebrew_prefixes_in_order(setup_py):
    brew = "/somewhere/Cellar/libomp/19.1.0"
    present = {brew, "/usr/local/opt/libomp"}
    cands = setup_py.openmp_candidates("darwin", brew_prefix=brew, isdir=present.__contains__)
    assert cands[:2] == [(["-fopenmp"], ["-fopenmp"]),
                         (["-Xpreprocessor", "-fopenmp"], ["-lomp"])]
    rest = cands[2:]
    assert len(rest) == 2  # /opt/homebrew/opt/libomp does not exist here
    for (cflags, lflags), prefix in zip(rest, [brew, "/usr/local/opt/libomp"]):
        assert cflags == ["-Xpreprocessor", "-fopenmp", "-I" + os.path.join(prefix, "include")]
        lib = os.path.join(prefix, "lib")
        assert lflags == ["-L" + lib, "-lomp", "-Wl,-rpath," + lib]


def test_darwin_brew_prefix_not_repeated(setup_py):
    # `brew --prefix libomp` usually is /opt/homebrew/opt/libomp itself: tried once
    cands = setup_py.openmp_candidates("darwin", brew_prefix="/opt/homebrew/opt/libomp/",
                                       isdir=lambda p: True)
    includes = [c[0][-1] for c in cands[2:]]
    assert includes == ["-I/opt/homebrew/opt/libomp/include", "-I/usr/local/opt/libomp/include"]


def test_missing_openmp_messages(setup_py):
    mac = setup_py.openmp_missing_message("darwin")
    assert "building without OpenMP" in mac and "brew install libomp" in mac
    linux = setup_py.openmp_missing_message("linux")
    assert "building without OpenMP" in linux and "libomp-dev" in linux and "brew" not in linux


def test_find_openmp_takes_first_that_links(setup_py, monkeypatch):
    tried = []

    def accepts(flags, code):
        assert code == setup_py.OPENMP_PROBE
        tried.append(flags)
        return "-lomp" in flags  # as on macOS with Apple Clang and libomp on the default paths

    monkeypatch.setattr(setup_py.sys, "platform", "darwin")
    monkeypatch.setattr(setup_py, "_brew_libomp_prefix", lambda: None)
    monkeypatch.setattr(setup_py, "_compiler_accepts", accepts)
    assert setup_py.find_openmp() == (["-Xpreprocessor", "-fopenmp"], ["-lomp"])
    assert tried == [["-fopenmp", "-fopenmp"], ["-Xpreprocessor", "-fopenmp", "-lomp"]]

    monkeypatch.setattr(setup_py, "_compiler_accepts", lambda flags, code: False)
    assert setup_py.find_openmp() is None


def test_build_flags_say_when_openmp_is_off(setup_py, monkeypatch, capsys):
    monkeypatch.setattr(setup_py.sys, "platform", "linux")
    monkeypatch.setattr(setup_py, "_compiler_accepts", lambda flags, code: False)
    monkeypatch.delenv("FASTCONV_NO_OPENMP", raising=False)
    compile_args, link_args, macros = setup_py.build_flags()
    assert not any("openmp" in a for a in compile_args + link_args)
    assert "building without OpenMP" in capsys.readouterr().err
    monkeypatch.setenv("FASTCONV_NO_OPENMP", "1")
    compile_args, link_args, macros = setup_py.build_flags()
    assert not any("openmp" in a for a in compile_args + link_args)
    assert "FASTCONV_NO_OPENMP" in capsys.readouterr().err


def test_build_flags_use_the_probe_result(setup_py, monkeypatch):
    for name in ("FASTCONV_NO_OPENMP", "FASTCONV_NATIVE", "FASTCONV_DEBUG",
                 "FASTCONV_EXTRA_CFLAGS", "FASTCONV_EXTRA_LDFLAGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(setup_py, "find_openmp",
                        lambda: (["-Xpreprocessor", "-fopenmp", "-I/x/include"], ["-L/x/lib", "-lomp"]))
    compile_args, link_args, macros = setup_py.build_flags()
    assert compile_args[-3:] == ["-Xpreprocessor", "-fopenmp", "-I/x/include"]
    assert link_args[:2] == ["-L/x/lib", "-lomp"]
    assert "-Xpreprocessor -fopenmp" in dict(macros)["FC_BUILD_FLAGS"]


def test_msvc_stops_with_what_is_missing(setup_py):
    class Compiler:
        compiler_type = "msvc"

    class Cmd:
        compiler = Compiler()

    with pytest.raises(SystemExit) as exc:
        setup_py.build_ext.build_extensions(Cmd())
    msg = str(exc.value)
    assert "MSVC" in msg and "WSL" in msg and "vector_size" in msg


def test_numpy_target_is_the_pyproject_floor(setup_py):
    # the extension must import on the oldest NumPy that pyproject allows
    import re
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    floors = set(re.findall(r'"numpy>=(\d+)\.(\d+)"', text))
    assert len(floors) == 1, floors  # build-system and project dependencies agree
    (major, minor), = floors
    macros = dict(setup_py.build_flags()[2])
    assert macros["NPY_TARGET_VERSION"] == f"NPY_{major}_{minor}_API_VERSION"
