"""One simulated account's repository, in memory: the Merkle Search Tree over a dict of blocks,
the signed head commit, and the ``#commit`` bodies (sync 1.1) its changes make.

:meth:`AccountChain.build` computes the next commit without changing anything, and
:meth:`AccountChain.accept` makes it the head: the crafted bad events of
:mod:`loadgen.bad` are built the same way and then altered, never accepted, so
the valid events around them keep chaining. The body is what a PDS emits
(:func:`strato.firehose.messages.commit_message`): ``since`` and ``prevData`` are the previous
head, each op carries its ``prev``, and ``blocks`` is the CAR slice with the commit, the MST nodes a
consumer needs to invert the ops (:func:`strato.repo.mst.proof_nodes`) and the new records.

Blocks only accumulate (a replaced node stays in the dict): a chain lives for one account's
events, and :meth:`repo_car` exports only what the current tree reaches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from strato import _core, dagcbor
from strato._core import CID, PrivateKey
from strato.firehose.messages import commit_ops
from strato.repo import mst
from strato.repo.blocks import Overlay
from strato.repo.commit import decode_commit, sign_commit

#: One change: a record value to put at ``collection/rkey``, or None to delete it.
Change = tuple[str, Mapping[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Built:
    """A commit computed by :meth:`AccountChain.build`: its ``#commit`` body (no ``seq``) and
    what :meth:`AccountChain.accept` needs to make it the head."""

    body: dict[str, Any]
    commit: CID
    commit_bytes: bytes
    rev: str
    root: CID
    new_blocks: dict[CID, bytes]
    paths: tuple[tuple[str, bool], ...]


class AccountChain:
    """The repository of ``did`` signed with ``key``, at head ``commit`` (rev ``rev``, tree
    ``root``); ``paths`` are the record paths it holds, in no order (deletes pick from them)."""

    def __init__(
        self,
        did: str,
        key: PrivateKey,
        *,
        blocks: dict[CID, bytes],
        root: CID,
        rev: str,
        paths: list[str],
    ) -> None:
        self.did = did
        self.key = key
        self.blocks = blocks
        self.root = root
        self.rev = rev
        self.paths = paths
        self.commit, self.commit_bytes = sign_commit(did, rev, root, key)
        self._index = {path: i for i, path in enumerate(paths)}

    @classmethod
    def create(
        cls,
        did: str,
        key: PrivateKey,
        rev: str,
        records: Sequence[tuple[str, bytes]] = (),
    ) -> AccountChain:
        """A repository already holding ``records`` (path, DAG-CBOR value) at ``rev``: the
        state before the stream starts, not itself an event."""
        blocks: dict[CID, bytes] = {}
        pairs = []
        for path, data in records:
            cid = CID.compute(data)
            blocks[cid] = data
            pairs.append((path, cid))
        root, nodes = mst.build(pairs)
        blocks.update(nodes)
        return cls(did, key, blocks=blocks, root=root, rev=rev, paths=[path for path, _ in pairs])

    def copy(self) -> AccountChain:
        """An independent chain at the same head (blocks are shared: they never change)."""
        clone = AccountChain(
            self.did,
            self.key,
            blocks=dict(self.blocks),
            root=self.root,
            rev=self.rev,
            paths=list(self.paths),
        )
        clone.commit, clone.commit_bytes = self.commit, self.commit_bytes
        return clone

    # -- commits --------------------------------------------------------------------------------

    def build(
        self,
        changes: Sequence[Change],
        rev: str,
        time: str,
        *,
        key: PrivateKey | None = None,
        did: str | None = None,
    ) -> Built:
        """The next commit making ``changes`` at ``rev`` (after :attr:`rev` for a valid event),
        signed with ``key`` (default: the account's) for ``did`` (default: the account)."""
        record_blocks: dict[CID, bytes] = {}
        writes: list[tuple[str, CID | None]] = []
        for path, value in changes:
            if value is None:
                writes.append((path, None))
                continue
            data = dagcbor.encode(dict(value))
            cid = CID.compute(data)
            record_blocks[cid] = data
            writes.append((path, cid))
        applied = mst.apply(self.blocks, self.root, writes)
        view = Overlay(applied.blocks, self.blocks)
        author = self.did if did is None else did
        commit, commit_bytes = sign_commit(author, rev, applied.root, key or self.key)
        proof = mst.proof_nodes(view, applied.root, applied.ops)
        slice_blocks = [(commit, commit_bytes)]
        slice_blocks += [(cid, view[cid]) for cid in proof]
        slice_blocks += [
            (op.cid, record_blocks[op.cid]) for op in applied.ops if op.cid is not None
        ]
        ops = commit_ops(applied.ops)
        body: dict[str, Any] = {
            "rebase": False,
            "tooBig": False,
            "repo": author,
            "commit": commit,
            "rev": rev,
            "since": self.rev,
            "blocks": _core.write_car([commit], slice_blocks),
            "ops": ops,
            "blobs": [],
            "time": time,
            "prevData": self.root,
        }
        return Built(
            body=body,
            commit=commit,
            commit_bytes=commit_bytes,
            rev=rev,
            root=applied.root,
            new_blocks={**applied.blocks, **record_blocks},
            paths=tuple((op.path, op.cid is not None) for op in applied.ops),
        )

    def accept(self, built: Built) -> None:
        """Make ``built`` (built from the current head) the head."""
        self.blocks.update(built.new_blocks)
        self.root = built.root
        self.rev = built.rev
        self.commit, self.commit_bytes = built.commit, built.commit_bytes
        for path, present in built.paths:
            if present and path not in self._index:
                self._index[path] = len(self.paths)
                self.paths.append(path)
            elif not present and path in self._index:
                self._forget(path)

    def commit_changes(self, changes: Sequence[Change], rev: str, time: str) -> dict[str, Any]:
        """Build and accept the next commit; its ``#commit`` body."""
        built = self.build(changes, rev, time)
        self.accept(built)
        return built.body

    def absorb(self, body: Mapping[str, Any]) -> None:
        """Follow a valid ``#commit`` body of this account made elsewhere (a stored frame): its
        blocks join the chain's and its commit becomes the head (``paths`` is not kept)."""
        _, blocks = _core.read_car(body["blocks"])
        self.blocks.update(blocks)
        self.commit = body["commit"]
        self.commit_bytes = blocks[self.commit]
        head = decode_commit(self.commit_bytes)
        self.root = head.data
        self.rev = body["rev"]

    def _forget(self, path: str) -> None:
        index = self._index.pop(path)
        last = self.paths.pop()
        if index < len(self.paths):
            self.paths[index] = last
            self._index[last] = index

    # -- export ---------------------------------------------------------------------------------

    def repo_car(self) -> bytes:
        """The whole repository at the head, as ``com.atproto.sync.getRepo`` serves it."""
        nodes = mst.diff(self.blocks, None, self.root).new_nodes
        records = dict.fromkeys(cid for _, cid in mst.items(self.blocks, self.root))
        blocks = [(self.commit, self.commit_bytes)]
        blocks += [(cid, self.blocks[cid]) for cid in nodes]
        blocks += [(cid, self.blocks[cid]) for cid in records]
        return _core.write_car([self.commit], blocks)


__all__ = ["AccountChain", "Built", "Change"]
