"""``analytics-compat demo``: hands every following argument to ``analytics_compat.demo``.

Owns only the sub-parser entry (so ``--help`` lists the command). The demo's own
options are parsed by the demo; it is imported on use because it pulls in the whole
client, which ``serve`` and ``events`` do not need.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any, Callable, TextIO

__all__ = ["add_parser", "run", "run_demo"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``demo``."""
    parser: argparse.ArgumentParser = sub.add_parser("demo", help="run the demo", add_help=False)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the demo with the arguments argparse gathered."""
    return run_demo(list(args.args))


def run_demo(argv_rest: list[str]) -> int:
    """Run ``analytics_compat.demo.main`` with ``argv_rest``."""
    demo_main: Callable[[list[str]], Any] = importlib.import_module("analytics_compat.demo").main
    return int(demo_main(argv_rest) or 0)
