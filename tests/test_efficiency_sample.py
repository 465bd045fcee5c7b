"""efficiency_kpis, credit_score and recommendations on the generated sample (two months, seed 7).

The KPIs are checked against independent SQL written from FINOPS_DEFINITIONS.md (and the
choices docs/credit_score.md states where the definitions leave one open), not from the
efficiency SQL: compute rows are found by product family instead of usage-type patterns, the
owner is joined from the allocation, budget and unit cost come from cost_allocation,
budgets.csv and business_metrics_daily instead of budget_variance and unit_economics, and
tagging compliance is compared with the allocation's own tag_compliance table.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from transforms import duck
from transforms.allocation import allocate_line_items, build_cost_allocation, build_tag_compliance, load_config
from transforms.discover import discover
from transforms.efficiency import (
    build_credit_score,
    build_efficiency_kpis,
    build_recommendations,
    check_composite,
    check_kpi_shares,
    check_weights,
)
from transforms.efficiency import load_config as load_credit_config
from transforms.generate import generate
from transforms.insights import build_budget_variance, build_unit_economics
from transforms.readers import read_delivery

REPO = Path(__file__).resolve().parents[1]
PERIODS = ["2025-01", "2025-02"]
PERIOD = "2025-02"
WEEKS = [date(2025, 1, 27), date(2025, 2, 3), date(2025, 2, 10), date(2025, 2, 17)]

TEAM_COST_DAILY = """
CREATE VIEW team_cost_daily AS
SELECT usage_date, billing_period, coalesce(team, 'unallocated') AS team, product, usage_account_id,
       service_code, sum(direct_amortized_cost) AS direct_cost, sum(shared_amortized_cost) AS shared_cost
FROM cost_allocation GROUP BY ALL
"""

# Independent line-item KPIs, per owner and window (month, or a week by usage date), from the
# definitions: amortized cost unless the definition says public cost.
INDEPENDENT = """
WITH owned AS (
    SELECT *, coalesce(team, CASE WHEN allocation_method = 'shared' THEN '(shared)' ELSE 'unallocated' END) AS owner
    FROM allocated_v
    WHERE operation IS DISTINCT FROM 'EKSPod-EC2' AND operation IS DISTINCT FROM 'ECSTask-EC2'
),
windowed AS (
    SELECT 'month' AS grain, DATE '2025-02-01' AS period_start, * FROM owned WHERE billing_period = '2025-02'
    UNION ALL
    SELECT 'week', CAST(date_trunc('week', usage_date) AS DATE), * FROM owned
    WHERE usage_date BETWEEN DATE '2025-01-27' AND DATE '2025-02-23'
),
rows AS (
    SELECT *,
        line_item_type IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage') AS usage_row,
        (service_code = 'AmazonEC2' AND product_family = 'Compute Instance')
            OR (service_code = 'AmazonRDS' AND product_family = 'Database Instance')
            OR (service_code = 'AmazonElastiCache' AND product_family = 'Cache Instance')
            OR (service_code = 'AmazonES' AND product_family = 'Amazon OpenSearch Service Instance') AS instance_row,
        service_code = 'AWSLambda' AND usage_type LIKE '%Lambda-GB-Second%' AS lambda_duration
    FROM windowed
),
compute AS (
    SELECT *,
        -- Graviton: physical processor (normalized to processor), the g families of generation 6-8 for
        -- ElastiCache and OpenSearch, ARM usage types for Lambda.
        processor = 'Graviton'
            OR (service_code IN ('AmazonElastiCache', 'AmazonES') AND regexp_matches(instance_family, '^[a-z]+[678]g(d|n)?$'))
            OR (lambda_duration AND usage_type LIKE '%ARM%') AS graviton
    FROM rows
    WHERE usage_row AND (instance_row OR lambda_duration)
)
SELECT grain, period_start, owner, 'graviton_coverage' AS kpi,
    sum(amortized_cost) FILTER (WHERE graviton) AS num,
    sum(amortized_cost) FILTER (WHERE graviton OR (
        coalesce(operating_system, '') NOT LIKE 'Windows%'
        AND (purchase_option = 'OnDemand' OR commitment_type = 'ComputeSavingsPlans')
        AND (lambda_duration OR list_contains($families, instance_family)))) AS den
