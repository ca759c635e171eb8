"""The ``analytics-compat`` command line (also ``python -m analytics_compat``).

Owns the argparse tree and the dispatch to commands; each command lives in its own
module of this package with the same two functions::

    add_parser(subparsers) -> argparse.ArgumentParser   # its options and help
    run(args, out, err) -> int                          # exit status

- ``serve`` (``serve.py``): the local PostHog-compatible devserver in the foreground;
- ``events`` (``events.py``): print events from a running devserver or its database;
- ``import`` (``importer.py``, ``import`` being a keyword; its parts are the
  ``_import_*`` modules): send a Segment export to a PostHog host as historical events;
- ``demo`` (``demo.py``): hand the remaining arguments to ``analytics_compat.demo``.

A new command is one more module listed in ``_COMMAND_MODULES``. No command prints a
project key or a personal API key, and terminal output of stored data goes through
``_terminal``. This package knows nothing about how the server works inside: it uses
``DevServer`` and ``/api/events``, and sends through the public ``Client``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from . import demo, events, importer, serve

__all__ = ["main"]

# In the order ``--help`` lists them.
_COMMAND_MODULES = (serve, events, importer, demo)


def build_parser() -> argparse.ArgumentParser:
    """The whole argument tree: one sub-parser per command module."""
    parser = argparse.ArgumentParser(
        prog="analytics-compat",
        description="Tools around analytics-compat: a local PostHog-compatible devserver, "
        "and an importer of Segment exports.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _COMMAND_MODULES:
        module.add_parser(sub).set_defaults(run=module.run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["demo"]:
        # everything after "demo" belongs to the demo, even options argparse would eat
        return demo.run_demo(arguments[1:])
    args = build_parser().parse_args(arguments)
    status: int = args.run(args, sys.stdout, sys.stderr)
    return status
