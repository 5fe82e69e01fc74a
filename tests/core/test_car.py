"""Tests for ``strato.car``: writing and reading CAR v1 files, the streaming ``CarReader``,
duplicate blocks, and every rejection with its reason and the offset of the bad section."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from strato import CID
from strato.car import CarReader, read_car, write_car
from strato.dagcbor import encode
from strato.errors import CARError, DecodeError


def varint(value: int) -> bytes:
    """Unsigned LEB128, built by hand as an oracle."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def header_section(header: object) -> bytes:
    raw = encode(header)
    return varint(len(raw)) + raw


def block_section(cid: CID, data: bytes) -> bytes:
    return varint(len(bytes(cid)) + len(data)) + bytes(cid) + data


def make_blocks(count: int) -> list[tuple[CID, bytes]]:
    blocks = []
    for i in range(count):
        data = encode({"n": i, "text": "block " * i})
        blocks.append((CID.compute(data, "dag-cbor"), data))
    return blocks


BLOCKS = make_blocks(5)
ROOT = BLOCKS[0][0]
HEADER = header_section({"roots": [ROOT], "version": 1})


def sample_car() -> tuple[bytes, list[int]]:
    """A CAR of BLOCKS and the offset of each block section."""
    out = bytearray(HEADER)
    offsets = []
    for cid, data in BLOCKS:
        offsets.append(len(out))
        out += block_section(cid, data)
    return bytes(out), offsets


def read_error(data: bytes, verify: bool = True, max_block_size: int = 2_000_000) -> CARError:
    with pytest.raises(CARError) as info:
        read_car(data, verify=verify, max_block_size=max_block_size)
    return info.value


def assert_car_error(
    data: bytes, reason: str, offset: int, verify: bool = True, max_block_size: int = 2_000_000
) -> None:
    err = read_error(data, verify=verify, max_block_size=max_block_size)
    assert (err.reason, err.offset) == (reason, offset)


# --- writing and reading -----------------------------------------------------------------------


def test_write_car_exact_bytes() -> None:
    data, _ = sample_car()
    assert write_car([ROOT], BLOCKS) == data


def test_header_key_order() -> None:
    assert HEADER[1:].startswith(b"\xa2\x65roots\x81\xd8\x2a")
    assert HEADER.endswith(b"\x67version\x01")


def test_round_trip() -> None:
    data = write_car([ROOT], BLOCKS)
    roots, blocks = read_car(data)
    assert roots == [ROOT]
    assert blocks == dict(BLOCKS)
    assert list(blocks) == [cid for cid, _ in BLOCKS]


def test_write_accepts_any_iterable() -> None:
    data = write_car((ROOT,), iter(BLOCKS))
    assert data == write_car([ROOT], BLOCKS)
    assert write_car([ROOT], (pair for pair in BLOCKS)) == data


def test_no_roots_and_no_blocks() -> None:
    data = write_car([], [])
    assert data == header_section({"roots": [], "version": 1})
    assert read_car(data) == ([], {})


def test_several_roots_and_raw_blocks() -> None:
    raw = [(CID.compute(bytes([i]) * i, "raw"), bytes([i]) * i) for i in range(1, 4)]
    roots = [raw[2][0], raw[0][0]]
    back_roots, blocks = read_car(write_car(roots, raw))
    assert back_roots == roots
    assert blocks == dict(raw)
    assert all(cid.codec == 0x55 for cid in blocks)


def test_empty_block() -> None:
    cid = CID.compute(b"", "raw")
    assert read_car(write_car([cid], [(cid, b"")]))[1] == {cid: b""}


def test_root_need_not_be_present() -> None:
    missing = CID.compute(b"elsewhere")
    roots, blocks = read_car(write_car([missing], BLOCKS[1:2]))
    assert roots == [missing]
    assert missing not in blocks


