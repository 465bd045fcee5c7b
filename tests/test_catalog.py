"""The analyst catalog: one view per lake table, readable while the pipeline rebuilds it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from transforms import catalog, duck, lake

ROWS_SQL = "SELECT i AS id, $tag::BIGINT AS tag, (i * 0.01)::DECIMAL(18,10) AS cost FROM range($n) t(i)"


def cost_of(n: int) -> Decimal:
    """sum(i * 0.01 for i < n), exactly."""
    return Decimal(n * (n - 1) // 2) / 100


@pytest.fixture
def con():
    c = duck.connect(threads=1)
    yield c
    c.close()


def put(con, root: str, table: str, period: str, n: int, tag: int = 0) -> lake.PublishResult:
    return lake.publish_partition(con, ROWS_SQL, root, table, period, params={"n": n, "tag": tag}, row_group_size=500, max_file_bytes=4000)


def test_empty_lake_gives_catalog_without_views(tmp_path):
    root = str(tmp_path / "lake")
    path = catalog.build_catalog(root)
    assert path == str(tmp_path / "lake" / "catalog.duckdb")
    with catalog.open_catalog(root) as cat:
        assert cat.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0] == 0
    assert sorted(p.name for p in (tmp_path / "lake").iterdir()) == ["catalog.duckdb"]  # no temp file left


def test_views_per_table_with_billing_period_and_extra_views(con, tmp_path):
    root = str(tmp_path)
    put(con, root, "costs", "2025-01", 1200, tag=1)
    put(con, root, "costs", "2025-02", 800, tag=2)
    put(con, root, "budgets", "2025-01", 3)
    extra = {
        "monthly cost": "SELECT billing_period, sum(cost) AS cost FROM costs GROUP BY billing_period",
        'o"dd': "SELECT count(*) AS n FROM budgets",
    }
    catalog.build_catalog(root, extra_views=extra)
    with catalog.open_catalog(root) as cat:
        views = {r[0] for r in cat.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert views == {"costs", "budgets", "monthly cost", 'o"dd'}
        assert dict(cat.execute('SELECT * FROM "monthly cost"').fetchall()) == {"2025-01": cost_of(1200), "2025-02": cost_of(800)}
        assert cat.execute('SELECT n FROM "o""dd"').fetchone() == (3,)
        cols = cat.execute("SELECT * FROM costs LIMIT 0").description
        assert [(d[0], str(d[1])) for d in cols] == [("id", "BIGINT"), ("tag", "BIGINT"), ("cost", "DECIMAL(18,10)"), ("billing_period", "VARCHAR")]
        with pytest.raises(duckdb.Error, match="read-only"):
            cat.execute("CREATE TABLE scratch AS SELECT 1")
    # Only the listed tables, when asked.
    catalog.build_catalog(root, tables=["budgets"])
    with catalog.open_catalog(root) as cat:
        assert [r[0] for r in cat.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()] == ["budgets"]


def test_schema_change_between_months_reads_by_name(con, tmp_path):
    root = str(tmp_path)
    put(con, root, "costs", "2025-01", 10)
    lake.publish_partition(con, "SELECT i AS id, (i * 0.5)::DECIMAL(18,10) AS cost, 'x' AS note FROM range(4) t(i)", root, "costs", "2025-02")
    catalog.build_catalog(root)
    with catalog.open_catalog(root) as cat:
        got = cat.execute("SELECT billing_period, count(*), count(note), sum(cost) FROM costs GROUP BY ALL ORDER BY 1").fetchall()
    assert got == [("2025-01", 10, 0, cost_of(10)), ("2025-02", 4, 4, Decimal("3"))]


def test_empty_partition_gives_readable_empty_view(con, tmp_path):
    root = str(tmp_path)
    put(con, root, "costs", "2025-01", 0)
    catalog.build_catalog(root)
    with catalog.open_catalog(root) as cat:
        cur = cat.execute("SELECT * FROM costs")
        assert [d[0] for d in cur.description] == ["id", "tag", "cost", "billing_period"]
        assert cur.fetchall() == []


def test_bad_extra_view_keeps_previous_catalog(con, tmp_path):
    root = str(tmp_path)
    put(con, root, "costs", "2025-01", 10)
    catalog.build_catalog(root)
    before = (tmp_path / "catalog.duckdb").read_bytes()
    with pytest.raises(lake.LakeError, match="extra view 'broken' does not build.*no_such_table"):
        catalog.build_catalog(root, extra_views={"broken": "SELECT * FROM no_such_table"})
    with pytest.raises(lake.LakeError, match="has the name of a lake table"):
        catalog.build_catalog(root, extra_views={"costs": "SELECT 1"})
    with pytest.raises(lake.LakeNameError):
        catalog.build_catalog(root, tables=["../etc"])
    assert (tmp_path / "catalog.duckdb").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".catalog")) == []


def test_open_without_catalog_is_a_clear_error(tmp_path):
    with pytest.raises(lake.LakeError, match="no catalog at .*build_catalog"):
        catalog.open_catalog(str(tmp_path))


_ANALYST = """
import json, sys, duckdb
path, ready, stop = sys.argv[1:]
import os
out = []
while not os.path.exists(stop) or not out:
    try:
        con = duckdb.connect(path, read_only=True)
        out.append(list(con.execute("SELECT count(*), min(tag), max(tag) FROM costs").fetchone()))
        con.close()
    except Exception as exc:
        out.append(str(exc))
    open(ready, "w").close()
