"""strato's embedded storage: LMDB environments with named tables (see :mod:`.store`) and the
key encodings that make byte order the scan order (see :mod:`.keys`)."""

from strato.storage.backup import backup_data_dir
from strato.storage.keys import from_u64, prefix, prefix_end, split_key, text_key, u64
from strato.storage.store import (
    DEFAULT_MAP_SIZE,
    EngineError,
    ReadTxn,
    Store,
    StoreStats,
    Upgrade,
    WriteTxn,
)

__all__ = [
    "DEFAULT_MAP_SIZE",
    "EngineError",
    "ReadTxn",
    "Store",
    "StoreStats",
    "Upgrade",
    "WriteTxn",
    "backup_data_dir",
    "from_u64",
    "prefix",
    "prefix_end",
    "split_key",
    "text_key",
    "u64",
]
