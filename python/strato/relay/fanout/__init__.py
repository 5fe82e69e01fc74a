"""The relay's ``subscribeRepos`` fan-out at scale: the Rust frame writer driven from Python,
served by one or several worker processes from the same LMDB log.

- :mod:`.handshake`: the WebSocket opening handshake on a raw socket (and HTTP refusals);
- :mod:`.server`: one process's fan-out: accept, upgrade, replay, live, cut;
- :mod:`.consumers`: the consumer table shared by all processes (admin listing, per-IP limit);
- :mod:`.wake`: wake-up pipes from the ingest process to the workers;
- :mod:`.metrics`: Prometheus metrics in multiprocess mode;
- :mod:`.workers`: starting and stopping worker processes (:func:`run_workers`);
- :mod:`.worker`: the worker process itself;
- :mod:`.service`: the relay's service with its workers, wired in (``strato relay``, ``up``).
"""
