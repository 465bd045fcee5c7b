"""Day-scoped rebuilds after a re-delivery: digests per day, and curated tables that rebuild only
the changed days yet equal a full rebuild from scratch.

Most re-deliveries are made on cost_line_items itself (published here with the per-day digests
ingestion records, through transforms.lake.publish_partition): one day's costs and tags changed,
a day removed, the day added back, the same rows again; one goes end to end, the export's files
overwritten and ingested by the cost_line_items asset. Each result is compared with a full build
of the same inputs by the table's own build function, independently of the day-scoped path:
EXCEPT ALL both ways and exact sums of every DECIMAL column.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.assets.cost_line_items import PROVENANCE_COLUMNS
from orchestration.assets.curated import TABLES, BuildContext, open_inputs
from orchestration.definitions import ASSETS
from orchestration.resources import REPO_ROOT, CurlakeSettings
from orchestration.run import _root_cause
from transforms import duck, lake, schema
from transforms.day_digests import DigestError, changed_days, day_digests, table_digest
from transforms.discover import discover
from transforms.generate import generate
from transforms.readers import read_delivery

PERIOD = "2025-01"
DAY_SCOPED = ("cost_allocation", "shared_cost_split")
CHANGED_DAY = "2025-01-15"
LAST_DAY = "2025-01-31"


# ----------------------------------------------------------------------------------- digests


@pytest.fixture
def con():
    con = duck.connect(s3=False)
    yield con
    con.close()


# One value per canonical type that differs from the one the rows below hold.
_OTHER_VALUE = {
    "VARCHAR": "'changed'",
    "TIMESTAMP": "TIMESTAMP '2025-01-02 05:00:00'",
    "DATE": "DATE '2025-01-03'",
    "DOUBLE": "123.5",
    schema.MONEY: "CAST(0.0000000001 AS DECIMAL(18,10))",
    "MAP(VARCHAR, VARCHAR)": "MAP {'team': 'changed'}",
}


def _line_items(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Four canonical rows: two on 2025-01-01, two on 2025-01-02 (row ids 1-4 in line_item_id)."""
    con.execute(schema.create_table_sql(name))
    for i, day in enumerate(["2025-01-01", "2025-01-01", "2025-01-02", "2025-01-02"], start=1):
        con.execute(
            f'INSERT INTO "{name}" (billing_period, usage_start, usage_date, payer_account_id, usage_account_id, '
            "service_code, line_item_type, charge_category, purchase_option, currency, unblended_cost, net_unblended_cost, "
            "amortized_cost, net_amortized_cost, public_on_demand_cost, tags, line_item_id, source_format, source_file, delivery_id, "
            "usage_amount) VALUES ('2025-01', CAST($day AS TIMESTAMP), CAST($day AS DATE), 'p', 'a', 'AmazonEC2', 'Usage', "
            "'Usage', 'OnDemand', 'USD', 1.25, 1.25, 1.25, 1.25, 2, MAP {'team': 'search'}, $id, 'cur2-parquet', 'f.parquet', 'd', 1.0)",
            {"day": day, "id": f"id-{i}"},
        )


def test_digests_ignore_row_order_and_see_a_change_in_any_column(con):
    _line_items(con, "li")
    base = day_digests(con, "SELECT * FROM li")
    assert sorted(base) == ["2025-01-01", "2025-01-02"]
    assert day_digests(con, "SELECT * FROM li ORDER BY line_item_id DESC") == base
    for column in schema.COST_LINE_ITEMS:
        con.execute("CREATE OR REPLACE TABLE li2 AS SELECT * FROM li")
        con.execute(f'UPDATE li2 SET "{column.name}" = {_OTHER_VALUE[column.type]} WHERE line_item_id = \'id-3\'')
        changed = changed_days(base, day_digests(con, "SELECT * FROM li2"))
        # Row 3 is on 2025-01-02; moving it to 2025-01-03 changes that day too.
        expected = ["2025-01-02", "2025-01-03"] if column.name == "usage_date" else ["2025-01-02"]
        assert changed == expected, column.name


