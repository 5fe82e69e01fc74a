"""Hand-written msgspec types of the XRPC methods strato serves, one module per namespace, and
:data:`METHODS`, each method's :class:`~strato.xrpc.method.MethodTypes` by NSID (what
:meth:`strato.xrpc.router.XrpcRouter.add` uses by default).

Each struct decodes and validates in one step (JSON types, required fields and limits by
msgspec, formats and string lengths in ``__post_init__``) with the same verdicts as the generic
lexicon engine; ``tests/xrpc/test_xrpc_types.py`` checks every registered struct against its
lexicon in the shared set (fields, required, types, limits, defaults, encodings).
"""

from __future__ import annotations

from strato.xrpc.method import MethodTypes
from strato.xrpc.types import identity, repo, server, sync

METHODS: dict[str, MethodTypes] = {
    "com.atproto.server.describeServer": MethodTypes("query", output=server.DescribeServerOutput),
    "com.atproto.server.createSession": MethodTypes(
        "procedure", input=server.CreateSessionInput, output=server.CreateSessionOutput
    ),
    "com.atproto.server.getSession": MethodTypes("query", output=server.GetSessionOutput),
    "com.atproto.server.refreshSession": MethodTypes(
        "procedure", output=server.RefreshSessionOutput
    ),
    "com.atproto.server.deleteSession": MethodTypes("procedure"),
    "com.atproto.repo.createRecord": MethodTypes(
        "procedure", input=repo.CreateRecordInput, output=repo.CreateRecordOutput
    ),
    "com.atproto.repo.putRecord": MethodTypes(
        "procedure", input=repo.PutRecordInput, output=repo.PutRecordOutput
    ),
    "com.atproto.repo.deleteRecord": MethodTypes(
        "procedure", input=repo.DeleteRecordInput, output=repo.DeleteRecordOutput
    ),
    "com.atproto.repo.applyWrites": MethodTypes(
        "procedure", input=repo.ApplyWritesInput, output=repo.ApplyWritesOutput
    ),
    "com.atproto.repo.getRecord": MethodTypes(
        "query", params=repo.GetRecordParams, output=repo.GetRecordOutput
    ),
    "com.atproto.repo.listRecords": MethodTypes(
        "query", params=repo.ListRecordsParams, output=repo.ListRecordsOutput
    ),
    "com.atproto.repo.describeRepo": MethodTypes(
        "query", params=repo.DescribeRepoParams, output=repo.DescribeRepoOutput
    ),
    "com.atproto.identity.resolveHandle": MethodTypes(
        "query", params=identity.ResolveHandleParams, output=identity.ResolveHandleOutput
    ),
    "com.atproto.sync.getLatestCommit": MethodTypes(
        "query", params=sync.RepoParams, output=sync.GetLatestCommitOutput
    ),
    "com.atproto.sync.getRepoStatus": MethodTypes(
        "query", params=sync.RepoParams, output=sync.GetRepoStatusOutput
    ),
    "com.atproto.sync.listRepos": MethodTypes(
        "query", params=sync.ListReposParams, output=sync.ListReposOutput
    ),
}

__all__ = ["METHODS", "MethodTypes", "identity", "repo", "server", "sync"]
