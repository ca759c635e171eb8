"""The devserver's feature-flag endpoints: serving definitions and evaluating them.

Owns:

- the definitions source: a JSON file in PostHog's local-evaluation format
  (``{"flags": [...], "group_type_mapping": {...}, "cohorts": {...}}``), re-read when
  the file changes (the last good version is kept if an edit does not parse), or a
  mapping set programmatically; over it, the flags the app API made or changed
  (``set_overlay``), which replace a base flag with the same id or key;
- ``GET /api/feature_flag/local_evaluation/`` and ``GET /flags/definitions``: a personal
  API key as ``Authorization: Bearer`` (any non-empty key when the server has none
  configured; 401 otherwise), a strong ``ETag`` and ``If-None-Match`` -> 304;
- ``POST /flags/?v=N`` and ``POST /decide/``: the project token in the body, the flags
  evaluated for ``distinct_id`` against the stored person properties merged with the
  request's ``person_properties`` (the request wins) and the stored group properties
  merged with ``group_properties``.

Evaluation is ``analytics_compat.flags.evaluator.evaluate_all``. A flag it cannot decide
(``decided=False``, e.g. a cohort or operator it does not support) is answered as
``False`` here: this server is the last word, there is nobody to ask.

It knows nothing about sockets, CORS or how events are stored beyond the store's read
calls, and nothing about the other route families.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, Mapping, Optional, Sequence, Union

from ._decoding import decode_json_body
from ._errors import RequestError
from ._ingest import check_token
from ._messages import Request, Response

if TYPE_CHECKING:
    from analytics_compat.flags.evaluator import FlagResult
    from analytics_compat.flags.model import FlagDefinitions

    from ._store import EventStore

__all__ = ["FlagsEndpoint", "load_definitions_file"]

logger = logging.getLogger(__name__)

_EMPTY: Mapping[str, Any] = {"flags": [], "group_type_mapping": {}, "cohorts": {}}


def _normalized(raw: Any) -> dict[str, Any]:
    if isinstance(raw, list):
        raw = {"flags": raw}
    if not isinstance(raw, Mapping):
        raise ValueError("flag definitions must be a JSON object with a 'flags' list")
    flags = raw.get("flags", [])
    if not isinstance(flags, list):
        raise ValueError("'flags' must be a list")
    return {
        **raw,
        "flags": flags,
        "group_type_mapping": dict(raw.get("group_type_mapping") or {}),
        "cohorts": dict(raw.get("cohorts") or {}),
    }


def load_definitions_file(path: Union[str, os.PathLike[str]]) -> dict[str, Any]:
    """Read and check a definitions file; raise ``ValueError`` if it is not usable."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error.msg}, line {error.lineno})") from None
    return _normalized(raw)


