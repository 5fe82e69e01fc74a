"""What every strato server shares, so that a service (``plc``, ``pds``, ``relay``, and the next
ones) is only its own ``app.py``, ``settings.py``, ``context.py``, ``routes/`` and domain modules:

- :mod:`strato.service.settings`: the one settings loader (``STRATO_<SERVICE>_<FIELD>``
  variables, then options) and the text forms of sizes and durations;
- :mod:`strato.service.context`: the base of every service's context (private data directory,
  storage, identity resolver and cache, metrics registry, logger, chores, closing);
- :mod:`strato.service.health`: health, ``/metrics`` and the home page;
- :mod:`strato.service.serving`: running one or several apps on one event loop;
- :mod:`strato.service.limits` and :mod:`strato.service.protocol`: connection caps, request-head
  and idle timeouts, and the hand-over of a WebSocket upgrade to the fan-out;
- :mod:`strato.service.metrics`, :mod:`strato.service.logs`, :mod:`strato.service.chores`:
  Prometheus metrics, structured logs and background chores.

Nothing here imports a service.

The serving interface. A service is served as a :class:`~strato.service.serving.Service` (an
ASGI app, its address, its :class:`~strato.service.limits.ConnectionLimits`, its metrics, and
optionally a companion, ``accept=False`` and WebSocket takeovers). Today uvicorn (httptools)
serves them; any HTTP server put behind :mod:`strato.service.serving` must keep all of this:

1. Several apps on one event loop in one process (``strato up``: PLC, PDS and relay), each on
   its own address; every socket bound before any server starts (a port in use fails at once);
   port 0 allowed, the address really used reported.
2. Connection limits on every listener (:mod:`strato.service.limits`): a cap on connections in
   all and per client address, a refused one answered 503 before anything is read; a timeout
   to a complete request head from the accept (and from the first byte after a kept-alive
   response), never extended by trickling; an idle timeout between requests and while a body
   is awaited; a request head over 64 KiB answered 431; each connection counted in the
   service's metrics (open, refused by reason) until it closes, WebSockets included.
3. Connections it did not accept: a relay's fan-out workers accept on the same address
   (``SO_REUSEPORT``, the main server binds without listening) and hand a connection for a
   path they do not serve to the main process with the bytes already read
   (:mod:`strato.firehose.fanout.handoff`); the server must take an accepted socket plus those
   bytes and serve it as if it had accepted it, under the same limits.
4. WebSocket takeover in process (:data:`~strato.service.protocol.Takeover`): an upgrade to a
   taken-over path (the event stream) is given, socket, request head and connection slot, to
   the service's own code instead of the server's WebSocket handling, the path matched
   percent-decoded as the routes are, also when the upgrade is pipelined behind a request.
   Other WebSockets are served through ASGI.
5. ASGI lifespan: startup runs (stores opened, chores started) before the service counts as
   running and before its companion starts; shutdown runs on stop, after the companion has
   stopped, so stores close cleanly.
6. Graceful shutdown: SIGINT or SIGTERM asks every server to stop accepting, lets requests in
   flight finish (a bounded grace period), closes WebSockets and runs each lifespan's
   shutdown; a second SIGINT stops at once. The servers leave signals to
   :func:`~strato.service.serving.serve`, since several share one loop.
"""
