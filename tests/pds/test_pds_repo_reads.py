"""``com.atproto.repo`` reads over HTTP: getRecord, listRecords (limit, cursor, reverse) and
describeRepo, and their errors."""

from __future__ import annotations

from pds_net import LocalPds
from pds_repo_helpers import LIKE, POST, error_of, post, tid, user


def test_list_records_pages_both_ways(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    rkeys = [tid(i) for i in range(5)]
    for rkey in rkeys:
        alice.create(post(rkey), rkey=rkey)
    subject = {"uri": f"at://{alice.did}/{POST}/{rkeys[0]}", "cid": alice.records()[rkeys[0]]}
    alice.create({"$type": LIKE, "subject": subject, "createdAt": "2026-11-24T00:00:00Z"}, LIKE)

    def page(**params: object) -> dict[str, object]:
        response = pds.xrpc(
            "com.atproto.repo.listRecords",
            params={"repo": "alice.test", "collection": POST, **params},
        )
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    def keys(body: dict[str, object]) -> list[str]:
        records = body["records"]
        assert isinstance(records, list)
        return [record["uri"].rsplit("/", 1)[1] for record in records]

    everything = page()
    assert keys(everything) == rkeys[::-1]  # newest (highest key) first, as the reference
    first = everything["records"]
    assert isinstance(first, list)
    assert first[0]["value"] == post(rkeys[4])
    assert first[0]["cid"] == alice.records()[rkeys[4]]
    one = page(limit=2)
    assert keys(one) == [rkeys[4], rkeys[3]]
    assert one["cursor"] == rkeys[3]
    assert keys(page(limit=2, cursor=rkeys[3])) == [rkeys[2], rkeys[1]]
    last = page(limit=2, cursor=rkeys[1])
    assert keys(last) == [rkeys[0]]
    assert keys(page(limit=2, cursor=rkeys[0])) == []
    assert "cursor" not in page(limit=2, cursor=rkeys[0])
    assert keys(page(reverse="true")) == rkeys
    assert keys(page(reverse="true", limit=2, cursor=rkeys[1])) == [rkeys[2], rkeys[3]]
    for params in ({"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"reverse": "maybe"}):
        bad = pds.xrpc(
            "com.atproto.repo.listRecords",
            params={"repo": alice.did, "collection": POST, **params},
        )
        assert error_of(bad) == (400, "InvalidRequest"), params
    missing = pds.xrpc(
        "com.atproto.repo.listRecords", params={"repo": "nobody.test", "collection": POST}
    )
    assert error_of(missing) == (400, "RepoNotFound")


def test_get_record_and_its_errors(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    written = alice.create(post(), rkey=tid(1))
    params = {"repo": alice.did, "collection": POST, "rkey": tid(1)}
    got = pds.xrpc("com.atproto.repo.getRecord", params=params).json()
    assert got == {"uri": written["uri"], "cid": written["cid"], "value": post()}
    same = pds.xrpc("com.atproto.repo.getRecord", params={**params, "cid": written["cid"]})
    assert same.status_code == 200
    for bad, expected in (
        ({"rkey": tid(2)}, (400, "RecordNotFound")),
        ({"cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},
         (400, "RecordNotFound")),
        ({"repo": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}, (400, "RepoNotFound")),
        ({"collection": "nope"}, (400, "InvalidRequest")),
    ):  # fmt: skip
        response = pds.xrpc("com.atproto.repo.getRecord", params={**params, **bad})
        assert error_of(response) == expected, bad


def test_describe_repo(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    alice.create(post())
    alice.create({"$type": "com.example.thing"}, "com.example.thing")
    described = pds.xrpc("com.atproto.repo.describeRepo", params={"repo": "alice.test"})
    assert described.status_code == 200, described.text
    body = described.json()
    assert body["handle"] == "alice.test"
    assert body["did"] == alice.did
    assert body["didDoc"]["id"] == alice.did
    assert body["didDoc"]["alsoKnownAs"] == ["at://alice.test"]
    assert (
        "https://www.w3.org/ns/did/v1" in body["didDoc"]["@context"]
    )  # as the directory serves it
    assert body["collections"] == [POST, "com.example.thing"]
    assert body["handleIsCorrect"] is True
    missing = pds.xrpc("com.atproto.repo.describeRepo", params={"repo": "nobody.test"})
    assert error_of(missing) == (400, "RepoNotFound")
    pds.ctx.accounts.deactivate(None, alice.did)
    gone = pds.xrpc("com.atproto.repo.describeRepo", params={"repo": alice.did})
    assert error_of(gone) == (400, "RepoDeactivated")
