"""Fault injection for the reliability tests: an HTTP proxy in front of the loopback S3 server.

``FaultProxy`` listens on 127.0.0.1 and forwards every request to the moto server unchanged,
except requests matching a ``Fault`` rule, which it answers, on the schedule the rule gives,
with a 500 InternalError, a 503 SlowDown, a connection reset (TCP RST, nothing sent), or a
stall (nothing sent until the client gives up); or runs a hook first (e.g. overwrite the object
being read, as AWS does when it re-delivers) and then forwards the request. Point
``AWS_ENDPOINT_URL`` at ``proxy.url`` and curlake reaches S3 through it with its real client
stack (s3fs, aiobotocore, botocore retries).

The proxy logs every request (method, key, what it did), so a test can count the attempts a
read took. Helpers for the other reliability tests live here too: the lake's state as a
comparable value, small deliveries, and running ``curlake`` in a child process.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import boto3
import duckdb
import pytest
import s3fs
from botocore.retries.standard import ExponentialBackoff

from transforms import lake as lake_io
from transforms import storage

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python")
S3FS_RETRIES = 2  # in the proxied tests; s3fs's default is 5

# Responses S3 sends for these faults (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}
ACTIONS = ("500", "503", "reset", "stall", "hook")


@dataclass
class Fault:
    """Answer requests whose key matches ``key`` (a regex searched in the object key) with ``action``.

    ``method``: only requests with this HTTP method (None: any). ``times``: how many matching
    requests get the fault before the rule lets them through (None: all of them). ``skip``:
    matching requests let through before the fault starts (a fault in the middle of a read).
    ``hook``: for action "hook", called before the request is forwarded.
    """

    action: str
    key: str = ""
    method: str | None = None
    times: int | None = None
    skip: int = 0
    hook: Callable[[], None] | None = None
    hits: int = 0
    seen: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"fault action {self.action!r}: expected one of {ACTIONS}")

    def take(self, method: str, key: str) -> bool:
        """Whether this request gets the fault (and count it)."""
        if (self.method and method != self.method) or not re.search(self.key, key):
            return False
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.hits >= self.times):
            return False
        self.hits += 1
        return True


@dataclass
class Logged:
    """One request, logged as it arrives (a stalled one is counted before the client gives up)."""

    method: str
    key: str
    action: str  # "forward" or a fault action
    status: int | None
    at: float  # arrival time (time.monotonic())


@dataclass
class FaultProxy:
    """A threaded forwarding proxy with injectable faults; use as a context manager."""

    upstream: str
    stall_seconds: float = 3.0
    faults: list[Fault] = field(default_factory=list)
    log: list[Logged] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        parts = urlsplit(self.upstream)
        self._target = (parts.hostname, parts.port)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.log.clear()

    def requests(self, key: str = "", method: str | None = None) -> list[Logged]:
        """Logged requests whose key matches ``key`` (regex), optionally of one method, in arrival order."""
        with self._lock:
            found = [r for r in self.log if re.search(key, r.key) and (method is None or r.method == method)]
        return sorted(found, key=lambda r: r.at)

    # -- one request ------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        key = unquote(urlsplit(h.path).path).lstrip("/")
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self._lock:
            fault = next((f for f in self.faults if f.take(h.command, key)), None)
            entry = Logged(h.command, key, fault.action if fault else "forward", None, arrived)
            self.log.append(entry)
        action = entry.action
        if action in ("forward", "hook"):
            if fault is not None and fault.hook is not None:
                fault.hook()
            entry.status = self._forward(h, body)
        elif action in _ERRORS:
            entry.status, code, message = _ERRORS[action]
            payload = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                       f"<Message>{message}</Message><Resource>/{key}</Resource></Error>").encode()
            h.send_response(entry.status)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(payload)
        elif action == "reset":
            # SO_LINGER 0: close() sends RST, the client sees "connection reset by peer".
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
        else:  # stall: answer nothing until the client has given up, then drop the connection
            self._stop.wait(self.stall_seconds)
            h.close_connection = True

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> int:
        conn = http.client.HTTPConnection(*self._target, timeout=30)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection", "proxy-connection")}
            conn.request(h.command, h.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            h.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(data) if h.command != "HEAD" else resp.getheader("Content-Length") or 0))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(data)
            return resp.status
        finally:
            conn.close()


# ----------------------------------------------------------------------------- the lake


def lake_state(lake: str) -> dict[str, dict[str, str | None]]:
    """Every table's current version per billing period: what a failed run must leave unchanged."""
    return {
        table: {p: lake_io.current_version(lake, table, p) for p in lake_io.list_partitions(lake, table)}
        for table in lake_io.list_tables(lake)
    }


