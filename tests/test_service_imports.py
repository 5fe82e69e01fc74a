"""The import rules, read from the import graph of every module under ``python/strato``:

- the services are ``plc``, ``pds`` and ``relay`` (and, when they come, ``appview`` and
  ``jetstream``); everything else under ``strato/`` is shared and imports no service;
- no service imports another;
- route modules (``strato.<service>.routes``) import no storage: not ``strato.storage`` or
  ``lmdb``, no module named ``store`` (``strato.repo.store``, ``strato.pds.accounts.store``,
  ``strato.plc.store``, ...) and no store class (a name ending in ``Store``, however a package
  re-exports it); the other names a package re-exports from its store module (a row such as
  ``strato.repo.RecordData``) are the package's vocabulary and allowed;
- route modules open no transactions either, which needs no import: they call no ``read()``,
  ``write()`` or ``transact()`` of anything named ``store`` (``ctx.store.read()``) and no
  ``submit()`` of anything named ``writer`` (``ctx.writer.submit(...)``): they translate HTTP to
  domain calls, and the domain opens the transactions and hands work to the writer;
- only ``strato.storage`` imports ``lmdb``;
- only ``strato.cli`` (and ``strato.__main__``) imports ``strato.cli``: it imports every
  service, so any other module importing it would import a service in disguise.

The commands (``strato.cli``) assemble services and may import every one; they and ``benches/``
are exempt. Every import counts: inside functions, under ``TYPE_CHECKING``, relative ones."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import strato

SERVICES = ("pds", "relay", "plc", "appview", "jetstream")
EXEMPT = ("cli",)
ROOT = Path(strato.__file__).parent


def module_name(path: Path) -> str:
    """``strato.firehose.fanout.server`` for ``.../strato/firehose/fanout/server.py``."""
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
    """The service a module belongs to, or None for a shared one."""
    parts = module.split(".")
    if len(parts) > 1 and parts[0] == "strato" and parts[1] in SERVICES:
        return parts[1]
    return None


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def is_route_module(module: str) -> bool:
    parts = module.split(".")
    return service_of(module) is not None and len(parts) > 2 and parts[2] == "routes"


def is_storage(target: str) -> bool:
    """Whether importing ``target`` imports storage: ``strato.storage``, ``lmdb``, a module
    named ``store`` or a store class."""
    parts = target.split(".")
    return (
        within(target, "strato.storage")
        or within(target, "lmdb")
        or "store" in parts
        or parts[-1].endswith("Store")
    )


def broken_rules(source: str, module: str, *, package: bool = False) -> Iterator[str]:
    """Each import of ``source`` (the module ``module``) that breaks a rule, as
    ``<line>: <rule>: <target>``."""
    own = service_of(module)
    for line, target in imports(source, module, package=package):
        other = service_of(target)
        if own is None and other is not None:
            yield f"{line}: a shared module imports a service: {target}"
        elif other is not None and other != own:
            yield f"{line}: a service imports another: {target}"
        if is_route_module(module) and is_storage(target):
            yield f"{line}: a route module imports storage: {target}"
        if within(target, "lmdb") and not within(module, "strato.storage"):
            yield f"{line}: only strato.storage imports lmdb: {target}"
        if within(target, "strato.cli") and not (
            within(module, "strato.cli") or module == "strato.__main__"
        ):
            yield f"{line}: only strato.cli imports strato.cli: {target}"
    if is_route_module(module):
        for line, call in transactions(source):
            yield f"{line}: a route module opens a transaction: {call}"


#: The calls that open a transaction, by the name of what they are called on.
TRANSACTION_CALLS = {"store": ("read", "write", "transact"), "writer": ("submit",)}


def transactions(source: str) -> Iterator[tuple[int, str]]:
    """Each call in ``source`` that opens a transaction, by line: ``read()``, ``write()`` or
    ``transact()`` of anything named ``store``, ``submit()`` of anything named ``writer``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
        if name in TRANSACTION_CALLS and node.func.attr in TRANSACTION_CALLS[name]:
            found.append((node.lineno, f"{ast.unparse(node.func)}()"))
    yield from sorted(found)


def checked_modules() -> list[Path]:
    """Every module of the package but the exempt ones (the commands)."""
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if path.relative_to(ROOT).parts[0] not in EXEMPT
        and path.relative_to(ROOT).parts[0] != "__main__.py"
    )


def test_every_service_and_the_shared_layers_are_checked() -> None:
    checked = {module_name(path) for path in checked_modules()}
    for package in ("plc", "pds", "relay", "firehose", "identity", "service", "storage", "xrpc"):
        assert f"strato.{package}" in checked, package
    assert not any(within(module, "strato.cli") for module in checked)
    assert any(is_route_module(module) for module in checked)


