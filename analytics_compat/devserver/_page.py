"""The page route family: ``GET /``, the live events page.

Owns the first load: the document from ``_page_assets`` with the newest events
already drawn on the server (so ``curl /`` and a browser without JavaScript see
them), every piece of event data HTML-escaped, the cursor the script polls from,
and the Content-Security-Policy. Rows drawn here have the same shape as the ones the
script draws. It knows nothing about sockets, CORS, capture or flags.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Collection, Mapping

from ._inspect import MAX_EVENTS_LIMIT
from ._messages import Request, Response
from ._page_assets import (
    CHUNK_ROWS,
    COLUMNS,
    INITIAL_ROWS,
    MAX_ROWS,
    NOTABLE_KEYS,
    PAGE_CSP,
    PAGE_HTML,
)
from ._store import EventStore

__all__ = ["page", "render_row"]

_CHIPS = 6
_SLOT = re.compile(r"%%([A-Z_]+)%%")
_CHIP_WIDTH = 48


def _text(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _chip_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= _CHIP_WIDTH else text[: _CHIP_WIDTH - 1] + "\u2026"


def _summary(properties: Mapping[str, Any]) -> str:
    keys = [k for k in NOTABLE_KEYS if k in properties]
    keys += [k for k in properties if not k.startswith("$")]
    chips = "".join(
        f'<span class="chip"><span class="k">{_text(k)}=</span>'
        f"{_text(_chip_value(properties[k]))}</span>"
        for k in keys[:_CHIPS]
    )
    lead = "" if keys else "no custom properties \u00b7 "
    return f'{chips}<span class="total">{lead}{len(properties)} total</span>'


def render_row(event: Mapping[str, Any]) -> str:
    """One ``<tr>`` of the events table, every value escaped."""
    properties = event.get("properties") or {}
    stamp = event.get("timestamp", "")
    title = f"timestamp {stamp}\nreceived {event.get('received_at', '')}"
    pretty = json.dumps(properties, indent=2, ensure_ascii=False)
    return (
        f'<tr class="event-row" data-uuid="{_text(event["uuid"])}" '
        f'data-event="{_text(event["event"])}" data-seq="{int(event["seq"])}">'
        f'<td class="time" data-ts="{_text(stamp)}" title="{_text(title)}">{_text(stamp)}</td>'
        f'<td class="proto" title="{_text(event.get("path") or "")}">'
        f"{_text(event.get('protocol') or '')}</td>"
        f'<td class="event">{_text(event["event"])}</td>'
        f'<td class="who">{_text(event["distinct_id"])}</td>'
        f'<td class="props"><details><summary>{_summary(properties)}</summary>'
        f"<pre>{_text(pretty)}</pre></details></td></tr>"
    )


def page(request: Request, store: EventStore, tokens: Collection[str]) -> Response:
    """Answer ``GET /`` with the newest events (``?event=`` / ``?distinct_id=`` apply)."""
    newest = store.events(
        request.param("event") or None,
        request.param("distinct_id") or None,
        limit=INITIAL_ROWS,
        newest_first=True,
    )
    # The newest drawn row is the cursor: the script asks for what came after it with
    # the same filters, so nothing is drawn twice and nothing in between is missed.
    cursor = newest[0]["seq"] if newest else 0
    slots = {
        "CHUNK": (
            f'<div class="chunk"><table>{COLUMNS}<tbody>'
            + "".join(render_row(event) for event in newest)
            + "</tbody></table></div>"
            if newest
            else ""
        ),
        "COLUMNS": COLUMNS,
        "COLUMNS_JS": json.dumps(COLUMNS),
        "CHUNK_ROWS": str(CHUNK_ROWS),
        "CURSOR": str(cursor),
        "STATUS": f"{len(newest)} shown \u00b7 connecting\u2026",
        "EMPTY_STYLE": ' style="display:none"' if newest else "",
        "TOKENS": " or ".join(f"<code>{_text(t)}</code>" for t in tokens),
        "MAX_ROWS": str(MAX_ROWS),
        "INITIAL": str(INITIAL_ROWS),
        "PAGE": str(MAX_EVENTS_LIMIT),
        "NOTABLE": json.dumps(list(NOTABLE_KEYS)),
    }
    # one pass: text filled into a slot (event data) is never searched for slots again
    document = _SLOT.sub(lambda match: slots[match.group(1)], PAGE_HTML)
    return Response(
        status=200,
        body=document.encode("utf-8"),
        content_type="text/html; charset=utf-8",
        headers=(("Content-Security-Policy", PAGE_CSP), ("Cache-Control", "no-store")),
    )
