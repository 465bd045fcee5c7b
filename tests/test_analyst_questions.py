"""The ten questions of docs/analyst_guide.md, run as written on the sample lake's catalog, each
checked against the same answer computed with polars from the live Parquet files (not through
DuckDB, the catalog or curlake's SQL). Also `curlake query` and plain read-only DuckDB use."""

from __future__ import annotations

import argparse
import csv
import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from orchestration import commands
from transforms import catalog, dictionary

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "analyst_guide.md"
_QUESTION = re.compile(r"^### (Q\d+)\. (.+?)\n.*?^```sql\n(.*?)^```", re.S | re.M)


def questions() -> dict[str, str]:
    found = {num: sql.strip() for num, _title, sql in _QUESTION.findall(GUIDE.read_text(encoding="utf-8"))}
    assert list(found) == [f"Q{i}" for i in range(1, 11)], f"the guide's questions are {list(found)}"
    return found


@pytest.fixture(scope="module")
def sample(materialized_sample_lake):
    return materialized_sample_lake.lake


@pytest.fixture(scope="module")
def answers(sample) -> dict[str, list[dict]]:
    """Every question's rows, as the catalog returns them."""
    with catalog.open_catalog(sample) as con:
        out = {}
        for num, sql in questions().items():
            cur = con.execute(sql)
            names = [d[0] for d in cur.description]
            out[num] = [dict(zip(names, row)) for row in cur.fetchall()]
    return out


def scan(lake: str, table: str) -> pl.LazyFrame:
    return pl.scan_parquet(f"{lake}/{table}/billing_period=*/*.parquet", hive_partitioning=True)


