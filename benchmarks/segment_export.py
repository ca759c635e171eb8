"""A generated Segment export (JSON lines) and what importing it must store.

Deterministic for a seed. Lines are Segment messages as Segment's S3 / raw-log export
writes them (``type``, ``messageId``, ids, ``timestamp`` / ``originalTimestamp`` /
``sentAt`` / ``receivedAt``, a browser-like ``context``), of every type; on request
also duplicates (the same ``messageId`` again with other bookkeeping fields, or the
same line again for a message without ``messageId``), malformed lines of many kinds
(each listed with its file and line number) and blank lines.

``write_export(root, lines, ...)`` writes one file or a small tree of plain and gzip
files and returns an ``Expected``: per PostHog event name, how many distinct events
the import must store; the rejected lines; the duplicates; the blank lines.
"""

from __future__ import annotations

import collections
import gzip
import json
import random
import uuid
from pathlib import Path
from typing import IO, Dict, Iterator, List, Optional, Set, Tuple

__all__ = ["Expected", "write_export"]

_TRACKS = ("Order Completed", "Product Viewed", "Signed Up", "Checkout Started", "Song Played")
_TYPES = (
    ("track", 50),
    ("page", 18),
    ("identify", 10),
    ("screen", 8),
    ("group", 7),
    ("alias", 7),
)
_EVENT_OF = {
    "page": "$pageview",
    "screen": "$screen",
    "identify": "$identify",
    "group": "$groupidentify",
    "alias": "$create_alias",
}
# (kind, raw line): each is rejected by the importer for its own reason
_MALFORMED: Tuple[Tuple[str, bytes], ...] = (
    ("not JSON", b'{"type": "track", "event": "E", '),
    ("not JSON", b"this is not json at all"),
    ("not an object", b'["type", "track"]'),
    ("unknown type", b'{"type": "batch", "userId": "u1", "timestamp": "2021-01-01T00:00:00Z"}'),
    ("no type", b'{"userId": "u1", "event": "E", "timestamp": "2021-01-01T00:00:00Z"}'),
    ("no event", b'{"type": "track", "userId": "u1", "timestamp": "2021-01-01T00:00:00Z"}'),
    ("no id", b'{"type": "identify", "traits": {"a": 1}, "timestamp": "2021-01-01T00:00:00Z"}'),
    ("bad time", b'{"type": "track", "event": "E", "userId": "u1", "timestamp": "yesterday"}'),
    ("no time", b'{"type": "track", "event": "E", "userId": "u1", "messageId": "nt"}'),
    ("not UTF-8", b'{"type": "track", "event": "\xff\xfe", "userId": "u1"}'),
    ("bad properties", b'{"type": "page", "userId": "u1", "properties": [1, 2]}'),
    ("no previousId", b'{"type": "alias", "userId": "u1", "timestamp": "2021-01-01T00:00:00Z"}'),
    ("no groupId", b'{"type": "group", "userId": "u1", "timestamp": "2021-01-01T00:00:00Z"}'),
)


class Expected:
    """What an import of the export must do."""

    def __init__(self) -> None:
        self.lines = 0
        self.events: collections.Counter[str] = collections.Counter()  # distinct, by name
        self.by_type: collections.Counter[str] = collections.Counter()  # distinct, by type
        self.rejects: Dict[str, Set[int]] = collections.defaultdict(set)  # file -> lines
        self.duplicates = 0
        self.blank = 0
        self.files: List[Path] = []

    @property
    def valid(self) -> int:
        return sum(self.events.values())

    @property
    def rejected(self) -> int:
        return sum(len(lines) for lines in self.rejects.values())


def _stamp(rng: random.Random) -> Tuple[str, str, str, str]:
    day = rng.randrange(1, 28)
    second = rng.randrange(86_400)
    base = f"2021-03-{day:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
    ms = rng.randrange(1000)
    original = f"{base}.{ms:03d}Z"
    return original, original, f"{base}.{(ms + 5) % 1000:03d}Z", f"{base}.{(ms + 40) % 1000:03d}Z"


