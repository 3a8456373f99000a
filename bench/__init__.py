"""The benchmark suite (see conftest.py).

A package, so that its conftest is imported as ``bench.conftest`` and never takes the place of
tests/conftest.py, which the unit tests import as ``conftest``: that is what lets one pytest run
collect both folders (README's ``pytest tests bench --benchmark-disable``).  pyproject.toml sets
``--import-mode=append``, so the checkout's folder goes at the end of ``sys.path`` and ``import
fastconv`` still finds the installed package rather than the sources next to this folder.
"""