class _Snapshot:
    """One version of the definitions: the raw JSON, its bytes, ETag and parsed form."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = _normalized(raw)
        self.body = json.dumps(self.raw, separators=(",", ":"), sort_keys=True).encode()
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'
        self._parsed: Optional[FlagDefinitions] = None

    @property
    def parsed(self) -> FlagDefinitions:
        # Parsed on first evaluation: serving events and definitions never needs the
        # evaluator (two threads may both parse once; the results are equal).
        if self._parsed is None:
            from analytics_compat.flags.model import parse_definitions

            self._parsed = parse_definitions(self.raw)
        return self._parsed


def _etag_matches(header: Optional[str], etag: str) -> bool:
    if not header:
        return False
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def _payload_text(payload: Any) -> Optional[str]:
    # PostHog's /flags and /decide carry payloads JSON-encoded, as strings.
    return None if payload is None else json.dumps(payload, separators=(",", ":"))


class FlagsEndpoint:
    """Serves and evaluates one set of flag definitions."""

    def __init__(
        self,
        *,
        personal_api_key: Optional[str] = None,
        flags_file: Union[str, os.PathLike[str], None] = None,
    ) -> None:
        self._personal_api_key = personal_api_key
        self._file = Path(flags_file) if flags_file is not None else None
        self._lock = threading.Lock()
        self._file_stamp: Optional[tuple[int, int]] = None
        # the flags the app API made or changed (deleted ones too: they hide a base flag)
        self._overlay: tuple[dict[str, Any], ...] = ()
        if self._file is not None:
            self._base = load_definitions_file(self._file)
            self._file_stamp = self._stamp()
        else:
            self._base = _normalized(_EMPTY)
        self._snapshot = _Snapshot(self._merged())

    def __repr__(self) -> str:
        key = "set" if self._personal_api_key else "none"
        return f"FlagsEndpoint(personal_api_key=<{key}>, flags_file={self._file!r})"

    def set_definitions(self, raw: Mapping[str, Any]) -> None:
        """Replace the base definitions (``ValueError`` if they are not usable)."""
        base = _normalized(raw)
        with self._lock:
            self._base = base
            self._file = None
            self._snapshot = _Snapshot(self._merged())

    def set_overlay(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Serve these flags over the base ones: each replaces a base flag with its id or
        key; one marked ``deleted`` only hides it. Served at once, with a new ETag."""
        with self._lock:
            self._overlay = tuple(dict(r) for r in records)
            self._snapshot = _Snapshot(self._merged())

    def base_flags(self) -> list[dict[str, Any]]:
        """The flags of the file (or ``set_definitions``) that no overlay flag replaces."""
        self._current()  # a changed file is re-read first
        with self._lock:
            return [dict(f) for f in self._visible_base()]

    def current(self) -> Mapping[str, Any]:
        """The definitions served now, as JSON."""
        return self._current().raw

    def _visible_base(self) -> list[Any]:
        ids = {r.get("id") for r in self._overlay} - {None}
        keys = {r.get("key") for r in self._overlay}
        return [
            f
            for f in self._base["flags"]
            if not (isinstance(f, Mapping) and (f.get("key") in keys or f.get("id") in ids))
        ]

    def _merged(self) -> dict[str, Any]:
        served = [r for r in self._overlay if not r.get("deleted")]
        return {**self._base, "flags": self._visible_base() + served}

    def _stamp(self) -> Optional[tuple[int, int]]:
        try:
            st = os.stat(self._file) if self._file is not None else None
        except OSError:
            return None
        return None if st is None else (st.st_mtime_ns, st.st_size)

    def _current(self) -> _Snapshot:
        with self._lock:
            if self._file is not None:
                stamp = self._stamp()
                if stamp is not None and stamp != self._file_stamp:
                    self._file_stamp = stamp
                    try:
                        self._base = load_definitions_file(self._file)
                        self._snapshot = _Snapshot(self._merged())
                        logger.info("reloaded flag definitions from %s", self._file)
                    except (OSError, ValueError) as error:
                        logger.warning("kept the previous flag definitions: %s", error)
            return self._snapshot

    # -- GET definitions -------------------------------------------------------------

    def check_personal_key(self, request: Request) -> None:
        """Refuse (401) a request without the personal API key as ``Authorization: Bearer``
        (any non-empty key when the server was given none)."""
        header = request.header("Authorization") or ""
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise RequestError(401, "missing_personal_api_key", "send a personal API key")
        expected = self._personal_api_key
        if expected is not None and not hmac.compare_digest(key.encode(), expected.encode()):
            raise RequestError(401, "invalid_personal_api_key", "the personal API key is wrong")

    def definitions(self, request: Request, tokens: Collection[str]) -> Response:
        """Answer ``GET /api/feature_flag/local_evaluation/`` or ``/flags/definitions``."""
        self.check_personal_key(request)
        token = request.param("token")
        if token is not None:
            check_token(token, tokens)
        snapshot = self._current()
        headers = (("ETag", snapshot.etag), ("Cache-Control", "no-cache"))
        if _etag_matches(request.header("If-None-Match"), snapshot.etag):
            return Response(status=304, headers=headers)
        return Response(status=200, body=snapshot.body, headers=headers)

    # -- POST /flags, /decide ----------------------------------------------------------

    def evaluate(
        self, request: Request, store: EventStore, tokens: Collection[str], path: str
    ) -> Response:
        """Answer ``POST /flags/?v=N`` (v2 shape; v4+ adds ``value``) or ``/decide/``."""
        from analytics_compat.flags.evaluator import evaluate_all

        body = decode_json_body(
            request.body,
            content_encoding=request.header("Content-Encoding"),
            content_type=request.header("Content-Type"),
            query=request.query,
        )
        if not isinstance(body, Mapping):
            raise RequestError(400, "invalid_payload", "the body must be a JSON object")
        token = next(
            (body[k] for k in ("api_key", "token") if isinstance(body.get(k), str) and body[k]),
            None,
        )
        check_token(token, tokens)
        distinct_id = body.get("distinct_id")
        if isinstance(distinct_id, (int, float)) and not isinstance(distinct_id, bool):
            distinct_id = str(distinct_id)
        if not isinstance(distinct_id, str) or not distinct_id:
            raise RequestError(400, "missing_distinct_id", "the body has no distinct_id")
        groups = _mapping(body, "groups")
        person_properties = {
            "distinct_id": distinct_id,
            **store.person_properties(distinct_id),
            **_mapping(body, "person_properties"),
        }
        request_groups = _mapping(body, "group_properties")
        group_properties: dict[str, dict[str, Any]] = {}
        for group_type, key in groups.items():
            key_text = str(key)
            stored = store.group(str(group_type), key_text)
            extra = request_groups.get(group_type)
            group_properties[str(group_type)] = {
                "$group_key": key_text,
                **(stored["properties"] if stored else {}),
                **(extra if isinstance(extra, Mapping) else {}),
            }
        device_id = body.get("device_id")
        results = evaluate_all(
            self._current().parsed,
            distinct_id,
            groups={str(k): str(v) for k, v in groups.items()},
            person_properties=person_properties,
            group_properties=group_properties,
            device_id=device_id if isinstance(device_id, str) and device_id else None,
        )
        wanted = body.get("flag_keys_to_evaluate")
        if isinstance(wanted, list) and wanted:
            results = {k: r for k, r in results.items() if k in wanted}
        if path == "/decide":
            return Response.json(200, _decide_answer(results))
        version = _version(request.param("v"))
        return Response.json(200, _flags_answer(results, typed_values=version >= 4))


