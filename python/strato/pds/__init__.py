"""The PDS (personal data server): hosts accounts and their repositories and blobs.

- :mod:`strato.pds.accounts`: accounts, passwords, app passwords, sessions' refresh tokens,
  emailed codes and invite codes.
- :mod:`strato.pds.keys`: per-account signing keys and the PDS rotation key, encrypted at rest.
- :mod:`strato.pds.blobs`: blob files on disk, uploads, references from records, GC.
"""
