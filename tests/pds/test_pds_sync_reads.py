"""``com.atproto.sync`` repository reads over HTTP: getRepo (whole and ``since``) and getRecord
CARs that verify, getBlocks, getLatestCommit, getRepoStatus, listRepos, and the refusal of
taken-down and deactivated repositories to anyone but the account itself and the admin."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from pds_net import LocalPds, local_network
from pds_repo_helpers import POST, User, error_of, post, tid, user
from strato import CID, car
from strato.repo.verify import verify_record_car, verify_repo

REPO_NOT_FOUND = (400, "RepoNotFound")
UNKNOWN_DID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"


def did_key(pds: LocalPds, alice: User) -> str:
    return pds.ctx.keys.signing_key(alice.did).public_key.did_key()


def get(pds: LocalPds, nsid: str, **params: Any) -> Any:
    response = pds.xrpc(nsid, params=params)
    assert response.status_code == 200, response.text
    return response


def test_get_repo_whole_and_since(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    first = alice.create(post("one"), rkey=tid(1))
    alice.create(post("two"), rkey=tid(2))
    whole = get(pds, "com.atproto.sync.getRepo", did=alice.did)
    assert whole.headers["content-type"] == "application/vnd.ipld.car"
    report = verify_repo(whole.content, did_key=did_key(pds, alice), did=alice.did)
    assert report.commit_cid.encode() == alice.head()
    assert {path for path, _ in report.records} == {f"{POST}/{tid(1)}", f"{POST}/{tid(2)}"}
    diff = get(pds, "com.atproto.sync.getRepo", did=alice.did, since=first["commit"]["rev"])
    roots, blocks = car.read_car(diff.content)
    assert [root.encode() for root in roots] == [alice.head()]
    cids = {cid.encode() for cid in blocks}
    assert alice.records()[tid(2)] in cids
    assert alice.records()[tid(1)] not in cids
    assert len(diff.content) < len(whole.content)
    for params, expected in (
        ({"did": UNKNOWN_DID}, REPO_NOT_FOUND),
        ({"did": "alice.test"}, (400, "InvalidRequest")),
        ({"did": alice.did, "since": "yesterday"}, (400, "InvalidRequest")),
    ):
        response = pds.xrpc("com.atproto.sync.getRepo", params=params)
        assert error_of(response) == expected, params


def test_a_large_repo_streams_whole(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    for batch in range(5):
        writes = [
            {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
             "rkey": tid(batch * 1000 + i), "value": post(f"{batch}-{i} " + "x" * 250)}
            for i in range(200)
        ]  # fmt: skip
        alice.ok("com.atproto.repo.applyWrites", json={"repo": alice.did, "writes": writes})
    whole = get(pds, "com.atproto.sync.getRepo", did=alice.did)
    assert len(whole.content) > 4 * 65536  # several chunks
    report = verify_repo(whole.content, did_key=did_key(pds, alice), did=alice.did)
    assert len(report.records) == 1000


def test_get_record_proves_presence_and_absence(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    here = tid(1)
    written = alice.create(post(), rkey=here)
    alice.create(post("other"), rkey=tid(2))
    key = did_key(pds, alice)
    proof = get(pds, "com.atproto.sync.getRecord", did=alice.did, collection=POST, rkey=here)
    found = verify_record_car(proof.content, did=alice.did, collection=POST, rkey=here,
                              did_key=key)  # fmt: skip
    assert found is not None
    assert found.cid.encode() == written["cid"]
    absent = get(pds, "com.atproto.sync.getRecord", did=alice.did, collection=POST, rkey="nope")
    assert verify_record_car(absent.content, did=alice.did, collection=POST, rkey="nope",
                             did_key=key) is None  # fmt: skip
    missing = pds.xrpc("com.atproto.sync.getRecord",
                       params={"did": UNKNOWN_DID, "collection": POST, "rkey": "x"})  # fmt: skip
    assert error_of(missing) == REPO_NOT_FOUND
    bad = pds.xrpc("com.atproto.sync.getRecord",
                   params={"did": alice.did, "collection": POST, "rkey": "a b"})  # fmt: skip
    assert error_of(bad) == (400, "InvalidRequest")


def test_get_blocks(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    alice.create(post(), rkey=tid(1))
    wanted = [alice.records()[tid(1)], alice.head()]
    response = pds.xrpc("com.atproto.sync.getBlocks",
                        params={"did": alice.did, "cids": wanted})  # fmt: skip
    assert response.status_code == 200, response.text
    roots, blocks = car.read_car(response.content)
    assert roots == []
    assert sorted(cid.encode() for cid in blocks) == sorted(wanted)
    absent = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
    missing = pds.xrpc("com.atproto.sync.getBlocks",
                       params={"did": alice.did, "cids": [wanted[0], absent]})  # fmt: skip
    assert error_of(missing) == (400, "InvalidRequest")
    assert absent in missing.json()["message"]
    for params, expected in (
        ({"did": alice.did, "cids": ["not-a-cid"]}, (400, "InvalidRequest")),
        ({"did": alice.did}, (400, "InvalidRequest")),
        ({"did": UNKNOWN_DID, "cids": wanted}, REPO_NOT_FOUND),
    ):
        response = pds.xrpc("com.atproto.sync.getBlocks", params=params)
        assert error_of(response) == expected, params
    assert CID.decode(wanted[0]) in blocks


def test_latest_commit_status_and_listing(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    bob = user(pds, "bob")
    written = alice.create(post())
    latest = get(pds, "com.atproto.sync.getLatestCommit", did=alice.did).json()
    assert latest == {"cid": alice.head(), "rev": written["commit"]["rev"]}
    status = get(pds, "com.atproto.sync.getRepoStatus", did=alice.did).json()
    assert status == {"did": alice.did, "active": True, "rev": latest["rev"]}
    pds.ctx.accounts.deactivate(None, bob.did)
    assert get(pds, "com.atproto.sync.getRepoStatus", did=bob.did).json() == {
        "did": bob.did, "active": False, "status": "deactivated",
    }  # fmt: skip
    for nsid in ("com.atproto.sync.getLatestCommit", "com.atproto.sync.getRepoStatus"):
        assert error_of(pds.xrpc(nsid, params={"did": UNKNOWN_DID})) == REPO_NOT_FOUND
    everything = get(pds, "com.atproto.sync.listRepos").json()
    by_did = {repo["did"]: repo for repo in everything["repos"]}
    assert by_did[alice.did] == {
        "did": alice.did, "head": alice.head(), "rev": latest["rev"], "active": True,
    }  # fmt: skip
    assert by_did[bob.did]["active"] is False
    assert by_did[bob.did]["status"] == "deactivated"
    first = get(pds, "com.atproto.sync.listRepos", limit=1).json()
    second = get(pds, "com.atproto.sync.listRepos", limit=1, cursor=first["cursor"]).json()
    end = get(pds, "com.atproto.sync.listRepos", limit=1, cursor=second["cursor"]).json()
    assert [r["did"] for r in first["repos"] + second["repos"]] == sorted(by_did)
    assert end == {"repos": []}
    bad = pds.xrpc("com.atproto.sync.listRepos", params={"limit": "1001"})
    assert error_of(bad) == (400, "InvalidRequest")


def test_unavailable_repos_are_refused_but_to_their_owner_and_the_admin(tmp_path: Path) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text("an-admin-token-of-enough-length")
    admin = "Basic " + base64.b64encode(b"admin:an-admin-token-of-enough-length").decode()
    with local_network(tmp_path / "net", admin_token_file=token_file) as pds:
        alice = user(pds, "alice")
        bob = user(pds, "bob")
        alice.create(post(), rkey=tid(1))
        bob.create(post(), rkey=tid(1))
        pds.ctx.accounts.deactivate(None, alice.did)
        pds.ctx.accounts.set_takedown(None, bob.did, "mod-1")
        methods: list[tuple[str, dict[str, Any]]] = [
            ("com.atproto.sync.getRepo", {}),
            ("com.atproto.sync.getRecord", {"collection": POST, "rkey": tid(1)}),
            ("com.atproto.sync.getLatestCommit", {}),
            ("com.atproto.sync.listBlobs", {}),
            ("com.atproto.sync.getBlocks", {"cids": [alice.records()[tid(1)]]}),
        ]
        for who, error in ((alice, "RepoDeactivated"), (bob, "RepoTakendown")):
            for nsid, params in methods:
                query = {"did": who.did, **params}
                if nsid == "com.atproto.sync.getBlocks":
                    query["cids"] = [who.records()[tid(1)]]
                refused = pds.xrpc(nsid, params=query)
                assert error_of(refused) == (400, error), nsid
                with pds.client() as client:
                    as_admin = client.get(f"/xrpc/{nsid}", params=query,
                                          headers={"Authorization": admin})  # fmt: skip
                assert as_admin.status_code == 200, (nsid, as_admin.text)
            for nsid, params in methods[:3]:
                own = pds.xrpc(nsid, token=alice.token,
                               params={"did": alice.did, **params})  # fmt: skip
                assert own.status_code == 200, (nsid, own.text)
        bad_admin = pds.xrpc("com.atproto.sync.getRepo", params={"did": alice.did},
                             headers={"Authorization": "Basic " + base64.b64encode(
                                 b"admin:wrong").decode()})  # fmt: skip
        assert error_of(bad_admin) == (401, "AuthenticationRequired")


def test_get_repo_has_its_own_limit_outside_the_global_one(tmp_path: Path) -> None:
    with local_network(tmp_path, rate_limits=True) as pds:
        alice = user(pds, "alice")
        repo = pds.xrpc("com.atproto.sync.getRepo", params={"did": alice.did})
        assert repo.headers["RateLimit-Policy"] == "6000;w=300"
        other = pds.xrpc("com.atproto.sync.getLatestCommit", params={"did": alice.did})
        assert other.headers["RateLimit-Policy"] == "3000;w=300"
        again = pds.xrpc("com.atproto.sync.getRepo", params={"did": alice.did})
        # only getRepo's own bucket is charged by getRepo
        assert int(again.headers["RateLimit-Remaining"]) == 6000 - 2