def test_duplicates_first_kept() -> None:
    cid, data = BLOCKS[1]
    car = write_car([cid], [(cid, data), BLOCKS[2], (cid, data)])
    _, blocks = read_car(car)
    assert blocks == {cid: data, BLOCKS[2][0]: BLOCKS[2][1]}
    # Without verification, differing copies can be told apart: the first one wins.
    other = write_car([cid], [(cid, data), (cid, b"second copy")])
    assert read_car(other, verify=False)[1] == {cid: data}


def test_duplicates_are_all_hash_checked() -> None:
    cid, data = BLOCKS[1]
    first = HEADER + block_section(cid, data)
    car = first + block_section(cid, b"tampered")
    assert_car_error(car, "block hash mismatch", len(first))


# --- errors ------------------------------------------------------------------------------------


def test_truncated_header() -> None:
    data, _ = sample_car()
    for end in (0, 1, 3, len(HEADER) - 1):
        assert_car_error(data[:end], "truncated", 0)


def test_truncated_header_varint() -> None:
    assert_car_error(b"\x80", "truncated", 0)


def test_truncated_block() -> None:
    data, offsets = sample_car()
    last = offsets[-1]
    for end in (last + 1, last + 10, last + 36, len(data) - 1):
        assert_car_error(data[:end], "truncated", last)


def test_truncated_block_varint() -> None:
    data, _ = sample_car()
    cid = CID.compute(b"x" * 200, "raw")
    big = block_section(cid, b"x" * 200)
    assert big[:2] == varint(236)
    assert_car_error(data + big[:1], "truncated", len(data))


def test_bad_varint() -> None:
    assert_car_error(b"\x80\x00", "invalid varint", 0)  # non-minimal
    assert_car_error(b"\xff" * 10, "invalid varint", 0)  # longer than 63 bits
    assert_car_error(HEADER + b"\x81\x00", "invalid varint", len(HEADER))


def test_zero_header_length() -> None:
    assert_car_error(b"\x00", "header length is zero", 0)
    assert_car_error(b"\x00" + HEADER, "header length is zero", 0)


def test_version_2() -> None:
    assert_car_error(header_section({"roots": [ROOT], "version": 2}), "unsupported CAR version", 0)
    # A CARv2 file starts with the pragma, a header {"version": 2}.
    pragma = bytes.fromhex("0aa16776657273696f6e02")
    assert_car_error(pragma + bytes(40), "unsupported CAR version", 0)


_FLOAT_VERSION = b"\xa2\x65roots\x80\x67version\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00"
FLOAT_VERSION = varint(len(_FLOAT_VERSION)) + _FLOAT_VERSION

BAD_HEADERS: list[tuple[str, bytes]] = [
    ("null", header_section(None)),
    ("list", header_section([ROOT])),
    ("no-roots", header_section({"version": 1})),
    ("no-version", header_section({"roots": [ROOT]})),
    ("roots-not-list", header_section({"roots": ROOT, "version": 1})),
    ("root-not-cid", header_section({"roots": [str(ROOT)], "version": 1})),
    ("version-string", header_section({"roots": [ROOT], "version": "1"})),
    ("not-cbor", b"\x02\xff\xff"),
    ("float-version", FLOAT_VERSION),
    ("trailing-bytes", b"\x03\xf6\xf6\xf6"),
]


@pytest.mark.parametrize(
    "data", [case[1] for case in BAD_HEADERS], ids=[case[0] for case in BAD_HEADERS]
)
def test_bad_header(data: bytes) -> None:
    assert_car_error(data, "invalid header", 0)


def test_short_block() -> None:
    assert_car_error(HEADER + b"\x02\x01\x71", "block length too short", len(HEADER))
    # The section says 10 bytes, but its CID alone is 36.
    cid, data = BLOCKS[1]
    assert_car_error(HEADER + b"\x0a" + bytes(cid) + data, "block length too short", len(HEADER))


def test_invalid_block_cid() -> None:
    section = b"\x26\x02\x71\x12\x20" + bytes(34)
    assert_car_error(HEADER + section, "invalid block CID", len(HEADER))


