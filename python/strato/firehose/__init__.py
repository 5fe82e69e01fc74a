"""Event streams (the firehose): what a PDS and a relay share to serve ``subscribeRepos``.

- :mod:`.frames`: encode and strictly decode frames (header + payload, error frames, limits);
- :mod:`.sequencer`: the LMDB event log (seqs, stored frames, replay, retention);
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
from strato.firehose.metrics import FirehoseMetrics
from strato.firehose.sequencer import TABLES, Event, Retention, Sequencer

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
    "FirehoseMetrics",
    "Frame",
    "MemoryCursor",
    "Peer",
    "Retention",
    "Sequencer",
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