FROM compute GROUP BY ALL
UNION ALL
SELECT grain, period_start, owner, 'spot_coverage',
    sum(public_on_demand_cost) FILTER (WHERE purchase_option = 'Spot'),
    sum(public_on_demand_cost)
FROM compute
WHERE service_code = 'AmazonEC2' AND purchase_option <> 'Reserved' AND commitment_type IS DISTINCT FROM 'EC2InstanceSavingsPlans'
GROUP BY ALL
UNION ALL
SELECT grain, period_start, owner, 'commitment_coverage',
    sum(amortized_cost) - coalesce(sum(amortized_cost) FILTER (WHERE purchase_option = 'OnDemand'), 0), sum(amortized_cost)
FROM compute WHERE purchase_option <> 'Spot' GROUP BY ALL
UNION ALL
SELECT grain, period_start, owner, 'previous_generation_share',
    sum(amortized_cost) FILTER (WHERE list_contains($previous, instance_family)), sum(amortized_cost)
FROM compute WHERE instance_row GROUP BY ALL
UNION ALL
SELECT grain, period_start, owner, 'gp3_share',
    sum(amortized_cost) FILTER (WHERE volume_api_name = 'gp3'), sum(amortized_cost)
FROM rows WHERE usage_row AND usage_type LIKE '%EBS:VolumeUsage%' AND volume_api_name IN ('gp2', 'gp3') GROUP BY ALL
UNION ALL
SELECT grain, period_start, owner, 's3_storage_class_share',
    sum(amortized_cost) FILTER (WHERE list_contains($tiered, storage_class)), sum(amortized_cost)
FROM rows WHERE usage_row AND service_code = 'AmazonS3' AND usage_type LIKE '%TimedStorage%' GROUP BY ALL
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("efficiency-sample"))
    generate(root, PERIODS, 20_000, seed=7, fmt="cur2-parquet")
    con = duck.connect(threads=2)
    deliveries = discover(root)
    read_delivery(con, deliveries[0]).create("cost_line_items")
    for delivery in deliveries[1:]:
        read_delivery(con, delivery).insert_into("cost_line_items")
    con.execute(
        "CREATE TABLE business_metrics_daily AS SELECT date, team, product, CAST(revenue AS DECIMAL(18,4)) AS revenue, "
        "orders, active_users, requests, currency, strftime(date, '%Y-%m') AS billing_period FROM read_csv($path)",
        {"path": f"{root}/business_metrics/metrics_daily.csv"},
    )
    con.execute(
        "CREATE TABLE budgets AS SELECT CAST(billing_period AS VARCHAR) AS billing_period, team, "
        "nullif(service_code, '') AS service_code, CAST(budget AS DECIMAL(18,2)) AS budget, currency "
        "FROM read_csv($path, all_varchar = true)",
        {"path": f"{root}/business_metrics/budgets.csv"},
    )
    allocation = load_config(REPO / "config" / "allocation.yaml")
    config = load_credit_config()
    for i, period in enumerate(PERIODS):
        rel = build_cost_allocation(con, allocation, period)
        rel.create("cost_allocation") if i == 0 else rel.insert_into("cost_allocation")
    con.execute(TEAM_COST_DAILY)
    for i, period in enumerate(PERIODS):
        for name, build in (("unit_economics", build_unit_economics), ("budget_variance", build_budget_variance)):
            rel = build(con, period)
            rel.create(name) if i == 0 else rel.insert_into(name)
    for i, period in enumerate(PERIODS):
        rel = build_efficiency_kpis(con, period, allocation_config=allocation, config=config)
        rel.create("efficiency_kpis") if i == 0 else rel.insert_into("efficiency_kpis")
    build_credit_score(con, PERIOD, "efficiency_kpis", config).create("credit_score")
    allocate_line_items(con, allocation, "cost_line_items").create_view("allocated_v")
    yield con, allocation, config
    con.close()


def kpis_of(con, kpi_names) -> dict:
    rows = con.execute(
        "SELECT grain, period_start, coalesce(team, '*'), kpi, numerator, denominator, value FROM efficiency_kpis "
        "WHERE billing_period = $p AND usage_account_id IS NULL AND list_contains($k, kpi)",
        {"p": PERIOD, "k": kpi_names},
    ).fetchall()
    return {r[:4]: r[4:] for r in rows}


