"""Fingerprints of lexicon defs: a hash of a def and every def it reaches through refs.

Descriptions are left out (they do not change what is valid), everything else is hashed in a
canonical JSON form. Two catalogs whose fingerprints for ``app.bsky.feed.post`` agree accept
exactly the same posts; this is how a typed struct written against one version of a lexicon
knows that it still implements the loaded one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from strato.lexicon.codegen import normalize_ref
from strato.lexicon.document import LexiconDoc


def def_fingerprint(docs: Mapping[str, LexiconDoc], ref: str) -> str:
    """The SHA-256 (hex) of the def ``ref`` (``nsid`` or ``nsid#name``) and its ref closure,
    looked up in ``docs`` (NSID -> document); a missing def is hashed as missing."""
    closure: dict[str, Any] = {}
    pending = [ref]
    while pending:
        current = pending.pop()
        if current in closure:
            continue
        nsid, _, name = current.partition("#")
        doc = docs.get(nsid)
        definition = doc.defs.get(name or "main") if doc is not None else None
        closure[current] = _strip(definition)
        pending.extend(_refs(definition, nsid))
    canonical = json.dumps(closure, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _refs(value: Any, nsid: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        if value.get("type") == "ref" and isinstance(value.get("ref"), str):
            found.append(normalize_ref(value["ref"], nsid))
        if value.get("type") == "union" and isinstance(value.get("refs"), list):
            found += [normalize_ref(r, nsid) for r in value["refs"] if isinstance(r, str)]
        for item in value.values():
            found += _refs(item, nsid)
    elif isinstance(value, list):
        for item in value:
            found += _refs(item, nsid)
    return found
