"""The fastconv command line: ``python -m fastconv <command> ...``.

Each command lives in its own module ``fastconv/cli/<name>.py`` exposing
``register(subparsers)``, which adds a subparser and sets its ``func(args) -> int``.
"""
import argparse
import importlib
from typing import Optional, Sequence

COMMANDS = ("info", "train", "summary", "edges", "bench")


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__
    parser = argparse.ArgumentParser(prog="python -m fastconv",
                                     description="fastconv: fast C kernels for CNNs in NumPy.")
    parser.add_argument("--version", action="version", version=f"fastconv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line with `argv` (default sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    status = args.func(args)
    return 0 if status is None else int(status)
