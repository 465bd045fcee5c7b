"""The lake writer on a real file system: publish, read back with every reader, replace, keep
history, roll back, survive failed and killed writes and concurrent readers.

Expected totals are computed here in Python from the formula that generates the rows, not by
reading the lake back with curlake's code.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from transforms import duck, lake, periods

REPO_ROOT = Path(__file__).resolve().parents[1]

# Rows of a small cost table: id, a tag telling which publish wrote it, exact money, the types
# of cost_line_items (timestamp without zone, date, map, double, boolean).
ROWS_SQL = """
SELECT
    i AS id,
    $tag::BIGINT AS tag,
    (((i * 37) % 10007) * 0.0001)::DECIMAL(18,10) AS cost,
    TIMESTAMP '2025-01-01 00:00:00' + to_hours(i % 744) AS usage_start,
    (DATE '2025-01-01' + (i % 31)::INTEGER) AS usage_date,
    ['team-' || (i % 3)::VARCHAR] AS teams,
    map(['team'], ['team-' || (i % 3)::VARCHAR]) AS tags,
    (i % 5) * 0.5 AS usage_amount,
    i % 2 = 0 AS is_even
FROM range($n) t(i)
"""


def expected_cost(n: int) -> Decimal:
    return sum(Decimal((i * 37) % 10007) for i in range(n)) / 10000


def publish(con, lake_dir, period: str, n: int, tag: int = 0, **kw) -> lake.PublishResult:
    return lake.publish_partition(con, ROWS_SQL, str(lake_dir), "costs", period, params={"n": n, "tag": tag}, **kw)


def glob_totals(con, lake_dir, table="costs") -> dict[str, tuple[int, Decimal]]:
    rows = con.execute(
        "SELECT billing_period, count(*), sum(cost) FROM read_parquet($g, hive_partitioning = true) GROUP BY ALL",
        {"g": lake.partition_glob(str(lake_dir), table)},
    ).fetchall()
    return {p: (c, s) for p, c, s in rows}


@pytest.fixture
def con():
    c = duck.connect(threads=2)
    yield c
    c.close()


def test_publish_reads_back_equal_in_duckdb_polars_pyarrow(con, tmp_path):
    lake_dir = tmp_path / "lake"
    sizes = {"2025-01": 5000, "2025-02": 3001}
    results = {p: publish(con, lake_dir, p, n, row_group_size=1000, max_file_bytes=10_000) for p, n in sizes.items()}
    expected = {p: (n, expected_cost(n)) for p, n in sizes.items()}

    for period, res in results.items():
        assert res.rows == sizes[period] and res.previous_version is None
        assert len(res.files) > 1, "small max_file_bytes must rotate files"
        assert [os.path.basename(f) for f in res.files] == [f"part-{res.version}-{i}.parquet" for i in range(len(res.files))]
        assert sorted(res.files) == sorted(str(p) for p in (lake_dir / "costs" / f"billing_period={period}").iterdir())
        assert res.bytes == sum(os.path.getsize(f) for f in res.files)
        assert lake.current_version(str(lake_dir), "costs", period) == res.version

    # DuckDB, over the glob external readers use.
    assert glob_totals(con, lake_dir) == expected
    # polars, over the `**` glob.
    df = (
        pl.scan_parquet(f"{lake_dir}/costs/**/*.parquet", hive_partitioning=True, hive_schema={"billing_period": pl.String})
        .group_by("billing_period").agg(pl.len().alias("rows"), pl.col("cost").sum())
        .collect()
    )
    assert {r["billing_period"]: (r["rows"], r["cost"]) for r in df.iter_rows(named=True)} == expected
    # pyarrow dataset discovery over the table folder (ignores _versions).
    table = ds.dataset(str(lake_dir / "costs"), format="parquet", partitioning=ds.partitioning(pa.schema([("billing_period", pa.string())]), flavor="hive")).to_table()
    got = table.group_by("billing_period").aggregate([("id", "count"), ("cost", "sum")]).to_pylist()
    assert {r["billing_period"]: (r["id_count"], r["cost_sum"]) for r in got} == expected

    # Standard Parquet types only, and no billing_period inside the files.
    schema = pq.read_schema(results["2025-01"].files[0])
    assert "billing_period" not in schema.names
    assert schema.field("cost").type == pa.decimal128(18, 10)
    assert schema.field("usage_start").type == pa.timestamp("us")  # no time zone
    assert schema.field("usage_date").type == pa.date32()
    assert schema.field("tags").type == pa.map_(pa.string(), pa.string())
    assert schema.field("teams").type == pa.list_(pa.string())
    assert pq.ParquetFile(results["2025-01"].files[0]).metadata.row_group(0).column(0).compression == "ZSTD"


def test_sort_by_orders_rows_within_and_across_files(con, tmp_path):
    res = lake.publish_partition(
        con, "SELECT i AS id, (i * 7919) % 100003 AS k FROM range(60000) t(i)", str(tmp_path), "sorted_t", "2025-03",
        sort_by=["k", "id"], row_group_size=2048, max_file_bytes=60_000,
    )
    assert len(res.files) > 2
    keys = []
    for f in res.files:  # in file-number order
        keys.extend(pq.read_table(f, columns=["k"]).column("k").to_pylist())
    assert len(keys) == 60000 and keys == sorted(keys)


def test_republish_replaces_and_keeps_previous_in_history(con, tmp_path):
    first = publish(con, tmp_path, "2025-01", 1000, tag=1)
    second = publish(con, tmp_path, "2025-01", 700, tag=2)
    assert second.previous_version == first.version
    assert glob_totals(con, tmp_path) == {"2025-01": (700, expected_cost(700))}
    live = tmp_path / "costs" / "billing_period=2025-01"
    assert all(first.version not in p.name for p in live.iterdir())
    assert lake.list_versions(str(tmp_path), "costs", "2025-01") == [first.version, second.version]
    old = tmp_path / "_history" / "costs" / "billing_period=2025-01" / first.version
    count, cost = con.execute("SELECT count(*), sum(cost) FROM read_parquet($g)", {"g": f"{old}/*.parquet"}).fetchone()
    assert (count, cost) == (1000, expected_cost(1000))
    state = json.loads((tmp_path / "costs" / "_versions" / "billing_period=2025-01.json").read_text())
    assert state["current"]["version"] == second.version and state["current"]["rows"] == 700
    assert [r["version"] for r in state["history"]] == [first.version]


def test_identical_input_twice_gives_identical_content_and_new_version(con, tmp_path):
    a = publish(con, tmp_path, "2025-02", 2500, lineage={"delivery_id": "d-1"})
    b = publish(con, tmp_path, "2025-02", 2500, lineage={"delivery_id": "d-1"})
    assert a.version < b.version
    hist = tmp_path / "_history" / "costs" / "billing_period=2025-02"
    files = {v: [str(p) for p in (hist / v).iterdir()] for v in (a.version, b.version)}
    diff = "SELECT count(*) FROM (SELECT * FROM read_parquet($x) EXCEPT ALL SELECT * FROM read_parquet($y))"
    assert con.execute(diff, {"x": files[a.version], "y": files[b.version]}).fetchone()[0] == 0
    assert con.execute(diff, {"x": files[b.version], "y": files[a.version]}).fetchone()[0] == 0
    assert a.rows == b.rows == 2500
    state = json.loads((tmp_path / "costs" / "_versions" / "billing_period=2025-02.json").read_text())
    assert state["current"]["lineage"] == {"delivery_id": "d-1"}


def test_history_keeps_only_the_last_versions(con, tmp_path):
    versions = [publish(con, tmp_path, "2025-01", 100 + i, tag=i, keep_history=2).version for i in range(5)]
    assert lake.list_versions(str(tmp_path), "costs", "2025-01") == versions[-3:]
    on_disk = sorted(p.name for p in (tmp_path / "_history" / "costs" / "billing_period=2025-01").iterdir())
    assert on_disk == versions[-3:]


def test_rollback_restores_previous_totals(con, tmp_path):
    root = str(tmp_path)
    v = [publish(con, tmp_path, "2025-01", n, tag=i).version for i, n in enumerate([300, 500, 800])]
    publish(con, tmp_path, "2025-02", 50)
    assert glob_totals(con, tmp_path)["2025-01"] == (800, expected_cost(800))

    assert lake.rollback(root, "costs", "2025-01") == v[1]
    assert lake.current_version(root, "costs", "2025-01") == v[1]
    assert glob_totals(con, tmp_path) == {"2025-01": (500, expected_cost(500)), "2025-02": (50, expected_cost(50))}
    assert con.execute(f"SELECT count(*) FROM {lake.read_partition_sql(root, 'costs', '2025-01')}").fetchone()[0] == 500

    assert lake.rollback(root, "costs", "2025-01") == v[0]  # walks further back
    assert glob_totals(con, tmp_path)["2025-01"] == (300, expected_cost(300))
    assert lake.rollback(root, "costs", "2025-01", v[2]) == v[2]  # undo, by name
    assert glob_totals(con, tmp_path)["2025-01"] == (800, expected_cost(800))
    assert lake.list_versions(root, "costs", "2025-01") == v

    with pytest.raises(lake.LakeError, match="is not retained"):
        lake.rollback(root, "costs", "2025-01", "20000101T000000000000Z-abcdef")
    with pytest.raises(lake.LakeError, match="no version older"):
        lake.rollback(root, "costs", "2025-02")
    with pytest.raises(lake.LakeError, match="never published"):
        lake.rollback(root, "costs", "2025-03")


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if not p.name.endswith(".lock"))


def test_failed_write_leaves_previous_partition_intact(con, tmp_path):
    good = publish(con, tmp_path, "2025-01", 4000)
    before = _tree(tmp_path)
    bad = "SELECT i AS id, CASE WHEN i = 150000 THEN error('bad row: id 150000 has no account') ELSE i END AS v FROM range(200000) t(i)"
    with pytest.raises(lake.LakeError, match=r"costs/billing_period=2025-01: writing version .* failed.*bad row: id 150000"):
        lake.publish_partition(con, bad, str(tmp_path), "costs", "2025-01", row_group_size=2048, max_file_bytes=20_000)
    assert _tree(tmp_path) == before  # no staging left, no history entry, same live files
    assert lake.current_version(str(tmp_path), "costs", "2025-01") == good.version
    assert glob_totals(con, tmp_path) == {"2025-01": (4000, expected_cost(4000))}


def test_billing_period_column_is_checked_and_not_stored(con, tmp_path):
    sql = "SELECT i AS id, '2025-04' AS billing_period FROM range(10) t(i) -- a trailing comment\n;"
    res = lake.publish_partition(con, sql, str(tmp_path), "t", "2025-04")
    assert pq.read_schema(res.files[0]).names == ["id"]
    assert con.execute(f"SELECT DISTINCT billing_period FROM {lake.read_partition_sql(str(tmp_path), 't')}").fetchall() == [("2025-04",)]
    mixed = "SELECT i AS id, CASE WHEN i = 7 THEN '2025-05' ELSE '2025-04' END AS billing_period FROM range(10) t(i)"
    with pytest.raises(lake.LakeError, match="row with billing_period '2025-05' cannot be published to t/billing_period=2025-04"):
        lake.publish_partition(con, mixed, str(tmp_path), "t", "2025-04")
    assert lake.current_version(str(tmp_path), "t", "2025-04") == res.version


@pytest.mark.parametrize(
    ("select", "column", "hint"),
    [
        ("SELECT sum(i) AS total FROM range(10) t(i)", "total", "HUGEINT"),
        ("SELECT now() AS at", "at", "AT TIME ZONE"),
        ("SELECT 1 AS ok, [gen_random_uuid()] AS ids", "ids", "UUID"),
        ("SELECT 1::UBIGINT AS n", "n", "BIGINT"),
    ],
)
def test_types_not_every_reader_reads_are_rejected(con, tmp_path, select, column, hint):
    with pytest.raises(lake.LakeError, match=f"column '{column}' has type .*{hint}"):
        lake.publish_partition(con, select, str(tmp_path), "t", "2025-01")
    assert not (tmp_path / "t").exists()


def test_bad_arguments_get_clear_errors(con, tmp_path):
    with pytest.raises(lake.LakeError, match="sort_by column 'nope'"):
        lake.publish_partition(con, "SELECT 1 AS a", str(tmp_path), "t", "2025-01", sort_by=["nope"])
    with pytest.raises(lake.LakeError, match="does not run.*no_such_table"):
        lake.publish_partition(con, "SELECT * FROM no_such_table", str(tmp_path), "t", "2025-01")
    with pytest.raises(lake.LakeError, match="params apply to SQL text only"):
        lake.publish_partition(con, con.sql("SELECT 1 AS a"), str(tmp_path), "t", "2025-01", params={"x": 1})
    other = duck.connect()
    with pytest.raises(lake.LakeError, match="must come from the connection"):
        lake.publish_partition(con, other.sql("SELECT 1 AS a"), str(tmp_path), "t", "2025-01")
    with pytest.raises(lake.LakeError, match="reserved"):
        lake.publish_partition(con, "SELECT $curlake_target AS a", str(tmp_path), "t", "2025-01", params={"curlake_target": 1})
    with pytest.raises(lake.LakeError, match="JSON-serializable"):
        lake.publish_partition(con, "SELECT 1 AS a", str(tmp_path), "t", "2025-01", lineage={"at": object()})
    v = lake.publish_partition(con, "SELECT 1 AS a", str(tmp_path), "t", "2025-01").version
    with pytest.raises(lake.LakeError, match="already exists"):
        lake.publish_partition(con, "SELECT 1 AS a", str(tmp_path), "t", "2025-01", version=v)


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "", "Costs", "_history", ".staging", "x y", "a\x00b", "é", "a" * 64, None])
def test_hostile_table_names_rejected(con, tmp_path, name):
    with pytest.raises(lake.LakeNameError, match="table name"):
        lake.publish_partition(con, "SELECT 1 AS a", str(tmp_path / "lake"), name, "2025-01")
    with pytest.raises(lake.LakeNameError):
        lake.partition_glob(str(tmp_path / "lake"), name)
    with pytest.raises(lake.LakeNameError):
        lake.rollback(str(tmp_path / "lake"), name, "2025-01")
    assert not (tmp_path / "lake").exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize("period", ["2025-13", "2025-1", "../2025-01", "2025-01/..", "2025-00", ""])
def test_hostile_partition_keys_rejected(con, tmp_path, period):
    with pytest.raises(periods.PeriodError):
        lake.publish_partition(con, "SELECT 1 AS a", str(tmp_path / "lake"), "t", period)
    with pytest.raises(periods.PeriodError):
        lake.partition_glob(str(tmp_path / "lake"), "t", period)
    assert not (tmp_path / "lake").exists()


def test_versions_are_sortable_and_unique():
    made = [lake.new_version() for _ in range(2000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    with pytest.raises(lake.LakeNameError):
        lake.validate_version("../../etc")


def test_empty_partition_is_a_readable_file_with_columns(con, tmp_path):
    res = publish(con, tmp_path, "2025-06", 0)
    assert res.rows == 0 and len(res.files) == 1
    cur = con.execute(f"SELECT * FROM {lake.read_partition_sql(str(tmp_path), 'costs', '2025-06')}")
    assert [d[0] for d in cur.description] == ["id", "tag", "cost", "usage_start", "usage_date", "teams", "tags", "usage_amount", "is_even", "billing_period"]
    assert cur.fetchall() == []


# --------------------------------------------------------------------------- killed and concurrent

_SLOW_PUBLISH = """
import sys, time
from transforms import duck, lake
con = duck.connect(threads=1)
con.create_function("slow", lambda x: (time.sleep(0.0002), x)[1], ["BIGINT"], "BIGINT")
lake.publish_partition(con, "SELECT slow(i) AS id FROM range(1000000) t(i)", sys.argv[1], "costs", "2025-01",
                       row_group_size=1000, max_file_bytes=2000)