def test_block_over_max_block_size() -> None:
    data = bytes(range(100))
    cid = CID.compute(data, "raw")
    car = write_car([cid], [*BLOCKS[:2], (cid, data)])
    offset = len(write_car([cid], BLOCKS[:2]))
    assert_car_error(car, "block too large", offset, max_block_size=99)
    assert read_car(car, max_block_size=100)[1][cid] == data


def test_default_max_block_size() -> None:
    data = b"\x00" * 2_000_001
    cid = CID.compute(data, "raw")
    car = write_car([cid], [(cid, data)])
    assert_car_error(car, "block too large", len(header_section({"roots": [cid], "version": 1})))
    ok = data[:-1]
    ok_cid = CID.compute(ok, "raw")
    assert read_car(write_car([ok_cid], [(ok_cid, ok)]))[1][ok_cid] == ok


def test_hash_mismatch() -> None:
    data, offsets = sample_car()
    corrupt = bytearray(data)
    corrupt[-1] ^= 1
    assert_car_error(bytes(corrupt), "block hash mismatch", offsets[-1])
    _, blocks = read_car(bytes(corrupt), verify=False)
    cid = BLOCKS[-1][0]
    assert blocks[cid] != BLOCKS[-1][1]
    assert blocks[cid] == bytes(corrupt[offsets[-1] + 1 + 36 :])


def test_hash_mismatch_in_middle_block() -> None:
    data, offsets = sample_car()
    corrupt = bytearray(data)
    corrupt[offsets[3] - 1] ^= 0xFF  # last byte of block 2
    assert_car_error(bytes(corrupt), "block hash mismatch", offsets[2])


def test_car_error_hierarchy_and_message() -> None:
    err = read_error(b"\x00")
    assert isinstance(err, DecodeError)
    assert isinstance(err, ValueError)
    assert "header length is zero" in str(err)
    assert "at offset 0" in str(err)
    assert "\n" not in str(err)


# --- CarReader ---------------------------------------------------------------------------------


@pytest.fixture
def car_file(tmp_path: Path) -> Path:
    path = tmp_path / "sample.car"
    path.write_bytes(sample_car()[0])
    return path


def test_reader_from_path_and_str(car_file: Path) -> None:
    for source in (car_file, str(car_file)):
        with CarReader(source) as reader:
            assert reader.roots == [ROOT]
            assert list(reader) == BLOCKS


def test_reader_from_file_object(car_file: Path) -> None:
    with car_file.open("rb") as handle, CarReader(handle) as reader:
        assert reader.roots == [ROOT]
        assert list(reader) == BLOCKS
    with CarReader(io.BytesIO(car_file.read_bytes())) as reader:
        assert list(reader) == BLOCKS


def test_reader_yields_duplicates_in_file_order(tmp_path: Path) -> None:
    order = [BLOCKS[1], BLOCKS[0], BLOCKS[1], BLOCKS[2], BLOCKS[1]]
    path = tmp_path / "dup.car"
    path.write_bytes(write_car([ROOT], order))
    with CarReader(path) as reader:
        assert list(reader) == order
    assert read_car(path.read_bytes())[1] == dict(order)


def test_reader_large_file_matches_read_car(tmp_path: Path) -> None:
    # Blocks of very different sizes, so that they straddle any internal chunk boundary.
    blocks = []
    for i in range(300):
        data = bytes([i % 256]) * ((i * 7919) % 70_000)
        blocks.append((CID.compute(data, "raw"), data))
    path = tmp_path / "large.car"
    path.write_bytes(write_car([blocks[0][0]], blocks))
    with CarReader(path) as reader:
        streamed = list(reader)
    assert streamed == blocks
    assert dict(streamed) == read_car(path.read_bytes())[1]


def test_reader_empty_car(tmp_path: Path) -> None:
    path = tmp_path / "empty.car"
    path.write_bytes(write_car([], []))
    with CarReader(path) as reader:
        assert reader.roots == []
        assert list(reader) == []