def test_line_item_kpis_match_independent_sql(sample):
    con, _, config = sample
    expected = con.execute(
        f"WITH t AS ({INDEPENDENT}) "
        "SELECT grain, period_start, owner, kpi, round(sum(num), 2), round(sum(den), 2) FROM t GROUP BY ALL "
        "UNION ALL SELECT grain, period_start, '*', kpi, round(sum(num), 2), round(sum(den), 2) FROM t GROUP BY ALL",
        {
            "families": [f for f, _ in config.graviton_equivalents],
            "previous": [f for f, _ in config.previous_generation],
            "tiered": list(config.s3_tiered_classes),
        },
    ).fetchall()
    names = ["graviton_coverage", "spot_coverage", "commitment_coverage", "previous_generation_share",
             "gp3_share", "s3_storage_class_share"]
    got = kpis_of(con, names)
    checked = 0
    for grain, start, owner, kpi, num, den in expected:
        num = num or 0
        got_num, got_den, value = got[(grain, start, owner, kpi)]
        assert (got_num, got_den) == (num, den), (grain, start, owner, kpi)
        if den > 0:
            assert value == pytest.approx(float(num) / float(den), abs=0.01 / float(den) + 1e-9)
        checked += 1
    # Each of the 6 KPIs, for about ten owners and the organization, in the month and its 4 weeks.
    assert checked >= 200
    assert {(e[0], e[1]) for e in expected} == {("month", date(2025, 2, 1))} | {("week", w) for w in WEEKS}
    # Groups without rows for a KPI must not apply.
    keys = {e[:4] for e in expected}
    assert all(v[1] == 0 and v[2] is None for k, v in got.items() if k not in keys)


def test_utilization_of_the_organization(sample):
    con, _, _ = sample
    # Organization-wide there is nothing to attribute: used / (used + unused) over the month.
    num, den = con.execute(
        "SELECT round(sum(amortized_cost) FILTER (WHERE line_item_type IN ('DiscountedUsage', 'SavingsPlanCoveredUsage')), 2), "
        "round(sum(amortized_cost) FILTER (WHERE line_item_type IN ('DiscountedUsage', 'SavingsPlanCoveredUsage', "
        "'RIFee', 'SavingsPlanRecurringFee')), 2) FROM cost_line_items WHERE billing_period = $p",
        {"p": PERIOD},
    ).fetchall()[0]
    got = kpis_of(con, ["commitment_utilization"])[("month", date(2025, 2, 1), "*", "commitment_utilization")]
    assert got[:2] == (num, den) and 0 < got[2] < 1
    # The owners' attributed parts add up to the organization's (within the cents of the rounding).
    owners = con.execute(
        "SELECT sum(numerator), sum(denominator), count(*) FROM efficiency_kpis WHERE billing_period = $p "
        "AND grain = 'month' AND team IS NOT NULL AND usage_account_id IS NULL AND kpi = 'commitment_utilization'",
        {"p": PERIOD},
    ).fetchall()[0]
    assert abs(owners[0] - num) <= owners[2] * 0.005 and abs(owners[1] - den) <= owners[2] * 0.005


def test_tagging_compliance_matches_the_allocation_table(sample):
    con, allocation, _ = sample
    build_tag_compliance(con, allocation, PERIOD).create("tc")
    tagged, taggable, rows = con.execute(
        "SELECT sum(tagged_cost), sum(taggable_cost), count(*) FROM tc WHERE required_tag = 'all_required'"
    ).fetchall()[0]
    num, den, _ = kpis_of(con, ["tagging_compliance"])[("month", date(2025, 2, 1), "*", "tagging_compliance")]
    # tag_compliance rounds per account and service: the sums agree within those half-cents.
    assert abs(num - tagged) <= rows * 0.005 and abs(den - taggable) <= rows * 0.005


