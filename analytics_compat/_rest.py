"""``client.api``: PostHog's app REST API (flags, annotations, ...) from the same client.

Owns ``RestApi``: ``get(path, params)``, ``post(path, data)``, ``put``, ``patch`` and
``delete``, JSON in and out, authenticated with the personal API key as
``Authorization: Bearer``. Unlike capture, a call is **synchronous**: it makes one
request on the caller's thread (no queue, no retry: a POST that created a flag must
not be repeated blindly) and returns the decoded JSON answer (None for an empty one),
or raises:

- ``ConfigurationError`` (``option="personal_api_key"``) when no personal API key is
  set, or ``option="app_host"`` for an ``app_host`` that is not an http(s) URL;
- ``ValidationError`` (``field="path"``) for a full URL given as the path;
- ``HTTPStatusError`` for any status but 2xx (a redirect included: none is followed,
  so the key never travels to another host): ``status_code``, ``retryable`` (408,
  429, 5xx: worth trying again later), and the server's ``detail`` in the message;
- ``TransportError`` when no answer came (refused, reset, timed out after ``timeout``
  seconds: the client's ``timeout`` option unless the call gives one).

Paths are sent as given, ``@current`` included (PostHog resolves it to the key's
project). The host is ``app_host`` when set, else the ingestion host made into the
app host for PostHog Cloud (``https://us.i.posthog.com`` -> ``https://us.posthog.com``,
``https://eu.i.posthog.com`` -> ``https://eu.posthog.com``), anything else as it is.

posthog-node's form is accepted too: a mapping second argument whose keys are all
among ``data``, ``host``, ``projectApiKey`` and ``personalApiKey`` is read as that
call's options (``data``: the query of a GET / DELETE, the body otherwise; a
``projectApiKey`` is sent as the ``token`` query parameter, which PostHog's endpoints
that take a project key read). To send a body that happens to look like that, wrap
it: ``post(path, {"data": body})``.

No key is ever logged, put in a repr or an error: details are redacted with every
key this client knows; the log line is the method, the path (never the query) and
the status. It knows nothing about capture, queues or flags evaluation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Callable, Optional

import requests

from ._config import DEFAULT_HOST, ClientOptions
from ._jsonsafe import json_safe
from ._redact import register_secret
from .errors import ConfigurationError, HTTPStatusError, TransportError, ValidationError
from .transport._http import USER_AGENT, is_retryable_status, redact

__all__ = ["RestApi", "app_host"]

logger = logging.getLogger(__name__)

_CLOUD_APP_HOSTS = {
    "https://us.i.posthog.com": "https://us.posthog.com",
    "https://eu.i.posthog.com": "https://eu.posthog.com",
}
_NODE_OPTIONS = frozenset({"data", "host", "projectApiKey", "personalApiKey"})
_DEFAULT_TIMEOUT = 10.0
_DETAIL_KEYS = ("detail", "error_description", "error", "message")


def app_host(host: str) -> str:
    """The app host for an ingestion host (PostHog Cloud's are different; others are not)."""
    host = host.rstrip("/")
    return _CLOUD_APP_HOSTS.get(host, host)


def _node_options(value: Any) -> Optional[Mapping[str, Any]]:
    """``value`` if it is posthog-node's ``{data, host, projectApiKey, personalApiKey}``."""
    if isinstance(value, Mapping) and value and all(k in _NODE_OPTIONS for k in value):
        return value
    return None


class RestApi:
    """PostHog's app API for one client; settings are read from it at each call."""

    def __init__(self, options: Callable[[], Optional[ClientOptions]]) -> None:
        self._options = options

    def __repr__(self) -> str:
        options = self._options()
        key = "set" if options is not None and options.flags.personal_api_key else "none"
        return f"<RestApi host={self._host(options, None)} personal_api_key={key}>"

    # -- the calls -------------------------------------------------------------------
    def get(self, path: str, params: Optional[Mapping[str, Any]] = None, /, **kw: Any) -> Any:
        """``GET path?params``; the decoded JSON answer."""
        return self._call("GET", path, params, **kw)

    def post(self, path: str, data: Any = None, /, **kw: Any) -> Any:
        """``POST path`` with ``data`` as the JSON body; the decoded JSON answer."""
        return self._call("POST", path, data, **kw)

    def put(self, path: str, data: Any = None, /, **kw: Any) -> Any:
        """``PUT path`` with ``data`` as the JSON body."""
        return self._call("PUT", path, data, **kw)

    def patch(self, path: str, data: Any = None, /, **kw: Any) -> Any:
        """``PATCH path`` with ``data`` as the JSON body (only the fields to change)."""
        return self._call("PATCH", path, data, **kw)

    def delete(self, path: str, params: Optional[Mapping[str, Any]] = None, /, **kw: Any) -> Any:
        """``DELETE path?params``."""
        return self._call("DELETE", path, params, **kw)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        data: Any = None,
        host: Optional[str] = None,
        personal_api_key: Optional[str] = None,
        project_api_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Any method; the calls above are this with the second argument placed."""
        options = self._options()
        key = personal_api_key or (options.flags.personal_api_key if options else None)
        if not key:
            raise ConfigurationError(
                "client.api needs a personal API key: set the personal_api_key option "
                "(posthog-python: secret_key) or pass personal_api_key=",
                option="personal_api_key",
            )
        register_secret(key, project_api_key)  # kept out of urllib3's debug lines too
        base = self._host(options, host)
        if not base.startswith(("http://", "https://")):
            raise ConfigurationError("app_host must be an http(s) URL", option="app_host")
        if "://" in path:
            raise ValidationError(
                "path is a path such as /api/projects/@current/feature_flags/, not a URL "
                "(pass host= for another host)",
                field="path",
            )
        path = path if path.startswith("/") else "/" + path
        query = dict(params or {})
        if project_api_key:
            query["token"] = project_api_key
        headers = {
            "Authorization": f"Bearer {key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        body = None
        if data is not None:
            body = json.dumps(json_safe(data, "data"), allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        secrets = [s for s in (key, project_api_key, options.secret if options else None) if s]
        if timeout is None:
            timeout = options.delivery.timeout if options else _DEFAULT_TIMEOUT
        try:
            response = requests.request(
                method,
                base + path,
                params=query or None,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise TransportError(
                f"no answer to {method} {path}: {_describe(exc)}"
            ) from None  # the cause's text holds the URL, which may hold a token
        logger.debug("%s %s -> %d", method, path, response.status_code)
        return _answer(response, secrets)

    # -- helpers -----------------------------------------------------------------------
    def _call(self, method: str, path: str, second: Any, **kw: Any) -> Any:
        node = _node_options(second)
        if node is not None:
            second = node.get("data")
            kw.setdefault("host", node.get("host"))
            kw.setdefault("personal_api_key", node.get("personalApiKey"))
            kw.setdefault("project_api_key", node.get("projectApiKey"))
        if method in ("GET", "DELETE"):
            if second is not None and not isinstance(second, Mapping):
                raise ValidationError(f"{method} parameters must be a mapping", field="params")
            return self.request(method, path, params=second, **kw)
        return self.request(method, path, data=second, **kw)

    @staticmethod
    def _host(options: Optional[ClientOptions], given: Optional[str]) -> str:
        if given:
            return given.rstrip("/")
        if options is not None and options.capture.app_host:
            return options.capture.app_host.rstrip("/")
        return app_host(options.host if options is not None else DEFAULT_HOST)


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timeout"
    return type(exc).__name__


def _answer(response: requests.Response, secrets: list[str]) -> Any:
    status = response.status_code
    if 200 <= status < 300:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            return response.text  # a 2xx that is not JSON: what it said, as text
    if 300 <= status < 400:
        detail = "redirected; not followed, so the key stays with this host"
    else:
        detail = _detail(response)
    raise HTTPStatusError(
        status,
        retryable=is_retryable_status(status),
        detail=redact(detail, secrets),
    )


def _detail(response: requests.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, Mapping):
        for key in _DETAIL_KEYS:
            value = payload.get(key)
            if isinstance(value, str) and value.strip():
                attr = payload.get("attr")
                return f"{value} ({attr})" if isinstance(attr, str) and attr else value
    return " ".join(response.text.split())
