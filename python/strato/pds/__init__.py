"""The PDS (personal data server): hosts accounts and their repositories and blobs.

The service's shape: :mod:`.settings` (``STRATO_PDS_*``), :mod:`.context` (the open stores,
keys, writer and clients), :mod:`.app` (the ASGI app), :mod:`.service` (the app with its event
stream), :mod:`.routes` (XRPC, HTTP only; :mod:`.routes.errors` maps domain errors once).

The domain, which the routes call and which opens the transactions:

- :mod:`.accounts`, :mod:`.keys`, :mod:`.blobs`: the stores of accounts (passwords, app
  passwords, refresh tokens, emailed codes, invite codes), of signing keys (sealed at rest) and
  of blobs;
- :mod:`.account_creation`, :mod:`.account_lifecycle`, :mod:`.sessions`, :mod:`.email_flows`,
  :mod:`.handles`, :mod:`.preferences`, :mod:`.invites`, :mod:`.plc_operations`, :mod:`.admin`:
  what the ``com.atproto.*`` and ``app.bsky.actor`` methods do;
- :mod:`.writer` (the group-commit writer) and :mod:`.repo_writes` (record writes as commits),
  :mod:`.repo_reads` and :mod:`.sync_reads` (repository reads), :mod:`.imports` (repository
  imports), :mod:`.deletion`;
- :mod:`.proxy` (the service proxy), :mod:`.crawlers` (relays told of new commits),
  :mod:`.mailer`, :mod:`.streaming` (response bodies from blocking code such as exports).
"""
