"""Takedown end to end, a real PDS feeding the relay through its crawler: after a takedown a
replay from cursor 0 holds none of the account's events but its ``#account takendown``, its new
commits are dropped (``account_takendown``), and a reversal emits ``#account`` and a ``#sync``
and forwards its commits again; the same through the reference's ``/admin/repo`` paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_admin_net import (
    AdminNet,
    add_and_connect,
    admin_net,
    crawled,
    did_of,
    replay,
    wait_for,
)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[AdminNet]:
    with admin_net(tmp_path) as net:
        yield net


def reverse_and_resume(net: AdminNet, alice: tuple[str, str], dropped: float) -> None:
    """Reversal: ``#account`` active, then a ``#sync`` at the PDS's head, then commits flow."""
    mark = net.relay.ctx.sequencer.head()
    reversed_view = net.call("reverseTakedown", json={"did": alice[0]}).json()
    assert (reversed_view["takendown"], reversed_view["active"]) == (False, True)
    assert "status" not in reversed_view
    back = replay(net.relay, mark)
    assert [(f.t, did_of(f)) for f in back] == [("#account", alice[0]), ("#sync", alice[0])]
    assert back[0].body["active"] is True
    assert "status" not in back[0].body
    latest = net.pds.xrpc("com.atproto.sync.getLatestCommit", params={"did": alice[0]}).json()
    assert back[1].body["rev"] == latest["rev"]
    assert net.call("listTakedowns").json() == {"dids": []}

    net.post(alice)
    crawled(net)
    wait_for(lambda: net.relay.ctx.sequencer.head() == mark + 3)
    last = replay(net.relay, mark + 2)
    assert [(f.t, did_of(f)) for f in last] == [("#commit", alice[0])]
    assert net.drops("account_takendown") == dropped + 2


def test_takedown_purges_replay_drops_commits_and_reversal_resyncs(net: AdminNet) -> None:
    add_and_connect(net)
    alice = net.write_posts("alice.test", 3)
    bob = net.write_posts("bob.test", 2)
    crawled(net)
    before = replay(net.relay)
    alice_seqs = [frame.seq for frame in before if did_of(frame) == alice[0]]
    commits = [f for f in before if f.t == "#commit" and did_of(f) == alice[0]]
    assert len(commits) == 1 + 3  # the repository's first commit, then the posts
    bob_frames = [frame for frame in before if did_of(frame) == bob[0]]
    log_bytes = net.relay.ctx.sequencer.total_bytes()

    answer = net.call("takedownAccount", json={"did": alice[0]})
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert (view["takendown"], view["active"], view["status"]) == (True, False, "takendown")
    head = net.relay.ctx.sequencer.head()
    assert view["events"] == [head]  # only the takedown's own #account is left
    assert net.relay.ctx.sequencer.total_bytes() < log_bytes

    after = replay(net.relay)
    assert [f for f in after if did_of(f) == alice[0]] == [after[-1]]
    assert after[-1].t == "#account"
    assert after[-1].body == {**after[-1].body, "did": alice[0], "active": False,
                              "status": "takendown"}  # fmt: skip
    assert [f for f in after if did_of(f) == bob[0]] == bob_frames
    assert not set(alice_seqs) & {frame.seq for frame in after}
    status = net.relay.xrpc("com.atproto.sync.getRepoStatus", params={"did": alice[0]}).json()
    assert status == {"did": alice[0], "active": False, "status": "takendown"}

    # New commits of a taken-down account are dropped, other accounts' still flow.
    dropped = net.drops("account_takendown")
    net.post(alice, 2)
    net.post(bob)
    crawled(net)
    assert net.drops("account_takendown") == dropped + 2
    tail = replay(net.relay, head)
    assert [(f.t, did_of(f)) for f in tail] == [("#commit", bob[0])]

    listed = net.call("listTakedowns").json()
    assert listed == {"dids": [alice[0]]}

    reverse_and_resume(net, alice, dropped)


def test_goat_paths_take_down_list_and_reverse(net: AdminNet) -> None:
    add_and_connect(net)
    carol = net.write_posts("carol.test", 1)
    dave = net.write_posts("dave.test", 1)
    crawled(net)
    for did in sorted([carol[0], dave[0]]):
        answer = net.path("POST", "/admin/repo/takeDown", json={"did": did})
        assert (answer.status_code, answer.json()) == (200, {"success": "true"})
    first = net.path("GET", "/admin/repo/takedowns", params={"cursor": "", "size": "1"}).json()
    assert first == {"dids": [min(carol[0], dave[0])], "cursor": min(carol[0], dave[0])}
    second = net.path(
        "GET", "/admin/repo/takedowns", params={"cursor": first["cursor"], "size": "1"}
    ).json()
    assert second["dids"] == [max(carol[0], dave[0])]
    rest = net.path("GET", "/admin/repo/takedowns", params={"cursor": second["cursor"]}).json()
    assert rest == {"dids": []}
    assert not [f for f in replay(net.relay) if f.t == "#commit"]

    answer = net.path("POST", "/admin/repo/reverseTakedown", json={"did": carol[0]})
    assert (answer.status_code, answer.json()) == (200, {"success": "true"})
    assert net.path("GET", "/admin/repo/takedowns").json() == {"dids": [dave[0]]}
    state = net.relay.ctx.accounts.get(None, carol[0])
    assert state is not None
    assert state.active


def test_takedown_of_unknown_or_malformed_accounts(net: AdminNet) -> None:
    unknown = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    for method in ("takedownAccount", "reverseTakedown"):
        answer = net.call(method, json={"did": unknown})
        assert (answer.status_code, answer.json()["error"]) == (400, "RepoNotFound")
        bad = net.call(method, json={"did": "alice.test"})
        assert (bad.status_code, bad.json()["error"]) == (400, "InvalidRequest")
    got = net.call("getAccount", params={"did": unknown})
    assert (got.status_code, got.json()["error"]) == (400, "RepoNotFound")
    for path in ("/admin/repo/takeDown", "/admin/repo/reverseTakedown"):
        answer = net.path("POST", path, json={"did": unknown})
        assert (answer.status_code, answer.json()) == (404, {"error": "account not found"})
        bad = net.path("POST", path, json={"did": "alice.test"})
        assert (bad.status_code, bad.json()) == (400, {"error": "invalid DID: alice.test"})
        empty = net.path("POST", path, content=b"not json")
        assert (empty.status_code, empty.json()) == (400, {"error": "invalid JSON body"})
