"""The relay: crawl PDS hosts, verify every commit, keep one durable log, fan it out.

- :mod:`.settings`: :class:`RelaySettings` from options and ``STRATO_RELAY_*`` variables;
- :mod:`.hosts`: the host registry (status, upstream cursor, account counts and limits);
- :mod:`.ssrf`, :mod:`.bans`, :mod:`.limits`: which hosts may be reached, domain bans,
  per-host event rates and account limits;
- :mod:`.crawler` (:mod:`.host_metrics`, :mod:`.server_header`): one subscription per host,
  and the loop guard;
- :mod:`.accounts`: per-account state (head commit, rev, data root, statuses), which
  :mod:`.sync_reads` reads for ``com.atproto.sync.*``;
- :mod:`.pipeline`: batches of upstream frames verified and committed to the log, each
  re-sequenced once (:mod:`strato.firehose.upstream`);
- :mod:`.takedowns`, :mod:`.repair`: account takedowns, and the repair of accounts that look
  stuck (rechecked, re-synced);
- :mod:`.host_service`: adding, refusing and throttling hosts (``requestCrawl`` and the admin);
- :mod:`.admin`, :mod:`.admin_types`, :mod:`.admin_auth`, :mod:`.admin_page`,
  :mod:`.stats_history`: the admin API, its private types, its token, its page and the
  history of counters the page charts;
- :mod:`.context` / :mod:`.app` / :mod:`.service`: the open stores, the ASGI app, the app with
  its fan-out; :mod:`.routes`: XRPC and admin paths, HTTP only (:mod:`.routes.errors` maps
  domain errors once).
"""
