"""atheris target: strato's DAG-CBOR decoder against cbrrr's, on the same mutated bytes.

Both must accept or both refuse; when both accept, the values must be equal (types included,
CIDs by their bytes) and each library's re-encoding must give back the input byte for byte.
Where strato refuses and cbrrr accepts, the refusal must be one of strato's deliberate
strictnesses (:data:`INTENDED`, listed with their reasons in fuzz/README.md and asserted by
tests/core/test_cbrrr_differences.py); anything else fails the run. Every 100,000 documents
the tally is printed (``DIFF`` lines).
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import atheris
import cbrrr
import harness

with atheris.instrument_imports(include=["strato"]):
    from strato import CID, dagcbor
    from strato.errors import DecodeError

#: strato's refusal reason for each intended difference, and the difference's name.
INTENDED = {
    "float not allowed": "float",
    "integer out of 64-bit range": "integer range",
    "nesting depth exceeds 64": "depth limit",
    "invalid CID link": "CID validation",
}
REPORT_EVERY = 100_000
tally: Counter[str] = Counter()


def typed(value: Any) -> Any:
    """A comparable form that keeps the data-model type (so True is not 1)."""
    if isinstance(value, dict):
        return ("map", {key: typed(item) for key, item in value.items()})
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    if isinstance(value, (CID, cbrrr.CID)):
        return ("link", bytes(value))
    return (type(value).__name__, value)


def classify(data: bytes) -> str:
    """The outcome for one document; raises AssertionError on an unexplained disagreement."""
    try:
        ours: Any = dagcbor.decode(data)
        our_error = None
    except DecodeError as err:
        our_error = err.reason
    try:
        theirs: Any = cbrrr.decode_dag_cbor(data)
        their_error = None
    except (cbrrr.CbrrrDecodeError, ValueError, EOFError) as err:
        their_error = f"{type(err).__name__}: {err}"
    if our_error is None and their_error is None:
        assert typed(ours) == typed(theirs), f"values differ for {data.hex()}"
        assert dagcbor.encode(ours) == data, f"strato re-encodes {data.hex()} differently"
        assert cbrrr.encode_dag_cbor(theirs) == data, f"cbrrr re-encodes {data.hex()} differently"
        return "both accept"
    if our_error is not None and their_error is not None:
        return "both refuse"
    if our_error is not None:
        assert our_error in INTENDED, f"strato refuses ({our_error}), cbrrr accepts {data.hex()}"
        return f"intended: {INTENDED[our_error]}"
    raise AssertionError(f"cbrrr refuses ({their_error}), strato accepts {data.hex()}")


def one_input(data: bytes) -> None:
    tally[classify(data)] += 1
    total = tally.total()
    if total % REPORT_EVERY == 0:
        counts = ", ".join(f"{name}: {count}" for name, count in sorted(tally.items()))
        print(f"DIFF {total} documents; {counts}; disagreements: 0", file=sys.stderr)


if __name__ == "__main__":
    harness.run(one_input)