def test_two_equal_rows_changed_alike_change_the_digest(con):
    """With bit_xor alone, two equal rows hash to 0 together whatever they hold."""
    _line_items(con, "li")
    con.execute("UPDATE li SET line_item_id = 'same' WHERE usage_date = DATE '2025-01-02'")
    base = day_digests(con, "SELECT * FROM li")
    con.execute("UPDATE li SET tags = MAP {'team': 'checkout'} WHERE usage_date = DATE '2025-01-02'")
    assert changed_days(base, day_digests(con, "SELECT * FROM li")) == ["2025-01-02"]


def test_digests_with_bound_parameters_and_changed_days(con):
    _line_items(con, "li")
    one = day_digests(con, "SELECT * FROM li WHERE line_item_id <> $skip", {"skip": "id-4"})
    both = day_digests(con, "SELECT * FROM li")
    assert changed_days(both, one) == ["2025-01-02"]
    assert changed_days(one, one) == []
    assert changed_days({"2025-01-01": "a"}, {"2025-01-02": "b"}) == ["2025-01-01", "2025-01-02"]  # removed, added
    assert changed_days({}, {"2025-01-05": "x", "2025-01-04": "y"}) == ["2025-01-04", "2025-01-05"]


def test_table_digest_is_order_independent_and_content_sensitive(con):
    _line_items(con, "li")
    assert table_digest(con, "SELECT * FROM li") == table_digest(con, "SELECT * FROM li ORDER BY line_item_id DESC")
    assert table_digest(con, "SELECT * FROM li") != table_digest(con, "SELECT * REPLACE (usage_amount + 1 AS usage_amount) FROM li")


def test_digest_errors_name_the_column(con):
    _line_items(con, "li")
    with pytest.raises(DigestError, match="column 'usage_date' not found; columns: \\['line_item_id'\\]"):
        day_digests(con, "SELECT line_item_id FROM li")
    with pytest.raises(DigestError, match="column 'usage_date' has type TIMESTAMP, expected DATE"):
        day_digests(con, "SELECT usage_start AS usage_date FROM li")
    with pytest.raises(DigestError, match="2 row\\(s\\) have a NULL usage_date"):
        day_digests(con, "SELECT * REPLACE (CASE WHEN line_item_id IN ('id-1', 'id-4') THEN NULL ELSE usage_date END AS usage_date) FROM li")
    with pytest.raises(DigestError, match="the relation does not run"):
        day_digests(con, "SELECT * FROM no_such_table")


# ----------------------------------------------------------------------------------- rebuilds


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("day-scoped")
    generate(str(root / "source"), [PERIOD], 10_000, seed=11)
    return str(root / "source")


@pytest.fixture
def delivered(source):
    """The generated delivery read into DuckDB (table ``delivered``): the line items as ingested."""
    con = duck.connect(s3=False)
    (delivery,) = discover(source)
    read_delivery(con, delivery).create("delivered")
    yield con
    con.close()


def publish_line_items(con: duckdb.DuckDBPyConnection, lake_root: str, query: str) -> dict[str, str]:
    """Publish ``query`` as cost_line_items with its day digests, as ingestion records them."""
    con.execute(f"CREATE OR REPLACE TABLE line_items AS {query}")
    digests = day_digests(con, f"SELECT * EXCLUDE ({', '.join(PROVENANCE_COLUMNS)}) FROM line_items")
    lake.publish_partition(con, "SELECT * FROM line_items", lake_root, "cost_line_items", PERIOD,
                           lineage={"day_digests": digests})
    return digests