def test_reader_bad_header_raises_on_construction() -> None:
    with pytest.raises(CARError) as info:
        CarReader(io.BytesIO(b"\x00"))
    assert (info.value.reason, info.value.offset) == ("header length is zero", 0)


def drain(source: Path | io.BytesIO, verify: bool = True, max_block_size: int = 2_000_000) -> int:
    """Open a reader and consume every block; returns the number of blocks."""
    with CarReader(source, verify=verify, max_block_size=max_block_size) as reader:
        return sum(1 for _ in reader)


def stream_error(data: bytes, verify: bool = True, max_block_size: int = 2_000_000) -> CARError:
    with pytest.raises(CARError) as info:
        drain(io.BytesIO(data), verify=verify, max_block_size=max_block_size)
    return info.value


def test_reader_errors_match_read_car() -> None:
    data, _ = sample_car()
    corrupt = bytearray(data)
    corrupt[-1] ^= 1
    cases = [
        (data[:-1], 2_000_000),
        (data[:3], 2_000_000),
        (bytes(corrupt), 2_000_000),
        (HEADER + b"\x02\x01\x71", 2_000_000),
        (HEADER + b"\x81\x00", 2_000_000),
        (data, 5),
    ]
    for car, max_size in cases:
        expected = read_error(car, max_block_size=max_size)
        got = stream_error(car, max_block_size=max_size)
        assert (got.reason, got.offset) == (expected.reason, expected.offset)


def test_reader_verify_false(tmp_path: Path) -> None:
    data, _ = sample_car()
    corrupt = bytearray(data)
    corrupt[-1] ^= 1
    path = tmp_path / "corrupt.car"
    path.write_bytes(bytes(corrupt))
    assert drain(path, verify=False) == len(BLOCKS)
    with pytest.raises(CARError) as info:
        drain(path)
    assert info.value.reason == "block hash mismatch"


def test_reader_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"."):
        CarReader(tmp_path / "nope.car")


# --- large files: hashes are checked on a second thread while the result is built ------------


def large_car() -> tuple[bytearray, list[int]]:
    """A CAR of 400 blocks of 4 KiB (over the 1 MiB threshold) and each block's offset."""
    blocks = [
        (CID.compute(bytes([i % 251]) * 4096, "raw"), bytes([i % 251]) * 4096) for i in range(400)
    ]
    data = bytearray(write_car([blocks[0][0]], blocks))
    header = len(write_car([blocks[0][0]], []))
    section = 2 + 36 + 4096  # varint(4132) is two bytes
    return data, [header + i * section for i in range(400)]


def test_large_car_reads_and_verifies() -> None:
    data, _ = large_car()
    roots, blocks = read_car(bytes(data))
    assert len(roots) == 1
    assert len(blocks) == 251  # duplicate contents share a CID: the first copy is kept
    assert all(CID.compute(value, "raw") == cid for cid, value in blocks.items())


def test_large_car_reports_first_bad_hash() -> None:
    data, offsets = large_car()
    data[offsets[351] - 1] ^= 1  # last byte of block 350
    data[offsets[11] - 1] ^= 1  # last byte of block 10
    with pytest.raises(CARError) as info:
        read_car(bytes(data))
    assert (info.value.reason, info.value.offset) == ("block hash mismatch", offsets[10])
    roots, _ = read_car(bytes(data), verify=False)
    assert len(roots) == 1


def test_large_car_bad_hash_reported_before_truncation() -> None:
    data, offsets = large_car()
    data[offsets[1] - 1] ^= 1
    truncated = bytes(data[:-1])
    with pytest.raises(CARError) as info:
        read_car(truncated)
    assert (info.value.reason, info.value.offset) == ("block hash mismatch", offsets[0])
    with pytest.raises(CARError, match="truncated"):
        read_car(truncated, verify=False)
