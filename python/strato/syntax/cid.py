"""CID strings: the lexicon ``cid`` format.

Spec: https://atproto.com/specs/lexicon#cid and the data model's CID section (digest §1.5,
§4.7). A CID string is a multibase string: a base prefix character then the encoded CIDv1
bytes. The format is checked at the level of syntax, as the reference validators and the
``cid_syntax_*`` fixtures do: 8 to 256 characters, a known multibase prefix, and every other
character in that base's alphabet. Whether the bytes decode to a well-formed CID is
:attr:`CIDString.cid`'s job (a :class:`strato.CID`, or ``CIDError``).

Tricky bits: CIDv0 (base58 without a prefix, ``Qm...``) is not allowed in atproto; multibase
reserves ``Q`` and ``1`` for it, and both are refused with that reason.
"""

from __future__ import annotations

import re
from typing import Final

from strato._core import CID
from strato.syntax._base import Identifier, chars, fail, first_outside

MIN_CID_LENGTH: Final = 8
MAX_CID_LENGTH: Final = 256

_BASE32 = "a-z", "2-7"
_BASE32HEX = "0-9", "a-v"
_BASE64 = "A-Z", "a-z", "0-9"
# Multibase prefix -> (name, the alphabet of the characters after it).
MULTIBASES: Final[dict[str, tuple[str, frozenset[str]]]] = {
    "0": ("base2", chars("01")),
    "7": ("base8", chars("0-7")),
    "9": ("base10", chars("0-9")),
    "f": ("base16", chars("0-9", "a-f")),
    "F": ("base16upper", chars("0-9", "A-F")),
    "v": ("base32hex", chars(*_BASE32HEX)),
    "V": ("base32hexupper", chars("0-9", "A-V")),
    "t": ("base32hexpad", chars(*_BASE32HEX, "=")),
    "T": ("base32hexpadupper", chars("0-9", "A-V", "=")),
    "b": ("base32", chars(*_BASE32)),
    "B": ("base32upper", chars("A-Z", "2-7")),
    "c": ("base32pad", chars(*_BASE32, "=")),
    "C": ("base32padupper", chars("A-Z", "2-7", "=")),
    "h": ("base32z", chars("ybndrfg8ejkmcpqxot1uwisza345h769")),
    "k": ("base36", chars("0-9", "a-z")),
    "K": ("base36upper", chars("0-9", "A-Z")),
    "z": ("base58btc", chars("1-9", "A-H", "J-N", "P-Z", "a-k", "m-z")),
    "Z": ("base58flickr", chars("1-9", "a-k", "m-z", "A-H", "J-N", "P-Z")),
    "m": ("base64", chars(*_BASE64, "+/")),
    "M": ("base64pad", chars(*_BASE64, "+/=")),
    "u": ("base64url", chars(*_BASE64, "-_")),
    "U": ("base64urlpad", chars(*_BASE64, "-_=")),
}
_ALPHABET_RES: Final = {
    prefix: re.compile(f"[{re.escape(''.join(sorted(alphabet)))}]+")
    for prefix, (_, alphabet) in MULTIBASES.items()
}


def cid_problem(value: str) -> str | None:
    """Why ``value`` is not a CID string, or None if it is one."""
    if len(value) < MIN_CID_LENGTH:
        return f"CID string is shorter than {MIN_CID_LENGTH} characters"
    if len(value) > MAX_CID_LENGTH:
        return f"CID string is longer than {MAX_CID_LENGTH} characters"
    prefix = value[0]
    if prefix in "Q1":
        return "CIDv0 ('Qm...') is not allowed in atproto; use a CIDv1 string"
    base = MULTIBASES.get(prefix)
    if base is None:
        return f"CID string has no known multibase prefix (got {prefix!r})"
    name, alphabet = base
    bad = first_outside(value[1:], alphabet)
    if bad is not None:
        return f"CID string has a character {bad!r} outside the {name} alphabet"
    return None


def is_cid(value: str) -> bool:
    """Whether ``value`` is a valid CID string (the lexicon ``cid`` format)."""
    if not MIN_CID_LENGTH <= len(value) <= MAX_CID_LENGTH:
        return False
    alphabet = _ALPHABET_RES.get(value[0])
    return alphabet is not None and alphabet.fullmatch(value, 1) is not None


class CIDString(Identifier):
    """A CID in string form, kept exactly as written."""

    __slots__ = ()

    def __new__(cls, value: str) -> CIDString:
        if type(value) is CIDString:
            return value
        if is_cid(value):
            return str.__new__(cls, value)
        fail(cid_problem(value) or "not a CID string", value)

    is_valid = staticmethod(is_cid)

    @property
    def base(self) -> str:
        """The multibase name (``base32``, ``base58btc``, ...)."""
        return MULTIBASES[self[0]][0]

    @property
    def cid(self) -> CID:
        """The decoded CID; ``CIDError`` if the text does not decode to one."""
        return CID.decode(self)
