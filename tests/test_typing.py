"""The public API as static tools see it: definitions, annotations, stubs and mypy.

- Every name in the ``__all__`` of every public module (each ``fastconv`` module whose dotted
  name has no component starting with ``_``, except the command line) has a static definition:
  a ``def``, ``class`` or assignment in the module's source, or an import that leads to one
  (``from .functional import *`` is followed through that module's literal ``__all__``).  The
  static ``__all__`` is a literal list that equals the run-time one (mypy reads only literals).
  The run-time object has the signature of the definition the source shows.
- Every public function and every public method of a public class is fully annotated.
- ``fastconv.reference`` runs the very code of ``fastconv.functional`` on its NumPy kernels.
- ``fastconv/_kernels.pyi`` declares the compiled kernels with their run-time parameters.
- mypy: ``mypy --strict`` over tests/typing/user_script.py against the installed package, and
  mypy over the package's own sources (pyproject.toml's [tool.mypy]); the script also runs.
"""
import ast
import importlib
import importlib.resources
import importlib.util
import inspect
import os
import pkgutil
import re
import runpy
import subprocess
import sys
import types

import pytest

import fastconv
import fastconv.functional as F
import fastconv.reference as R
from fastconv import _kernels

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_SCRIPT = os.path.join(ROOT, "tests", "typing", "user_script.py")
_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))


