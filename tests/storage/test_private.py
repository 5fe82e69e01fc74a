"""Private paths (``strato.storage.private``) and the stores built on them: directories 0700 and
files 0600 whatever the umask, and a loose tree tightened with one warning."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from private_files import UMASKS, loosen, not_private, umask
from strato.crypto import PrivateKey, save_private_key
from strato.errors import StorageError
from strato.storage import Store, backup_data_dir
from strato.storage.private import create_file, create_temp_file, make_dir, tighten


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_made_paths_are_private_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    os.chmod(tmp_path, 0o755)
    with umask(mask):
        made = make_dir(tmp_path / "a" / "b" / "c")
        assert make_dir(made) == made  # there already: fine
        os.close(create_file(made / "file"))
        fd, temporary = create_temp_file(made, ".key.")
        os.close(fd)
        save_private_key(PrivateKey.generate("k256"), made / "key.pem")
    assert temporary.name.startswith(".key.")
    assert not_private(tmp_path / "a") == {}
    assert mode(tmp_path) == 0o755  # what existed is left alone
    with pytest.raises(FileExistsError):
        create_file(made / "file")
    with pytest.raises(FileExistsError) as caught:
        make_dir(made / "file")
    assert str(caught.value) == f"{made / 'file'} exists and is not a directory"


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_stores_and_backups_are_private_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        with Store.open(
            tmp_path / "data" / "svc", name="svc", schema_version=1, tables=["t"], sync=False
        ) as store:
            with store.write() as txn:
                txn.put("t", b"k", b"v")
            (tmp_path / "data" / "svc" / "token").write_text("loose, as a user may leave it")
            copy = store.backup(tmp_path / "copies" / "in-process")
        backup_data_dir(tmp_path / "data", tmp_path / "copies" / "of-data")
    loose = f"{0o666 & ~mask:o}"  # the file the test wrote itself; the copy of it is private
    assert not_private(tmp_path / "data") == {str(tmp_path / "data" / "svc" / "token"): loose}
    assert not_private(tmp_path / "copies") == {}
    assert (tmp_path / "copies" / "of-data" / "svc" / "token").read_text().startswith("loose")
    with Store.open(copy, name="svc", schema_version=1, tables=["t"]) as reopened:
        with reopened.read() as txn:
            assert txn.get("t", b"k") == b"v"
        with pytest.raises(StorageError) as caught:
            reopened.backup(copy)
        assert str(caught.value) == f"{copy} already exists; back up into a new directory"


def test_a_loose_tree_is_tightened_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "data"
    for name in ("a", "b", "c", "d"):
        make_dir(root / name / "deeper")
        (root / name / "file").write_bytes(b"x")
    (root / "owner-only").write_bytes(b"x")
    os.chmod(root / "owner-only", 0o400)
    outside = tmp_path / "outside"
    outside.write_bytes(b"not strato's")
    os.chmod(outside, 0o644)
    (root / "link").symlink_to(outside)
    loosened = loosen(root) - 2  # the link's target is outside; the 0400 file was reset
    os.chmod(root / "owner-only", 0o400)
    with caplog.at_level(logging.WARNING, logger="strato.storage.private"):
        changed = tighten(root)
    assert len(changed) == loosened == 13
    assert not_private(root) == {str(root / "owner-only"): "400", str(root / "link"): "777"}
    assert mode(outside) == 0o644  # symbolic links are not followed
    [record] = caplog.records
    assert record.levelname == "WARNING"
    message = record.getMessage()
    assert message.startswith(
        f"13 path(s) under {root} were open to other users; made them owner-only "
        f"(directories 0700, files 0600): {root}, "
    )
    assert message.endswith(" and 8 more")
    assert message.count(str(root)) == 6  # the root, then the first five paths
    caplog.clear()
    assert tighten(root) == []
    assert tighten(tmp_path / "missing") == []
    assert caplog.records == []


def test_a_path_that_cannot_be_made_private_is_an_error() -> None:
    own = Path(f"/proc/{os.getpid()}")  # mode 0555, and the kernel refuses any chmod there
    with pytest.raises(StorageError) as caught:
        tighten(own)
    assert str(caught.value) == f"cannot make {own} private: Operation not permitted"
