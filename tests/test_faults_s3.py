"""S3 faults against the real S3-compatible server on loopback, injected by a proxy in front of it.

The source export lives in the moto server; curlake reaches it through ``faults.FaultProxy``
(``AWS_ENDPOINT_URL`` points at the proxy), with its real client stack: s3fs, aiobotocore and
botocore's standard retries. Faults hit the data files' GET requests after their first one, so
in the middle of the run's reads (discovery, staging, the row stream, the reconciliation):

- a few faults (500 InternalError, 503 SlowDown, connection reset, a stall past the read
  timeout) are retried and the month comes out exact;
- a fault that persists is retried a bounded number of times, then the run fails with an
  error naming the file and the S3 error, and the lake keeps its previous version;
- a lake on S3 whose publish fails keeps its live partition and version record.

Timings are shortened for the tests (see ``faults.proxy``); docs/reliability.md has the
figures with the defaults.
"""

from __future__ import annotations

import time

import pytest
import s3fs

import cur_builders as cb
from faults import bucket, faults, proxy  # noqa: F401  (fixtures)
from faults import S3FS_RETRIES, Fault, catalog_totals, lake_state, priced_rows, priced_total, step_error, upload_tree
from faults import materialize_ingest as materialize
from transforms import duck, storage
from transforms import lake as lake_io

PERIOD = "2025-01"
N_FILES = 4
ROWS = 2800
DATA_KEY = r"/data/BILLING_PERIOD=2025-01/cur2-0000{n}\.snappy\.parquet$"
BOTOCORE_MAX_ATTEMPTS = 5  # retries after the first try: transforms/storage.py's botocore config


def upload(tmp_path, url: str, rows: list[dict]) -> str:
    """A CUR 2.0 delivery of ``rows`` in ``N_FILES`` files, uploaded under ``url``; the source URL."""
    cb.write_cur2_parquet(tmp_path / "export", PERIOD, rows, n_files=N_FILES)
    upload_tree(tmp_path / "export", f"{url}/export")
    return f"{url}/export"


@pytest.fixture(scope="module")
def published(proxy, bucket, tmp_path_factory):
    """A lake with a good version of the month, published without faults; the next delivery to read.

    Shared by the tests where every run fails: they must leave it exactly as it is.
    """
    tmp = tmp_path_factory.mktemp("published")
    lake = str(tmp / "lake")
    assert materialize(upload(tmp / "v1", bucket, priced_rows(PERIOD, "v1", 1000)), lake).success
    return upload(tmp / "v2", f"{bucket}/next", priced_rows(PERIOD, "v2", ROWS)), lake


def test_transient_faults_mid_read_are_retried_and_the_month_is_exact(faults, published, tmp_path):
    source, _ = published
    lake = str(tmp_path / "lake")
    # One fault schedule per data file, each striking after the file's first GET.
    schedule = {1: ("500", 2), 2: ("503", 2), 3: ("reset", 2), 4: ("stall", 1)}
    for n, (action, times) in schedule.items():
        faults.add(Fault(action, key=DATA_KEY.format(n=n), method="GET", skip=1, times=times))

    result = materialize(source, lake)

    assert result.success, step_error(result)
    for n, (action, times) in schedule.items():
        gets = faults.requests(DATA_KEY.format(n=n), "GET")
        assert [g.action for g in gets].count(action) == times, (n, action)
        assert gets[-1].action == "forward" and gets[-1].status in (200, 206)
    assert catalog_totals(lake) == {PERIOD: (ROWS, priced_total(ROWS))}


@pytest.mark.parametrize(
    ("action", "cause"),
    [
        ("500", "We encountered an internal error"),
        ("503", "Please reduce your request rate"),
        ("reset", "Connection was closed before we received a valid response"),
        ("stall", "Read timeout on endpoint URL"),
    ],
)
def test_persistent_fault_fails_clearly_after_bounded_retries_and_publishes_nothing(faults, published, action, cause, monkeypatch):
    source, lake = published
    before = lake_state(lake)
    retries = 1 if action == "stall" else S3FS_RETRIES  # each stalled try costs a read timeout
    monkeypatch.setattr(s3fs.S3FileSystem, "retries", retries)  # a class attribute, read at each call
    faults.add(Fault(action, key=DATA_KEY.format(n=2), method="GET", skip=1))

    started = time.monotonic()
    result = materialize(source, lake)
    seconds = time.monotonic() - started

    assert not result.success
    message = step_error(result)
    bad = f"{source}/cur2/data/BILLING_PERIOD=2025-01/cur2-00002.snappy.parquet"
    # Whichever read meets the fault first names the file: DuckDB's (staging) or pyarrow's (reconciliation).
    assert message.startswith((f"{bad}: could not be read from storage: ", f"{bad}: cannot be read for reconciliation: "))
    assert cause in message, message
    faulted = [r for r in faults.requests(DATA_KEY.format(n=2), "GET") if r.action == action]
    # Bounded: s3fs's retry loop (S3FS_RETRIES) runs twice nested (around the GET and around its
    # read), botocore makes 1 + max_attempts tries per call, aiohttp re-sends once on a dropped
    # kept-alive connection; never more.
    assert 1 < len(faulted) <= retries**2 * (1 + BOTOCORE_MAX_ATTEMPTS) * 2, len(faulted)
    assert seconds < 60
    # Nothing published: every table keeps its version, the catalog its totals.
    assert lake_state(lake) == before
    assert catalog_totals(lake) == {PERIOD: (1000, priced_total(1000))}
    assert lake_io.list_versions(lake, "cost_line_items", PERIOD) == [before["cost_line_items"][PERIOD]]


def test_s3_lake_publish_fault_keeps_the_live_partition_and_its_record(faults, published, bucket, tmp_path):
    """The lake on S3: copying the new version into the live prefix fails -> the old version alone stays live."""
    source2, _ = published
    source = upload(tmp_path / "v1", f"{bucket}/s3lake-source", priced_rows(PERIOD, "v1", 1000))
    lake = f"{bucket}/lake"
    assert materialize(source, lake).success
    good = lake_io.current_version(lake, "cost_line_items", PERIOD)
    live = f"{storage.strip_protocol(lake)}/cost_line_items/billing_period={PERIOD}"
    old_files = sorted(storage.filesystem(lake).ls(live, detail=False))

    # The new version's files reach the history; copying them into the live prefix keeps failing.
    faults.add(Fault("500", key=r"/lake/cost_line_items/billing_period=2025-01/part-", method="PUT"))
    result = materialize(source2, lake)

    assert not result.success
    assert "copying version" in step_error(result) and "into the live prefix failed" in step_error(result)
    assert lake_io.current_version(lake, "cost_line_items", PERIOD) == good
    assert sorted(storage.filesystem(lake).ls(live, detail=False)) == old_files
    con = duck.connect()
    assert con.execute("SELECT count(*) FROM read_parquet($g)", {"g": lake_io.partition_glob(lake, "cost_line_items", PERIOD)}).fetchone() == (1000,)
    con.close()

    faults.clear()  # the store recovers: the next run publishes, and the failed upload's history is swept
    assert materialize(source2, lake).success
    assert catalog_totals(lake) == {PERIOD: (ROWS, priced_total(ROWS))}
    assert len(lake_io.list_versions(lake, "cost_line_items", PERIOD)) == 2
    history = storage.filesystem(lake).ls(f"{storage.strip_protocol(lake)}/_history/cost_line_items/billing_period={PERIOD}", detail=False)
    assert sorted(h.rsplit("/", 1)[-1] for h in history) == lake_io.list_versions(lake, "cost_line_items", PERIOD)
