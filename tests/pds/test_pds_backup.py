"""``strato backup`` of a running PDS: a PDS started on the copy has the accounts (they log
in), the records, the blobs and the event log of the original."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pds_net import PASSWORD, local_network, run_pds

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def test_a_backup_of_a_running_pds_serves_everything(tmp_path: Path) -> None:
    with local_network(tmp_path) as pds:
        session = pds.create_account("alice.test")
        did, token = session["did"], session["accessJwt"]
        uploaded = pds.xrpc(
            "com.atproto.repo.uploadBlob", token=token, content=PNG,
            headers={"Content-Type": "image/png"},
        )  # fmt: skip
        assert uploaded.status_code == 200, uploaded.text
        blob = uploaded.json()["blob"]
        post = {"$type": "app.bsky.feed.post", "text": "backed up",
                "createdAt": "2026-11-24T00:00:00Z",
                "embed": {"$type": "app.bsky.embed.images",
                          "images": [{"alt": "", "image": blob}]}}  # fmt: skip
        created = pds.xrpc(
            "com.atproto.repo.createRecord", token=token,
            json={"repo": did, "collection": "app.bsky.feed.post", "record": post},
        )  # fmt: skip
        assert created.status_code == 200, created.text
        head = pds.ctx.sequencer.head()
        # another process, as an operator runs it (LMDB refuses a second open in one process)
        backup = [sys.executable, "-m", "strato", "backup", str(pds.settings.data_dir)]
        done = subprocess.run([*backup, str(tmp_path / "copy")], capture_output=True, check=False)
        assert done.returncode == 0, done.stderr

        with run_pds(tmp_path / "copy", pds.plc_url) as copy:
            login = copy.xrpc(
                "com.atproto.server.createSession",
                json={"identifier": "alice.test", "password": PASSWORD},
            )
            assert login.status_code == 200, login.text
            rkey = created.json()["uri"].rsplit("/", 1)[1]
            got = copy.xrpc(
                "com.atproto.repo.getRecord",
                params={"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey},
            )
            assert got.json()["cid"] == created.json()["cid"]
            fetched = copy.xrpc(
                "com.atproto.sync.getBlob", params={"did": did, "cid": blob["ref"]["$link"]}
            )
            assert fetched.content == PNG
            assert copy.ctx.sequencer.head() == head
