"""The ``subscribeRepos`` fan-out of every service (a PDS's firehose, a relay's): the Rust frame
writer driven from Python, in the service's own process or in worker processes reading the
same LMDB log.

- :mod:`.handshake`: the WebSocket opening handshake on a raw socket (and HTTP refusals), the
  ``cursor`` parameter;
- :mod:`.server`: one process's fan-out: take or accept connections, upgrade, replay, live, cut;
- :mod:`.consumers`: the consumer table shared by all processes (admin listing, per-IP limit);
- :mod:`.wake`: wake-up pipes from the writing process to the workers;
- :mod:`.metrics`: Prometheus metrics (multiprocess mode for workers);
- :mod:`.handoff`: a worker's connections for other paths, handed to the main process;
- :mod:`.workers`: starting and stopping worker processes (:func:`~.workers.run_workers`);
- :mod:`.worker`: the worker process itself;
- :mod:`.service`: a service with its fan-out wired in (:func:`~.service.stream_service`).
"""
