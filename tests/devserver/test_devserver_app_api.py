"""The devserver's app API: PostHog's REST endpoints for feature flags and annotations.

Flags created or changed here are served by the definitions endpoints at once (a new
ETag) and used by ``/flags``; inputs are checked (400 naming the field); lists are
paginated as PostHog's; a personal API key is required; ``@current`` and ``1`` are
the one project.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest
import requests

from analytics_compat.devserver import DevServer

from .conftest import FLAGS, PERSONAL_KEY, TOKEN

FLAGS_URL = "/api/projects/@current/feature_flags/"
ANNOTATIONS_URL = "/api/projects/@current/annotations/"
EVERYONE = {"groups": [{"properties": [], "rollout_percentage": 100}]}


class Api:
    """A requests session with the personal API key, against one server."""

    def __init__(self, server: DevServer, key: Optional[str] = PERSONAL_KEY) -> None:
        self.base = server.url
        self.http = requests.Session()
        if key is not None:
            self.http.headers["Authorization"] = f"Bearer {key}"

    def __call__(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.http.request(method, self.base + path, json=body, timeout=10, **kw)

    def create(self, key: str, filters: Any = EVERYONE, **fields: Any) -> Dict[str, Any]:
        answer = self("POST", FLAGS_URL, {"key": key, "filters": filters, **fields})
        assert answer.status_code == 201, answer.text
        created: Dict[str, Any] = answer.json()
        return created

    def flag_value(self, key: str, distinct_id: str = "someone") -> Any:
        body = {"api_key": TOKEN, "distinct_id": distinct_id}
        answer = self.http.post(self.base + "/flags/?v=4", json=body, timeout=10)
        flag = answer.json()["flags"].get(key)
        return None if flag is None else flag["value"]


@pytest.fixture
def api(server: DevServer) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.http.close()


def _definitions(api: Api, etag: Optional[str] = None) -> requests.Response:
    headers = {} if etag is None else {"If-None-Match": etag}
    return api("GET", "/flags/definitions", headers=headers)


def test_a_flag_created_over_rest_is_served_at_once_with_a_new_etag_and_evaluated(
    api: Api,
) -> None:
    before = _definitions(api)
    created = api.create("new-checkout", name="The new checkout")
    assert {k: created[k] for k in ("id", "key", "name", "active", "deleted", "filters")} == {
        "id": 1,
        "key": "new-checkout",
        "name": "The new checkout",
        "active": True,
        "deleted": False,
        "filters": EVERYONE,
    }
    assert (created["is_simple_flag"], created["rollout_percentage"]) == (True, 100)
    after = _definitions(api, etag=before.headers["ETag"])
    assert after.status_code == 200, "the old ETag no longer matches"
    assert after.headers["ETag"] != before.headers["ETag"]
    (served,) = after.json()["flags"]
    assert (served["key"], served["id"], served["active"]) == ("new-checkout", 1, True)
    assert _definitions(api, etag=after.headers["ETag"]).status_code == 304
    assert api.flag_value("new-checkout") is True


def test_patch_turns_a_flag_off_changes_its_filters_and_deleted_hides_it(api: Api) -> None:
    flag = api.create("beta", filters={"groups": [{"properties": [], "rollout_percentage": 0}]})
    assert api.flag_value("beta") is False
    url = f"{FLAGS_URL}{flag['id']}/"
    changed = api("PATCH", url, {"filters": EVERYONE}).json()
    assert (changed["version"], changed["filters"]) == (2, EVERYONE)
    assert api.flag_value("beta") is True
    assert api("PATCH", url, {"active": False}).json()["active"] is False
    assert api.flag_value("beta") is False
    assert api("GET", url).json()["version"] == 3
    assert api("PATCH", url, {"deleted": True}).status_code == 200
    assert api("GET", url).status_code == 404
    assert _definitions(api).json()["flags"] == []
    assert api.flag_value("beta") is None
    assert api("GET", FLAGS_URL).json()["count"] == 0
    again = api.create("beta")  # a deleted flag's key is free again; its id is not
    assert again["id"] == flag["id"] + 1


def test_delete_is_refused_as_by_posthog_and_put_needs_the_key(api: Api) -> None:
    flag = api.create("f")
    url = f"{FLAGS_URL}{flag['id']}/"
    refused = api("DELETE", url)
    assert refused.status_code == 405
    assert "PATCH" in refused.headers["Allow"]
    no_key = api("PUT", url, {"active": False})
    assert (no_key.status_code, no_key.json()["attr"]) == (400, "key")
    renamed = api("PUT", url, {"key": "g", "active": False})
    assert renamed.status_code == 200 and renamed.json()["key"] == "g"
    assert [f["key"] for f in _definitions(api).json()["flags"]] == ["g"]


@pytest.mark.parametrize("project", ["@current", "%40current", "1"])
def test_current_and_the_numeric_id_are_the_one_project(api: Api, project: str) -> None:
    api.create("shared")
    listed = api("GET", f"/api/projects/{project}/feature_flags/")
    assert listed.status_code == 200
    assert [f["key"] for f in listed.json()["results"]] == ["shared"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/2/feature_flags/",
        "/api/projects/@current/feature_flags/99/",
        "/api/projects/@current/feature_flags/abc/",
        "/api/projects/@current/annotations/7/",
    ],
)
def test_another_project_or_an_unknown_id_is_not_found(api: Api, path: str) -> None:
    answer = api("GET", path)
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "key", [None, "", "phc_test", "wrong-personal-key"], ids=["none", "empty", "project", "wrong"]
)
def test_the_app_api_needs_the_personal_api_key(server: DevServer, key: Optional[str]) -> None:
    client = Api(server, key=None)
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    for path in (FLAGS_URL, ANNOTATIONS_URL):
        answer = client("GET", path, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["type"] == "authentication_error"
        assert PERSONAL_KEY not in answer.text
    assert client("POST", FLAGS_URL, {"key": "x"}, headers=headers).status_code == 401
    stored = server.store.transaction(
        lambda conn: conn.execute("SELECT COUNT(*) FROM api_feature_flags").fetchone()[0]
    )
    assert stored == 0


def test_without_a_configured_key_any_non_empty_key_is_accepted(tmp_path: Path) -> None:
    with DevServer(tokens=(TOKEN,)) as open_server:
        client = Api(open_server, key="phx_anything")
        assert client("GET", FLAGS_URL).status_code == 200
        assert Api(open_server, key=None)("GET", FLAGS_URL).status_code == 401


def test_the_app_api_answers_no_other_origin(api: Api) -> None:
    answer = api("GET", FLAGS_URL, headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403
    ok = api("GET", FLAGS_URL)
    assert "Access-Control-Allow-Origin" not in ok.headers


INVALID = [
    ("key-with-a-space", {"key": "my flag"}, "key"),
    ("key-missing", {"name": "x"}, "key"),
    ("key-not-a-string", {"key": 5}, "key"),
    ("name-not-a-string", {"key": "k", "name": 5}, "name"),
    ("active-not-a-bool", {"key": "k", "active": "yes"}, "active"),
    ("tags-not-strings", {"key": "k", "tags": [1]}, "tags"),
    ("filters-not-an-object", {"key": "k", "filters": []}, "filters"),
    ("groups-not-a-list", {"key": "k", "filters": {"groups": {}}}, "filters.groups"),
    (
        "rollout-over-100",
        {"key": "k", "filters": {"groups": [{"rollout_percentage": 150}]}},
        "filters.groups[0].rollout_percentage",
    ),
    (
        "variants-not-summing-to-100",
        {
            "key": "k",
            "filters": {
                "groups": [{"rollout_percentage": 100}],
                "multivariate": {
                    "variants": [
                        {"key": "a", "rollout_percentage": 50},
                        {"key": "b", "rollout_percentage": 40},
                    ]
                },
            },
        },
        "filters.multivariate.variants",
    ),
    (
        "unknown-variant-override",
        {"key": "k", "filters": {"groups": [{"rollout_percentage": 100, "variant": "zz"}]}},
        "filters.groups[0].variant",
    ),
    (
        "payload-for-no-variant",
        {"key": "k", "filters": {"groups": [], "payloads": {"zz": "1"}}},
        "filters.payloads",
    ),
    (
        "unknown-operator",
        {
            "key": "k",
            "filters": {
                "groups": [
                    {"properties": [{"key": "plan", "value": "x", "operator": "sounds_like"}]}
                ]
            },
        },
        "filters.groups[0].properties[0]",
    ),
    (
        "gt-with-text",
        {
            "key": "k",
            "filters": {
                "groups": [{"properties": [{"key": "age", "value": "old", "operator": "gt"}]}]
            },
        },
        "filters.groups[0].properties[0]",
    ),
    (
        "group-property-without-its-type-index",
        {
            "key": "k",
            "filters": {
                "groups": [{"properties": [{"key": "tier", "value": "g", "type": "group"}]}]
            },
        },
        "filters.groups[0].properties[0].group_type_index",
    ),
    (
        "flag-dependency",
        {
            "key": "k",
            "filters": {
                "groups": [
                    {
                        "properties": [
                            {
                                "key": "1",
                                "value": True,
                                "type": "flag",
                                "operator": "flag_evaluates_to",
                            }
                        ]
                    }
                ]
            },
        },
        "filters.groups[0].properties[0].type",
    ),
]


@pytest.mark.parametrize(("body", "attr"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_an_invalid_flag_is_refused_with_the_field_and_a_reason(
    api: Api, body: Dict[str, Any], attr: str
) -> None:
    answer = api("POST", FLAGS_URL, body)
    assert answer.status_code == 400, answer.text
    refusal = answer.json()
    assert (refusal["type"], refusal["attr"]) == ("validation_error", attr)
    assert refusal["detail"]
    assert api("GET", FLAGS_URL).json()["count"] == 0
    assert _definitions(api).json()["flags"] == []


def test_a_flag_key_is_unique_among_flags_not_deleted(api: Api) -> None:
    api.create("once")
    answer = api("POST", FLAGS_URL, {"key": "once"})
    assert (answer.status_code, answer.json()["code"]) == (400, "unique")
    other = api.create("other")
    renamed = api("PATCH", f"{FLAGS_URL}{other['id']}/", {"key": "once"})
    assert renamed.status_code == 400
    assert api("PATCH", f"{FLAGS_URL}{other['id']}/", {"key": "other"}).status_code == 200


def test_a_multivariate_flag_with_payloads_is_evaluated_as_defined(api: Api) -> None:
    filters = {
        "groups": [{"properties": [], "rollout_percentage": 100, "variant": "blue"}],
        "multivariate": {
            "variants": [
                {"key": "blue", "name": "Blue", "rollout_percentage": 50},
                {"key": "red", "rollout_percentage": 50},
            ]
        },
        "payloads": {"blue": json.dumps({"hex": "#00f"})},
    }
    created = api.create("colour", filters=filters)
    assert created["is_simple_flag"] is False
    answer = api.http.post(
        api.base + "/flags/?v=4", json={"api_key": TOKEN, "distinct_id": "u"}, timeout=10
    ).json()["flags"]["colour"]
    assert (answer["variant"], json.loads(answer["metadata"]["payload"])) == (
        "blue",
        {"hex": "#00f"},
    )


def test_lists_are_paginated_newest_first_and_filter_by_search_and_active(api: Api) -> None:
    for key in ("alpha", "beta", "gamma"):
        api.create(key, active=key != "beta")
    page = api("GET", FLAGS_URL + "?limit=2").json()
    assert page["count"] == 3 and page["previous"] is None
    assert [f["key"] for f in page["results"]] == ["gamma", "beta"]
    rest = api.http.get(page["next"], timeout=10).json()
    assert [f["key"] for f in rest["results"]] == ["alpha"]
    assert rest["next"] is None
    assert api.http.get(rest["previous"], timeout=10).json()["results"] == page["results"]
    assert [f["key"] for f in api("GET", FLAGS_URL + "?search=MM").json()["results"]] == ["gamma"]
    inactive = api("GET", FLAGS_URL + "?active=false").json()["results"]
    assert [f["key"] for f in inactive] == ["beta"]
    assert api("GET", FLAGS_URL + "?limit=x").json()["count"] == 3  # a bad limit: the default


def test_a_flags_file_flag_is_listed_and_a_change_is_layered_over_the_file(
    tmp_path: Path, flags_file: Path
) -> None:
    with DevServer(tokens=(TOKEN,), personal_api_key=PERSONAL_KEY, flags_file=flags_file) as srv:
        api = Api(srv)
        listed = api("GET", FLAGS_URL).json()
        assert sorted(f["key"] for f in listed["results"]) == sorted(
            f["key"] for f in FLAGS["flags"]
        )
        assert api("PATCH", f"{FLAGS_URL}2/", {"active": False}).status_code == 200
        everyone = [f for f in _definitions(api).json()["flags"] if f["key"] == "everyone"]
        assert [f["active"] for f in everyone] == [False]
        assert api.flag_value("everyone") is False
        created = api.create("from-rest")
        assert created["id"] == 5, "ids follow the file's"
    assert json.loads(flags_file.read_text()) == FLAGS, "the file is never written"


def test_flags_made_over_rest_outlive_a_restart_with_the_same_database(tmp_path: Path) -> None:
    db = tmp_path / "flags.sqlite3"
    with DevServer(db_path=db, tokens=(TOKEN,), personal_api_key=PERSONAL_KEY) as first:
        Api(first).create("kept")
        deleted = Api(first).create("gone")
        Api(first)("PATCH", f"{FLAGS_URL}{deleted['id']}/", {"deleted": True})
    with DevServer(db_path=db, tokens=(TOKEN,), personal_api_key=PERSONAL_KEY) as second:
        api = Api(second)
        assert [f["key"] for f in _definitions(api).json()["flags"]] == ["kept"]
        assert api.flag_value("kept") is True
        assert api.create("next")["id"] == 3


def test_annotations_are_created_and_listed_newest_marker_first(api: Api) -> None:
    deploy = {"content": "Deploy v1.2", "date_marker": "2026-01-01T00:00:00Z", "scope": "project"}
    first = api("POST", ANNOTATIONS_URL, deploy)
    assert first.status_code == 201, first.text
    created = first.json()
    assert {k: created[k] for k in ("id", "content", "date_marker", "scope", "creation_type")} == {
        "id": 1,
        "content": "Deploy v1.2",
        "date_marker": "2026-01-01T00:00:00Z",
        "scope": "project",
        "creation_type": "USR",
    }
    pricing = {"content": "Pricing test", "date_marker": "2026-02-01 09:30:00.5"}
    later = api("POST", ANNOTATIONS_URL, pricing)
    assert later.json()["date_marker"] == "2026-02-01T09:30:00.500000Z"  # naive: UTC
    assert later.json()["scope"] == "dashboard_item", "PostHog's model default"
    undated = api("POST", ANNOTATIONS_URL, {"content": "no date"}).json()
    assert undated["date_marker"] is None
    listed = api("GET", ANNOTATIONS_URL).json()
    assert listed["count"] == 3
    assert [a["content"] for a in listed["results"]] == ["Pricing test", "Deploy v1.2", "no date"]
    assert api("GET", ANNOTATIONS_URL + "?search=deploy").json()["count"] == 1
    page = api("GET", ANNOTATIONS_URL + "?limit=1&offset=1").json()
    assert [a["id"] for a in page["results"]] == [1] and page["next"] and page["previous"]
    assert api("GET", f"{ANNOTATIONS_URL}1/").json() == created


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"content": "x" * 401}, "content"),
        ({"content": 5}, "content"),
        ({"date_marker": "next tuesday"}, "date_marker"),
        ({"scope": "galaxy"}, "scope"),
        ({"dashboard_item": "7"}, "dashboard_item"),
    ],
)
def test_an_invalid_annotation_is_refused_with_the_field(
    api: Api, body: Dict[str, Any], attr: str
) -> None:
    answer = api("POST", ANNOTATIONS_URL, body)
    assert (answer.status_code, answer.json().get("attr")) == (400, attr)
    assert api("GET", ANNOTATIONS_URL).json()["count"] == 0
