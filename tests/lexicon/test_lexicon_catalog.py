"""Catalog loading: directories, single files, package resources (also zipped), documents added
at run time, and the errors for bad files."""

from __future__ import annotations

import importlib.resources
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import require_shared
from strato.errors import LexiconValidationError
from strato.lexicon import Catalog, LexiconDoc, parse_lexicon


def _record_lexicon(nsid: str, max_length: int = 10) -> dict[str, Any]:
    return {
        "lexicon": 1,
        "id": nsid,
        "defs": {
            "main": {
                "type": "record",
                "key": "any",
                "record": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string", "maxLength": max_length}},
                },
            }
        },
    }


def test_whole_shared_sets_load() -> None:
    root = require_shared("lexicons")
    catalog = Catalog.load([root / "com" / "atproto", str(root / "app" / "bsky")])
    assert len(catalog) == len(list(root.rglob("*.json")))
    assert "app.bsky.feed.post" in catalog
    assert "com.atproto.sync.subscribeRepos" in catalog
    post = catalog.get("app.bsky.feed.post")
    assert post is not None
    assert post.main is not None
    assert post.main["type"] == "record"


def test_every_def_of_the_shared_sets_compiles() -> None:
    root = require_shared("lexicons")
    catalog = Catalog.load([root])
    data_kinds = 0
    for doc in catalog:
        for name, definition in doc.defs.items():
            if definition["type"] in ("query", "procedure", "subscription", "permission-set"):
                continue
            ref = doc.id if name == "main" else f"{doc.id}#{name}"
            assert callable(catalog.resolve(ref))
            data_kinds += 1
    assert data_kinds > 200


def test_load_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.json").write_text(json.dumps(_record_lexicon("com.example.a")))
    (tmp_path / "b.json").write_text(json.dumps(_record_lexicon("com.example.b")))
    (tmp_path / "notes.txt").write_text("not a lexicon")
    catalog = Catalog.load([tmp_path])
    assert sorted(doc.id for doc in catalog) == ["com.example.a", "com.example.b"]
    single = Catalog.load([tmp_path / "b.json"])
    assert [doc.id for doc in single] == ["com.example.b"]


def test_load_package_resources_from_a_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "lexpkg.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("lexpkg/__init__.py", "")
        zf.writestr(
            "lexpkg/lexicons/com/example/c.json", json.dumps(_record_lexicon("com.example.c"))
        )
    monkeypatch.syspath_prepend(str(archive))
    resources = importlib.resources.files("lexpkg") / "lexicons"
    assert not isinstance(resources, Path)
    catalog = Catalog.load([resources])
    assert (
        catalog.validate_record("com.example.c", "k", {"$type": "com.example.c", "name": "x"})
        == "valid"
    )


def test_bad_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lexicon": 1, "id": "com.example.bad", "defs": {}}))
    with pytest.raises(LexiconValidationError) as info:
        Catalog.load([tmp_path])
    assert (info.value.reason, info.value.path) == (
        f"{bad}: defs must be a non-empty object",
        "$.defs",
    )
    bad.write_text("{")
    with pytest.raises(LexiconValidationError, match=r"bad\.json: not JSON"):
        Catalog.load([bad])


def test_duplicate_nsid_in_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(_record_lexicon("com.example.a")))
    (tmp_path / "b.json").write_text(json.dumps(_record_lexicon("com.example.a")))
    with pytest.raises(LexiconValidationError, match=r"lexicon com\.example\.a is defined twice"):
        Catalog.load([tmp_path])


def test_missing_path_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Catalog.load([tmp_path / "absent.json"])


def test_add_at_run_time_and_replace() -> None:
    catalog = Catalog()
    record = {"$type": "com.example.a", "name": "abcdefghijk"}
    assert catalog.validate_record("com.example.a", "k", record) == "unknown"
    catalog.add(_record_lexicon("com.example.a", max_length=10))
    with pytest.raises(LexiconValidationError, match="at most 10 bytes"):
        catalog.validate_record("com.example.a", "k", record)
    catalog.add(parse_lexicon(_record_lexicon("com.example.a", max_length=20)))
    assert catalog.validate_record("com.example.a", "k", record) == "valid"


def test_add_checks_the_document() -> None:
    with pytest.raises(LexiconValidationError, match="id must be an NSID"):
        Catalog().add({"lexicon": 1, "id": "nope", "defs": {"a": {"type": "token"}}})


def test_a_hand_made_doc_is_checked_again() -> None:
    bad = _record_lexicon("com.example.a")
    bad["defs"]["main"]["record"]["properties"]["name"] = {"type": "integer", "minimum": "0; x"}
    forged = LexiconDoc(id="com.example.a", defs=bad["defs"], doc=bad)
    with pytest.raises(LexiconValidationError) as info:
        Catalog().add(forged)
    assert (info.value.path, info.value.reason) == (
        "$.defs.main.record.properties.name.minimum",
        "minimum must be an integer",
    )