def _message(rng: random.Random, number: int) -> Dict[str, object]:
    kind = rng.choices([t for t, _ in _TYPES], [w for _, w in _TYPES])[0]
    user = f"user_{rng.randrange(2000)}"
    anon = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    timestamp, original, sent, received = _stamp(rng)
    known = rng.random() < 0.7
    message: Dict[str, object] = {
        "type": kind,
        "anonymousId": anon,
        "userId": user if known else None,
        "timestamp": timestamp,
        "originalTimestamp": original,
        "sentAt": sent,
        "receivedAt": received,
        "channel": "browser",
        "version": 2,
        "context": {
            "ip": f"10.{number % 250}.{rng.randrange(250)}.{rng.randrange(250)}",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",
            "library": {"name": "analytics.js", "version": "next-1.53.0"},
            "locale": "en-US",
            "page": {
                "path": f"/docs/{number % 97}",
                "referrer": "https://www.example.com/",
                "title": "Docs | Initech",
                "url": f"https://initech.example/docs/{number % 97}?ref=export",
            },
        },
        "integrations": {},
    }
    roll = rng.random()
    if roll < 0.10:
        message["messageId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    elif roll > 0.05 + 0.10:
        message["messageId"] = f"ajs-next-{1616620800000 + number}-{rng.getrandbits(40):010x}"
    # else: no messageId at all (its uuid comes from its content)
    if kind == "track":
        message["event"] = rng.choice(_TRACKS)
        message["properties"] = {"plan": rng.choice(("free", "pro")), "total": number % 1000 / 4}
    elif kind == "page":
        message["name"] = "Docs"
        message["properties"] = {
            "title": "Docs | Initech",
            "url": f"https://initech.example/{number}",
        }
    elif kind == "screen":
        message["name"] = rng.choice(("Home", "Feed", "Settings"))
        message["properties"] = {"Feed Type": "private"}
    elif kind == "identify":
        message["userId"] = user
        message["traits"] = {"email": f"{user}@example.com", "plan": rng.choice(("free", "pro"))}
    elif kind == "group":
        message["userId"] = user
        message["groupId"] = f"org_{rng.randrange(100)}"
        message["traits"] = {"name": f"Org {rng.randrange(100)}", "employees": rng.randrange(500)}
    else:
        message["userId"] = user
        message["previousId"] = anon
    return message


def _name(message: Dict[str, object]) -> str:
    kind = str(message["type"])
    return str(message["event"]) if kind == "track" else _EVENT_OF[kind]


def _lines(
    count: int, rng: random.Random, expected: Expected, bad_every: int, dup_every: int
) -> Iterator[Tuple[bytes, Optional[str]]]:
    """``(line, reject kind or None)`` for ``count`` lines."""
    recent: List[Dict[str, object]] = []
    for number in range(1, count + 1):
        if bad_every and number % bad_every == 0:
            kind, raw = _MALFORMED[(number // bad_every) % len(_MALFORMED)]
            yield raw, kind
        elif bad_every and number % (bad_every * 7 + 1) == 0:
            expected.blank += 1
            yield b"   ", None
        elif dup_every and recent and number % dup_every == 0:
            again = dict(rng.choice(recent))
            if "messageId" in again:  # a Segment retry: same id, another delivery
                again["receivedAt"] = "2021-04-01T00:00:00.000Z"
                again = dict(reversed(list(again.items())))
            expected.duplicates += 1
            yield json.dumps(again).encode(), None
        else:
            message = _message(rng, number)
            expected.events[_name(message)] += 1
            expected.by_type[str(message["type"])] += 1
            recent.append(message)
            if len(recent) > 200:
                recent.pop(0)
            yield json.dumps(message).encode(), None


def _open(path: Path, compress: bool) -> IO[bytes]:
    if compress:
        return gzip.open(path, "wb", compresslevel=1)
    return open(path, "wb")


def write_export(
    root: Path,
    lines: int,
    *,
    layout: str = "tree",
    seed: int = 14,
    bad_every: int = 0,
    dup_every: int = 0,
) -> Expected:
    """Write the export under ``root``; returns what importing it must store.

    ``layout``: ``"tree"`` (a directory: a plain file, a gzip file and a nested plain
    one, the lines split between them), ``"gzip"`` or ``"plain"`` (one file,
    ``root`` itself). Every ``bad_every``-th line is malformed and every
    ``dup_every``-th a duplicate of a recent message (0: none).
    """
    rng = random.Random(seed)
    expected = Expected()
    expected.lines = lines
    if layout == "tree":
        root.mkdir(parents=True, exist_ok=True)
        (root / "nested").mkdir(exist_ok=True)
        parts = [
            (root / "a-plain.jsonl", False),
            (root / "b-gzip.jsonl.gz", True),
            (root / "nested" / "c-plain.json", False),
        ]
    else:
        parts = [(root, layout == "gzip")]
    sizes = [lines // len(parts)] * len(parts)
    sizes[-1] += lines - sum(sizes)
    stream = _lines(lines, rng, expected, bad_every, dup_every)
    for (path, compress), size in zip(parts, sizes):
        expected.files.append(path.resolve())
        with _open(path, compress) as out:
            for number in range(1, size + 1):
                raw, reject = next(stream)
                out.write(raw + b"\n")
                if reject is not None:
                    expected.rejects[str(path.resolve())].add(number)
    return expected
