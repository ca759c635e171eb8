"""``client.api``: PostHog's app REST API from the same client, against real servers.

Against the devserver: a flag created over REST is evaluated locally by the same
client after ``reload_feature_flags()`` with no ``/flags`` request, a change shows
after the next reload, annotations are created and listed, posthog-node's
``{data, host, projectApiKey, personalApiKey}`` form works. Against fault servers:
statuses become ``HTTPStatusError`` (the server's detail, redacted), no answer a
``TransportError``, a redirect is not followed; keys never reach logs, reprs or errors.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from analytics_compat import Client
from analytics_compat._rest import app_host
from analytics_compat.devserver import DevServer
from analytics_compat.errors import (
    ConfigurationError,
    HTTPStatusError,
    TransportError,
    ValidationError,
)
from tests.faults.servers import EchoServer, HungServer, RecordingServer, RedirectServer

TOKEN = "phc_rest_project_token"
PERSONAL = "phx_rest_personal_key_0123456789"
FLAGS = "/api/projects/@current/feature_flags/"
ANNOTATIONS = "/api/projects/@current/annotations/"
PRO_ONLY = {
    "groups": [
        {
            "properties": [
                {"key": "plan", "value": ["pro"], "operator": "exact", "type": "person"}
            ],
            "rollout_percentage": 100,
        }
    ]
}


@pytest.fixture
def server() -> Iterator[DevServer]:
    with DevServer(tokens=(TOKEN,), personal_api_key=PERSONAL) as running:
        yield running


def _client(host: str, **options: Any) -> Client:
    # no flag poller unless asked: a fault server must see only the REST calls
    settings: dict[str, Any] = {
        "secret": TOKEN,
        "host": host,
        "send": False,
        "enable_local_evaluation": False,
    }
    settings.update(options)
    return Client(settings)


@pytest.fixture
def client(server: DevServer) -> Iterator[Client]:
    made = _client(server.url, personal_api_key=PERSONAL, enable_local_evaluation=True)
    yield made
    made.shutdown()


def _flag_requests(server: DevServer) -> list[str]:
    return [r.path for r in server.requests_log if r.path.rstrip("/") in ("/flags", "/decide")]


def test_a_flag_created_over_rest_is_evaluated_locally_after_a_reload_and_its_change_too(
    server: DevServer, client: Client
) -> None:
    created = client.api.post(
        FLAGS, {"key": "rest-flag", "name": "made over REST", "active": True, "filters": PRO_ONLY}
    )
    assert (created["key"], created["active"]) == ("rest-flag", True)
    assert client.reload_feature_flags()
    pro, free = {"plan": "pro"}, {"plan": "free"}
    assert client.get_feature_flag("rest-flag", "u1", person_properties=pro) is True
    assert client.get_feature_flag("rest-flag", "u2", person_properties=free) is False
    changed = client.api.patch(f"{FLAGS}{created['id']}/", {"active": False})
    assert changed["active"] is False
    assert client.get_feature_flag("rest-flag", "u1", person_properties=pro) is True, "not yet"
    assert client.reload_feature_flags()
    assert client.get_feature_flag("rest-flag", "u1", person_properties=pro) is False
    assert _flag_requests(server) == [], "every answer was local"
    listed = client.api.get(FLAGS, {"limit": 1})
    assert (listed["count"], [f["key"] for f in listed["results"]]) == (1, ["rest-flag"])
    assert client.api.get(f"{FLAGS}{created['id']}/")["version"] == 2


def test_put_replaces_and_delete_is_refused_by_the_server_as_posthog_does(client: Client) -> None:
    created = client.api.post(FLAGS, {"key": "to-rename"})
    renamed = client.api.put(f"{FLAGS}{created['id']}/", {"key": "renamed", "filters": PRO_ONLY})
    assert renamed["key"] == "renamed"
    with pytest.raises(HTTPStatusError) as refused:
        client.api.delete(f"{FLAGS}{created['id']}/")
    assert (refused.value.status_code, refused.value.retryable) == (405, False)
    assert client.api.patch(f"{FLAGS}{created['id']}/", {"deleted": True})["deleted"] is True


def test_annotations_are_created_and_listed(client: Client) -> None:
    made = client.api.post(
        ANNOTATIONS,
        {"content": "Deploy v1.2", "date_marker": "2026-01-01T00:00:00Z", "scope": "project"},
    )
    assert (made["content"], made["scope"]) == ("Deploy v1.2", "project")
    client.api.post(ANNOTATIONS, {"content": "Pricing test", "date_marker": "2026-02-01T00:00:00Z"})
    listed = client.api.get(ANNOTATIONS)
    assert [a["content"] for a in listed["results"]] == ["Pricing test", "Deploy v1.2"]
    assert client.api.get(ANNOTATIONS, {"search": "deploy"})["count"] == 1


def test_posthog_nodes_options_form_works_without_a_configured_key(server: DevServer) -> None:
    keyless = _client("https://us.i.posthog.com")  # no personal key, another host
    try:
        node = {"host": server.url, "personalApiKey": PERSONAL}
        made = keyless.api.post(FLAGS, {**node, "data": {"key": "from-node"}})
        assert made["key"] == "from-node"
        found = keyless.api.get(FLAGS, {**node, "data": {"search": "node"}})
        assert [f["key"] for f in found["results"]] == ["from-node"]
        # a body that looks like the options form is sent when wrapped in data
        wrapped = keyless.api.post(ANNOTATIONS, {**node, "data": {"content": "x"}})
        assert wrapped["content"] == "x"
    finally:
        keyless.shutdown()


def test_a_project_api_key_travels_as_the_token_parameter() -> None:
    with RecordingServer() as recorder:
        made = _client(recorder.url, personal_api_key=PERSONAL)
        try:
            node = {"projectApiKey": TOKEN, "data": {"x": "1"}}
            made.api.get("/api/projects/@current/feature_flags/f/remote_config", node)
        finally:
            made.shutdown()
        (request,) = recorder.wait_requests(1)
    query = parse_qs(urlsplit(request.path).query)
    assert query == {"x": ["1"], "token": [TOKEN]}
    assert request.headers["authorization"] == f"Bearer {PERSONAL}"


def test_without_a_personal_api_key_a_call_names_the_option(server: DevServer) -> None:
    for made in (Client(), _client(server.url)):
        with pytest.raises(ConfigurationError) as missing:
            made.api.get(FLAGS)
        assert missing.value.option == "personal_api_key"
        made.shutdown()


def test_a_refusal_is_an_http_status_error_with_the_servers_detail(client: Client) -> None:
    with pytest.raises(HTTPStatusError) as refused:
        client.api.post(FLAGS, {"key": "has space"})
    error = refused.value
    assert (error.status_code, error.retryable) == (400, False)
    assert "only letters, numbers" in str(error) and "(key)" in str(error)
    with pytest.raises(HTTPStatusError) as missing:
        client.api.get(f"{FLAGS}12345/")
    assert missing.value.status_code == 404


def test_a_wrong_key_is_a_401_whose_error_holds_no_key(server: DevServer) -> None:
    wrong = "phx_wrong_personal_key_9876543210"
    made = _client(server.url, personal_api_key=wrong)
    try:
        with pytest.raises(HTTPStatusError) as refused:
            made.api.get(FLAGS)
    finally:
        made.shutdown()
    assert refused.value.status_code == 401
    for text in (str(refused.value), repr(refused.value), repr(made.api)):
        assert wrong not in text and wrong[:8] not in text


def test_a_server_that_echoes_the_key_gets_it_redacted() -> None:
    with EchoServer(status=400) as echo:
        made = _client(echo.url, personal_api_key=PERSONAL)
        try:
            with pytest.raises(HTTPStatusError) as refused:
                made.api.post("/api/x/", {"note": f"key={PERSONAL} token={TOKEN}"})
        finally:
            made.shutdown()
    text = str(refused.value)
    assert "[redacted]" in text
    assert PERSONAL[:6] not in text and TOKEN[:6] not in text


def test_a_5xx_is_retryable_and_raised_after_one_attempt() -> None:
    with RecordingServer(script=(503,)) as flaky:
        made = _client(flaky.url, personal_api_key=PERSONAL)
        try:
            with pytest.raises(HTTPStatusError) as failed:
                made.api.get("/api/projects/@current/annotations/")
            assert (failed.value.status_code, failed.value.retryable) == (503, True)
            assert len(flaky.requests) == 1, "no retry: the caller decides"
        finally:
            made.shutdown()


def test_no_answer_is_a_transport_error_within_the_timeout() -> None:
    with HungServer() as hung:
        made = _client(hung.url, personal_api_key=PERSONAL)
        try:
            with pytest.raises(TransportError) as silent:
                made.api.get(FLAGS, timeout=0.3)
        finally:
            made.shutdown()
    assert "timeout" in str(silent.value) and "GET " + FLAGS in str(silent.value)
    closed = _client("http://127.0.0.1:9", personal_api_key=PERSONAL)
    try:
        with pytest.raises(TransportError):
            closed.api.get(FLAGS)
    finally:
        closed.shutdown()


def test_a_redirect_is_not_followed_so_the_key_stays_with_the_host() -> None:
    with RedirectServer(302, target="/moved/") as redirect:
        made = _client(redirect.url, personal_api_key=PERSONAL)
        try:
            with pytest.raises(HTTPStatusError) as moved:
                made.api.get(FLAGS)
        finally:
            made.shutdown()
        assert moved.value.status_code == 302
        assert redirect.at_target() == []


@pytest.mark.parametrize(
    ("ingestion", "app"),
    [
        ("https://us.i.posthog.com", "https://us.posthog.com"),
        ("https://eu.i.posthog.com/", "https://eu.posthog.com"),
        ("https://posthog.example.com", "https://posthog.example.com"),
        ("http://127.0.0.1:8010", "http://127.0.0.1:8010"),
    ],
)
def test_the_app_host_is_derived_from_the_ingestion_host(ingestion: str, app: str) -> None:
    assert app_host(ingestion) == app
    made = _client(ingestion, personal_api_key=PERSONAL)
    try:
        assert f"host={app} " in repr(made.api)
    finally:
        made.shutdown()


def test_the_app_host_option_sends_the_calls_elsewhere(server: DevServer) -> None:
    made = _client("https://eu.posthog.com", personal_api_key=PERSONAL, app_host=server.url)
    try:
        assert made.api.get(FLAGS)["count"] == 0  # answered by the devserver
    finally:
        made.shutdown()
    bad = _client(server.url, personal_api_key=PERSONAL, app_host="ftp://x")
    try:
        with pytest.raises(ConfigurationError) as refused:
            bad.api.get(FLAGS)
        assert refused.value.option == "app_host"
    finally:
        bad.shutdown()


def test_a_full_url_as_the_path_is_refused_before_sending(client: Client) -> None:
    with pytest.raises(ValidationError) as refused:
        client.api.get("https://evil.example/api/")
    assert refused.value.field == "path"


def test_keys_never_reach_the_logs(
    server: DevServer, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.api.get(FLAGS, {"projectApiKey": TOKEN})
    client.api.post(FLAGS, {"key": "logged"})
    with pytest.raises(HTTPStatusError):
        client.api.post(FLAGS, {"key": "logged"})
    messages = [record.getMessage() for record in caplog.records]
    assert any("POST /api/projects/@current/feature_flags/ -> 201" in m for m in messages)
    assert any("urllib3" in record.name for record in caplog.records), "urllib3 logged too"
    for message in messages:
        assert PERSONAL not in message and TOKEN not in message
