"""The PLC directory, the service ``strato plc`` runs (the did:plc method it applies is
:mod:`strato.identity.plc`).

- :mod:`strato.plc.limits`: the directory's admission limits for submitted operations.
- :mod:`strato.plc.document`: the DID document the directory serves.
- :mod:`strato.plc.store` and :mod:`strato.plc.server`: the directory (LMDB, Starlette).
"""
