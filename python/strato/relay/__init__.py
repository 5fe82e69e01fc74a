"""The relay: crawl PDS hosts, verify every commit, keep one durable log, fan it out.

- :mod:`.settings`: :class:`RelaySettings` from options and ``STRATO_RELAY_*`` variables;
- :mod:`.hosts`: the host registry (status, upstream cursor, account counts and limits);
- :mod:`.ssrf`, :mod:`.bans`, :mod:`.limits`: which hosts may be reached, domain bans,
  per-host event rates and account limits;
- :mod:`.crawler` (:mod:`.host_metrics`, :mod:`.server_header`): one subscription per host,
  and the loop guard;
- :mod:`.accounts`: per-account state (head commit, rev, data root, statuses);
- :mod:`.pipeline`: batches of upstream frames verified and committed to the log, each
  re-sequenced once (:mod:`strato.firehose.upstream`);
- :mod:`.context` / :mod:`.app`: the open stores and the ASGI app.
"""