def materialize(settings: CurlakeSettings, *assets: str) -> dict[str, dict]:
    result = dg.materialize(
        ASSETS, selection=list(assets), partition_key=PERIOD, instance=dg.DagsterInstance.get(),
        resources={"settings": settings}, run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    assert result.success, [_root_cause(e.step_failure_data.error) for e in result.all_events if e.is_step_failure]
    return {
        ev.step_materialization_data.materialization.asset_key.to_user_string():
            {k: v.value for k, v in ev.step_materialization_data.materialization.metadata.items()}
        for ev in result.get_asset_materialization_events()
    }


def current_lineage(lake_root: str, table: str) -> dict:
    version = lake.current_version(lake_root, table, PERIOD)
    return next(r for r in lake.version_records(lake_root, table, PERIOD) if r["version"] == version)["lineage"]


def rebuilt_days(lake_root: str) -> dict[str, object]:
    return {t: current_lineage(lake_root, t)["rebuilt_days"] for t in DAY_SCOPED}


def assert_equals_full_rebuild(settings: CurlakeSettings, name: str) -> None:
    """The published partition equals the table's own full build of the same inputs."""
    table = TABLES[name]
    con = duck.connect(s3=False)
    try:
        open_inputs(con, settings, PERIOD, table.inputs, table.history_inputs)
        table.build(BuildContext(settings, PERIOD, con, logging.getLogger(__name__))).create("expected")
        columns = ", ".join(f'"{c}"' for c in con.table("expected").columns)
        con.execute(f"CREATE TABLE published AS SELECT {columns} FROM {lake.read_partition_sql(settings.lake, name, PERIOD)}")
        [(missing,)] = con.execute("SELECT count(*) FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM published)").fetchall()
        [(extra,)] = con.execute("SELECT count(*) FROM (SELECT * FROM published EXCEPT ALL SELECT * FROM expected)").fetchall()
        assert (missing, extra) == (0, 0), name
        money = [c for c, t in zip(con.table("expected").columns, con.table("expected").types) if str(t).startswith("DECIMAL")]
        totals = ", ".join(f'sum("{c}")' for c in money) + ", count(*)"
        assert con.execute(f"SELECT {totals} FROM published").fetchall() == con.execute(f"SELECT {totals} FROM expected").fetchall()
    finally:
        con.close()


def day_rows(lake_root: str, name: str, day: str) -> list[tuple]:
    con = duck.connect(s3=False)
    try:
        return sorted(con.execute(f"SELECT * EXCLUDE (billing_period) FROM {lake.read_partition_sql(lake_root, name, PERIOD)} "
                                  "WHERE usage_date = CAST($day AS DATE)", {"day": day}).fetchall(), key=repr)
    finally:
        con.close()


# Day 15 re-delivered: every cost up 1%, and a fifth of its tagged rows lose their tags (owner changes).
CHANGE_DAY_15 = f"""
SELECT * REPLACE (
    CASE WHEN usage_date = DATE '{CHANGED_DAY}' THEN CAST(round(unblended_cost * 1.01, 10) AS DECIMAL(18,10)) ELSE unblended_cost END AS unblended_cost,
    CASE WHEN usage_date = DATE '{CHANGED_DAY}' THEN CAST(round(net_unblended_cost * 1.01, 10) AS DECIMAL(18,10)) ELSE net_unblended_cost END AS net_unblended_cost,
    CASE WHEN usage_date = DATE '{CHANGED_DAY}' THEN CAST(round(amortized_cost * 1.01, 10) AS DECIMAL(18,10)) ELSE amortized_cost END AS amortized_cost,
    CASE WHEN usage_date = DATE '{CHANGED_DAY}' THEN CAST(round(net_amortized_cost * 1.01, 10) AS DECIMAL(18,10)) ELSE net_amortized_cost END AS net_amortized_cost,
    CASE WHEN usage_date = DATE '{CHANGED_DAY}' AND hash(line_item_id) % 5 = 0 THEN NULL ELSE tags END AS tags
) FROM delivered
"""


def test_one_changed_day_removed_day_and_added_day_rebuild_only_that_day(source, delivered, tmp_path, dagster_home):
    settings = CurlakeSettings(source=source, lake=str(tmp_path / "lake"))
    first = publish_line_items(delivered, settings.lake, "SELECT * FROM delivered")
    meta = materialize(settings, "business_metrics_daily", *DAY_SCOPED)
    assert rebuilt_days(settings.lake) == {t: "full" for t in DAY_SCOPED}
    assert meta["cost_allocation"]["rebuild_reason"] == "first build of the partition"
    before = {t: day_rows(settings.lake, t, CHANGED_DAY) for t in DAY_SCOPED}

    # One day changed: only it is rebuilt, and the result is a full rebuild's.
    assert changed_days(first, publish_line_items(delivered, settings.lake, CHANGE_DAY_15)) == [CHANGED_DAY]
    meta = materialize(settings, *DAY_SCOPED)
    assert rebuilt_days(settings.lake) == {t: [CHANGED_DAY] for t in DAY_SCOPED}
    assert meta["cost_allocation"]["rebuild"] == "day-scoped" and meta["cost_allocation"]["rebuilt_days"] == [CHANGED_DAY]
    for t in DAY_SCOPED:
        assert day_rows(settings.lake, t, CHANGED_DAY) != before[t]  # the change reached the table
        assert_equals_full_rebuild(settings, t)

    # The last day removed, then added back.
    publish_line_items(delivered, settings.lake, f"SELECT * FROM ({CHANGE_DAY_15}) WHERE usage_date <> DATE '{LAST_DAY}'")
    materialize(settings, *DAY_SCOPED)
    assert rebuilt_days(settings.lake) == {t: [LAST_DAY] for t in DAY_SCOPED}
    for t in DAY_SCOPED:
        assert day_rows(settings.lake, t, LAST_DAY) == []
        assert_equals_full_rebuild(settings, t)
    publish_line_items(delivered, settings.lake, CHANGE_DAY_15)
    materialize(settings, *DAY_SCOPED)
    assert rebuilt_days(settings.lake) == {t: [LAST_DAY] for t in DAY_SCOPED}
    for t in DAY_SCOPED:
        assert day_rows(settings.lake, t, LAST_DAY) != []
        assert_equals_full_rebuild(settings, t)

    # The same rows delivered again and the business metrics re-published unchanged (new
    # versions, same content, as every refresh run does): nothing is rebuilt.
    publish_line_items(delivered, settings.lake, CHANGE_DAY_15)
    materialize(settings, "business_metrics_daily", *DAY_SCOPED)
    assert rebuilt_days(settings.lake) == {t: [] for t in DAY_SCOPED}
    for t in DAY_SCOPED:
        assert_equals_full_rebuild(settings, t)


def test_config_or_input_change_or_half_the_month_rebuilds_fully(source, delivered, tmp_path, dagster_home):
    config = tmp_path / "allocation.yaml"
    config.write_text((REPO_ROOT / "config" / "allocation.yaml").read_text())
    settings = CurlakeSettings(source=source, lake=str(tmp_path / "lake"), allocation_config=str(config))
    publish_line_items(delivered, settings.lake, "SELECT * FROM delivered")
    materialize(settings, "business_metrics_daily", *DAY_SCOPED)

    # The allocation config changed (network split evenly instead of by direct cost), line items not.
    text = config.read_text()
    network = text.index("  network:")
    config.write_text(text[:network] + text[network:].replace("method: proportional", "method: even", 1))
    meta = materialize(settings, *DAY_SCOPED)
    assert rebuilt_days(settings.lake) == {t: "full" for t in DAY_SCOPED}
    assert "the build (SQL, code or configuration) changed" in meta["cost_allocation"]["rebuild_reason"]
    for t in DAY_SCOPED:
        assert_equals_full_rebuild(settings, t)

    # Another input changed: one day's requests (the shared-eks driver) in the metrics file.
    metrics = Path(source) / "business_metrics" / "metrics_daily.csv"
    original = metrics.read_text()
    lines = original.splitlines(keepends=True)
    fields = lines[40].split(",")
    fields[6] = str(int(fields[6]) * 3)
    metrics.write_text("".join(lines[:40] + [",".join(fields)] + lines[41:]))
    try:
        meta = materialize(settings, "business_metrics_daily", *DAY_SCOPED)
    finally:
        metrics.write_text(original)
    assert rebuilt_days(settings.lake) == {t: "full" for t in DAY_SCOPED}
    assert meta["shared_cost_split"]["rebuild_reason"].startswith("input business_metrics_daily changed")
    for t in DAY_SCOPED:
        assert_equals_full_rebuild(settings, t)

    # Under the new config and metrics, one changed day is day-scoped again.
    publish_line_items(delivered, settings.lake, CHANGE_DAY_15)
    materialize(settings, *DAY_SCOPED)
    assert rebuilt_days(settings.lake) == {t: [CHANGED_DAY] for t in DAY_SCOPED}
    for t in DAY_SCOPED:
        assert_equals_full_rebuild(settings, t)

    # Half the month changed (days 1-16 of 31): a full build.
    publish_line_items(delivered, settings.lake, "SELECT * REPLACE (CASE WHEN usage_date <= DATE '2025-01-16' THEN "
                                                 "CAST(unblended_cost + 1 AS DECIMAL(18,10)) ELSE unblended_cost END AS unblended_cost) "
                                                 f"FROM ({CHANGE_DAY_15})")
    meta = materialize(settings, *DAY_SCOPED)
    assert rebuilt_days(settings.lake) == {t: "full" for t in DAY_SCOPED}
    assert meta["cost_allocation"]["rebuild_reason"].startswith("16 day(s) of line items changed")
    for t in DAY_SCOPED:
        assert_equals_full_rebuild(settings, t)


def test_a_redelivered_export_through_ingestion_rebuilds_one_day(source, tmp_path, dagster_home):
    """End to end: the export's files overwritten in place with day 15's costs changed, ingested by
    the cost_line_items asset (which records the digests), then the day-scoped tables."""
    root = tmp_path / "source"
    shutil.copytree(source, root)
    settings = CurlakeSettings(source=str(root), lake=str(tmp_path / "lake"))
    materialize(settings, "cost_line_items", "business_metrics_daily", *DAY_SCOPED)
    con = duck.connect(s3=False)
    try:
        for path in sorted(root.glob("cur2/data/*/*.parquet")):
            con.execute(
                "COPY (SELECT * REPLACE (CASE WHEN CAST(line_item_usage_start_date AS DATE) = CAST($day AS DATE) "
                "THEN line_item_unblended_cost * 1.5 ELSE line_item_unblended_cost END AS line_item_unblended_cost) "
                "FROM read_parquet($file)) TO $target (FORMAT parquet)",
                {"day": CHANGED_DAY, "file": str(path), "target": f"{path}.new"},
            )
            os.replace(f"{path}.new", path)
    finally:
        con.close()
    materialize(settings, "cost_line_items", *DAY_SCOPED)
    old, new = (r["lineage"]["day_digests"] for r in lake.version_records(settings.lake, "cost_line_items", PERIOD))
    assert changed_days(old, new) == [CHANGED_DAY]
    assert rebuilt_days(settings.lake) == {t: [CHANGED_DAY] for t in DAY_SCOPED}
    for t in DAY_SCOPED:
        assert_equals_full_rebuild(settings, t)


def test_without_digests_the_build_is_full_and_a_wrong_declaration_is_refused(source, delivered, tmp_path, dagster_home):
    from orchestration.assets.curated import CuratedTable, curated_asset

    settings = CurlakeSettings(source=source, lake=str(tmp_path / "lake"))
    # Line items as published before ingestion recorded digests.
    lake.publish_partition(delivered, "SELECT * FROM delivered", settings.lake, "cost_line_items", PERIOD)
    materialize(settings, "business_metrics_daily", "cost_allocation")
    lineage = current_lineage(settings.lake, "cost_allocation")
    assert lineage["rebuilt_days"] == "full"
    assert lineage["rebuild_reason"] == "the cost_line_items version read records no day digests"
    assert len(lineage["build_fingerprint"]) == 64 and "line_item_day_digests" not in lineage

    with pytest.raises(ValueError, match="day_column='usage_date' needs cost_line_items among its same-period inputs"):
        curated_asset(CuratedTable(name="wrongly_declared", description="", build=lambda ctx: None,
                                   history_inputs=["cost_line_items"], day_column="usage_date"))
