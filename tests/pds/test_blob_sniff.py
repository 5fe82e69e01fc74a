"""MIME sniffing from magic bytes."""

from __future__ import annotations

import pytest
from strato.pds.blobs import sniff_mime_type


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00\x00\x00\x08free"


def _riff(form: bytes) -> bytes:
    return b"RIFF\x24\x00\x00\x00" + form + b"VP8 "


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"GIF89a\x01\x00", "image/gif"),
        (_riff(b"WEBP"), "image/webp"),
        (_riff(b"WAVE"), "audio/wav"),
        (_riff(b"AVI "), "video/x-msvideo"),
        (b"II*\x00\x08\x00", "image/tiff"),
        (b"MM\x00*\x00\x00", "image/tiff"),
        (_ftyp(b"avif", b"mif1", b"miaf"), "image/avif"),
        (_ftyp(b"mif1", b"mif1", b"avif", b"miaf"), "image/avif"),
        (_ftyp(b"heic", b"mif1", b"heic"), "image/heic"),
        (_ftyp(b"mif1", b"mif1", b"heic"), "image/heic"),
        (_ftyp(b"mif1", b"mif1", b"miaf"), "image/heif"),
        (_ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), "video/mp4"),
        (_ftyp(b"mp42", b"mp42", b"avif"), "video/mp4"),  # the major brand decides
        (_ftyp(b"qt  ", b"qt  "), "video/quicktime"),
        (_ftyp(b"M4A ", b"M4A ", b"mp42"), "audio/mp4"),
        (_ftyp(b"3gp4", b"3gp4"), "video/3gpp"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm\x42\x87", "video/webm"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"OggS\x00\x02", "audio/ogg"),
        (b"fLaC\x00\x00", "audio/flac"),
        (b"ID3\x04\x00", "audio/mpeg"),
        (b"WEBVTT\n\n00:00.000 --> 00:01.000", "text/vtt"),
        (b"\xef\xbb\xbfWEBVTT\n", "text/vtt"),
    ],
)
def test_known_types(head: bytes, mime: str) -> None:
    assert sniff_mime_type(head) == mime


@pytest.mark.parametrize(
    "head",
    [b"", b"hello world", b"\xff\xd8", b"RIFF\x00\x00\x00\x00JUNK", b'{"json": true}', b"\x89PN"],
)
def test_unknown_types(head: bytes) -> None:
    assert sniff_mime_type(head) is None