def content_digest(lake: str, table: str, billing_period: str) -> str:
    """A digest of the current version's rows, independent of file layout and row order."""
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT * EXCLUDE (billing_period) FROM {lake_io.read_partition_sql(lake, table, billing_period)}"
        ).fetchall()
    finally:
        con.close()
    h = hashlib.sha256()
    for row in sorted(repr(r) for r in rows):
        h.update(row.encode())
        h.update(b"\n")
    return h.hexdigest()


def catalog_totals(lake: str, table: str = "cost_line_items") -> dict[str, tuple[int, object]]:
    """Rows and unblended cost per billing period, read through the analyst catalog."""
    from transforms.catalog import open_catalog

    con = open_catalog(lake)
    try:
        rows = con.execute(
            f"SELECT billing_period, count(*), sum(unblended_cost) FROM {lake_io.quote_identifier(table)} GROUP BY 1"
        ).fetchall()
    finally:
        con.close()
    return {p: (n, s) for p, n, s in rows}


def live_matches_record(lake: str, table: str, billing_period: str) -> bool:
    """The live partition (local lake) holds exactly the files the version record names as current."""
    current = lake_io.current_version(lake, table, billing_period)
    (record,) = [r for r in lake_io.version_records(lake, table, billing_period) if r["version"] == current]
    live = os.path.dirname(lake_io.partition_glob(lake, table, billing_period))
    names = sorted(os.listdir(live)) if os.path.isdir(live) else []
    return names == sorted(record["files"])


# ----------------------------------------------------------------------------- processes


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child ``curlake`` process: this one's, plus ``extra``."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


# `curlake` (orchestration.cli.main) with the ingestion asset only: argument parsing, the period
# lock, the Dagster run and its bookkeeping are the CLI's own; only the asset list is cut short,
# to keep the tests fast.
_CLI_INGEST_ONLY = """
import sys
import orchestration.run as run
from orchestration.assets.cost_line_items import cost_line_items
from orchestration.cli import main

run.ASSETS = [cost_line_items]
sys.exit(main(sys.argv[1:]))
"""


