"""The fastconv command line: ``fastconv <command> ...`` (the console script installed with the
package, ``[project.scripts]`` in pyproject.toml), or the same as ``python -m fastconv <command> ...``.

Each command lives in its own module ``fastconv/cli/<name>.py`` exposing
``register(subparsers)``, which adds a subparser and sets its ``func(args) -> int``.
"""
import argparse
import importlib
from typing import Optional, Sequence

COMMANDS = ("info", "train", "summary", "edges", "bench")


def build_parser(prog: str = "fastconv") -> argparse.ArgumentParser:
    from .._version import __version__
    parser = argparse.ArgumentParser(prog=prog,
                                     description="fastconv: fast C kernels for CNNs in NumPy.")
    parser.add_argument("--version", action="version", version=f"fastconv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None, prog: str = "fastconv") -> int:
    """Run the command line with `argv` (default sys.argv[1:]); returns the exit status.

    `prog` is the command name shown in usage messages: ``fastconv`` for the console script,
    ``python -m fastconv`` when run as a module."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    status = args.func(args)
    return 0 if status is None else int(status)
