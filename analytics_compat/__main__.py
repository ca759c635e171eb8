"""``python -m analytics_compat``: the same command line as ``analytics-compat``."""

from __future__ import annotations

from analytics_compat.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
