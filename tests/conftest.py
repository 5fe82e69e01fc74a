"""Shared test setup: where the cross-implementation fixtures live, the Hypothesis profiles,
the local network servers (DNS and HTTP on 127.0.0.1, see ``localnet``), the root logger put
back after each test, and the guard that CI really tests an installed wheel.

The fixtures (atproto-interop-tests data, indigo's CAR and CBOR test data) live outside the
repository, in ``shared/`` beside the checkout, or wherever ``STRATO_SHARED`` points. They are
never copied into the repository; tests that need them skip, naming the missing folder, when
they are absent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from localnet import LocalDns, LocalHttp
from pds_net import LocalPds, local_network
from relay_net import LocalRelay, pds_and_relay

REPO = Path(__file__).resolve().parent.parent

settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile("ci", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def shared_dir() -> Path:
    """The shared fixture folder: ``$STRATO_SHARED``, else ``<repo>/../shared``."""
    env = os.environ.get("STRATO_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under the shared folder (it may not exist; see :func:`missing_reason`)."""
    return shared_dir().joinpath(*parts)


def missing_reason(path: Path) -> str:
    """The skip message for a fixture folder or file that is absent."""
    return f"shared fixtures not found: {path} is missing (set STRATO_SHARED)"


def require_shared(*parts: str) -> Path:
    """The path under the shared folder; skips the calling test when it does not exist."""
    path = shared_path(*parts)
    if not path.exists():
        pytest.skip(missing_reason(path))
    return path


def skipped_param(path: Path) -> list[object]:
    """A single skipped parameter set, for parametrising over fixtures that are absent."""
    return [pytest.param(None, id="missing-fixtures", marks=pytest.mark.skip(missing_reason(path)))]


@pytest.fixture
def shared() -> Path:
    """The shared fixture folder; skips the test when it is absent."""
    return require_shared()


@pytest.fixture
def local_dns() -> Iterator[LocalDns]:
    """A DNS server on 127.0.0.1 answering from the records the test gives it."""
    server = LocalDns()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """A server command run in-process (``main(["pds", ...])`` up to an error) configures the
    root logger first (:func:`strato.service.logs.configure`); its handler writes to that test's
    captured stderr, closed afterwards. Each test gets the root logger back as it was."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [handler for handler in root.handlers if type(handler) is logging.StreamHandler]:
        root.removeHandler(handler)  # strato's; pytest's own handlers are subclasses
    root.setLevel(level)


@pytest.fixture(scope="module")
def _http_server() -> Iterator[LocalHttp]:
    server = LocalHttp()
    yield server
    server.close()


@pytest.fixture
def local_http(_http_server: LocalHttp) -> LocalHttp:
    """The module's HTTP server on 127.0.0.1, with its routes, counters and delay reset."""
    _http_server.routes.clear()
    _http_server.hits.clear()
    _http_server.delay = 0.0
    return _http_server


def pytest_sessionstart(session: pytest.Session) -> None:
    """With ``STRATO_EXPECT_INSTALLED=1`` (CI), refuse to run against the source tree."""
    if os.environ.get("STRATO_EXPECT_INSTALLED") != "1":
        return
    import strato  # noqa: PLC0415 - only needed for this check

    location = Path(strato.__file__).resolve()
    source = REPO / "python"
    if location.is_relative_to(source):
        pytest.exit(
            f"STRATO_EXPECT_INSTALLED=1 but strato was imported from the source tree "
            f"({location}); install the wheel instead",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture
def pds_relay(tmp_path: Path) -> Iterator[tuple[LocalPds, LocalRelay]]:
    """A PLC directory, a PDS and a relay on 127.0.0.1 (see ``tests/relay_net.py``); the relay
    is told of the PDS by each test."""
    with pds_and_relay(tmp_path) as running:
        yield running


@pytest.fixture
def pds(tmp_path: Path) -> Iterator[LocalPds]:
    """A PLC directory and a PDS on 127.0.0.1 (see ``tests/pds/pds_net.py``)."""
    with local_network(tmp_path) as running:
        yield running
