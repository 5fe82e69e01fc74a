"""The ``strato backup`` command: a hot backup of a data directory. Registered on the main
parser by :mod:`strato.cli.main`, which prints errors.

Command::

    strato backup DATA_DIR OUT
"""

from __future__ import annotations

import argparse
from typing import Any

from strato.storage import backup_data_dir
from strato.storage.backup import BackedUp


def add_backup_command(groups: Any) -> None:
    """``strato backup DATA_DIR OUT``."""
    backup = groups.add_parser(
        "backup",
        help="copy a data directory while its services keep running",
        description=(
            "Make a consistent copy of a strato data directory without stopping the services "
            "that use it. DATA_DIR is one service's directory or a root holding several (as "
            "'strato up' makes); every LMDB environment in it is copied from one snapshot and "
            "compacted, and every other file is copied as it is, keeping the layout. OUT must "
            "not exist yet. Start a service on OUT (or copy it back) to restore."
        ),
    )
    backup.add_argument("data_dir", metavar="DATA_DIR", help="the data directory to back up")
    backup.add_argument("out", metavar="OUT", help="the new directory to write the copy into")
    backup.set_defaults(handler=cmd_backup)


def cmd_backup(args: argparse.Namespace) -> int:
    """Copy DATA_DIR into OUT, printing one line per environment."""

    def report(done: BackedUp) -> None:
        print(
            f"{done.source} -> {done.target}: {done.service} "
            f"(schema {done.schema_version}), {done.size} bytes",
            flush=True,
        )

    copied = backup_data_dir(args.data_dir, args.out, progress=report)
    print(f"ok: {len(copied)} environment(s) backed up to {args.out}")
    return 0
