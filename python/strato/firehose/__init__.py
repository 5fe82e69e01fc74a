"""Event streams (the firehose): what a PDS and a relay share to serve ``subscribeRepos``.

- :mod:`.frames`: encode and strictly decode frames (header + payload, error frames, limits);
- :mod:`.messages`: the messages a service originates (``#commit``, ``#sync``, ``#identity``,
  ``#account``, the ``OutdatedCursor`` ``#info``);
- :mod:`.upstream`: a message received from another service, read once and re-sequenced once;
- :mod:`.log`: :class:`EventLog`, the event log's interface (seqs, replay, waiting, retention,
  removal, time cursors; how a NATS JetStream stream maps onto it);
- :mod:`.lmdb_log`: :class:`LmdbEventLog`, the embedded event log in the service's LMDB store;
- :mod:`.broadcaster`: fan-out of each frame to live subscribers; replay-to-live handover;
- :mod:`.endpoint`: the ``subscribeRepos`` WebSocket endpoint (cursor rules, limits);
- :mod:`.consumer`: the one upstream client (cursor store, backoff, frame cap, raw or decoded
  frames, hooks for a relay's or an indexer's rules);
- :mod:`.metrics`: the stream's Prometheus metrics.
"""

from strato.firehose.broadcaster import Broadcaster, ConsumerTooSlowError, Peer, Subscription
from strato.firehose.consumer import (
    Backoff,
    CursorStore,
    MemoryCursor,
    StreamClient,
    StreamHooks,
    websocket_connector,
)
from strato.firehose.endpoint import SUBSCRIBE_REPOS_PATH, SubscribeReposEndpoint
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
from strato.firehose.metrics import FirehoseMetrics

__all__ = [
    "MAX_FRAME_BYTES",
    "OP_ERROR",
    "OP_MESSAGE",
    "SUBSCRIBE_REPOS_PATH",
    "TABLES",
    "Backoff",
    "Broadcaster",
    "ConsumerTooSlowError",
    "CursorStore",
    "Event",
    "EventLog",
    "FirehoseMetrics",
    "Frame",
    "FrameBuilder",
    "LmdbEventLog",
    "MemoryCursor",
    "Peer",
    "Retention",
    "StreamClient",
    "StreamHooks",
    "SubscribeReposEndpoint",
    "Subscription",
    "decode_frame",
    "encode_error",
    "encode_message",
    "message_payload",
    "websocket_connector",
]
