"""Records checked against lexicon files the PDS loads (``--lexicon-dir``): a collection with a
loaded schema is ``valid`` or refused naming the broken field; a collection nobody describes is
``unknown``; ``validate: true`` refuses it. Lexicons come from the shared set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_shared
from pds_net import LocalPds, local_network

LIST = {"$type": "app.bsky.graph.list", "purpose": "app.bsky.graph.defs#curatelist",
        "name": "friends", "createdAt": "2026-11-24T00:00:00Z"}  # fmt: skip


@pytest.fixture
def pds(tmp_path: Path) -> Iterator[LocalPds]:
    lexicons = require_shared("lexicons")
    with local_network(tmp_path, lexicon_dirs=(lexicons,)) as running:
        yield running


def _create(pds: LocalPds, session: dict[str, Any], record: dict[str, Any], **extra: Any) -> Any:
    return pds.xrpc(
        "com.atproto.repo.createRecord", token=session["accessJwt"],
        json={"repo": session["did"], "collection": record["$type"], "record": record, **extra},
    )  # fmt: skip


def test_loaded_lexicons_decide_validity(pds: LocalPds) -> None:
    session = pds.create_account("alice.test")
    ok = _create(pds, session, LIST)
    assert ok.status_code == 200, ok.text
    assert ok.json()["validationStatus"] == "valid"

    head = pds.ctx.sequencer.head()
    broken = _create(pds, session, {k: v for k, v in LIST.items() if k != "purpose"})
    assert broken.status_code == 400
    assert broken.json() == {
        "error": "InvalidRequest",
        "message": "Invalid app.bsky.graph.list record: $: required field 'purpose' is missing",
    }
    too_long = _create(pds, session, {**LIST, "name": "x" * 65})
    assert too_long.status_code == 400
    assert "$.name" in too_long.json()["message"]
    assert pds.ctx.sequencer.head() == head

    thing = {"$type": "com.example.thing", "size": 1}
    unknown = _create(pds, session, thing)
    assert unknown.json()["validationStatus"] == "unknown"
    required = _create(pds, session, thing, validate=True)
    assert (required.status_code, required.json()["error"]) == (400, "InvalidRequest")
    assert "Lexicon not found" in required.json()["message"]
