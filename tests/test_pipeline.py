"""End to end: an export in a real S3-compatible server -> Dagster -> the lake, with totals
checked against sums computed here, independently, from the raw files."""

from __future__ import annotations

import logging

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from conftest import LEGACY_CSV_DIR
from orchestration.resources import CurlakeSettings
from orchestration.run import materialize_periods
from orchestration.sensors import cur_delivery_sensor
from transforms import storage
from transforms.generate import generate

MONTHS = ["2025-01", "2025-02"]
ROWS = 20_000


def raw_totals(root: str) -> dict[str, tuple[int, float, float]]:
    """Rows, unblended and amortized cost per billing period, from the raw CUR 2.0 files, with
    numpy and the definitions of FINOPS_DEFINITIONS.md (not with curlake's code)."""
    fs = storage.filesystem(root)
    out = {}
    for path in sorted(fs.glob(storage.strip_protocol(root).rstrip("/") + "/*/data/BILLING_PERIOD=*/*.parquet")):
        period = path.split("BILLING_PERIOD=")[1][:7]
        t = pq.read_table(path, filesystem=fs).to_pandas()
        kind = t["line_item_line_item_type"].to_numpy()
        unblended = t["line_item_unblended_cost"].fillna(0).to_numpy()
        amortized = unblended.copy()
        sp = kind == "SavingsPlanCoveredUsage"
        amortized[sp] = t["savings_plan_savings_plan_effective_cost"].fillna(0).to_numpy()[sp]
        fee = kind == "SavingsPlanRecurringFee"
        amortized[fee] = (t["savings_plan_total_commitment_to_date"].fillna(0) - t["savings_plan_used_commitment"].fillna(0)).to_numpy()[fee]
        amortized[np.isin(kind, ["SavingsPlanNegation", "SavingsPlanUpfrontFee"])] = 0
        du = kind == "DiscountedUsage"
        amortized[du] = t["reservation_effective_cost"].fillna(0).to_numpy()[du]
        ri = kind == "RIFee"
        amortized[ri] = (t["reservation_unused_amortized_upfront_fee_for_billing_period"].fillna(0) + t["reservation_unused_recurring_fee"].fillna(0)).to_numpy()[ri]
        ri_upfront = (kind == "Fee") & t["reservation_reservation_a_r_n"].fillna("").ne("").to_numpy()
        amortized[ri_upfront] = 0
        rows, unb, amo = out.get(period, (0, 0.0, 0.0))
        out[period] = (rows + len(t), unb + float(unblended.sum()), amo + float(amortized.sum()))
    return out


def lake_totals(lake: str) -> dict[str, tuple[int, float, float]]:
    df = (
        pl.scan_parquet(f"{lake}/cost_line_items/**/*.parquet", hive_partitioning=True)
        .group_by("billing_period")
        .agg(pl.len().alias("rows"), pl.col("unblended_cost").cast(pl.Float64).sum(), pl.col("amortized_cost").cast(pl.Float64).sum())
        .collect()
    )
    return {str(r["billing_period"]): (r["rows"], r["unblended_cost"], r["amortized_cost"]) for r in df.iter_rows(named=True)}


def assert_totals_equal(got, expected):
    assert sorted(got) == sorted(expected)
    for period in expected:
        assert got[period][0] == expected[period][0], period
        assert got[period][1] == pytest.approx(expected[period][1], abs=1e-6), period
        assert got[period][2] == pytest.approx(expected[period][2], abs=1e-6), period


def test_export_in_s3_materializes_with_exact_totals(s3_bucket, tmp_path, dagster_home):
    source = f"{s3_bucket}/exports"
    generate(source, MONTHS, ROWS, seed=7, fmt="cur2-parquet")
    expected = raw_totals(source)
    assert {p: r[0] for p, r in expected.items()} == {m: ROWS for m in MONTHS}

    lake = str(tmp_path / "lake")
    outcome = materialize_periods(source, lake, None)
    assert outcome.success, [p.error for p in outcome.periods]
    assert all(passed for p in outcome.periods for _, _, passed, blocking in p.checks if blocking)
    assert {c[1] for c in outcome.periods[0].checks} >= {"schema_and_types", "known_line_item_types", "no_null_keys", "reconciles_with_source"}
    assert_totals_equal(lake_totals(lake), expected)


def test_redelivery_in_place_is_detected_and_replaces_the_month(s3_bucket, tmp_path, dagster_home):
    source = f"{s3_bucket}/exports"
    lake = str(tmp_path / "lake")
    generate(source, MONTHS, ROWS, seed=11, fmt="cur2-parquet")
    assert materialize_periods(source, lake, None).success
    before = lake_totals(lake)

    instance = dg.DagsterInstance.get()
    settings = CurlakeSettings(source=source, lake=lake)

    def sensor_periods():
        ctx = dg.build_sensor_context(instance=instance, resources={"settings": settings})
        result = cur_delivery_sensor(ctx)
        return sorted(r.partition_key for r in getattr(result, "run_requests", []) or [])

    assert sensor_periods() == []  # everything delivered has been requested

    # AWS re-delivers February in place: same key, new content (Usage rows cost 1.25 more each).
    fs = storage.filesystem(source)
    feb_files = sorted(fs.glob(storage.strip_protocol(source) + "/*/data/BILLING_PERIOD=2025-02/*.parquet"))
    bumped_rows = 0
    for path in feb_files:
        table = pq.read_table(path, filesystem=fs)
        df = table.to_pandas()
        usage = df["line_item_line_item_type"] == "Usage"
        bumped_rows += int(usage.sum())
        for col in ("line_item_unblended_cost", "line_item_net_unblended_cost"):
            df.loc[usage, col] = df.loc[usage, col] + 1.25
        import pyarrow as pa

        pq.write_table(pa.Table.from_pandas(df, schema=table.schema, preserve_index=False), path, filesystem=fs)
    assert bumped_rows > 0

    assert sensor_periods() == ["2025-02"]
    assert materialize_periods(source, lake, ["2025-02"]).success
    after = lake_totals(lake)
    assert after["2025-01"] == before["2025-01"]
    assert after["2025-02"][0] == before["2025-02"][0] == ROWS  # replaced, not appended
    assert after["2025-02"][1] == pytest.approx(before["2025-02"][1] + 1.25 * bumped_rows, abs=1e-6)
    assert_totals_equal(after, raw_totals(source))
    assert sensor_periods() == []


def test_real_legacy_csv_ingests_to_its_known_totals(tmp_path, dagster_home):
    lake = str(tmp_path / "lake")
    outcome = materialize_periods(str(LEGACY_CSV_DIR), lake, None)
    assert outcome.success, [p.error for p in outcome.periods]
    con = duckdb.connect()
    unblended, tax = con.execute(
        "SELECT sum(unblended_cost), sum(unblended_cost) FILTER (WHERE line_item_type = 'Tax') "
        "FROM read_parquet($glob, hive_partitioning = true)",
        {"glob": f"{lake}/cost_line_items/**/*.parquet"},
    ).fetchone()
    assert round(float(unblended), 6) == 1.682309  # the figure AWS shows, to 6 decimals
    assert round(float(tax), 6) == 0.08


def test_definitions_load_with_expected_assets_and_checks():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert "cost_line_items" in keys
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert {("cost_line_items", n) for n in ("schema_and_types", "known_line_item_types", "no_null_keys", "reconciles_with_source")} <= checks
    assert defs.resolve_sensor_def("cur_delivery_sensor") is not None
    assert defs.resolve_schedule_def("hourly_delivery_check") is not None
    logging.getLogger(__name__).info("assets: %s", sorted(keys))
