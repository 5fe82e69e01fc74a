"""No service imports another: every module of the PDS (``strato.pds``), the relay
(``strato.relay``) and the PLC directory (``strato.plc``) imports libraries (``strato.firehose``,
``strato.identity.plc``, ``strato.identity``...) and its own package, never another service's. The
commands (``strato.cli.main*``, ``strato up``) assemble services and may import every one; they are
not checked."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import strato

SERVICES = ("pds", "relay", "plc")
ROOT = Path(strato.__file__).parent


def module_name(path: Path) -> str:
    """``strato.relay.fanout.server`` for ``.../strato/relay/fanout/server.py``."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, *, package: bool = False) -> Iterator[tuple[int, str]]:
    """Every module that ``source`` (the module ``module``; ``package``: an ``__init__``)
    imports, by line, relative imports resolved; ``from a import b`` yields ``a`` and
    ``a.b`` (``b`` may be a module)."""
    here = module.split(".") if package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here[: len(here) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def service_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[0] == "strato" and parts[1] in SERVICES:
        return parts[1]
    return None


def crossings(path: Path) -> list[str]:
    """The imports of another service's package in the module at ``path``."""
    module = module_name(path)
    own = service_of(module)
    found = []
    source = path.read_text(encoding="utf-8")
    for line, target in imports(source, module, package=path.name == "__init__.py"):
        other = service_of(target)
        if other is not None and other != own:
            found.append(f"{path.relative_to(ROOT.parent)}:{line} imports {target}")
    return found


def service_modules() -> list[Path]:
    return sorted(path for service in SERVICES for path in (ROOT / service).rglob("*.py"))


def test_every_service_is_checked() -> None:
    modules = service_modules()
    for service in SERVICES:
        assert any(path.parent == ROOT / service for path in modules), service


def test_no_service_imports_another() -> None:
    assert [found for path in service_modules() for found in crossings(path)] == []


@pytest.mark.parametrize(
    ("source", "module", "package", "expected"),
    [
        ("import strato.pds.settings", "strato.relay.x", False, "strato.pds.settings"),
        ("from strato.pds.settings import parse_size", "strato.relay.x", False, "strato.pds"),
        ("from strato import plc", "strato.pds.x", False, "strato.plc"),
        ("from ..pds import events", "strato.relay.x", False, "strato.pds"),
        ("from ...relay.fanout import server", "strato.pds.routes.x", False, "strato.relay"),
        ("from ...relay import app", "strato.pds.routes", True, "strato.relay"),
    ],
)
def test_an_import_of_another_service_is_seen(
    source: str, module: str, package: bool, expected: str
) -> None:
    targets = [target for _, target in imports(source, module, package=package)]
    assert any(target == expected or target.startswith(expected + ".") for target in targets)
    assert {service_of(target) for target in targets} - {None} == {expected.split(".")[1]}


def test_imports_inside_functions_and_type_checking_blocks_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from strato.relay.context import RelayContext\n"
        "def f() -> None:\n    import strato.plc.store\n"
    )
    targets = {target for _, target in imports(source, "strato.pds.x")}
    assert {"strato.relay.context", "strato.plc.store"} <= targets


def route_imports(path: Path) -> list[str]:
    """The imports of a ``routes`` package by the module at ``path`` when it is outside one:
    domain code never calls into the HTTP layer (a service's ``app``, which assembles the
    routes, and the commands may)."""
    module = module_name(path)
    parts = module.split(".")
    if "routes" in parts or parts[-1] == "app" or parts[1:2] == ["cli"]:
        return []
    source = path.read_text(encoding="utf-8")
    return [
        f"{path.relative_to(ROOT.parent)}:{line} imports {target}"
        for line, target in imports(source, module, package=path.name == "__init__.py")
        if "routes" in target.split(".")[1:] and target.startswith("strato.")
    ]


def test_only_routes_and_apps_import_routes() -> None:
    modules = sorted(ROOT.rglob("*.py"))
    assert [found for path in modules for found in route_imports(path)] == []
