"""The ``strato`` command line, one module per command group: ``up`` (a local network), ``pds``,
``account``, ``relay``, ``firehose``, ``plc``, ``did``, ``car``, ``cbor``, ``repo``, ``key``,
``backup``, ``lexicon``. :mod:`strato.cli.main` builds the parser and runs a command; the
services' options shared by ``pds``, ``relay``, ``plc`` and ``up`` are in
:mod:`strato.cli.serving`. Commands assemble services and libraries; nothing outside this package
imports it."""
