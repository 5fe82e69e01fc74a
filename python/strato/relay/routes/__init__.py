"""The relay's XRPC methods, one module per area, each with ``register(router, ctx)``."""

from __future__ import annotations

from types import ModuleType
from typing import Final

from strato.relay.routes import sync

#: The route modules the app registers.
NAMESPACES: Final[tuple[ModuleType, ...]] = (sync,)