print(json.dumps(out))
"""


def test_catalog_stays_readable_while_rebuilt(con, tmp_path):
    root = str(tmp_path)
    sizes = {k: 300 + 11 * k for k in range(13)}
    put(con, root, "costs", "2025-01", sizes[0], tag=0)
    path = catalog.build_catalog(root)

    snapshot = catalog.open_catalog(root)  # opened before the rebuilds: keeps its snapshot
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    # An analyst in another process, with plain DuckDB, the way the DuckDB CLI opens the file.
    analyst = subprocess.Popen([sys.executable, "-c", _ANALYST, path, str(ready), str(stop)], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert analyst.poll() is None and time.monotonic() < deadline, "the analyst process did not start"
        time.sleep(0.02)
    done = threading.Event()
    seen, errors = [], []

    def reader() -> None:
        while not done.is_set():
            try:
                with catalog.open_catalog(root) as cat:
                    seen.append(cat.execute("SELECT count(*), min(tag), max(tag) FROM costs").fetchone())
            except duckdb.Error as exc:
                errors.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for k in range(1, 13):
            put(con, root, "costs", "2025-01", sizes[k], tag=k)
            catalog.build_catalog(root)
            if k == 2:  # within keep_history publishes: the old snapshot still reads
                assert snapshot.execute("SELECT count(*), min(tag) FROM costs").fetchone() == (sizes[0], 0)
    finally:
        done.set()
        thread.join()
        stop.touch()
        out, _ = analyst.communicate(timeout=60)
        snapshot.close()
    analyst_seen = json.loads(out)
    assert errors == [] and [r for r in analyst_seen if isinstance(r, str)] == []
    for count, lo, hi in [*seen, *map(tuple, analyst_seen)]:
        assert lo == hi and count == sizes[lo]
    assert len(seen) >= 12 and len(analyst_seen) >= 2
    with catalog.open_catalog(root) as cat:
        assert cat.execute("SELECT count(*), min(tag) FROM costs").fetchone() == (sizes[12], 12)
    assert [p.name for p in Path(root).iterdir() if p.name.startswith(".catalog")] == []


def test_s3_catalog_is_uploaded_and_opened(s3_bucket, con):
    root = f"{s3_bucket}/lake"
    put(con, root, "costs", "2025-01", 50, tag=1)
    assert catalog.build_catalog(root) == f"{root}/catalog.duckdb"
    with catalog.open_catalog(root) as cat:
        assert cat.execute("SELECT count(*), sum(cost) FROM costs").fetchone() == (50, cost_of(50))
    put(con, root, "costs", "2025-01", 20, tag=2)
    catalog.build_catalog(root)
    with catalog.open_catalog(root) as cat:  # a new upload: a new local copy
        assert cat.execute("SELECT count(*), min(tag) FROM costs").fetchone() == (20, 2)


def test_missing_data_file_fails_the_build_not_a_later_query(con, tmp_path):
    root = str(tmp_path)
    res = put(con, root, "costs", "2025-01", 10)
    catalog.build_catalog(root)
    Path(lake.current_files(root, "costs")[0]).unlink()
    with pytest.raises(lake.LakeError, match=f"view of table 'costs' does not build.*part-{res.version}-0.parquet"):
        catalog.build_catalog(root)
    with catalog.open_catalog(root) as cat:  # the previous catalog is still there
        assert [r[0] for r in cat.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()] == ["costs"]
