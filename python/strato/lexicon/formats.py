"""String formats of the lexicon language: one boolean check per ``format`` name.

``FORMAT_CHECKS[name](text)`` says whether ``text`` has the syntax of that format. Only syntax is
checked, the most permissive form the specification allows (an unsupported DID method or a
disallowed handle TLD is an application-level question, not a schema error). Compiled string
validators look the check up once, when the lexicon is compiled.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Interim syntax rules (spec-digest section 4), to be served by strato.syntax once it lands.
_DID = re.compile(r"did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]")
_HANDLE = re.compile(
    r"([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
)
_NSID = re.compile(
    r"[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+"
    r"(\.[a-zA-Z][a-zA-Z0-9]{0,62})"
)
_RKEY = re.compile(r"[a-zA-Z0-9_~.:-]{1,512}")
_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
_DATETIME = re.compile(
    r"[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]+)?"
    r"(Z|[+-][0-2][0-9]:[0-5][0-9])"
)
_LANGUAGE = re.compile(r"(i|[a-zA-Z]{2,3}|[xX])(-[a-zA-Z0-9]{1,8})*")
_URI = re.compile(r"[a-z][a-z.+-]*:\S+")
_CID = re.compile(r"[a-zA-Z0-9+=]{8,256}")


def is_did(text: str) -> bool:
    return len(text) <= 2048 and _DID.fullmatch(text) is not None


def is_handle(text: str) -> bool:
    return len(text) <= 253 and _HANDLE.fullmatch(text) is not None


def is_nsid(text: str) -> bool:
    return len(text) <= 317 and _NSID.fullmatch(text) is not None


def is_record_key(text: str) -> bool:
    return text not in (".", "..") and _RKEY.fullmatch(text) is not None


def is_tid(text: str) -> bool:
    return _TID.fullmatch(text) is not None


def is_at_identifier(text: str) -> bool:
    return is_did(text) if text.startswith("did:") else is_handle(text)


def is_at_uri(text: str) -> bool:
    if len(text) > 8192 or not text.startswith("at://"):
        return False
    parts = text[5:].split("/")
    if len(parts) > 3 or not is_at_identifier(parts[0]):
        return False
    if len(parts) >= 2 and not is_nsid(parts[1]):
        return False
    return len(parts) < 3 or is_record_key(parts[2])


def is_datetime(text: str) -> bool:
    return len(text) <= 64 and _DATETIME.fullmatch(text) is not None and "-00:00" not in text


def is_language(text: str) -> bool:
    return len(text) <= 128 and _LANGUAGE.fullmatch(text) is not None


def is_uri(text: str) -> bool:
    return len(text) <= 8192 and _URI.fullmatch(text) is not None


def is_cid(text: str) -> bool:
    return not text.startswith("Qm") and _CID.fullmatch(text) is not None


FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "at-identifier": is_at_identifier,
    "at-uri": is_at_uri,
    "cid": is_cid,
    "datetime": is_datetime,
    "did": is_did,
    "handle": is_handle,
    "language": is_language,
    "nsid": is_nsid,
    "record-key": is_record_key,
    "tid": is_tid,
    "uri": is_uri,
}