def _public_modules():
    names = ["fastconv"]
    for info in pkgutil.walk_packages(fastconv.__path__, "fastconv."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[1] == "cli":
            continue
        names.append(info.name)
    return sorted(names)


PUBLIC_MODULES = _public_modules()


def _source_tree(module_name):
    """(path, ast) of the source of `module_name`, a .py file (never the compiled module)."""
    spec = importlib.util.find_spec(module_name)
    assert spec is not None and spec.origin and spec.origin.endswith(".py"), module_name
    with open(spec.origin, encoding="utf-8") as fh:
        return spec.origin, ast.parse(fh.read(), spec.origin)


def _absolute(module_name, node):
    """The module an ImportFrom node of `module_name` imports from."""
    if not node.level:
        return node.module
    package = module_name if _is_package(module_name) else module_name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return package + ("." + node.module if node.module else "")


def _is_package(module_name):
    spec = importlib.util.find_spec(module_name)
    return spec.submodule_search_locations is not None


def _top_level(body):
    """Module-level statements, including those under if/try (e.g. TYPE_CHECKING blocks)."""
    for node in body:
        if isinstance(node, ast.If):
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                yield from _top_level(block)
        else:
            yield node


def _static_all(module_name):
    """The module's __all__ as a literal list of strings (with literal += extensions)."""
    _, tree = _source_tree(module_name)
    names = None
    for node in _top_level(tree.body):
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                value = ast.literal_eval(node.value)   # raises for anything but a literal
                assert all(isinstance(v, str) for v in value), module_name
                names = list(value) if isinstance(node, ast.Assign) else names + list(value)
    return names


def _definitions(module_name, seen=None):
    """name -> (kind, module, node) for every name the source of `module_name` binds at module
    level; kind is 'def', 'class', 'assign', 'module' or ('import', module, name)."""
    seen = set() if seen is None else seen
    if module_name in seen:
        return {}
    seen.add(module_name)
    _, tree = _source_tree(module_name)
    defs = {}
    for node in _top_level(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs[node.name] = ("def", module_name, node)
        elif isinstance(node, ast.ClassDef):
            defs[node.name] = ("class", module_name, node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defs[n.id] = ("assign", module_name, node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                defs[alias.asname or alias.name.partition(".")[0]] = ("module", alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module_name, node)
            for alias in node.names:
                if alias.name == "*":
                    star = _static_all(source)
                    assert star is not None, f"{module_name}: star import from {source}, " \
                                             "which has no literal __all__"
                    for name in star:
                        defs[name] = (("import", source, name), module_name, node)
                else:
                    defs[alias.asname or alias.name] = (("import", source, alias.name),
                                                        module_name, node)
    return defs


def _resolve(module_name, name, depth=0):
    """Follow imports to the static definition of `name` in `module_name`:
    (kind, defining module, name) with kind 'def', 'class', 'assign' or 'module'."""
    assert depth < 10, (module_name, name)
    defs = _definitions(module_name)
    assert name in defs, f"{module_name}.{name} has no static definition in the module's source"
    kind, where, _ = defs[name]
    if isinstance(kind, tuple):
        _, source, original = kind
        if importlib.util.find_spec(source + "." + original) is not None if \
                _is_package(source) else False:
            return "module", source + "." + original, original
        return _resolve(source, original, depth + 1)
    if kind == "module":
        return "module", where, name
    return kind, where, name


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_names_have_static_definitions(module_name):
    module = importlib.import_module(module_name)
    assert hasattr(module, "__all__"), f"{module_name} has no __all__"
    static = _static_all(module_name)
    assert static == list(module.__all__), (
        f"{module_name}: the literal __all__ in the source differs from the run-time one")
    for name in module.__all__:
        kind, where, original = _resolve(module_name, name)
        runtime = getattr(module, name)
        if kind == "module":
            assert isinstance(runtime, types.ModuleType) and runtime.__name__ == where, name
            continue
        defined = getattr(importlib.import_module(where), original)
        if kind == "def":
            assert inspect.isfunction(runtime), f"{module_name}.{name}"
            # the same code (reference's functions are functional's, rebound to other kernels)
            assert runtime.__code__ is defined.__code__, f"{module_name}.{name}"
            assert inspect.signature(runtime) == inspect.signature(defined)
            assert runtime.__doc__ == defined.__doc__
        elif kind == "class":
            assert runtime is defined, f"{module_name}.{name}"
        else:  # an assignment: an alias of a function, a constant or a table
            assert runtime is defined, f"{module_name}.{name}"


def _unannotated(fn, skip_first):
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())[1 if skip_first else 0:]
    missing = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    if sig.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def _public_callables():
    seen = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj, False
            elif inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__")):
                        continue
                    if isinstance(member, property):
                        member = member.fget
                    elif isinstance(member, (staticmethod, classmethod)):
                        yield f"{module_name}.{name}.{attr}", member.__func__, \
                            isinstance(member, classmethod)
                        continue
                    if inspect.isfunction(member) and member.__module__.startswith("fastconv"):
                        yield f"{module_name}.{name}.{attr}", member, True


def test_public_functions_and_methods_are_annotated():
    missing = {name: m for name, fn, method in _public_callables()
               if (m := _unannotated(fn, method))}
    assert not missing, f"public callables without type hints: {missing}"


def test_reference_runs_functional_code_on_numpy_kernels():
    assert R.__all__ == F.__all__
    for name in F.__all__:
        f, r = getattr(F, name), getattr(R, name)
        if f.__module__ != "fastconv.functional":   # the shape helpers of fastconv.validation
            assert r is f
            continue
        assert r is not f and r.__code__ is f.__code__ and r.__module__ == "fastconv.reference"
        assert f.__globals__["_k"] is _kernels
        assert r.__globals__["_k"] is R._NumpyKernels, name
    # a helper that a public function calls is rebound too
    assert R.softmax.__globals__["_rowwise"].__globals__["_k"] is R._NumpyKernels


def _stub_functions():
    path = os.path.join(os.path.dirname(os.path.abspath(F.__file__)), "_kernels.pyi")
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    return {n.name: [a.arg for a in n.args.args] for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_kernel_stub_matches_the_extension():
    stub = _stub_functions()
    runtime = {name: obj for name, obj in vars(_kernels).items()
               if not name.startswith("_") and callable(obj) and not inspect.isclass(obj)
               and not isinstance(obj, types.ModuleType)}
    assert set(stub) == set(runtime)
    for name, fn in runtime.items():
        assert stub[name] == list(inspect.signature(fn).parameters), name
    # every kernel the functional API calls exists in both kernel objects, with one arity
    _, tree = _source_tree("fastconv.functional")
    called = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
              and isinstance(n.value, ast.Name) and n.value.id == "_k"}
    assert called and called <= set(stub)
    for name in called:
        numpy_params = inspect.signature(getattr(R._NumpyKernels, name)).parameters
        assert len(numpy_params) == len(stub[name]), name


def test_py_typed_and_stub_are_installed():
    files = importlib.resources.files("fastconv")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_kernels.pyi").is_file()


def _mypy(args, cwd, env=None):
    assert importlib.util.find_spec("mypy"), "mypy comes with the test extra: pip install '.[test]'"
    proc = subprocess.run([sys.executable, "-m", "mypy", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout
    return proc.stdout


def test_mypy_strict_on_a_user_script(tmp_path):
    with open(USER_SCRIPT, encoding="utf-8") as fh:
        assert not re.search(r"#\s*type:\s*ignore", fh.read())
    env = dict(os.environ)
    env.pop("MYPYPATH", None)
    if os.path.basename(_PKG_PARENT) not in ("site-packages", "dist-packages"):
        # a source checkout (an editable install's import hook is invisible to mypy)
        env["MYPYPATH"] = _PKG_PARENT
    # outside the checkout and without its config: the package is found as it is installed
    _mypy(["--strict", "--follow-imports=silent", "--cache-dir", str(tmp_path / "cache"),
           USER_SCRIPT], cwd=tmp_path, env=env)


def test_mypy_on_the_package_sources(tmp_path):
    if not os.path.isfile(os.path.join(ROOT, "fastconv", "functional.py")):
        pytest.skip("needs the source tree (pyproject.toml's [tool.mypy] checks fastconv/)")
    _mypy(["--cache-dir", str(tmp_path / "cache")], cwd=ROOT)


def test_user_script_runs(capsys):
    runpy.run_path(USER_SCRIPT, run_name="user_script")["main"]()
    assert capsys.readouterr().out.startswith(f"fastconv {fastconv.__version__}: loss ")
