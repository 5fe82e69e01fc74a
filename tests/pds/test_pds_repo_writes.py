"""``com.atproto.repo`` writes over HTTP: putRecord, deleteRecord and applyWrites with their
compare-and-swap rules and the reference's answers, and the bad writes that are refused with
their specific error and write nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pds_net import LocalPds, local_network
from pds_repo_helpers import (
    LIKE,
    OTHER_CID,
    POST,
    error_of,
    event_kinds,
    nothing_written,
    post,
    tid,
    user,
)

PUT = "com.atproto.repo.putRecord"
DELETE = "com.atproto.repo.deleteRecord"
APPLY = "com.atproto.repo.applyWrites"


def test_put_record_creates_then_updates_and_a_same_record_is_no_commit(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    body: dict[str, Any] = {"repo": alice.did, "collection": POST, "rkey": tid(1)}
    created = alice.ok(PUT, json={**body, "record": post("one")})
    assert created["uri"] == f"at://{alice.did}/{POST}/{tid(1)}"
    assert created["validationStatus"] == "valid"
    assert created["commit"]["cid"] == alice.head()
    updated = alice.ok(PUT, json={**body, "record": post("two")})
    assert updated["cid"] != created["cid"]
    assert alice.records() == {tid(1): updated["cid"]}
    seq = pds.ctx.sequencer.head()
    same = alice.ok(PUT, json={**body, "record": post("two")})
    assert same["cid"] == updated["cid"]
    assert "commit" not in same
    assert pds.ctx.sequencer.head() == seq


def test_put_record_swap_record(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    body: dict[str, Any] = {"repo": alice.did, "collection": POST, "rkey": tid(1)}
    first = alice.ok(PUT, json={**body, "record": post("one"), "swapRecord": None})
    with nothing_written(pds, alice):
        # null: only if absent
        again = alice.call(PUT, json={**body, "record": post("x"), "swapRecord": None})
        assert error_of(again) == (400, "InvalidSwap")
        stale = alice.call(PUT, json={**body, "record": post("x"), "swapRecord": OTHER_CID})
        assert error_of(stale) == (400, "InvalidSwap")
        commit = alice.call(PUT, json={**body, "record": post("x"), "swapCommit": OTHER_CID})
        assert error_of(commit) == (400, "InvalidSwap")
        bad = alice.call(PUT, json={**body, "record": post("x"), "swapRecord": "nope"})
        assert error_of(bad) == (400, "InvalidRequest")
    swapped = alice.ok(PUT, json={**body, "record": post("y"), "swapRecord": first["cid"]})
    assert alice.records() == {tid(1): swapped["cid"]}


def test_delete_record_and_its_swaps(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    written = alice.create(post(), rkey=tid(1))
    body = {"repo": alice.did, "collection": POST, "rkey": tid(1)}
    with nothing_written(pds, alice):
        stale = alice.call(DELETE, json={**body, "swapRecord": OTHER_CID})
        assert error_of(stale) == (400, "InvalidSwap")
        commit = alice.call(DELETE, json={**body, "swapCommit": OTHER_CID})
        assert error_of(commit) == (400, "InvalidSwap")
    seq = pds.ctx.sequencer.head()
    deleted = alice.ok(DELETE, json={**body, "swapRecord": written["cid"]})
    assert deleted["commit"]["cid"] == alice.head()
    assert alice.records() == {}
    assert event_kinds(pds, seq) == ["#commit"]
    # deleting what is not there is a no-op with no commit, as the reference answers
    with nothing_written(pds, alice):
        assert alice.ok(DELETE, json=body) == {}


def test_apply_writes_is_one_commit_with_results(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    new, upd, gone = tid(1), tid(2), tid(3)
    alice.create(post("old"), rkey=upd)
    alice.create(post("bye"), rkey=gone)
    seq = pds.ctx.sequencer.head()
    out = alice.ok(
        APPLY,
        json={
            "repo": alice.did,
            "writes": [
                {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
                 "rkey": new, "value": post("new")},
                {"$type": "com.atproto.repo.applyWrites#update", "collection": POST,
                 "rkey": upd, "value": post("changed")},
                {"$type": "com.atproto.repo.applyWrites#delete", "collection": POST,
                 "rkey": gone},
                {"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.thing",
                 "value": {"$type": "com.example.thing", "n": 1}},
            ],
        },
    )  # fmt: skip
    assert event_kinds(pds, seq) == ["#commit"]
    assert out["commit"]["cid"] == alice.head()
    kinds = [result["$type"] for result in out["results"]]
    assert kinds == [
        "com.atproto.repo.applyWrites#createResult",
        "com.atproto.repo.applyWrites#updateResult",
        "com.atproto.repo.applyWrites#deleteResult",
        "com.atproto.repo.applyWrites#createResult",
    ]
    assert out["results"][0]["uri"] == f"at://{alice.did}/{POST}/{new}"
    assert [r.get("validationStatus") for r in out["results"]] == [
        "valid", "valid", None, "unknown",
    ]  # fmt: skip
    assert set(alice.records()) == {new, upd}
    assert len(alice.records("com.example.thing")) == 1


def test_validate_flag(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    thing = {"$type": "com.example.thing", "n": 1}
    unknown = alice.create(thing, "com.example.thing")
    assert unknown["validationStatus"] == "unknown"
    skipped = alice.create(post(text=5), validate=False)
    assert "validationStatus" not in skipped
    with nothing_written(pds, alice):
        required = alice.call(
            "com.atproto.repo.createRecord",
            json={"repo": alice.did, "collection": "com.example.thing", "record": thing,
                  "validate": True},
        )  # fmt: skip
        assert error_of(required) == (400, "InvalidRequest")
        assert "Lexicon not found" in required.json()["message"]
        invalid = alice.call(
            APPLY,
            json={"repo": alice.did, "writes": [
                {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
                 "value": post()},
                {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
                 "value": post(text=5)},
            ]},
        )  # fmt: skip
        assert error_of(invalid) == (400, "InvalidRequest")


def test_bad_writes_are_refused_and_write_nothing(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    bob = user(pds, "bob")
    exists = tid(1)
    alice.create(post(), rkey=exists)

    def write(nsid: str, body: dict[str, Any], token: str | None = alice.token) -> Any:
        return error_of(pds.xrpc(nsid, token=token, json=body))

    create = "com.atproto.repo.createRecord"
    base = {"repo": alice.did, "collection": POST}
    with nothing_written(pds, alice, bob):
        # another user's repo, an unknown one
        assert write(create, {**base, "record": post()}, bob.token) == (
            401, "AuthenticationRequired",
        )  # fmt: skip
        assert write(PUT, {**base, "rkey": "x", "record": post()}, bob.token)[0] == 401
        assert write(DELETE, {**base, "rkey": exists}, bob.token)[0] == 401
        assert write(APPLY, {"repo": alice.did, "writes": []}, bob.token)[0] == 401
        assert write(create, {**base, "repo": "nobody.test", "record": post()}) == (
            403, "AccountNotFound",
        )  # fmt: skip
        # wrong types and formats
        assert write(create, {**base, "collection": "not an nsid", "record": post()}) == (
            400, "InvalidRequest",
        )  # fmt: skip
        assert write(create, {**base, "record": "text"}) == (400, "InvalidRequest")
        assert write(create, {**base, "record": post(), "rkey": "a/b"}) == (
            400, "InvalidRequest",
        )  # fmt: skip
        assert write(create, {**base, "record": {**post(), "$type": LIKE}}) == (
            400, "InvalidRequest",
        )  # fmt: skip
        assert write(create, {**base, "record": post(), "rkey": exists}) == (
            400, "InvalidRequest",
        )  # fmt: skip
        assert write(create, {**base, "record": {**post(), "x": {"$link": "bad"}}}) == (
            400, "InvalidRequest",
        )  # fmt: skip
        # the whole batch fails with one bad write
        update_missing = {"$type": "com.atproto.repo.applyWrites#update", "collection": POST,
                          "rkey": tid(2), "value": post()}  # fmt: skip
        assert write(APPLY, {"repo": alice.did, "writes": [update_missing]}) == (
            400, "RecordNotFound",
        )  # fmt: skip
        odd = {"$type": "com.atproto.repo.applyWrites#rename", "collection": POST, "rkey": "x"}
        assert write(APPLY, {"repo": alice.did, "writes": [odd]}) == (400, "InvalidRequest")
        delete = {"$type": "com.atproto.repo.applyWrites#delete", "collection": POST,
                  "rkey": exists}  # fmt: skip
        too_many = write(APPLY, {"repo": alice.did, "writes": [delete] * 201})
        assert too_many == (400, "InvalidRequest")
        twice = write(APPLY, {"repo": alice.did, "writes": [delete, delete]})
        assert twice == (400, "InvalidRequest")
        stale = write(APPLY, {"repo": alice.did, "writes": [delete], "swapCommit": OTHER_CID})
        assert stale == (400, "InvalidSwap")
        # a body over the record methods' 1 MB limit
        big = write(create, {**base, "record": post("x" * 1_100_000)})
        assert big == (413, "PayloadTooLarge")
        # no token
        assert write(create, {**base, "record": post()}, None) == (401, "AuthMissing")
    assert alice.records() == {exists: alice.records()[exists]}


def test_inactive_accounts_cannot_write(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    bob = user(pds, "bob")
    pds.ctx.accounts.deactivate(None, alice.did)
    pds.ctx.accounts.set_takedown(None, bob.did, "mod-1")
    for who, error in ((alice, "AccountDeactivated"), (bob, "AccountTakedown")):
        with nothing_written(pds, who):
            response = who.call(
                "com.atproto.repo.createRecord",
                json={"repo": who.did, "collection": POST, "record": post()},
            )
            assert error_of(response) == (401, error)


def test_writes_are_rate_limited_per_account_by_points(tmp_path: Path) -> None:
    with local_network(tmp_path, rate_limits=True) as pds:
        alice = user(pds, "alice")
        bob = user(pds, "bob")

        def creates(batch: int) -> dict[str, Any]:
            writes = [
                {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
                 "rkey": tid(batch * 1000 + i), "value": post(f"{batch}-{i}")}
                for i in range(200)
            ]  # fmt: skip
            return {"repo": alice.did, "writes": writes}

        for batch in range(8):  # 8 x 200 creates x 3 points = 4800 of the hour's 5000
            alice.ok(APPLY, json=creates(batch))
        with nothing_written(pds, alice):
            refused = alice.call(APPLY, json=creates(8))
            assert error_of(refused) == (429, "RateLimitExceeded")
        # 200 points are left: a single create still fits, and other accounts are not limited
        alice.create(post("one more"))
        bob.create(post("bob is fine"))