def _mapping(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RequestError(400, "invalid_payload", f"{key} must be an object")
    return dict(value)


def _version(raw: Optional[str]) -> int:
    try:
        return int(raw) if raw else 2
    except ValueError:
        return 2


def _value(result: FlagResult) -> Union[bool, str]:
    if not result.decided:
        return False
    value = result.value
    return value if isinstance(value, (bool, str)) else bool(value)


def _description(result: FlagResult) -> str:
    if result.decided:
        return result.reason.replace("_", " ")
    return f"not decidable by the devserver ({result.reason}), answered false"


def _flags_answer(results: Mapping[str, FlagResult], *, typed_values: bool) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    for key, result in results.items():
        value = _value(result)
        enabled = value is not False
        variant = value if isinstance(value, str) else None
        record: dict[str, Any] = {
            "key": key,
            "enabled": enabled,
            "variant": variant,
            "reason": {
                "code": result.reason,
                "description": _description(result),
                "condition_index": result.condition_index,
            },
            "metadata": {
                "id": result.flag_id,
                "version": result.version,
                "payload": _payload_text(result.payload) if enabled else None,
            },
        }
        if typed_values:
            record["value"] = value
            record["failed"] = False
        flags[key] = record
    return {"flags": flags, "errorsWhileComputingFlags": False, "requestId": str(uuid.uuid4())}


def _decide_answer(results: Mapping[str, FlagResult]) -> dict[str, Any]:
    values = {key: _value(result) for key, result in results.items()}
    payloads = {
        key: _payload_text(result.payload)
        for key, result in results.items()
        if values[key] is not False and result.payload is not None
    }
    return {
        "featureFlags": values,
        "featureFlagPayloads": payloads,
        "errorsWhileComputingFlags": False,
        "requestId": str(uuid.uuid4()),
    }
