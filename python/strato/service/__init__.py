"""What every strato server shares, so that a service (``plc``, ``pds``, ``relay``, and the next
ones) is only its own ``app.py``, ``settings.py``, ``context.py``, ``routes/`` and domain modules:

- :mod:`strato.service.settings`: sizes and durations read from text;
- :mod:`strato.service.serving`: running one or several apps on one event loop;
- :mod:`strato.service.limits` and :mod:`strato.service.protocol`: connection caps, request-head
  and idle timeouts, and the hand-over of a WebSocket upgrade to the fan-out;
- :mod:`strato.service.metrics`, :mod:`strato.service.logs`, :mod:`strato.service.chores`:
  Prometheus metrics, structured logs and background chores.

Nothing here imports a service.
"""
