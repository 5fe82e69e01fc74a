"""The PLC directory, the service ``strato plc`` runs (the did:plc method it applies is
:mod:`strato.identity.plc`).

- :mod:`strato.plc.limits`: the directory's admission limits for submitted operations.
- :mod:`strato.plc.document`: the DID document the directory serves.
- :mod:`strato.plc.store`: the directory's LMDB storage.
- :mod:`strato.plc.app`, :mod:`strato.plc.settings`, :mod:`strato.plc.context`,
  :mod:`strato.plc.routes` and :mod:`strato.plc.directory`: the service (Starlette app,
  settings, context, HTTP API, domain).
"""