def cents(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def latest(lake: str, table: str) -> str:
    return scan(lake, table).select(pl.col("billing_period").max()).collect().item()


def allocation(lake: str) -> pl.LazyFrame:
    return scan(lake, "cost_allocation").with_columns(
        (pl.col("direct_amortized_cost") + pl.col("shared_amortized_cost")).alias("amortized"))


# ----------------------------------------------------------------------------------- the ten questions


def test_the_guide_has_ten_questions_each_checked_here():
    assert sorted(questions()) == sorted(CHECKS)


def test_q1_spend_per_month(answers, sample):
    got = answers["Q1"]
    expected = (
        scan(sample, "cost_line_items").group_by("billing_period", "currency")
        .agg(pl.col("unblended_cost").sum(), pl.col("amortized_cost").sum(), pl.col("net_amortized_cost").sum())
        .sort("billing_period").collect()
    )
    assert [(r["billing_period"], r["currency"], r["unblended_cost"], r["amortized_cost"], r["net_amortized_cost"]) for r in got] == [
        (r["billing_period"], r["currency"], cents(r["unblended_cost"]), cents(r["amortized_cost"]), cents(r["net_amortized_cost"]))
        for r in expected.iter_rows(named=True)
    ]
    assert len(got) == 2


def test_q2_teams_this_month(answers, sample):
    month = latest(sample, "cost_allocation")
    by_team = (
        allocation(sample).filter(pl.col("billing_period") == month)
        .with_columns(pl.col("team").fill_null("unallocated"))
        .group_by("team").agg(pl.col("amortized").sum(), pl.col("direct_amortized_cost").sum(), pl.col("shared_amortized_cost").sum())
        .collect()
    )
    total = sum(by_team["amortized"].to_list(), Decimal(0))
    expected = sorted(by_team.iter_rows(named=True), key=lambda r: (-r["amortized"], r["team"]))
    got = answers["Q2"]
    assert [(r["team"], r["amortized_cost"], r["direct_amortized_cost"], r["shared_amortized_cost"]) for r in got] == [
        (r["team"], r["amortized"], r["direct_amortized_cost"], r["shared_amortized_cost"]) for r in expected]
    for g, e in zip(got, expected):
        assert g["pct_of_month"] == pytest.approx(float(100 * e["amortized"] / total), abs=0.051)
    assert "unallocated" in {r["team"] for r in got} and len(got) >= 10


def test_q3_top_movers_of_the_last_complete_week(answers, sample):
    ca = allocation(sample).with_columns(pl.col("team").fill_null("unallocated"), pl.col("usage_date").dt.truncate("1w").alias("week"))
    days = dict(ca.group_by("week").agg(pl.col("usage_date").n_unique()).collect().iter_rows())
    assert all(w.weekday() == 0 for w in days)  # polars weeks start on Monday, as ISO weeks do
    week = max(w for w, n in days.items() if n == 7 and days.get(w - timedelta(days=7)) == 7)
    weekly = ca.group_by("week", "team", "service_code").agg(pl.col("amortized").sum()).collect()

    def costs(w):
        return {(r["team"], r["service_code"]): r["amortized"] for r in weekly.filter(pl.col("week") == w).iter_rows(named=True)}

    now, before = costs(week), costs(week - timedelta(days=7))
    moves = [(team, svc, before.get((team, svc), Decimal(0)), now.get((team, svc), Decimal(0))) for team, svc in now.keys() | before.keys()]
    moves.sort(key=lambda m: (-abs(m[3] - m[2]), m[0], m[1]))
    got = answers["Q3"]
    assert {r["week_start"] for r in got} == {week}
    assert [(r["team"], r["service_code"], r["previous_week_cost"], r["cost"], r["change"]) for r in got] == [
        (t, s, p, c, c - p) for t, s, p, c in moves[:10]]
    for r in got:
        expected_pct = float(100 * r["change"] / r["previous_week_cost"]) if r["previous_week_cost"] > 0 else None
        assert r["change_pct"] == (pytest.approx(expected_pct, abs=0.051) if expected_pct is not None else None)


def test_q4_unallocated_cost_by_cause(answers, sample):
    ca = allocation(sample).collect()
    totals = dict(ca.group_by("billing_period").agg(pl.col("amortized").sum()).iter_rows())
    unowned = ca.filter(pl.col("team").is_null()).group_by("billing_period", "allocation_reason").agg(pl.col("amortized").sum())
    expected = sorted(unowned.iter_rows(named=True), key=lambda r: (r["billing_period"], -r["amortized"]))
    got = answers["Q4"]
    assert [(r["billing_period"], r["cause"], r["unallocated_cost"]) for r in got] == [
        (r["billing_period"], r["allocation_reason"], r["amortized"]) for r in expected]
    for g, e in zip(got, expected):
        assert g["pct_of_month"] == pytest.approx(float(100 * e["amortized"] / totals[e["billing_period"]]), abs=0.0051)
    # The same unallocated totals as allocation_coverage, a table built separately from cost_allocation.
    coverage = dict(scan(sample, "allocation_coverage").filter(
        (pl.col("period_grain") == "month") & (pl.col("scope") == "overall") & (pl.col("cost_basis") == "amortized"))
        .select("billing_period", "unallocated_cost").collect().iter_rows())
    per_month: dict[str, Decimal] = {}
    for r in got:
        per_month[r["billing_period"]] = per_month.get(r["billing_period"], Decimal(0)) + r["unallocated_cost"]
    assert per_month == coverage and all(v > 0 for v in per_month.values())


def test_q5_teams_over_budget(answers, sample, cat_con):
    month = latest(sample, "budget_variance")
    # The sample's months are complete, so the forecast is the actual and "over" means actual > budget.
    assert cat_con.execute("SELECT DISTINCT forecast_method FROM budget_variance WHERE billing_period = $m AND scope = 'team'",
                           {"m": month}).fetchall() == [("complete",)]
    actual = dict(allocation(sample).filter((pl.col("billing_period") == month) & pl.col("team").is_not_null())
                  .group_by("team").agg(pl.col("amortized").sum()).collect().iter_rows())
    budgets = dict(scan(sample, "budgets").filter((pl.col("billing_period") == month) & pl.col("service_code").is_null())
                   .select("team", "budget").collect().iter_rows())
    over = sorted(((t, b, actual[t]) for t, b in budgets.items() if actual.get(t, Decimal(0)) > b), key=lambda r: (-(r[2] - r[1]), r[0]))
    got = answers["Q5"]
    assert [(r["team"], r["budget"], r["actual_mtd"], r["forecast"], r["status"]) for r in got] == [(t, b, a, a, "over") for t, b, a in over]
    assert len(got) >= 3


def test_q6_cost_per_order(answers, sample):
    month = latest(sample, "unit_economics")
    cost = dict(((r["team"], r["product"]), r["amortized"]) for r in allocation(sample).filter(
        (pl.col("billing_period") == month) & pl.col("team").is_not_null())
        .group_by("team", "product").agg(pl.col("amortized").sum()).collect().iter_rows(named=True))
    metrics = scan(sample, "business_metrics_daily").filter(pl.col("billing_period") == month).group_by("team", "product").agg(
        pl.col("orders").sum(), pl.col("orders").null_count().alias("missing")).collect()
    orders = {(r["team"], r["product"]): r for r in metrics.iter_rows(named=True)}
    got = answers["Q6"]
    assert {(r["team"], r["product"]) for r in got} == cost.keys() | orders.keys()
    checked = 0
    for r in got:
        key = (r["team"], r["product"])
        assert r["allocated_cost"] == cost.get(key, Decimal(0)), key
        m = orders.get(key)
        assert r["orders"] == (m["orders"] if m else None), key
        if m and m["missing"] == 0 and m["orders"] > 0:
            assert r["cost_per_order"] == pytest.approx(float(cost.get(key, 0)) / m["orders"], abs=0.00006), key
            checked += 1
        else:
            assert r["cost_per_order"] is None and r["why_null"], key
    assert checked >= 8
    per_order = [r["cost_per_order"] for r in got if r["cost_per_order"] is not None]
    assert per_order == sorted(per_order, reverse=True)


def test_q7_effective_savings_rate(answers, sample):
    li = scan(sample, "cost_line_items")
    expected = li.group_by("billing_period").agg(
        pl.col("public_on_demand_cost").filter(pl.col("charge_category") == "Usage").sum().alias("od"),
        pl.col("amortized_cost").filter(pl.col("charge_category").is_in(["Usage", "Purchase"])).sum().alias("am"),
    ).sort("billing_period").collect()
    got = answers["Q7"]
    assert [(r["billing_period"], r["on_demand_equivalent"], r["amortized_cost"]) for r in got] == [
        (r["billing_period"], cents(r["od"]), cents(r["am"])) for r in expected.iter_rows(named=True)]
    for g, e in zip(got, expected.iter_rows(named=True)):
        assert g["effective_savings_rate_pct"] == pytest.approx(100 * (1 - float(e["am"]) / float(e["od"])), abs=0.0051)


def test_q8_costliest_resources_with_their_team_tag(answers, sample):
    month = latest(sample, "cost_line_items")
    by_resource = (
        scan(sample, "cost_line_items")
        .filter((pl.col("billing_period") == month) & pl.col("resource_id").is_not_null())
        .with_columns(pl.col("tags").map.get("team").alias("team_tag"))
        .group_by("resource_id", "service_code", "team_tag").agg(pl.col("amortized_cost").sum())
        .collect()
    )
    expected = sorted(((r["resource_id"], r["service_code"], r["team_tag"], cents(r["amortized_cost"]))
                       for r in by_resource.iter_rows(named=True)), key=lambda r: (-r[3], r[0]))[:10]
    got = answers["Q8"]
    assert [(r["resource_id"], r["service_code"], r["team_tag"], r["amortized_cost"]) for r in got] == expected
    assert any(r["team_tag"] is not None for r in got)


def test_q9_shared_cost_received_per_pool(answers, sample):
    month = latest(sample, "shared_cost_split")
    shared = allocation(sample).filter((pl.col("billing_period") == month) & pl.col("pool").is_not_null()).collect()
    received = {(r["team"], r["pool"]): r["shared_amortized_cost"] for r in shared.filter(pl.col("team").is_not_null())
                .group_by("team", "pool").agg(pl.col("shared_amortized_cost").sum()).iter_rows(named=True)}
    pool_total = dict(shared.group_by("pool").agg(pl.col("shared_amortized_cost").sum()).iter_rows())
    got = answers["Q9"]
    assert {(r["team"], r["pool"]) for r in got} >= {k for k, v in received.items() if v != 0}
    for r in got:
        amount = received.get((r["team"], r["pool"]), Decimal(0))
        assert r["amount"] == amount, (r["team"], r["pool"])
        if pool_total[r["pool"]] != 0:
            assert r["pct_of_pool"] == pytest.approx(float(100 * amount / pool_total[r["pool"]]), abs=0.051)
    assert sum(r["amount"] for r in got) == sum(received.values()) != 0


def test_q10_anomaly_resources(answers, sample):
    month = latest(sample, "cost_anomalies")
    exploded = (
        scan(sample, "cost_anomalies").filter(pl.col("billing_period") == month)
        .explode("top_resources").unnest("top_resources").collect()
    )
    expected = sorted(((r["team"], r["service_code"], r["start_date"], r["impact"], r["resource_id"], r["cost"], r["increase"])
                       for r in exploded.iter_rows(named=True)), key=lambda r: (-r[3], -r[6], r[4]))
    got = answers["Q10"]
    assert [(r["team"], r["service_code"], r["start_date"], r["impact"], r["resource_id"], r["cost"], r["increase"]) for r in got] == expected
    assert got, "the sample has an anomaly with resources"


CHECKS = {f"Q{i}": f for i, f in enumerate([
    test_q1_spend_per_month, test_q2_teams_this_month, test_q3_top_movers_of_the_last_complete_week,
    test_q4_unallocated_cost_by_cause, test_q5_teams_over_budget, test_q6_cost_per_order, test_q7_effective_savings_rate,
    test_q8_costliest_resources_with_their_team_tag, test_q9_shared_cost_received_per_pool, test_q10_anomaly_resources,
], start=1)}


@pytest.fixture(scope="module")
def cat_con(sample):
    con = catalog.open_catalog(sample)
    yield con
    con.close()


# ----------------------------------------------------------------------------------- curlake query


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="curlake")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_query_prints_a_table(sample, answers, capsys):
    assert run_cli(["query", questions()["Q1"], "--lake", sample]) == 0
    out = capsys.readouterr().out
    for r in answers["Q1"]:
        assert re.search(rf"│ {r['billing_period']}\s+│ USD\s+│\s+{r['unblended_cost']} │\s+{r['amortized_cost']} │", out), out
    assert "first" not in out  # every row shown


