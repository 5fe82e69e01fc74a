"""PLC operations validated per second: whole audit logs through
``strato.identity.plc.validate_audit_log``, single genesis operations through ``DidLog``, and
operations accepted by the directory's store (LMDB, one write transaction each, with and without
flushing to disk).

The corpus is deterministic: ``--dids`` DIDs, each a genesis operation and ``--updates``
updates signed by fixed keys (half k256, half P-256 rotation keys). The correctness flag of each
row says the valid corpus was accepted and a copy with one signature byte flipped per log was
refused. Refuses to run on a strato debug build unless ``--allow-debug``.

    python benches/plc_bench.py [--dids 2000] [--updates 4] [--repeat 3] [--quick] [--markdown]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib import Row, add_run_flags, build_profile, environment, measure, refuse_debug, table
from strato.crypto import PrivateKey
from strato.errors import PlcValidationError
from strato.identity.plc import (
    DidLog,
    create_genesis,
    create_update,
    operation_cid,
    validate_audit_log,
)
from strato.identity.plc.log import format_datetime
from strato.plc.store import PlcStore

EPOCH = 1_735_689_600 * 1_000_000


def key(name: str, curve: str) -> PrivateKey:
    return PrivateKey.from_bytes(hashlib.sha256(name.encode()).digest(), curve)


def build_logs(dids: int, updates: int) -> list[list[dict[str, Any]]]:
    """``dids`` audit logs of ``1 + updates`` operations each."""
    signing = key("signing", "k256").public_key.did_key()
    logs = []
    for n in range(dids):
        rotation = key(f"rotation{n % 16}", "k256" if n % 2 else "p256")
        op, did = create_genesis(
            signing_key=signing,
            rotation_keys=[rotation.public_key.did_key()],
            handle=f"user{n}.test",
            pds_endpoint="https://pds.test",
            signer=rotation,
        )
        ops = [op]
        for u in range(updates):
            ops.append(create_update(ops[-1], rotation, handle=f"user{n}-{u}.test"))
        logs.append(
            [
                {
                    "did": did,
                    "operation": entry,
                    "cid": operation_cid(entry),
                    "nullified": False,
                    "createdAt": format_datetime(EPOCH + i * 1000),
                }
                for i, entry in enumerate(ops)
            ]
        )
    return logs


def tampered(logs: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """Each log with the last operation's signature changed (still canonical base64url)."""
    out = []
    for log in logs:
        last = dict(log[-1])
        operation = dict(last["operation"])
        sig = operation["sig"]
        operation["sig"] = ("B" if sig[0] == "A" else "A") + sig[1:]
        last["operation"] = operation
        out.append([*log[:-1], last])
    return out


def all_valid(logs: list[list[dict[str, Any]]]) -> bool:
    return all(validate_audit_log(log) is not None for log in logs)


def all_refused(logs: list[list[dict[str, Any]]]) -> bool:
    for log in logs:
        try:
            validate_audit_log(log)
        except PlcValidationError:
            continue
        return False
    return True


def genesis_only(logs: list[list[dict[str, Any]]]) -> int:
    for log in logs:
        did_log = DidLog(log[0]["did"])
        did_log.apply(did_log.prepare(log[0]["operation"], EPOCH))
    return len(logs)


def store_rows(logs: list[list[dict[str, Any]]], repeat: int) -> list[Row]:
    rows = []
    count = sum(len(log) for log in logs)
    for sync in (False, True):
        runs = []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as directory:
                store = PlcStore.open(Path(directory), sync=sync)

                def submit_all(store: PlcStore = store) -> None:
                    for log in logs:
                        for i, entry in enumerate(log):
                            store.submit(entry["did"], entry["operation"], EPOCH + i * 1000)

                runs.append(measure(submit_all, count, 1))
                correct = len(store.export_by_seq(0, 1000)) == min(count, 1000)
                store.close()
        best = min(runs, key=lambda timing: timing.best)
        operation = "directory submit, flushed" if sync else "directory submit, sync=False"
        rows.append(Row(operation, "strato", best, correct, "LMDB, one write txn per op"))
    return rows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dids", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    add_run_flags(parser, "a smoke run: 50 DIDs, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.dids, args.repeat = 50, 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    profile = build_profile()
    if refuse_debug("plc_bench", profile, args.allow_debug):
        return 2
    prefix = "- " if args.markdown else ""
    print("\n".join(prefix + line for line in environment(profile, ())))
    logs = build_logs(args.dids, args.updates)
    count = sum(len(log) for log in logs)
    print(f"corpus: {args.dids} DIDs x {1 + args.updates} operations, repeat {args.repeat}\n")
    correct = all_valid(logs) and all_refused(tampered(logs))
    rows = [
        Row(
            "validate_audit_log",
            "strato",
            measure(lambda: all_valid(logs), count, args.repeat),
            correct,
        ),
        Row(
            "genesis prepare+apply",
            "strato",
            measure(lambda: genesis_only(logs), len(logs), args.repeat),
            correct,
        ),
        *store_rows(logs, args.repeat),
    ]
    print(table(rows, args.markdown))
    return 0 if all(row.correct for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
