"""Event streams (the firehose): what a PDS and a relay share to serve ``subscribeRepos``, and
what a consumer of one uses.

- :mod:`.frames`: encode and strictly decode frames (header + payload, error frames, limits);
- :mod:`.messages`: the messages a service originates (``#commit``, ``#sync``, ``#identity``,
  ``#account``, the ``OutdatedCursor`` ``#info``);
- :mod:`.upstream`: a message received from another service, read once and re-sequenced once;
- :mod:`.log`: :class:`EventLog`, the event log's interface (seqs, replay, waiting, retention,
  removal, time cursors; how a NATS JetStream stream maps onto it);
- :mod:`.lmdb_log`: :class:`LmdbEventLog`, the embedded event log in the service's LMDB store;
- :mod:`.fanout`: the one ``subscribeRepos`` fan-out (the Rust frame writer; cursor rules,
  limits, slow consumers; in the service's process or in worker processes);
- :mod:`.consumer`: the one upstream client (cursor store, backoff, frame cap, raw or decoded
  frames, hooks for a relay's or an indexer's rules).
"""

from strato.firehose.consumer import (
    Backoff,
    CursorStore,
    MemoryCursor,
    StreamClient,
    StreamHooks,
    websocket_connector,
)
from strato.firehose.fanout.handshake import SUBSCRIBE_REPOS_PATH
from strato.firehose.frames import (
    MAX_FRAME_BYTES,
    OP_ERROR,
    OP_MESSAGE,
    Frame,
    decode_frame,
    encode_error,
    encode_message,
    message_payload,
)
from strato.firehose.lmdb_log import TABLES, LmdbEventLog
from strato.firehose.log import Event, EventLog, FrameBuilder, Retention

__all__ = [
    "MAX_FRAME_BYTES",
    "OP_ERROR",
    "OP_MESSAGE",
    "SUBSCRIBE_REPOS_PATH",
    "TABLES",
    "Backoff",
    "CursorStore",
    "Event",
    "EventLog",
    "Frame",
    "FrameBuilder",
    "LmdbEventLog",
    "MemoryCursor",
    "Retention",
    "StreamClient",
    "StreamHooks",
    "decode_frame",
    "encode_error",
    "encode_message",
    "message_payload",
    "websocket_connector",
]