def test_query_says_when_rows_are_left_out(sample, capsys):
    assert run_cli(["query", "SELECT * FROM cost_by_team_month ORDER BY billing_period, team", "--lake", sample, "--max-rows", "3"]) == 0
    out = capsys.readouterr().out
    assert "(first 3 rows; the query returns more" in out
    assert out.count("│ 2025-01 ") == 3


def test_query_writes_csv_and_parquet(sample, answers, tmp_path, capsys):
    sql = questions()["Q2"]
    assert run_cli(["query", sql, "--lake", sample, "--out", str(tmp_path / "teams.csv")]) == 0
    assert f"Wrote {len(answers['Q2'])} rows to {tmp_path / 'teams.csv'}" in capsys.readouterr().out
    with open(tmp_path / "teams.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["team"], Decimal(r["amortized_cost"])) for r in rows] == [(r["team"], r["amortized_cost"]) for r in answers["Q2"]]
    # Several statements: the last one's rows are written; a trailing comment does not break it.
    assert run_cli(["query", f"SET threads = 1; {sql.rstrip(';')} -- by team", "--lake", sample, "--out", str(tmp_path / "t.data"),
                    "--format", "parquet"]) == 0
    table = pq.read_table(tmp_path / "t.data")
    assert table.column("amortized_cost").to_pylist() == [r["amortized_cost"] for r in answers["Q2"]]


def test_query_errors_are_one_line_and_fail(sample, tmp_path, capsys):
    assert run_cli(["query", "SELECT * FROM cost_by_teams", "--lake", sample]) == 1
    assert "curlake query: Catalog Error: Table with name cost_by_teams does not exist" in capsys.readouterr().err
    assert run_cli(["query", "SELECT 1", "--lake", sample, "--out", str(tmp_path / "x.txt")]) == 1
    assert "cannot tell the format of" in capsys.readouterr().err
    assert run_cli(["query", "SELECT 1", "--lake", str(tmp_path / "nolake")]) == 1
    assert f"no catalog at {tmp_path / 'nolake' / 'catalog.duckdb'}" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- plain DuckDB


def test_plain_duckdb_reads_the_catalog_while_it_is_rebuilt(sample, answers):
    """What `duckdb -readonly <lake>/catalog.duckdb` does: no curlake code, no lock error, old snapshot kept."""
    path = catalog.catalog_path(sample)
    q1 = questions()["Q1"]
    con = duckdb.connect(path, read_only=True)
    try:
        before = con.execute(q1).fetchall()
        dictionary.build_analyst_catalog(sample)
        assert con.execute(q1).fetchall() == before
    finally:
        con.close()
    with duckdb.connect(path, read_only=True) as fresh:  # the rebuilt file
        assert fresh.execute(q1).fetchall() == before
    assert [tuple(r.values()) for r in answers["Q1"]] == before
