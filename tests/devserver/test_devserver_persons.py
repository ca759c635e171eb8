"""Persons and groups are built from events the way PostHog's ingestion builds them."""

from __future__ import annotations

from typing import Any

from analytics_compat.devserver import DevServer

from .conftest import PostBatch


def _ev(event: str, who: str, **properties: Any) -> dict[str, Any]:
    return {"event": event, "distinct_id": who, "properties": properties}


def test_identify_merges_the_anonymous_person_and_the_identified_one_wins_conflicts(
    server: DevServer, post_batch: PostBatch
) -> None:
    post_batch(
        [
            _ev("$pageview", "anon-1", **{"$set_once": {"first_seen_page": "/"}}),
            _ev("$set", "anon-1", **{"$set": {"theme": "dark", "plan": "free"}}),
            _ev("$set", "user-1", **{"$set": {"plan": "pro"}}),
        ]
    )
    assert server.store.person("anon-1") != server.store.person("user-1")
    post_batch(
        [
            _ev(
                "$identify",
                "user-1",
                **{"$anon_distinct_id": "anon-1", "$set": {"email": "ada@example.com"}},
            )
        ]
    )
    person = server.store.person("anon-1")
    assert person is not None
    assert person == server.store.person("user-1")
    assert set(person["distinct_ids"]) == {"anon-1", "user-1"}
    assert person["is_identified"] is True
    assert person["properties"] == {
        "first_seen_page": "/",
        "theme": "dark",
        "plan": "pro",
        "email": "ada@example.com",
    }


def test_identify_links_ids_when_neither_has_a_person_yet(
    server: DevServer, post_batch: PostBatch
) -> None:
    post_batch([_ev("$identify", "user-2", **{"$anon_distinct_id": "anon-2", "$set": {"a": 1}})])
    person = server.store.person("anon-2")
    assert person is not None
    assert person["distinct_ids"] == ["user-2", "anon-2"]
    assert person["properties"] == {"a": 1}


def test_create_alias_links_the_alias_and_merges_when_both_exist(
    server: DevServer, post_batch: PostBatch
) -> None:
    post_batch(
        [
            _ev("$set", "old-id", **{"$set": {"x": 1, "shared": "old"}}),
            _ev("$set", "new-id", **{"$set": {"y": 2, "shared": "new"}}),
            # posthog-python alias(previous_id="old-id", distinct_id="new-id")
            _ev("$create_alias", "old-id", **{"distinct_id": "old-id", "alias": "new-id"}),
            _ev("$create_alias", "old-id", **{"distinct_id": "old-id", "alias": "third-id"}),
        ]
    )
    person = server.store.person("third-id")
    assert person is not None
    assert set(person["distinct_ids"]) == {"old-id", "new-id", "third-id"}
    assert person["properties"] == {"x": 1, "y": 2, "shared": "old"}


def test_an_identified_person_is_not_merged_away_by_alias_but_is_by_merge_dangerously(
    server: DevServer, post_batch: PostBatch
) -> None:
    post_batch(
        [
            _ev("$identify", "alice", **{"$set": {"name": "Alice"}}),
            _ev("$identify", "bob", **{"$set": {"name": "Bob"}}),
            _ev("$create_alias", "alice", alias="bob"),
        ]
    )
    alice, bob = server.store.person("alice"), server.store.person("bob")
    assert alice is not None and bob is not None and alice["id"] != bob["id"]
    post_batch([_ev("$merge_dangerously", "alice", alias="bob")])
    merged = server.store.person("bob")
    assert merged is not None and set(merged["distinct_ids"]) == {"alice", "bob"}
    assert merged["properties"] == {"name": "Alice"}


def test_set_once_keeps_the_first_value_and_unset_removes(
    server: DevServer, post_batch: PostBatch
) -> None:
    post_batch(
        [
            _ev("e", "p", **{"$set_once": {"source": "ad"}, "$set": {"n": 1, "tmp": True}}),
            _ev("e", "p", **{"$set_once": {"source": "seo"}, "$set": {"n": 2}}),
            _ev("e", "p", **{"$unset": ["tmp"]}),
        ]
    )
    person = server.store.person("p")
    assert person is not None and person["properties"] == {"source": "ad", "n": 2}


def test_top_level_set_is_accepted_like_properties_set(
    server: DevServer, post_batch: PostBatch
) -> None:
    post_batch([{"event": "$identify", "distinct_id": "t", "$set": {"a": 1}, "properties": {}}])
    person = server.store.person("t")
    assert person is not None and person["properties"] == {"a": 1}


def test_personless_events_and_illegal_ids_create_no_links(
    server: DevServer, post_batch: PostBatch
) -> None:
    post_batch(
        [
            _ev("e", "ghost", **{"$process_person_profile": False, "$set": {"a": 1}}),
            _ev("$identify", "real-user", **{"$anon_distinct_id": "anonymous"}),
            _ev("$create_alias", "real-user", alias="null"),
        ]
    )
    assert server.store.person("ghost") is None
    assert server.store.count(distinct_id="ghost") == 1
    assert server.store.person("anonymous") is None
    person = server.store.person("real-user")
    assert person is not None and person["distinct_ids"] == ["real-user"]


def test_groupidentify_stores_and_updates_group_properties(
    server: DevServer, post_batch: PostBatch
) -> None:
    post_batch(
        [
            _ev(
                "$groupidentify",
                "u",
                **{"$group_type": "company", "$group_key": "acme", "$group_set": {"a": 1, "b": 1}},
            ),
            _ev(
                "$groupidentify",
                "u",
                **{"$group_type": "company", "$group_key": "acme", "$group_set": {"b": 2}},
            ),
            _ev("$groupidentify", "u", **{"$group_type": "project", "$group_key": 42}),
        ]
    )
    acme = server.store.group("company", "acme")
    assert acme is not None and acme["properties"] == {"a": 1, "b": 2}
    project = server.store.group("project", "42")
    assert project is not None and project["properties"] == {}
    assert server.store.group("company", "other") is None


def test_a_replayed_identify_does_not_reapply(server: DevServer, post_batch: PostBatch) -> None:
    identify = {
        **_ev("$identify", "u9", **{"$anon_distinct_id": "a9", "$set_once": {"first": 1}}),
        "uuid": "0190b4b5-6c1e-7a53-8c2e-2e3c9a3c0abc",
    }
    post_batch([identify])
    post_batch([_ev("$set", "u9", **{"$unset": ["first"]})])
    post_batch([identify])
    person = server.store.person("a9")
    assert person is not None and person["properties"] == {}
