"""Raising a host's account limit over real HTTP, with a real PDS crawled by the relay: the
throttled accounts that now fit are reactivated oldest first, each with an ``#account`` and a
resync (``#sync``), through ``setHostLimits`` and the reference's ``/admin/pds/changeLimits``;
trust is set; bad limits are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_admin_net import AdminNet, add_and_connect, admin_net, crawled, did_of, replay, wait_for


@pytest.fixture
def net(tmp_path: Path) -> Iterator[AdminNet]:
    with admin_net(tmp_path, default_account_limit=1) as net:
        yield net


def synced(net: AdminNet, did: str, after: int) -> None:
    def found() -> bool:
        return any(f.t == "#sync" and did_of(f) == did for f in replay(net.relay, after))

    wait_for(found)


def test_raising_the_limit_lifts_throttled_accounts_oldest_first(net: AdminNet) -> None:
    add_and_connect(net)
    alice = net.write_posts("alice.test", 1)
    bob = net.write_posts("bob.test", 2)
    carol = net.write_posts("carol.test", 1)
    crawled(net)
    for did, status in ((bob[0], "throttled"), (carol[0], "throttled")):
        answer = net.relay.xrpc("com.atproto.sync.getRepoStatus", params={"did": did}).json()
        assert answer == {"did": did, "active": False, "status": status}
    assert {did_of(f) for f in replay(net.relay)} == {alice[0]}
    [host] = net.call("listHosts").json()["hosts"]
    assert (host["accountCount"], host["accountLimit"], host["throttledCount"]) == (3, 1, 2)

    mark = net.relay.ctx.sequencer.head()
    answer = net.call("setHostLimits", json={"hostname": net.pds_host, "accountLimit": 2})
    assert answer.status_code == 200, answer.text
    assert answer.json()["lifted"] == [bob[0]]
    assert answer.json()["host"]["throttledCount"] == 1
    synced(net, bob[0], mark)
    frames = replay(net.relay, mark)
    assert [(f.t, did_of(f)) for f in frames] == [("#account", bob[0]), ("#sync", bob[0])]
    assert frames[0].body["active"] is True
    latest = net.pds.xrpc("com.atproto.sync.getLatestCommit", params={"did": bob[0]}).json()
    assert frames[1].body["rev"] == latest["rev"]
    status = net.relay.xrpc("com.atproto.sync.getRepoStatus", params={"did": bob[0]}).json()
    assert status == {"did": bob[0], "active": True, "rev": latest["rev"]}

    # bob's next commit chains on the resynced head and goes out.
    net.post(bob)
    crawled(net)
    assert [(f.t, did_of(f)) for f in replay(net.relay, mark + 2)] == [("#commit", bob[0])]

    mark = net.relay.ctx.sequencer.head()
    answer = net.path("POST", "/admin/pds/changeLimits",
                      json={"host": net.pds_host, "repo_limit": 10})  # fmt: skip
    assert (answer.status_code, answer.json()) == (200, {"success": "true"})
    synced(net, carol[0], mark)
    assert [(f.t, did_of(f)) for f in replay(net.relay, mark)] == [
        ("#account", carol[0]),
        ("#sync", carol[0]),
    ]
    [host] = net.call("listHosts").json()["hosts"]
    assert (host["accountLimit"], host["throttledCount"]) == (10, 0)

    # Lowering the limit throttles nobody already admitted (as the reference).
    lowered = net.call("setHostLimits", json={"hostname": net.pds_host, "accountLimit": 0})
    assert lowered.json()["lifted"] == []
    assert net.relay.ctx.accounts.get(None, carol[0]).active  # type: ignore[union-attr]


def test_trusting_a_host_lifts_all_its_throttled_accounts(net: AdminNet) -> None:
    add_and_connect(net)
    net.write_posts("heidi.test", 1)
    ivan = net.write_posts("ivan.test", 1)
    judy = net.write_posts("judy.test", 1)
    crawled(net)
    mark = net.relay.ctx.sequencer.head()
    trusted = net.call("setHostLimits", json={"hostname": net.pds_host, "trusted": True}).json()
    assert trusted["lifted"] == [ivan[0], judy[0]]
    host = trusted["host"]
    assert (host["trusted"], host["accountLimit"], host["throttledCount"]) == (True, 1, 0)
    for did in (ivan[0], judy[0]):
        synced(net, did, mark)
    accounts = [(f.t, did_of(f)) for f in replay(net.relay, mark) if f.t == "#account"]
    assert accounts == [("#account", ivan[0]), ("#account", judy[0])]


def test_trust_and_bad_limits(net: AdminNet) -> None:
    add_and_connect(net)
    trusted = net.call("setHostLimits", json={"hostname": net.pds_host, "trusted": True})
    assert trusted.json()["host"]["trusted"] is True
    [row] = net.path("GET", "/admin/pds/list").json()
    assert row["PerSecondEventRate"] == {"Max": 5000, "Window": 1}
    negative = net.call("setHostLimits", json={"hostname": net.pds_host, "accountLimit": -1})
    assert (negative.status_code, negative.json()["error"]) == (400, "InvalidRequest")
    for body, message in (
        ({"host": net.pds_host}, "nothing to change: give repo_limit"),
        ({"host": net.pds_host, "repo_limit": -3}, "repo_limit must be a non-negative integer"),
        ({"host": net.pds_host, "repo_limit": "5"}, "repo_limit must be a non-negative integer"),
        ({"repo_limit": 5}, "missing host"),
    ):
        answer = net.path("POST", "/admin/pds/changeLimits", json=body)
        assert (answer.status_code, answer.json()) == (400, {"error": message})
