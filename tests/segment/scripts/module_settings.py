"""segment-python's module settings, in a fresh interpreter (the default client is
process-wide). Usage: python module_settings.py HOST

Prints one JSON object: what each step saw. The test reads it.
"""

from __future__ import annotations

import json
import logging
import sys

import analytics_compat as analytics

records: list = []


class Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        records.append(record.getMessage())


def main() -> None:
    host = sys.argv[1]
    seen: dict = {"unset": [analytics.write_key, analytics.host, analytics.debug]}
    try:
        analytics.track("u", "too early")
    except analytics.NotInitializedError as exc:
        seen["not_started"] = str(exc)
    for name, value in (
        ("max_queue_size", "many"),
        ("oauth_client_id", "id"),
        ("host", "https://api.segment.io"),
    ):
        try:
            setattr(analytics, name, value)
        except analytics.ConfigurationError as exc:
            seen[f"refused_{name}"] = str(exc)
    errors: list = []
    analytics.write_key = "phc_dev"
    analytics.host = host
    analytics.on_error = lambda error, items: errors.append((str(error), len(items)))
    analytics.log_handler = Keep()
    analytics.upload_size = 3
    analytics.max_retries = 0
    seen["read_back"] = [
        analytics.write_key == "phc_dev",
        analytics.host == host,
        analytics.upload_size,
    ]
    seen["initialized_before_first_call"] = analytics.default_client().initialized
    analytics.track("u", "first")
    client = analytics.default_client()
    seen["initialized"] = client.initialized
    options = client.options
    seen["options"] = [options.host == host, options.flush_at, options.delivery.max_retries]
    analytics.host = "http://127.0.0.1:9"  # too late: the client runs
    analytics.debug = True
    analytics.debug = True  # warned once per setting
    seen["after_start"] = [options.host == host, analytics.host]
    seen["warnings"] = [r for r in records if "was set after" in r]
    analytics.page("u", "Docs", "Python", {"url": "http://segment.com"})
    seen["flushed"] = bool(analytics.flush())
    seen["on_error"] = errors
    analytics.shutdown()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
