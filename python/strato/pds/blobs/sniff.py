"""MIME types from the first bytes of a blob.

A small table of magic numbers for the media atproto records carry (images, video, captions)
and a few common neighbours. We keep our own table rather than a sniffing library: the PDS
only needs to recognize these types, never to parse media (the spec asks a PDS not to), and a
table of fixed byte patterns cannot be made to run anything by a hostile upload. A type not in
the table falls back to what the client declared, as the reference PDS does with the
``file-type`` library.
"""

from __future__ import annotations

from typing import Final

#: How many leading bytes :func:`sniff_mime_type` looks at.
SNIFF_BYTES: Final = 512

_PREFIXES: Final = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
    (b"WEBVTT", "text/vtt"),
    (b"\xef\xbb\xbfWEBVTT", "text/vtt"),
)
_RIFF_FORMS: Final = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
# ISO base media file format (``ftyp`` box) brands.
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
_HEIC_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_HEIF_BRANDS: Final = frozenset({b"mif1", b"msf1"})
_OTHER_BRANDS: Final = {
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3gp6": "video/3gpp",
    b"3g2a": "video/3gpp2",
}
_EBML: Final = b"\x1a\x45\xdf\xa3"


def sniff_mime_type(head: bytes) -> str | None:
    """The MIME type the leading bytes ``head`` show, or None when they match no entry."""
    for magic, mime in _PREFIXES:
        if head.startswith(magic):
            return mime
    if head.startswith(b"RIFF") and head[8:12] in _RIFF_FORMS:
        return _RIFF_FORMS[head[8:12]]
    if head[4:8] == b"ftyp":
        return _iso_media_type(head)
    if head.startswith(_EBML):
        # The EBML header names its DocType near the start: "webm" or "matroska".
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    return None


def _iso_media_type(head: bytes) -> str:
    """The type of an ISO base media file from its ``ftyp`` box: the major brand, then the
    compatible brands (a HEIF container, ``mif1``, holding AVIF says so there)."""
    box_size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    compatible = [head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)]
    for brand in (major, *compatible):
        if brand in _AVIF_BRANDS:
            return "image/avif"
        if brand in _HEIC_BRANDS:
            return "image/heic"
        if brand in _HEIF_BRANDS:
            continue  # a generic image container: a later brand may say which
        if brand == major and brand in _OTHER_BRANDS:
            return _OTHER_BRANDS[brand]
        if brand == major:
            return "video/mp4"
    return "image/heif"