def test_the_import_rules_hold() -> None:
    broken = [
        f"{path.relative_to(ROOT.parent)}:{found}"
        for path in checked_modules()
        for found in broken_rules(
            path.read_text(encoding="utf-8"), module_name(path), package=path.name == "__init__.py"
        )
    ]
    assert broken == []


@pytest.mark.parametrize(
    ("source", "module", "package", "rule"),
    [
        ("import strato.pds.settings", "strato.relay.x", False, "a service imports another"),
        ("from strato import plc", "strato.pds.x", False, "a service imports another"),
        ("from ..pds import events", "strato.relay.x", False, "a service imports another"),
        ("from ...relay import app", "strato.pds.routes", True, "a service imports another"),
        ("from strato.appview import views", "strato.relay.x", False, "a service imports another"),
        ("from strato.relay.hosts import Host", "strato.firehose.x", False, "a shared module"),
        ("from ..pds import context", "strato.identity.x", False, "a shared module imports"),
        ("from strato.storage import WriteTxn", "strato.pds.routes.repo", False, "route module"),
        ("import lmdb", "strato.relay.routes", True, "a route module imports storage"),
        ("import lmdb", "strato.relay.pipeline", False, "only strato.storage imports lmdb"),
        ("from lmdb import Error", "strato.firehose.x", False, "only strato.storage imports"),
        ("from strato.repo.store import MAX_WRITES", "strato.pds.routes.repo", False, "route"),
        ("from strato.pds.accounts import store", "strato.pds.routes", True, "imports storage"),
        ("from ..store import MAX_EXPORT_COUNT", "strato.plc.routes.x", False, "imports storage"),
        ("from strato.repo import RepoStore", "strato.pds.routes.x", False, "imports storage"),
        ("from strato.relay.accounts import AccountStore", "strato.relay.routes", True, "stor"),
        ("from strato.cli.pds import pds_settings", "strato.pds.app", False, "only strato.cli"),
        ("import strato.cli.main", "strato.service.serve", False, "only strato.cli imports"),
        ("from . import cli", "strato", True, "only strato.cli imports strato.cli"),
    ],
)
def test_a_broken_rule_is_seen(source: str, module: str, package: bool, rule: str) -> None:
    found = list(broken_rules(source, module, package=package))
    assert any(rule in text for text in found), found


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("from strato.storage import WriteTxn", "strato.pds.writer"),
        ("import lmdb", "strato.storage.store"),
        ("from strato.pds.context import PdsContext", "strato.pds.routes.repo"),
        ("from strato.firehose import messages", "strato.relay.pipeline"),
        ("from strato.identity.plc import DidLog", "strato.plc.routes"),
        ("from strato.repo import RecordData", "strato.pds.routes.repo_read"),
        ("from strato.repo.writes import MAX_WRITES", "strato.pds.routes.repo"),
        ("from strato.pds.accounts import Account", "strato.pds.routes.common"),
        ("from strato.repo.store import RepoStore", "strato.pds.context"),
        ("from strato.cli.pds import pds_settings", "strato.cli.up"),
        ("from strato.cli.main import main", "strato.__main__"),
    ],
)
def test_an_allowed_import_passes(source: str, module: str) -> None:
    assert list(broken_rules(source, module)) == []


@pytest.mark.parametrize(
    "source",
    [
        "def f(ctx):\n    with ctx.store.read() as txn:\n        return txn",
        "def f(ctx):\n    with ctx.store.write() as txn:\n        pass",
        "async def f(ctx):\n    return ctx.store.transact(work)",
        "def f(store):\n    with store.read() as txn:\n        pass",
        "async def f(ctx):\n    await ctx.writer.submit(work)",
        "def f(self):\n    with self.ctx.store.read() as txn:\n        pass",
    ],
)
def test_a_route_module_opening_a_transaction_is_seen(source: str) -> None:
    found = list(broken_rules(source, "strato.pds.routes.x"))
    assert any("a route module opens a transaction" in text for text in found), found
    assert list(broken_rules(source, "strato.pds.x")) == []


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("def f(ctx):\n    with ctx.store.read() as txn:\n        pass", "strato.pds.repo_reads"),
        ("async def f(ctx):\n    await ctx.writer.submit(work)", "strato.pds.repo_writes"),
        ("async def f(request):\n    await request.input.read()", "strato.pds.routes.x"),
        ("def f(ctx):\n    return ctx.hosts.get_by_id(None, 1)", "strato.relay.routes.sync"),
        ("def f(ctx):\n    return repo_reads.collections(ctx, did)", "strato.pds.routes.x"),
    ],
)
def test_calls_that_open_no_transaction_in_a_route_pass(source: str, module: str) -> None:
    assert list(broken_rules(source, module)) == []


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
