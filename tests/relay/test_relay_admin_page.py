"""The admin page in a real browser: headless Chromium loads ``/admin/#token=...`` (a token with
"+", "/" and "=", percent-encoded) from a running relay that crawls a real PDS, runs the page's
script, and the DOM it dumps shows the hosts table with the host's real figures, the drops and
the consumers, and the charts of the relay's recent history (events, drops, lag) with their
captions and labels. Also: the page is a file shipped in the package, served without a token, and
with a refused token it asks for one."""

from __future__ import annotations

import html.parser
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from relay_admin_net import TOKEN, AdminNet, add_and_connect, admin_net, crawled
from strato.relay import admin_page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def net(tmp_path: Path) -> Iterator[AdminNet]:
    with admin_net(tmp_path) as net:
        yield net


class Cells(html.parser.HTMLParser):
    """The rows of one table (by id) as lists of cell texts, keyed by the row's data attribute."""

    def __init__(self, table: str, key: str) -> None:
        super().__init__()
        self.table, self.key = table, key
        self.inside = False
        self.rows: dict[str, list[str]] = {}
        self.row: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table":
            self.inside = values.get("id") == self.table
        elif self.inside and tag == "tr" and values.get(self.key):
            self.row = self.rows.setdefault(str(values[self.key]), [])
        elif self.row is not None and tag == "td":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr":
            self.row = None
        elif tag == "table":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


@dataclass
class Chart:
    """One chart figure as rendered: its caption, its drawing's role and label, the marks drawn
    (lines and single points) and the legend's series."""

    caption: str = ""
    role: str | None = None
    label: str | None = None
    marks: int = 0
    series: list[str] = field(default_factory=list)


class Charts(html.parser.HTMLParser):
    """The ``figure.chart`` elements of a page, by id."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, Chart] = {}
        self.chart: Chart | None = None
        self.in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "figure" and values.get("class") == "chart":
            self.chart = self.charts.setdefault(str(values.get("id")), Chart())
        elif self.chart is None:
            return
        elif tag == "figcaption":
            self.in_caption = True
        elif tag == "svg":
            self.chart.role, self.chart.label = values.get("role"), values.get("aria-label")
        elif tag in ("polyline", "circle"):
            self.chart.marks += 1
        elif tag == "li" and values.get("data-series"):
            self.chart.series.append(str(values["data-series"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption":
            self.in_caption = False
        elif tag == "figure":
            self.chart = None

    def handle_data(self, data: str) -> None:
        if self.chart is not None and self.in_caption:
            self.chart.caption += data


def charts(dom: str) -> dict[str, Chart]:
    parser = Charts()
    parser.feed(dom)
    return parser.charts


def fixed(value: float) -> str:
    """A figure as the page writes it: JavaScript's ``toFixed(1)`` (whose ties round up), no
    trailing zero."""
    text = str(Decimal(value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return text.rstrip("0").rstrip(".")


def per_second(count: int, interval: dict[str, Any]) -> str:
    return fixed(count * 1000 / interval["durationMs"])


def events_label(interval: dict[str, Any]) -> str:
    """The events chart's label when ``interval`` is the latest."""
    latest = [
        f"{name} {per_second(interval[field], interval)}"
        for name, field in (
            ("in", "eventsIn"),
            ("verified", "eventsAppended"),
            ("sent", "framesSent"),
        )
        if field in interval
    ]
    return f"Events per second over the last 10 minutes; latest: {', '.join(latest)}."


def lag_label(interval: dict[str, Any]) -> str:
    """The lag chart's label when ``interval`` is the latest (with one host)."""
    [lag] = interval["lag"]
    ms = lag["lagMs"]
    text = f"{ms} ms" if ms < 1000 else f"{fixed(ms / 1000)} s"
    return f"Lag per host over the last 10 minutes; latest: {lag['hostname']} {text}."


def rows(dom: str, table: str, key: str) -> dict[str, list[str]]:
    parser = Cells(table, key)
    parser.feed(dom)
    return parser.rows


def dump_dom(url: str, profile: Path) -> str:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    done = subprocess.run(
        [
            CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
            f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", url,
        ],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


def test_the_page_is_shipped_in_the_package() -> None:
    page = resources.files("strato.relay") / "static" / "admin.html"
    text = page.read_text(encoding="utf-8")
    assert "dev.strato.relay.admin." in text
    assert "http://" not in text  # no external assets
    assert "https://" not in text


def test_the_page_is_served_without_a_token(net: AdminNet) -> None:
    with httpx.Client(base_url=net.relay.url) as client:
        page = client.get("/admin/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        moved = client.get("/admin")
        assert (moved.status_code, moved.headers["location"]) == (308, "/admin/")
    # Asking for the token, it says where the operator finds it.
    token_file = net.relay.ctx.settings.admin_token_file
    assert token_file is not None
    assert f"The token is in {token_file} on the relay&#x27;s machine" in page.text


def test_without_a_token_file_the_page_says_so() -> None:
    page = admin_page.page_html(None)
    assert "This relay has no admin token (start it with --admin-token-file FILE)." in page
    assert admin_page.TOKEN_FILE_SLOT not in page


def test_chromium_renders_hosts_drops_consumers_and_charts(net: AdminNet, tmp_path: Path) -> None:
    add_and_connect(net)
    grace = net.write_posts("grace.test", 2)
    net.call("takedownAccount", json={"did": grace[0]})
    net.post(grace)
    crawled(net)
    net.admin.history.sample()  # the chart's figures: at least one interval, with the drop
    # Percent-encoded, as strato up prints it: the fragment's "+" would read as a space.
    dom = dump_dom(f"{net.relay.url}/admin/#token={quote(TOKEN, safe='')}", tmp_path / "profile")

    hosts = rows(dom, "hosts", "data-host")
    assert list(hosts) == [net.pds_host]
    cells = hosts[net.pds_host]
    host = net.relay.ctx.hosts.get(None, net.pds_host)
    assert host is not None
    assert cells[0] == net.pds_host
    assert cells[1] == "active"
    assert cells[2] == str(host.last_seq)
    assert cells[3] == f"{host.account_count} / {host.account_limit}"
    assert cells[5] == str(net.pds_head())  # events in
    assert cells[8] == "yes"
    assert cells[9] == "Ban"
    drops = rows(dom, "drops", "data-reason")
    assert drops["account_takendown"] == ["account_takendown", "1"]
    assert "AuthenticationRequired" not in dom

    drawn = charts(dom)
    assert list(drawn) == ["chart-events", "chart-drops", "chart-lag"]
    for chart in drawn.values():
        assert chart.role == "img"
        assert chart.marks >= 1
    events, dropped, lag = drawn.values()
    assert events.caption.startswith("Events per second")
    assert events.series == ["in", "verified", "sent"]
    # The label states the latest interval's rates, as the history (sampled since) has it.
    history = net.call("getStatsHistory").json()["intervals"]
    assert events.label in {events_label(interval) for interval in history}
    assert dropped.caption == "Drops per second, by reason"
    assert "account_takendown" in dropped.series
    assert str(dropped.label).startswith(
        "Drops per second by reason over the last 10 minutes; latest: "
    )
    assert lag.caption.startswith("Lag per host")
    assert lag.series == [net.pds_host]
    assert lag.label in {lag_label(interval) for interval in history}


def test_a_refused_token_brings_the_form_back(net: AdminNet, tmp_path: Path) -> None:
    dom = dump_dom(f"{net.relay.url}/admin/#token=wrong-token-for-this-relay", tmp_path / "p")
    assert "The admin token was refused." in dom
    assert rows(dom, "hosts", "data-host") == {}