def cli_ingest_only(*args: str) -> list[str]:
    """The argv of a child ``curlake *args`` that materializes the ingestion asset only."""
    return [PYTHON, "-c", _CLI_INGEST_ONLY, *args]


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, interval: float = 0.02) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` (and the child's output if it died)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"{what}: the child exited with {proc.returncode} first\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)



def step_error(result, step: str | None = None) -> str:
    """The message of the error a failed step's code raised, without Dagster's wrapping or the
    ``module.Class: `` prefix (the only failed step, or ``step``)."""
    (failure,) = [e for e in result.all_events if e.is_step_failure and step in (None, e.step_key)]
    error = failure.step_failure_data.error
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    message = error.message.strip()
    prefix = f"{error.cls_name}: "
    return message.split(prefix, 1)[1] if prefix in message.split("\n", 1)[0] else message


# ----------------------------------------------------------------------------- fixtures
# Import them into a test module (``from faults import proxy, faults, bucket``) to use them.


@pytest.fixture(scope="module")
def proxy(s3_endpoint):
    """A FaultProxy in front of moto, made curlake's S3 endpoint, with test-speed timeouts and backoff.

    botocore's backoff is scaled by 1/100, timeouts are 0.5 s, s3fs's own retries 2 (not 5):
    every retry still happens, only sooner (docs/reliability.md has the default figures).
    """
    with FaultProxy(s3_endpoint, stall_seconds=2.0) as p, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", p.url)
        mp.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        original = ExponentialBackoff.delay_amount
        mp.setattr(ExponentialBackoff, "delay_amount", lambda self, ctx: original(self, ctx) / 100)
        mp.setattr(s3fs.S3FileSystem, "read_timeout", 0.5)
        mp.setattr(s3fs.S3FileSystem, "connect_timeout", 0.5)
        mp.setattr(s3fs.S3FileSystem, "retries", S3FS_RETRIES)
        storage._s3fs.cache_clear()
        yield p
    storage._s3fs.cache_clear()


@pytest.fixture
def faults(proxy):
    """The proxy, with no fault and an empty log at the start and the end of a test."""
    proxy.clear()
    yield proxy
    proxy.clear()


@pytest.fixture(scope="module")
def bucket(proxy, s3_endpoint) -> str:
    """A bucket for a module's proxied tests, created straight on moto; 's3://<name>'."""
    name = f"curlake-faults-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return f"s3://{name}"


# ----------------------------------------------------------------------------- deliveries


def priced_rows(period: str, tag: str, n: int) -> list[dict]:
    """``n`` CUR 2.0 line items whose unblended costs sum to ``priced_total(n)``."""
    import cur_builders as cb

    return [
        cb.cur2_row(period, identity_line_item_id=f"{tag}-{i}", line_item_unblended_cost=round(0.01 * (i % 97) + 0.001, 3),
                    line_item_resource_id=f"i-{i:08x}", resource_tags={"user_team": f"team-{i % 7}"},
                    product={"product_name": "Amazon Elastic Compute Cloud", "region": "us-east-1"})
        for i in range(n)
    ]


def priced_total(n: int):
    """The unblended total of ``priced_rows(..., n)``, in closed form (exact Decimal)."""
    from decimal import Decimal

    return sum(Decimal(i % 97) / 100 + Decimal("0.001") for i in range(n))


def upload_tree(local: Path, url: str) -> None:
    """Copy every file under ``local`` to ``url`` (s3://bucket/prefix), keeping relative paths."""
    fs = storage.filesystem(url)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        fs.put_file(str(path), f"{storage.strip_protocol(url)}/{path.relative_to(local).as_posix()}")


# ----------------------------------------------------------------------------- runs


def ingest(source: str, lake: str, billing_period: str = "2025-01") -> str:
    """The ``cost_line_items`` asset's steps without Dagster and without the gates: discover, write
    the version's files to staging, publish them, rebuild the catalog. Returns the version published.

    What the kill tests run in a child process, to stop it between any two of these steps.
    """
    import tempfile

    from transforms import duck
    from transforms.catalog import build_catalog
    from transforms.discover import discover
    from transforms.readers import ingest_errors, read_delivery

    (delivery,) = [d for d in discover(source) if d.billing_period == billing_period]
    with tempfile.TemporaryDirectory(prefix="curlake-stage-") as workdir:
        con = duck.connect(temp_directory=os.path.join(workdir, "spill"))
        try:
            with ingest_errors([f.path for f in delivery.files]), \
                    lake_io.stage_partition(con, read_delivery(con, delivery), lake, "cost_line_items", billing_period) as staged:
                result = staged.publish(lineage={"delivery_id": delivery.delivery_id})
        finally:
            con.close()
    build_catalog(lake)
    return result.version


def materialize_ingest(source: str, lake: str, billing_period: str = "2025-01", instance=None):
    """Run the ``cost_line_items`` asset alone (read, gates, publish, catalog) in process."""
    import dagster as dg

    from orchestration.assets.cost_line_items import cost_line_items
    from orchestration.resources import CurlakeSettings

    return dg.materialize([cost_line_items], partition_key=billing_period, instance=instance or dg.DagsterInstance.ephemeral(),
                          resources={"settings": CurlakeSettings(source=source, lake=lake)}, raise_on_error=False)


# ----------------------------------------------------------------------------- figures


def measure_s3_faults(actions: tuple[str, ...] = ("500", "503", "reset", "stall")) -> list[dict]:
    """docs/reliability.md's retry figures, with curlake's real S3 settings (no test shortcuts).

    For each fault, first a transient one (the first two GETs of an object fail, the third
    succeeds), then a persistent one: how many GETs the client sent and how long the read took.
    Slow by nature (a persistent stall costs read timeouts of 15 s): run it by hand with
    ``.venv/bin/python tests/faults.py``.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    upstream = f"http://{host}:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="measure", AWS_SECRET_ACCESS_KEY="measure", AWS_DEFAULT_REGION="us-east-1")
    boto3.client("s3", endpoint_url=upstream).create_bucket(Bucket="curlake-measure")
    boto3.client("s3", endpoint_url=upstream).put_object(Bucket="curlake-measure", Key="data.bin", Body=os.urandom(1 << 20))
    out = []
    try:
        with FaultProxy(upstream, stall_seconds=20.0) as proxy:
            os.environ["AWS_ENDPOINT_URL"] = proxy.url
            storage._s3fs.cache_clear()
            fs = storage.filesystem("s3://")
            for action in actions:
                for times in (2, None):
                    proxy.clear()
                    proxy.add(Fault(action, key=r"data\.bin$", method="GET", times=times))
                    started = time.monotonic()
                    try:
                        with fs.open("curlake-measure/data.bin", "rb") as fh:
                            fh.read()
                        outcome = "read"
                    except Exception as exc:  # OSError, or botocore's errors s3fs passes through
                        outcome = f"{type(exc).__name__}: {str(exc).splitlines()[-1][:90]}"
                    out.append({"fault": action, "times": times or "every", "gets": len(proxy.requests(method="GET")),
                                "seconds": round(time.monotonic() - started, 1), "outcome": outcome})
                    print(out[-1], flush=True)
    finally:
        server.stop()
    return out


if __name__ == "__main__":
    measure_s3_faults()