def test_budget_and_unit_cost_from_allocation_and_metrics(sample):
    con, _, config = sample
    drivers = dict(config.team_drivers)
    got = kpis_of(con, ["budget_adherence", "unit_cost_trend"])
    # Budget, week of Feb 10: the team's allocated cost over the week against 7/28 of its budget.
    week = (date(2025, 2, 10), date(2025, 2, 16))
    budget = dict(con.execute(
        "SELECT team, budget FROM budgets WHERE billing_period = $p AND service_code IS NULL", {"p": PERIOD}
    ).fetchall())
    cost = dict(con.execute(
        "SELECT team, sum(direct_amortized_cost + shared_amortized_cost) FROM cost_allocation "
        "WHERE usage_date BETWEEN $a AND $b AND team IS NOT NULL GROUP BY team",
        {"a": week[0], "b": week[1]},
    ).fetchall())
    compared = 0
    for team, amount in budget.items():
        if amount and amount > 0 and ("week", week[0], team, "budget_adherence") in got:
            value = got[("week", week[0], team, "budget_adherence")][2]
            assert value == pytest.approx(float(cost.get(team, 0)) / (float(amount) * 7 / 28), rel=1e-3), team
            compared += 1
    assert compared >= 8
    # Unit cost, month: (cost / driver) in February against January, from the allocation and the metrics.
    monthly = {}
    for period in PERIODS:
        rows = con.execute(
            "SELECT c.team, c.cost, m.orders, m.active_users, m.revenue FROM "
            "(SELECT team, sum(direct_amortized_cost + shared_amortized_cost) AS cost FROM cost_allocation "
            " WHERE billing_period = $p AND team IS NOT NULL GROUP BY team) AS c JOIN "
            "(SELECT team, sum(orders) AS orders, sum(active_users) / count(DISTINCT date) AS active_users, "
            " sum(revenue) AS revenue FROM business_metrics_daily WHERE billing_period = $p GROUP BY team) AS m "
            "USING (team)",
            {"p": period},
        ).fetchall()
        for team, c, orders, users, revenue in rows:
            driver = {"orders": orders, "active_users": users, "revenue": revenue}[drivers.get(team, config.default_driver)]
            monthly[(period, team)] = (float(c), float(driver))
    compared = 0
    for (period, team), (c, d) in monthly.items():
        before = monthly.get(("2025-01", team))
        if period != PERIOD or not before or d <= 0 or before[1] <= 0 or before[0] <= 0:
            continue
        value = got[("month", date(2025, 2, 1), team, "unit_cost_trend")][2]
        assert value == pytest.approx((c / d) / (before[0] / before[1]), rel=2e-3), team
        compared += 1
    assert compared >= 5


def test_gates_pass_and_scores_are_complete(sample):
    con, _, _ = sample
    for period in PERIODS:
        assert check_kpi_shares(con, "efficiency_kpis", period) == []
    assert check_weights(con, "credit_score", PERIOD) == []
    assert check_composite(con, "credit_score", PERIOD) == []
    weeks = [r[0] for r in con.execute(
        "SELECT DISTINCT period_start FROM credit_score WHERE grain = 'week' ORDER BY 1").fetchall()]
    assert weeks == WEEKS
    # Every configured team that spent in the month has a composite, and a previous one from January.
    missing = con.execute(
        "SELECT team FROM credit_score WHERE grain = 'month' AND team NOT IN ('(shared)', 'unallocated') "
        "GROUP BY team HAVING any_value(composite) IS NULL OR any_value(previous_composite) IS NULL"
    ).fetchall()
    assert missing == [] and len(con.execute(
        "SELECT DISTINCT team FROM credit_score WHERE grain = 'month'").fetchall()) >= 12


def test_recommendations_on_the_sample(sample):
    con, allocation, config = sample
    rel = build_recommendations(con, PERIOD, allocation_config=allocation, config=config)
    rows = rel.fetchall()
    cols = rel.columns
    recs = [dict(zip(cols, r)) for r in rows]
    assert recs, "the sample leaves room for improvement"
    for team in {r["team"] for r in recs}:
        ranked = [r for r in recs if r["team"] == team]
        savings = [r["estimated_monthly_savings"] for r in ranked]
        assert savings == sorted(savings, reverse=True)
        assert [r["priority"] for r in ranked] == list(range(1, len(ranked) + 1))
        assert all(r["sprint"] == (r["priority"] <= config.top_n) for r in ranked)
    assert all(0 < r["estimated_monthly_savings"] <= r["potential_monthly_savings"] for r in recs)
    assert all(r["category"] in ("compute", "database", "storage") for r in recs)
    assert all(r["resource_count"] >= len(r["top_resources"]) > 0 for r in recs)
    assert {r["recommendation"] for r in recs} >= {"spot", "gp3"}
