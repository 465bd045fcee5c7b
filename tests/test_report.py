"""Showback reports: numbers on hand-made tables and on the sample lake, the page opened in a real
headless Chromium (charts decoded and painted, no console error, no network), the Dagster asset and
`curlake report`.

The browser is Debian's chromium, driven through the DevTools protocol over a pipe
(``--remote-debugging-pipe``: JSON messages separated by NUL bytes on file descriptors 3 and 4),
so no websocket library or driver is needed. ``chromium_path`` installs it on first use when it
is missing (``apt-get install``, then ``apt-get update`` and again if the package lists are
stale), as root or through ``sudo -n``.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import io
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest
from PIL import Image

from orchestration import commands
from orchestration.assets.report import showback_report
from orchestration.resources import CurlakeSettings
from transforms import duck, storage
from transforms.report import ReportError, gather, make_report, open_lake, render, reports_root, write_month
from transforms.report.charts import DIRECT, SHARED

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--window-size=1100,900",
)


# ----------------------------------------------------------------------------------- chromium


def _find_chromium() -> str | None:
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


def _apt(args: list[str], prefix: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run([*prefix, "apt-get", *args], env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium, installed on first use if absent (once per machine, under a lock)."""
    found = _find_chromium()
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.fail("the browser test needs chromium: install it (no apt-get on this machine to do it here)")
    if os.geteuid() == 0:
        prefix = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        pytest.fail("the browser test needs chromium: run `apt-get install -y chromium` as root, or the tests as root")
    with open(os.path.join(tempfile.gettempdir(), "curlake-chromium-install.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent test sessions install once
        found = _find_chromium()
        if found:
            return found
        # Packages cached in /var/cache/apt/archives are reused; the lists are refreshed only when stale.
        install = ["install", "-y", "--no-install-recommends", "chromium"]
        done = _apt(install, prefix)
        if done.returncode != 0:
            update = _apt(["update"], prefix)
            if update.returncode != 0:
                pytest.fail(f"apt-get update failed:\n{update.stderr[-2000:]}")
            done = _apt(install, prefix)
        if done.returncode != 0:
            pytest.fail(f"apt-get install chromium failed:\n{done.stderr[-2000:]}")
    found = _find_chromium()
    assert found, "chromium installed but not on PATH"
    return found


@dataclass
class PageCheck:
    """What the browser saw while loading a page."""

    screenshot: Image.Image
    images: list[dict]
    errors: list[str] = field(default_factory=list)  # console errors, uncaught exceptions, error log entries
    requests: list[str] = field(default_factory=list)  # every URL the page requested


def _high_fd(fd: int) -> int:
    """``fd`` moved to the lowest free descriptor >= 10."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class DevTools:
    """A Chromium process and its DevTools protocol over the debugging pipe."""

    def __init__(self, chromium: str, profile: str, log_path: str):
        to_browser_r, self._to_browser = (_high_fd(fd) for fd in os.pipe())
        self._from_browser, from_browser_w = (_high_fd(fd) for fd in os.pipe())
        # The browser reads commands on fd 3 and writes on fd 4: bash puts the pipe ends there
        # (the ends are numbered 10 or above, so moving one never overwrites the other).
        script = f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
        cmd = ["bash", "-c", script, "chromium", chromium, *CHROMIUM_FLAGS, "--remote-debugging-pipe",
               f"--user-data-dir={profile}", "about:blank"]
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, pass_fds=(to_browser_r, from_browser_w), stdout=self._log, stderr=self._log)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self.events: list[dict] = []
        self._replies: dict[int, dict] = {}
        self._inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buf = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                self._inbox.put(json.loads(raw))
        self._inbox.put(None)

    def _pump(self, deadline: float) -> None:
        msg = self._inbox.get(timeout=max(deadline - time.monotonic(), 0.01))
        if msg is None:
            raise RuntimeError("chromium closed the DevTools pipe")
        if "id" in msg:
            self._replies[msg["id"]] = msg
        else:
            self.events.append(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._next_id += 1
        ident = self._next_id
        msg = {"id": ident, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while ident not in self._replies:
            self._pump(deadline)
        reply = self._replies.pop(ident)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def wait_event(self, method: str, session: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if ev.get("method") == method and ev.get("sessionId") == session:
                    return ev
            self._pump(deadline)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        self._log.close()


def inspect_page(chromium: str, page: Path, workdir: Path) -> PageCheck:
    """Load ``page`` in headless Chromium; return its full-page screenshot, images, errors and requests."""
    browser = DevTools(chromium, str(workdir / "profile"), str(workdir / "chromium.log"))
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        browser.wait_event("Page.loadEventFired", session)
        images = json.loads(browser.call("Runtime.evaluate", {
            "expression": "JSON.stringify(Array.from(document.images).map(i => "
                          "({chart: i.dataset.chart, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})))",
            "returnByValue": True}, session=session)["result"]["value"])
        size = browser.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
        shot = browser.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}, session=session)
        check = PageCheck(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB"), images)
        for ev in browser.events:
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                check.errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                check.errors.append("exception: " + params["exceptionDetails"].get("exception", {}).get("description", str(params)))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                check.errors.append(f"log: {params['entry']['text']} {params['entry'].get('url', '')}")
            elif method == "Network.requestWillBeSent":
                check.requests.append(params["request"]["url"])
        return check
    finally:
        browser.close()


def painted(img: Image.Image, rgb_hex: str, tolerance: int = 12) -> int:
    """Pixels of ``img`` within ``tolerance`` of a colour (e.g. a chart's bar colour)."""
    target = np.array([int(rgb_hex[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(np.asarray(img, dtype=np.int16) - target) <= tolerance).all(axis=2).sum())


def variance(img: Image.Image) -> float:
    return float(np.asarray(img.convert("L"), dtype=np.float64).var())


# ----------------------------------------------------------------------------------- hand-made tables


def hand_made_lake(con: duckdb.DuckDBPyConnection) -> None:
    """Two months of a team 'web' with numbers small enough to add up by hand.

    2025-02: web direct EC2 10.00 (tag) + 5.00 (tag) on Feb 1 and 2, direct S3 2.50 (account) on Feb 2,
    a credit of -1.00 on EC2; shared network 3.00 of a 12.00 pool (25 %), shared support 1.50 of 3.00.
    Total direct 16.50, shared 4.50, total 21.00. 2025-01: web direct EC2 14.00 only.
    """
    con.execute("""
        CREATE TABLE cost_allocation AS SELECT * FROM (VALUES
            ('2025-01', DATE '2025-01-15', 'web', 'shop', 'CC-1', 'tag', NULL, 'AmazonEC2', 'USD', 14.00, 0.00),
            ('2025-02', DATE '2025-02-01', 'web', 'shop', 'CC-1', 'tag', NULL, 'AmazonEC2', 'USD', 10.00, 0.00),
            ('2025-02', DATE '2025-02-02', 'web', 'shop', 'CC-1', 'tag', NULL, 'AmazonEC2', 'USD', 5.00, 0.00),
            ('2025-02', DATE '2025-02-02', 'web', 'shop', 'CC-1', 'account', NULL, 'AmazonS3', 'USD', 2.50, 0.00),
            ('2025-02', DATE '2025-02-02', 'web', 'shop', 'CC-1', 'tag', NULL, 'AmazonEC2', 'USD', -1.00, 0.00),
            ('2025-02', DATE '2025-02-01', 'web', 'shop', 'CC-1', 'shared', 'network', 'AmazonVPC', 'USD', 0.00, 3.00),
            ('2025-02', DATE '2025-02-01', 'web', 'shop', 'CC-1', 'shared', 'support', '<b>Support</b>', 'USD', 0.00, 1.50),
            ('2025-02', DATE '2025-02-01', 'api', 'shop', 'CC-2', 'shared', 'network', 'AmazonVPC', 'USD', 0.00, 9.00),
            ('2025-02', DATE '2025-02-01', 'api', 'shop', 'CC-2', 'tag', NULL, 'AmazonEC2', 'USD', 7.00, 0.00),
            ('2025-02', DATE '2025-02-02', NULL, NULL, NULL, 'unallocated', NULL, 'AmazonS3', 'USD', 4.00, 0.00)
        ) AS t(billing_period, usage_date, team, product, cost_center, allocation_method, pool, service_code, currency,
               direct_amortized_cost, shared_amortized_cost)
    """)
    con.execute("""
        ALTER TABLE cost_allocation ALTER direct_amortized_cost TYPE DECIMAL(18,2);
        ALTER TABLE cost_allocation ALTER shared_amortized_cost TYPE DECIMAL(18,2);
        CREATE TABLE shared_cost_split AS SELECT * FROM (VALUES
            ('2025-02', 'network', DATE '2025-02-01', 'amortized', 'web', 'proportional', 'proportional', 'direct_cost', 3.00, 12.00),
            ('2025-02', 'network', DATE '2025-02-01', 'amortized', 'api', 'proportional', 'proportional', 'direct_cost', 9.00, 12.00),
            ('2025-02', 'network', DATE '2025-02-01', 'unblended', 'web', 'proportional', 'proportional', 'direct_cost', 99.00, 100.00),
            ('2025-02', 'support', DATE '2025-02-01', 'amortized', 'web', 'driver', 'even', 'requests', 1.50, 3.00)
        ) AS t(billing_period, pool, usage_date, cost_basis, recipient, method, applied_method, driver, amount, pool_amount);
    """)


@pytest.fixture
def hand():
    con = duck.connect(s3=False)
    hand_made_lake(con)
    yield con
    con.close()


def test_gather_adds_up_the_team_by_hand(hand):
    d = gather(hand, "web", "2025-02")
    assert (d.direct, d.shared, d.total, d.previous_total) == (Decimal("16.50"), Decimal("4.50"), Decimal("21.00"), Decimal("14.00"))
    assert (d.currency, d.products, d.cost_centers, d.last_day) == ("USD", ["shop"], ["CC-1"], date(2025, 2, 2))
    assert [(r["billing_period"], r["direct"], r["shared"]) for r in d.monthly] == [
        ("2025-01", Decimal("14.00"), Decimal("0.00")), ("2025-02", Decimal("16.50"), Decimal("4.50"))]
    assert [(r["usage_date"], r["direct"] + r["shared"]) for r in d.daily] == [
        (date(2025, 2, 1), Decimal("14.50")), (date(2025, 2, 2), Decimal("6.50"))]
    # EC2 10 + 5 - 1 = 14 (was 14 in January), VPC 3 shared, Support 1.50 shared, S3 2.50.
    assert [(r["service_code"], r["total"], r["previous"]) for r in d.services] == [
        ("AmazonEC2", Decimal("14.00"), Decimal("14.00")), ("AmazonVPC", Decimal("3.00"), None),
        ("AmazonS3", Decimal("2.50"), None), ("<b>Support</b>", Decimal("1.50"), None)]
    assert [(r["method"], r["amount"]) for r in d.direct_by_method] == [("tag", Decimal("14.00")), ("account", Decimal("2.50"))]
    # network: 3 of 12 = 25 %, split by its method every day; support: 1.50 of 3, one day split evenly for lack of a driver.
    assert [(r["pool"], r["amount"], r["pool_amount"], r["share_of_pool"], r["fallback_days"]) for r in d.shared_sources] == [
        ("network", Decimal("3.00"), Decimal("12.00"), 0.25, 0), ("support", Decimal("1.50"), Decimal("3.00"), 0.5, 1)]
    assert d.unit_daily is None and d.budget is None and d.anomalies is None
    assert d.credit_components is None and d.credit_weeks is None and d.recommendations is None and d.credit is None


def test_page_shows_the_figures_and_says_what_is_not_available(hand):
    report = render(gather(hand, "web", "2025-02"))
    text = report.html
    assert "<h1>Showback: web, 2025-02</h1>" in text
    assert '<div class="value">21.00</div><div class="sub">vs 2025-01: +7.00 (+50.0 %)</div>' in text
    assert "<td>network</td><td>proportional</td><td>direct_cost</td><td class=\"num\">3.00</td><td class=\"num\">12.00</td>" \
           "<td class=\"num\">25.0 %</td>" in text
    for table in ("unit_economics", "budget_variance", "credit_score", "recommendations", "cost_anomalies"):
        assert f"Not available yet: the lake has no {table} table." in text
    assert "&lt;b&gt;Support&lt;/b&gt;" in text and "<b>Support</b>" not in text  # data is escaped
    assert sorted(report.charts) == ["by_service", "daily_cost", "direct_and_shared", "monthly_trend"]
    assert text.count('<img src="data:image/png;base64,') == len(report.charts)
    for png in report.charts.values():
        assert Image.open(io.BytesIO(png)).size[0] > 300


def test_credit_score_and_recommendations_render_when_present(hand):
    hand.execute("""
        CREATE TABLE credit_score AS SELECT * FROM (VALUES
            ('month', DATE '2025-02-01', 'web', 'graviton_coverage', 0.15, 0.2, true, 75.0, 0.6, 45.0, -15.0, 75.0, 70.0, 5.0),
            ('month', DATE '2025-02-01', 'web', 'gp3_share', NULL, 0.5, false, NULL, 0.0, 0.0, 0.0, 75.0, 70.0, 5.0),
            ('month', DATE '2025-02-01', 'web', 'tagging_compliance', 0.9, 0.9, true, 100.0, 0.3, 30.0, 20.0, 75.0, 70.0, 5.0),
            ('week', DATE '2025-02-03', 'web', 'graviton_coverage', 0.1, 0.2, true, 50.0, 1.0, 50.0, 0.0, 50.0, 60.0, -10.0),
            ('week', DATE '2025-02-10', 'web', 'graviton_coverage', 0.2, 0.2, true, 100.0, 1.0, 100.0, 50.0, 100.0, 50.0, 50.0),
            ('month', DATE '2025-02-01', 'api', 'graviton_coverage', 0.0, 0.2, true, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        ) AS t(grain, period_start, team, component, value, goal, applies, score, effective_weight, contribution,
               contribution_change, composite, previous_composite, composite_change);
        ALTER TABLE credit_score ADD COLUMN billing_period VARCHAR DEFAULT '2025-02';
        CREATE TABLE recommendations AS SELECT * FROM (VALUES
            ('web', 2, true, 'Move m5 to Graviton m7g', 'compute', 'AmazonEC2', 12.00, 60.00, 3, ['i-1', 'i-2', 'i-3', 'i-4'], '2025-02'),
            ('web', 1, true, 'Convert gp2 volumes to gp3', 'storage', 'AmazonEC2', 40.00, 40.00, 1, ['vol-1'], '2025-02'),
            ('api', 1, true, 'not ours', 'compute', 'AmazonEC2', 99.00, 99.00, 1, ['i-9'], '2025-02'),
            ('web', 1, true, 'last month', 'compute', 'AmazonEC2', 77.00, 77.00, 1, ['i-8'], '2025-01')
        ) AS t(team, priority, sprint, action, category, service_code, estimated_monthly_savings, potential_monthly_savings,
               resource_count, top_resources, billing_period);
    """)
    d = gather(hand, "web", "2025-02")
    assert (d.credit["composite"], d.credit["composite_change"]) == (75.0, 5.0)
    assert [(r["component"], r["contribution"]) for r in d.credit_components] == [
        ("graviton_coverage", 45.0), ("tagging_compliance", 30.0), ("gp3_share", 0.0)]  # applying ones first, by points
    assert [(w["week_start"], w["composite"]) for w in d.credit_weeks] == [(date(2025, 2, 3), 50.0), (date(2025, 2, 10), 100.0)]
    assert [r["action"] for r in d.recommendations] == ["Convert gp2 volumes to gp3", "Move m5 to Graviton m7g"]
    report = render(d)
    assert "credit_score" in report.charts
    assert "Efficiency credit score of the month: <strong>75.0</strong> of 100 (+5.0 against the previous month)" in report.html
    assert '<div class="label">Credit score</div><div class="value">75.0</div>' in report.html
    assert "<td>gp3_share</td><td class=\"num\">–</td><td class=\"num\">0.500</td><td class=\"num\">does not apply</td>" in report.html
    assert ("<td>Move m5 to Graviton m7g</td><td>compute</td><td>AmazonEC2</td><td class=\"num\">12.00</td>"
            "<td class=\"num\">60.00</td><td class=\"num\">3</td><td>i-1, i-2, i-3</td>") in report.html
    assert "not ours" not in report.html and "last month" not in report.html
    assert "Not available yet" not in report.html.split("<h2>Credit score</h2>")[1].split("<h2>Cost anomalies</h2>")[0]


def test_unknown_team_month_or_mixed_currencies_are_clear_errors(hand):
    with pytest.raises(ReportError, match=r"team 'shop' has no allocated cost in 2025-02; teams with cost then: api, web"):
        gather(hand, "shop", "2025-02")
    with pytest.raises(ReportError, match=r"no allocated cost for billing period 2025-03; months in the lake: 2025-01, 2025-02"):
        gather(hand, "web", "2025-03")
    hand.execute("UPDATE cost_allocation SET currency = 'EUR' WHERE team = 'api' AND pool IS NULL")
    with pytest.raises(ReportError, match=r"2025-02 is billed in 2 currencies \(EUR, USD\)"):
        gather(hand, "web", "2025-02")
    with pytest.raises(ReportError, match="the lake has no cost_allocation table"):
        gather(duck.connect(s3=False), "web", "2025-02")


# ----------------------------------------------------------------------------------- the sample lake


@pytest.fixture(scope="module")
def sample(materialized_sample_lake) -> str:
    return materialized_sample_lake.lake


@pytest.fixture(scope="module")
def lake_con(sample):
    con = open_lake(sample)
    yield con
    con.close()


def test_gather_on_the_sample_agrees_with_the_parquet_files(lake_con, sample):
    d = gather(lake_con, "payments", "2025-02")
    ca = pl.read_parquet(f"{sample}/cost_allocation/billing_period=*/*.parquet", hive_partitioning=True)
    mine = ca.filter((pl.col("team") == "payments") & (pl.col("billing_period") == "2025-02"))
    assert d.direct == mine["direct_amortized_cost"].sum() and d.shared == mine["shared_amortized_cost"].sum()
    assert d.total == sum((r["total"] for r in d.services), Decimal(0)) > 0
    assert [r["total"] for r in d.services] == sorted((r["total"] for r in d.services), reverse=True)
    by_pool = dict(mine.filter(pl.col("pool").is_not_null()).group_by("pool").agg(pl.col("shared_amortized_cost").sum()).iter_rows())
    assert {r["pool"]: r["amount"] for r in d.shared_sources if r["amount"] != 0} == {p: v for p, v in by_pool.items() if v != 0}
    budget = pl.read_parquet(f"{sample}/budget_variance/billing_period=2025-02/*.parquet")
    row = budget.filter((pl.col("team") == "payments") & (pl.col("scope") == "team")).row(0, named=True)
    assert (d.team_budget["budget"], d.team_budget["actual_mtd"], d.team_budget["status"]) == (row["budget"], row["actual_mtd"], row["status"])
    assert row["actual_mtd"] == d.total  # the budget's actual is the same allocated cost
    assert d.unit_daily and {r["product"] for r in d.unit_daily} == {"storefront"}


def test_report_renders_in_headless_chromium(lake_con, chromium_path, tmp_path):
    report = make_report(lake_con, "payments", "2025-02")
    page = tmp_path / "payments.html"
    page.write_text(report.html, encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", report.html)  # nothing to fetch
    check = inspect_page(chromium_path, page, tmp_path)
    assert check.errors == []
    # The page itself, then its embedded charts: nothing from a network or another file.
    assert [u for u in check.requests if not u.startswith("data:image/png;base64,")] == [page.resolve().as_uri()]
    assert [i["chart"] for i in check.images] == list(report.charts) == [
        "monthly_trend", "daily_cost", "by_service", "direct_and_shared", "unit_costs", "budget", "credit_score"]
    for img, png in zip(check.images, report.charts.values()):
        assert img["complete"] and (img["width"], img["height"]) == Image.open(io.BytesIO(png)).size, img
    shot = check.screenshot
    assert shot.size[1] > 2000 and variance(shot) > 300  # a long page with contrast, not a blank one
    # The charts' bar colours are painted in quantity (text and tables use neither).
    assert painted(shot, DIRECT) > 5000 and painted(shot, SHARED) > 2000


def test_browser_check_catches_errors_missing_images_and_network(chromium_path, tmp_path):
    """The checks above can fail: a page with a script error, a broken image and a remote image."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><h1>x</h1><img data-chart="bad" src="data:image/png;base64,AAAA">'
                    '<img data-chart="remote" src="http://127.0.0.1:9/chart.png"><script>console.error("boom"); missing()</script>'
                    "</body></html>", encoding="utf-8")
    check = inspect_page(chromium_path, page, tmp_path)
    assert any("boom" in e for e in check.errors) and any("missing is not defined" in e for e in check.errors)
    assert "http://127.0.0.1:9/chart.png" in check.requests
    assert [(i["chart"], i["width"]) for i in check.images] == [("bad", 0), ("remote", 0)]
    assert painted(check.screenshot, DIRECT) == 0


# ----------------------------------------------------------------------------------- asset and command


def test_asset_writes_every_team_and_attaches_a_summary(sample, dagster_home, lake_con):
    result = dg.materialize([showback_report], partition_key="2025-02", resources={"settings": CurlakeSettings(lake=sample)})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()}
    teams = lake_con.execute("SELECT team, amortized_cost FROM (SELECT coalesce(team, 'unallocated') AS team, "
                             "sum(direct_amortized_cost + shared_amortized_cost) AS amortized_cost FROM cost_allocation "
                             "WHERE billing_period = '2025-02' GROUP BY ALL) WHERE team <> 'unallocated'").fetchall()
    assert meta["reports"] == len(teams) == 12 and meta["teams"] == sorted(t for t, _ in teams)
    for team, cost in teams:
        assert re.search(rf"^\| {re.escape(team)} \| [-\d.,]+ \| [-\d.,]+ \| {cost:,.2f} \|", meta["summary"], re.M), team
    png = re.fullmatch(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", meta["chart"]).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(png))).format == "PNG"
    folder = Path(reports_root(sample)) / "billing_period=2025-02"
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{t}.html" for t, _ in teams] + ["index.html"])
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert all(f'<a href="{t}.html">{t}</a>' in index for t, _ in teams)
    assert meta["index"] == str(folder / "index.html")


def test_write_month_refuses_a_month_without_cost(hand, tmp_path):
    with pytest.raises(ReportError, match="no allocated cost for billing period 2025-03"):
        write_month(hand, "2025-03", str(tmp_path))
    month = write_month(hand, "2025-02", str(tmp_path))
    assert sorted(month.paths) == ["api", "web"]
    assert "| web | 16.50 | 4.50 | 21.00 | – | – | – |" in month.summary_markdown


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="curlake")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_report_command(sample, tmp_path, capsys):
    out = tmp_path / "checkout.html"
    assert run_cli(["report", "--team", "checkout", "--month", "2025-02", "--lake", sample, "--out", str(out)]) == 0
    assert f"to {out}" in capsys.readouterr().out
    assert "<h1>Showback: checkout, 2025-02</h1>" in out.read_text(encoding="utf-8")
    assert run_cli(["report", "--team", "nobody", "--month", "2025-02", "--lake", sample, "--out", str(out)]) == 1
    assert "curlake report: team 'nobody' has no allocated cost in 2025-02; teams with cost then: ads, catalog" in capsys.readouterr().err
    assert run_cli(["report", "--team", "checkout", "--month", "2025-2", "--lake", sample]) == 1
    assert "billing period '2025-2' is not of the form YYYY-MM" in capsys.readouterr().err


def test_reports_are_written_to_an_s3_root(hand, s3_bucket):
    month = write_month(hand, "2025-02", f"{s3_bucket}/lake/_reports/showback")
    assert month.paths["web"] == f"{s3_bucket}/lake/_reports/showback/billing_period=2025-02/web.html"
    fs = storage.filesystem(s3_bucket)
    page = fs.cat_file(storage.strip_protocol(month.paths["web"])).decode("utf-8")
    assert "<h1>Showback: web, 2025-02</h1>" in page
    assert '<a href="api.html">api</a>' in fs.cat_file(storage.strip_protocol(month.index)).decode("utf-8")


def test_budget_of_an_open_month_shows_actual_and_forecast(hand):
    hand.execute("""
        CREATE TABLE budget_variance AS SELECT * FROM (VALUES
            ('web', NULL, 'team', 30.00, 21.00, 290.00, 'weekday', 260.00, 8.6667, 0.7, 'at_risk', DATE '2025-02-02', 2, 28),
            ('web', 'AmazonEC2', 'service', 20.00, 14.00, 196.00, 'weekday', 176.00, 8.8, 0.7, 'at_risk', DATE '2025-02-02', 2, 28)
        ) AS t(team, service_code, scope, budget, actual_mtd, forecast, forecast_method, variance, variance_ratio,
               budget_used_ratio, status, as_of, days_elapsed, days_in_month);
        ALTER TABLE budget_variance ADD COLUMN billing_period VARCHAR DEFAULT '2025-02';
    """)
    d = gather(hand, "web", "2025-02")
    assert d.team_budget["forecast"] == Decimal("290.00") and [r["scope"] for r in d.budget] == ["team", "service"]
    report = render(d)
    assert "budget" in report.charts
    assert 'forecast 290.00, <span class="status-at_risk">at risk</span>' in report.html
    assert "<td>(whole team)</td><td class=\"num\">30.00</td><td class=\"num\">21.00</td><td>2025-02-02</td>" in report.html
    assert "The month is complete" not in report.html
    assert "How good the forecast was" not in report.html  # forecast_accuracy is absent
