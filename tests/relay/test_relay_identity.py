"""Identity rules of ingest: an event from a host that is not the account's PDS is dropped
(``wrong_host``) after one re-resolution, an unknown DID is dropped (``unknown_did``), and an
``#identity`` is forwarded and refreshes what the relay caches."""

from __future__ import annotations

from pds_net import LocalPds
from relay_net import LocalRelay
from strato.firehose import decode_frame, encode_message
from test_relay_pipeline import add_host, feed, pds_frames, read_relay, wait_head, write_posts
from test_relay_repair import dropped, wait_for


def test_events_from_a_host_that_is_not_the_accounts_pds_are_dropped(
    pds_relay: tuple[LocalPds, LocalRelay],
) -> None:
    pds, relay = pds_relay
    write_posts(pds, "gina.test", 2)
    upstream = pds_frames(pds)
    impostor = relay.ctx.store.transact(
        lambda txn: relay.ctx.hosts.add(txn, "impostor.example.com", no_ssl=True, account_limit=9)
    )
    feed(relay, impostor, upstream)
    wait_for(lambda: dropped(relay, "wrong_host") == len(upstream))
    assert relay.ctx.sequencer.head() == 0
    host = relay.ctx.hosts.get_by_id(None, impostor.id)
    assert host is not None
    assert host.last_seq == decode_frame(upstream[-1]).seq  # dropped, not to be read again
    assert host.account_count == 0


def test_an_unknown_did_is_dropped_and_valid_events_around_it_pass(
    pds_relay: tuple[LocalPds, LocalRelay],
) -> None:
    pds, relay = pds_relay
    did = write_posts(pds, "hank.test", 1)
    upstream = pds_frames(pds)
    last = decode_frame(upstream[-1]).seq
    assert last is not None
    ghost = encode_message(
        "#identity",
        {
            "seq": last + 1,
            "did": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
            "time": "2026-11-24T00:00:00Z",
        },
    )
    after = encode_message(
        "#identity", {"seq": last + 2, "did": did, "time": "2026-11-24T00:00:01Z"}
    )
    host = add_host(relay, pds)
    feed(relay, host, [*upstream, ghost, after])
    wait_head(relay, len(upstream) + 1)
    wait_for(lambda: dropped(relay, "unknown_did") == 1)
    frames = read_relay(relay, len(upstream) + 1)
    assert frames[-1].t == "#identity"
    assert frames[-1].body == {"seq": len(upstream) + 1, "did": did, "time": "2026-11-24T00:00:01Z"}
