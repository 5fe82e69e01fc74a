"""The admin methods for hosts, bans, switches, consumers and figures (and their history) over
real HTTP, with a real PDS crawled by the relay, and the reference's ``/admin/pds`` and
``/admin/subs`` paths that answer the same things; bad inputs get their specific errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
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
from websockets.asyncio.client import connect

SUCCESS = {"success": "true"}


@pytest.fixture
def net(tmp_path: Path) -> Iterator[AdminNet]:
    with admin_net(tmp_path) as net:
        yield net


def error_of(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]


def test_domain_bans(net: AdminNet) -> None:
    assert net.call("banDomain", json={"domain": "*.Spam.Example"}).json() == {
        "domain": "spam.example"
    }
    assert error_of(net.call("banDomain", json={"domain": "not a domain!"})) == (
        400,
        "InvalidDomain",
    )
    assert error_of(net.call("banDomain", json={"domain": "a" * 254})) == (400, "InvalidRequest")
    answer = net.path("POST", "/admin/subs/banDomain", json={"domain": "Other.Example"})
    assert (answer.status_code, answer.json()) == (200, SUCCESS)
    bad = net.path("POST", "/admin/subs/banDomain", json={"domain": "bad domain"})
    assert bad.status_code == 400
    missing = net.path("POST", "/admin/subs/banDomain", json={})
    assert (missing.status_code, missing.json()) == (400, {"error": "missing domain"})
    assert net.call("listBans").json() == {"domains": ["other.example", "spam.example"]}
    listed = net.path("GET", "/admin/subs/listDomainBans").json()
    assert listed == {"banned_domains": ["other.example", "spam.example"]}
    assert net.call("unbanDomain", json={"domain": "spam.example"}).json() == {"removed": True}
    assert net.call("unbanDomain", json={"domain": "spam.example"}).json() == {"removed": False}
    answer = net.path("POST", "/admin/subs/unbanDomain", json={"domain": "other.example"})
    assert (answer.status_code, answer.json()) == (200, SUCCESS)
    assert net.call("listBans").json() == {"domains": []}


def test_a_domain_ban_disconnects_the_hosts_it_covers(net: AdminNet) -> None:
    add_and_connect(net)
    assert net.call("banDomain", json={"domain": "localhost"}).json() == {"domain": "localhost"}
    wait_for(lambda: not net.admin.crawler.connected_hosts())
    [host] = net.call("listHosts").json()["hosts"]
    assert (host["hostname"], host["bannedBy"], host["connected"]) == (
        net.pds_host,
        "localhost",
        False,
    )
    refused = net.call("addHost", json={"hostname": net.pds_host})
    assert error_of(refused) == (401, "HostBanned")
    net.call("unbanDomain", json={"domain": "localhost"})
    add_and_connect(net)


def test_hosts_add_list_block_unblock(net: AdminNet) -> None:
    added = add_and_connect(net)
    assert (added["hostname"], added["status"], added["noSsl"]) == (net.pds_host, "active", True)
    net.write_posts("erin.test", 1)
    crawled(net)
    [host] = net.call("listHosts").json()["hosts"]
    assert host["connected"] is True
    assert (host["accountCount"], host["accountLimit"], host["seq"]) == (1, 100, net.pds_head())

    [row] = net.path("GET", "/admin/pds/list").json()
    assert row["Host"] == net.pds_host
    assert (row["SSL"], row["Registered"], row["Blocked"]) == (False, True, False)
    assert (row["RepoCount"], row["RepoLimit"], row["Cursor"]) == (1, 100, net.pds_head())
    assert row["HasActiveConnection"] is True
    assert row["EventsSeenSinceStartup"] == net.pds_head()
    assert row["PerSecondEventRate"] == {"Max": 50, "Window": 1}
    assert row["PerDayEventRate"] == {"Max": 20_010, "Window": 86400}
    assert net.path("GET", "/admin/subs/getUpstreamConns").json() == [net.pds_host]

    blocked = net.call("blockHost", json={"hostname": net.pds_host}).json()
    assert (blocked["status"], blocked["connected"]) == ("banned", False)
    assert net.path("GET", "/admin/subs/getUpstreamConns").json() == []
    assert net.call("unblockHost", json={"hostname": net.pds_host}).json()["status"] == "active"
    wait_for(lambda: net.pds_host in net.admin.crawler.connected_hosts())
    for path, status in (("/admin/pds/block", "banned"), ("/admin/pds/unblock", "active")):
        answer = net.path("POST", path, params={"host": net.pds_host})
        assert (answer.status_code, answer.json()) == (200, SUCCESS)
        assert net.relay.ctx.hosts.get(None, net.pds_host).status == status  # type: ignore[union-attr]
    killed = net.path("POST", "/admin/subs/killUpstream", params={"host": net.pds_host})
    wait_for(lambda: not net.admin.crawler.connected_hosts())
    assert (killed.status_code, killed.json()) == (200, SUCCESS)
    again = net.path("POST", "/admin/subs/killUpstream", params={"host": net.pds_host})
    assert (again.status_code, again.json()) == (
        400,
        {"error": "no active connection to that host"},
    )


def test_unknown_and_malformed_hosts(net: AdminNet) -> None:
    for method in ("blockHost", "unblockHost"):
        assert error_of(net.call(method, json={"hostname": "nope.example"})) == (
            400,
            "HostNotFound",
        )
    unknown = net.call("setHostLimits", json={"hostname": "nope.example", "accountLimit": 5})
    assert error_of(unknown) == (400, "HostNotFound")
    assert error_of(net.call("addHost", json={"hostname": "not a host/x"})) == (400, "BadRequest")
    for path in ("/admin/pds/block", "/admin/pds/unblock", "/admin/subs/killUpstream"):
        answer = net.path("POST", path, params={"host": "nope.example"})
        assert (answer.status_code, answer.json()) == (404, {"error": "host not found"})
        missing = net.path("POST", path)
        assert (missing.status_code, missing.json()) == (
            400,
            {"error": "missing host query parameter"},
        )
    limits = net.path("POST", "/admin/pds/changeLimits", json={"host": "nope.example",
                                                                "repo_limit": 5})  # fmt: skip
    assert (limits.status_code, limits.json()) == (404, {"error": "host not found"})
    crawl = net.path("POST", "/admin/pds/requestCrawl", json={"hostname": "not a host/x"})
    assert crawl.status_code == 400


def test_crawl_switch_and_new_hosts_per_day(net: AdminNet) -> None:
    assert net.call("setCrawlEnabled", json={"enabled": False}).json() == {"enabled": False}
    assert net.call("getCrawlEnabled").json() == {"enabled": False}
    public = net.relay.xrpc("com.atproto.sync.requestCrawl", json={"hostname": net.pds_host})
    assert error_of(public) == (403, "Forbidden")
    add_and_connect(net)  # an admin adds hosts whatever the switch says
    answer = net.path("POST", "/admin/subs/setEnabled", params={"enabled": "true"})
    assert (answer.status_code, answer.json()) == (200, SUCCESS)
    assert net.path("GET", "/admin/subs/getEnabled").json() == {"enabled": True}
    bad = net.path("POST", "/admin/subs/setEnabled", params={"enabled": "maybe"})
    assert (bad.status_code, bad.json()) == (400, {"error": "enabled must be true or false"})

    assert net.call("setNewHostsPerDay", json={"limit": 7}).json() == {"limit": 7}
    assert net.call("getNewHostsPerDay").json() == {"limit": 7}
    assert net.path("GET", "/admin/subs/perDayLimit").json() == {"limit": 7}
    answer = net.path("POST", "/admin/subs/setPerDayLimit", params={"limit": "3"})
    assert (answer.status_code, answer.json()) == (200, SUCCESS)
    assert net.call("getNewHostsPerDay").json() == {"limit": 3}
    assert error_of(net.call("setNewHostsPerDay", json={"limit": -1})) == (400, "InvalidRequest")
    bad = net.path("POST", "/admin/subs/setPerDayLimit", params={"limit": "-1"})
    assert (bad.status_code, bad.json()) == (400, {"error": "limit must be a non-negative integer"})


def test_consumers_stats_and_account_view(net: AdminNet) -> None:
    add_and_connect(net)
    frank = net.write_posts("frank.test", 2)
    crawled(net)
    frames = replay(net.relay)

    async def listen() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        async with connect(
            net.relay.stream_url + "?cursor=0", user_agent_header="watcher/1.0"
        ) as ws:
            for _ in frames:
                await asyncio.wait_for(ws.recv(), 10)

            def sent_all() -> bool:
                consumers = net.admin.list_consumers()
                return bool(consumers) and consumers[0].events_sent == len(frames)

            await asyncio.to_thread(wait_for, sent_all)
            ours = await asyncio.to_thread(lambda: net.call("listConsumers").json())
            goat = await asyncio.to_thread(lambda: net.path("GET", "/admin/consumers/list").json())
            return ours["consumers"], goat

    ours, goat = asyncio.run(listen())
    [consumer] = ours
    assert consumer["userAgent"] == "watcher/1.0"
    assert consumer["remoteAddr"] == "127.0.0.1"
    assert (consumer["eventsSent"], consumer["cursor"]) == (len(frames), 0)
    assert consumer["source"] == "main"
    [row] = goat
    assert (row["id"], row["user_agent"], row["events_consumed"]) == (
        consumer["id"],
        "watcher/1.0",
        len(frames),
    )

    net.call("takedownAccount", json={"did": frank[0]})
    net.post(frank)
    crawled(net)
    stats = net.call("getStats").json()
    [host] = stats["hosts"]
    assert (host["hostname"], host["eventsIn"]) == (net.pds_host, net.pds_head())
    assert host["lagMs"] >= 0
    assert {"reason": "account_takendown", "count": 1} in stats["drops"]
    assert stats["head"] == net.relay.ctx.sequencer.head()
    assert stats["logBytes"] == net.relay.ctx.sequencer.total_bytes()

    # The history: its intervals add up to the counters at its last sample (none has left the
    # ring yet), which had seen the events above.
    net.admin.history.sample()
    history = net.call("getStatsHistory").json()
    intervals = history["intervals"]
    assert history["intervalMs"] == 5000
    assert intervals
    assert all(i["durationMs"] >= 1 for i in intervals)
    last = net.admin.history.samples()[len(intervals)].counters
    assert sum(i["eventsIn"] for i in intervals) == last.received >= net.pds_head()
    assert sum(i["eventsAppended"] for i in intervals) == last.appended > 0
    assert sum(i.get("framesSent", 0) for i in intervals) == last.sent
    takendown = [
        d["count"] for i in intervals for d in i["drops"] if d["reason"] == "account_takendown"
    ]
    assert sum(takendown) == last.drops["account_takendown"] == 1
    assert [lag["hostname"] for lag in intervals[-1]["lag"]] == list(last.lag) == [net.pds_host]
    refused = net.call("getStatsHistory", headers={})
    assert error_of(refused) == (401, "AuthenticationRequired")

    view = net.call("getAccount", params={"did": frank[0]}).json()
    assert (view["hostname"], view["status"], view["takendown"]) == (
        net.pds_host,
        "takendown",
        True,
    )
    assert view["events"] == [f.seq for f in replay(net.relay) if did_of(f) == frank[0]]
    assert error_of(net.call("getAccount", params={"did": "nope"})) == (400, "InvalidRequest")


def test_goat_adds_a_host_and_pages(net: AdminNet) -> None:
    answer = net.path("POST", "/admin/pds/requestCrawl", json={"hostname": net.pds_host})
    assert (answer.status_code, answer.json()) == (200, SUCCESS)
    wait_for(lambda: net.pds_host in net.admin.crawler.connected_hosts())
    assert [row["Host"] for row in net.path("GET", "/admin/pds/list").json()] == [net.pds_host]
    assert [h["hostname"] for h in net.call("listHosts", params={"limit": 1}).json()["hosts"]] == [
        net.pds_host
    ]
    after = net.call("listHosts", params={"cursor": "1"}).json()
    assert after == {"hosts": []}
    assert error_of(net.call("listHosts", params={"cursor": "x"})) == (400, "InvalidRequest")
    assert error_of(net.call("listHosts", params={"limit": 0})) == (400, "InvalidRequest")
    bad = net.path("GET", "/admin/repo/takedowns", params={"size": "0"})
    assert (bad.status_code, bad.json()) == (400, {"error": "size must be between 1 and 1000"})