"""


def test_killed_write_leaves_live_partition_and_its_staging_is_cleaned(con, tmp_path):
    good = publish(con, tmp_path, "2025-01", 1234)
    staging = tmp_path / "_staging" / "costs"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_PUBLISH, str(tmp_path)], cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 60
        while not list(staging.glob("*/billing_period=2025-01/part-*.parquet")):
            assert proc.poll() is None and time.monotonic() < deadline, "the slow publish never started writing"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    leftovers = [p for p in staging.iterdir() if not p.name.startswith("billing_period=")]
    assert leftovers, "the killed run left its staging folder and lock"
    assert lake.current_version(str(tmp_path), "costs", "2025-01") == good.version
    assert glob_totals(con, tmp_path) == {"2025-01": (1234, expected_cost(1234))}

    # A run that is still alive (its lock held) is older than the next publish too: keep it.
    alive = lake.new_version()
    (staging / alive / "billing_period=2025-02").mkdir(parents=True)
    with open(staging / f"{alive}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        publish(con, tmp_path, "2025-01", 10)
        remaining = sorted(p.name for p in staging.iterdir() if not p.name.startswith("billing_period="))
        assert remaining == [alive, f"{alive}.lock"]
    assert glob_totals(con, tmp_path) == {"2025-01": (10, expected_cost(10))}
    # Once its process is gone, the next publish of the table (any partition) cleans it, and a
    # lock file a run never got to name, once it is an hour old.
    stale_tmp, fresh_tmp = staging / f".{alive}.0a0b.lock-tmp", staging / f".{lake.new_version()}.0c0d.lock-tmp"
    stale_tmp.touch()
    fresh_tmp.touch()
    os.utime(stale_tmp, (time.time() - 7200, time.time() - 7200))
    publish(con, tmp_path, "2025-02", 5)
    assert not stale_tmp.exists() and fresh_tmp.exists()
    fresh_tmp.unlink()
    assert sorted(p.name for p in staging.iterdir()) == ["billing_period=2025-01.lock", "billing_period=2025-02.lock"]


def test_concurrent_readers_see_only_complete_versions(tmp_path):
    root = str(tmp_path)
    sizes = {k: 2000 + 97 * k for k in range(21)}
    writer_con = duck.connect(threads=1)
    publish(writer_con, tmp_path, "2025-03", sizes[0], tag=0, row_group_size=256, max_file_bytes=6000)
    done = threading.Event()
    seen = {"pinned": [], "glob": []}
    errors = {"pinned": [], "glob": []}

    def read_loop(kind: str) -> None:
        con = duck.connect(threads=1)
        while not done.is_set():
            if kind == "pinned":
                sql, params = f"SELECT count(*), min(tag), max(tag) FROM {lake.read_partition_sql(root, 'costs', '2025-03')}", {}
            else:
                sql, params = "SELECT count(*), min(tag), max(tag) FROM read_parquet($g)", {"g": lake.partition_glob(root, "costs", "2025-03")}
            try:
                seen[kind].append(con.execute(sql, params).fetchone())
            except duckdb.Error as exc:
                errors[kind].append(str(exc))
        con.close()

    readers = [threading.Thread(target=read_loop, args=(k,)) for k in ("pinned", "glob")]
    for t in readers:
        t.start()
    def reads() -> int:
        return min(len(seen[kind]) + len(errors[kind]) for kind in seen)

    try:
        for k in range(1, 21):
            before, deadline = reads(), time.monotonic() + 30
            while reads() == before and time.monotonic() < deadline:  # each reader reads between publishes
                time.sleep(0.001)
            publish(writer_con, tmp_path, "2025-03", sizes[k], tag=k, row_group_size=256, max_file_bytes=6000)
    finally:
        done.set()
        for t in readers:
            t.join()
    assert len(lake.list_versions(root, "costs", "2025-03")) == 4
    assert errors["pinned"] == []
    for kind in ("pinned", "glob"):
        assert len(seen[kind]) >= 20, kind
        for count, lo, hi in seen[kind]:
            assert lo == hi and count == sizes[lo], (kind, count, lo, hi)  # one complete version
    # A glob that lists the directory just before a swap can fail after it, with one of two IO
    # errors (files listed but gone, or the old directory emptied while listed): never wrong rows.
    transient = ("No such file or directory", "No files found that match the pattern")
    assert [e for e in errors["glob"] if not any(t in e for t in transient)] == []
    assert {s[1] for s in seen["pinned"]} & set(range(1, 21)), "readers never overlapped a publish"


# --------------------------------------------------------------------------- S3


def test_s3_lake_publish_replace_rollback(s3_bucket, con):
    root = f"{s3_bucket}/lake"
    first = publish(con, root, "2025-01", 900, tag=1, max_file_bytes=20_000, row_group_size=500)
    second = publish(con, root, "2025-01", 400, tag=2)
    assert second.previous_version == first.version
    assert glob_totals(con, root) == {"2025-01": (400, expected_cost(400))}
    assert lake.list_tables(root) == ["costs"] and lake.list_versions(root, "costs", "2025-01") == [first.version, second.version]
    assert lake.rollback(root, "costs", "2025-01") == first.version
    assert glob_totals(con, root) == {"2025-01": (900, expected_cost(900))}
    assert con.execute(f"SELECT count(*), min(tag) FROM {lake.read_partition_sql(root, 'costs')}").fetchone() == (900, 1)


def test_staged_partition_is_audited_where_it_lies_and_published_by_rename(tmp_path):
    """stage_partition: the files a gate reads are the files published; unpublished, nothing stays."""
    root = str(tmp_path / "lake")
    con = duck.connect(s3=False)
    rows = "SELECT i AS n, CAST(i AS DECIMAL(18,10)) AS cost FROM range(5) t(i)"
    with lake.stage_partition(con, rows, root, "t", "2025-01") as staged:  # left unpublished: a failed gate
        assert con.execute(f"SELECT count(*), sum(cost) FROM {staged.read_sql()}").fetchone() == (5, Decimal("10"))
    assert lake.list_partitions(root, "t") == [] and _tree(tmp_path / "lake" / "_staging" / "t") == []
    with lake.stage_partition(con, rows, root, "t", "2025-01") as staged:
        names = [os.path.basename(p) for p in staged.paths]
        result = staged.publish(lineage={"audited": True})
        with pytest.raises(lake.LakeError, match="is published"):
            staged.read_sql()
    assert [os.path.basename(f) for f in result.files] == names and result.rows == 5
    assert con.execute(f"SELECT sum(cost) FROM {lake.read_partition_sql(root, 't', '2025-01')}").fetchone() == (Decimal("10"),)
