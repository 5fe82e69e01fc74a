"""The relay's XRPC methods, one module per area, each with ``register(router, ...)``."""
