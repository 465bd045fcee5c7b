"""The sample organization's config (config/allocation.yaml), end to end, on two months:

- the generated sample (transforms.generate, read by transforms.readers into cost_line_items,
  business metrics from its metrics_daily.csv): 20,000 line items;
- a sample-like month built here in DuckDB from transforms/generate/org.py with the sample's
  conventions plus what the generator does not produce (misspelled team values and tag keys,
  credits in shared accounts every day): 40,000 line items with 10-decimal costs.

Totals are compared with independent DuckDB queries over cost_line_items.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from allocation_builders import PERIOD, connect
from transforms import duck
from transforms.allocation import (
    build_allocation_coverage,
    build_cost_allocation,
    build_shared_cost_split,
    build_tag_compliance,
    build_unallocated_drivers,
    check_allocated_once,
    check_conservation,
    check_coverage,
    check_owners_configured,
    load_config,
)
from transforms.discover import discover
from transforms.generate import generate, org
from transforms.readers import read_delivery

CONFIG = Path(__file__).resolve().parents[1] / "config" / "allocation.yaml"
ROWS = 40_000

SAMPLE_SQL = """
CREATE TABLE accounts AS SELECT unnest($accounts, recursive := true);
CREATE TABLE teams AS SELECT unnest($teams, recursive := true);
INSERT INTO cost_line_items BY NAME
WITH base AS (
    SELECT i, hash(i, 'a') AS h1, hash(i, 'b') AS h2, hash(i, 'c') AS h3, hash(i, 'd') AS h4
    FROM range($rows) AS r(i)
),
shaped AS (
    SELECT
        b.*,
        DATE '2025-01-01' + CAST(b.h1 % 31 AS INTEGER) AS day,
        a.account_id, a.payer_id, t.team, t.product,
        CAST(b.h3 % 8 AS INTEGER) AS kind,          -- 0-3 EC2, 4 S3, 5 NAT, 6 inter-AZ, 7 EKS
        CAST(b.h4 % 100 AS INTEGER) AS tagging      -- < 60 team, < 70 Team (same key), < 78 owner-team,
                                                    -- < 80 misspelled value, else untagged
    FROM base AS b
    JOIN accounts AS a ON a.idx = b.h1 % 12
    JOIN teams AS t ON t.idx = b.h2 % 12
)
SELECT
    '2025-01' AS billing_period,
    CAST(day AS TIMESTAMP) + to_hours(CAST(h2 % 24 AS INTEGER)) AS usage_start,
    day AS usage_date,
    payer_id AS payer_account_id,
    account_id AS usage_account_id,
    CASE WHEN kind = 4 THEN 'AmazonS3' WHEN kind = 7 THEN 'AmazonEKS' ELSE 'AmazonEC2' END AS service_code,
    CASE kind WHEN 4 THEN 'USE1-TimedStorage-ByteHrs' WHEN 5 THEN 'USE1-NatGateway-Hours'
        WHEN 6 THEN 'USE1-DataTransfer-Regional-Bytes' WHEN 7 THEN 'USE1-AmazonEKS-Hours:perCluster'
        ELSE 'USE1-BoxUsage:m7g.large' END AS usage_type,
    'RunInstances' AS operation,
    CASE kind WHEN 7 THEN 'arn:aws:eks:us-east-1:' || account_id || ':cluster/' || team || '-eks'
        ELSE 'i-' || (h1 % 5000)::VARCHAR END AS resource_id,
    'Usage' AS line_item_type, 'Usage' AS charge_category, 'OnDemand' AS purchase_option,
    CAST(h2 % 1000 AS DOUBLE) / 10 AS usage_amount,
    'USD' AS currency,
    CAST(CAST(h3 % 100000000000 AS DECIMAL(38,0)) * 0.0000000001 AS DECIMAL(18,10)) AS unblended_cost,
    CAST(CAST(h3 % 100000000000 AS DECIMAL(38,0)) * 0.0000000001 AS DECIMAL(18,10)) AS net_unblended_cost,
    CAST(CAST(h4 % 90000000000 AS DECIMAL(38,0)) * 0.0000000001 AS DECIMAL(18,10)) AS amortized_cost,
    CAST(CAST(h4 % 80000000000 AS DECIMAL(38,0)) * 0.0000000001 AS DECIMAL(18,10)) AS net_amortized_cost,
    CAST(0 AS DECIMAL(18,10)) AS public_on_demand_cost,
    map_from_entries(list_filter([
        CASE WHEN tagging < 70 THEN {'key': 'team', 'value': team}
             WHEN tagging < 78 THEN {'key': 'owner-team', 'value': upper(team)}
             WHEN tagging < 80 THEN {'key': 'team', 'value': 'chekout'} END,
        CASE WHEN tagging < 80 AND h2 % 10 < 9 THEN {'key': 'product', 'value': product} END,
        CASE WHEN tagging < 80 AND h1 % 20 > 0 THEN {'key': 'environment', 'value': 'prod'} END,
        CASE WHEN tagging < 80 AND h4 % 50 = 0 THEN {'key': 'enviroment', 'value': 'prod'} END,
        CASE WHEN kind = 7 AND team = 'platform' THEN {'key': 'eks-cluster', 'value': 'shared-platform'} END
    ], lambda e: e IS NOT NULL)) AS tags,
    'cur2-parquet' AS source_format, 'sample' AS source_file, 'sample' AS delivery_id
FROM shaped;
-- Fixed rows: support and Savings Plan fees per payer and day, tax per account and day, credits.
INSERT INTO cost_line_items BY NAME
SELECT '2025-01' AS billing_period, CAST(d AS TIMESTAMP) AS usage_start, CAST(d AS DATE) AS usage_date,
    a.payer_id AS payer_account_id, a.account_id AS usage_account_id,
    f.service AS service_code, f.usage_type, f.line_item_type, f.category AS charge_category,
    'OnDemand' AS purchase_option, 'USD' AS currency,
    f.amount AS unblended_cost, f.amount AS net_unblended_cost, f.amount AS amortized_cost,
    f.amount AS net_amortized_cost, CAST(0 AS DECIMAL(18,10)) AS public_on_demand_cost,
    MAP {}::MAP(VARCHAR, VARCHAR) AS tags,
    'cur2-parquet' AS source_format, 'sample' AS source_file, 'sample' AS delivery_id
FROM generate_series(DATE '2025-01-01', DATE '2025-01-31', INTERVAL 1 DAY) AS s(d)
CROSS JOIN accounts AS a
JOIN (VALUES
    ('AWSSupportBusiness', 'Dollar', 'Fee', 'Purchase', 12.3456789012, true),
    ('ComputeSavingsPlans', 'ComputeSP:1yrNoUpfront', 'SavingsPlanRecurringFee', 'Purchase', 4.5678901234, true),
    ('AmazonEC2', 'Tax', 'Tax', 'Tax', 0.7777777777, false),
    ('AmazonEC2', 'Credit', 'Credit', 'Adjustment', -0.3333333333, false)
) AS f(service, usage_type, line_item_type, category, amount, payer_only)
    ON NOT f.payer_only OR a.account_id = a.payer_id;
CREATE TABLE business_metrics_daily AS
SELECT CAST(d AS DATE) AS date, t.team, t.product, CAST(0 AS DECIMAL(18,4)) AS revenue, 0 AS orders,
    0 AS active_users, CAST(hash(d, t.team) % 100000 AS BIGINT) AS requests, 'USD' AS currency
FROM generate_series(DATE '2025-01-01', DATE '2025-01-31', INTERVAL 1 DAY) AS s(d)
CROSS JOIN teams AS t
WHERE t.team <> 'platform';
"""


@pytest.fixture(scope="module")
def sample():
    con = connect()
    accounts = [{"account_id": a.account_id, "payer_id": a.payer_id, "idx": i} for i, a in enumerate(org.ACCOUNTS)]
    teams = [{"team": t.name, "product": t.product, "idx": i} for i, t in enumerate(org.TEAMS)]
    for statement in SAMPLE_SQL.split(";\n"):
        if statement.strip():
            params = {k: v for k, v in {"accounts": accounts, "teams": teams, "rows": ROWS}.items() if f"${k}" in statement}
            con.execute(statement, params or None)
    config = load_config(CONFIG)
    build_cost_allocation(con, config, PERIOD).create("cost_allocation")
    build_shared_cost_split(con, config, PERIOD).create("shared_cost_split")
    yield con, config
    con.close()


def test_gates_pass_on_the_sample(sample):
    con, config = sample
    assert con.execute("SELECT count(*) FROM cost_line_items").fetchall()[0][0] > ROWS
    assert check_allocated_once(con, config, PERIOD) == []
    assert check_conservation(con, "cost_allocation") == []
    assert check_owners_configured(con, config, "cost_allocation") == []


def test_month_totals_match_an_independent_query(sample):
    con, _ = sample
    # Per day rounded, then summed: the conservation rule, computed from the line items alone.
    want = con.execute(
        "SELECT sum(u), sum(a), sum(n) FROM (SELECT round(sum(unblended_cost), 2) AS u, "
        "round(sum(amortized_cost), 2) AS a, round(sum(net_amortized_cost), 2) AS n "
        "FROM cost_line_items GROUP BY usage_date)"
    ).fetchall()[0]
    got = con.execute(
        "SELECT sum(direct_unblended_cost + shared_unblended_cost), sum(direct_amortized_cost + shared_amortized_cost), "
        "sum(direct_net_amortized_cost + shared_net_amortized_cost) FROM cost_allocation"
    ).fetchall()[0]
    assert got == want
    raw = con.execute("SELECT sum(unblended_cost) FROM cost_line_items").fetchall()[0][0]
    assert abs(got[0] - raw) <= Decimal("0.005") * 31  # at most half a cent of rounding per day


POOL_PREDICATES = {
    "tax": "charge_category = 'Tax'",
    "network": "charge_category <> 'Tax' AND regexp_matches(usage_type, 'NatGateway-(Hours|Bytes)$|DataTransfer-Regional-Bytes$')",
    "shared-eks": "charge_category <> 'Tax' AND tags['eks-cluster'] = 'shared-platform'",
    "support": "charge_category <> 'Tax' AND service_code = 'AWSSupportBusiness'",
    "commitments": "charge_category = 'Purchase' AND service_code <> 'AWSSupportBusiness'",
    "adjustments": "line_item_type = 'Credit' AND usage_account_id IN "
    "('210000000001', '210000000002', '210000000003', '220000000001', '220000000002')",
}


@pytest.mark.parametrize("pool", list(POOL_PREDICATES))
def test_pool_totals_match_the_line_items_they_come_from(sample, pool):
    con, _ = sample
    raw = con.execute(f"SELECT sum(amortized_cost) FROM cost_line_items WHERE {POOL_PREDICATES[pool]}").fetchall()[0][0]
    shared, cells = con.execute(
        "SELECT sum(shared_amortized_cost), count(*) FROM cost_allocation WHERE pool = $pool", {"pool": pool}
    ).fetchall()[0]
    assert raw and raw != 0
    assert abs(shared - raw) <= Decimal("0.01") * cells  # each cell within a cent of its exact share
    split = con.execute(
        "SELECT sum(amount) FROM shared_cost_split WHERE pool = $pool AND cost_basis = 'amortized'", {"pool": pool}
    ).fetchall()[0][0]
    assert split == shared


def test_shared_eks_follows_requests(sample):
    con, _ = sample
    rows = con.execute(
        "SELECT s.recipient, s.amount, s.pool_amount, m.requests, sum(m.requests) OVER () "
        "FROM shared_cost_split AS s LEFT JOIN business_metrics_daily AS m "
        "ON m.date = s.usage_date AND m.team = s.recipient "
        "WHERE s.pool = 'shared-eks' AND s.cost_basis = 'unblended' AND s.usage_date = DATE '2025-01-15'"
    ).fetchall()
    assert {r[0] for r in rows} == set(org.TEAM_NAMES) - {"platform"}
    for recipient, amount, pool_amount, requests, total in rows:
        cells = con.execute(
            "SELECT count(*) FROM cost_allocation WHERE pool = 'shared-eks' AND usage_date = DATE '2025-01-15' "
            "AND team = $t", {"t": recipient},
        ).fetchall()[0][0]
        assert abs(amount - pool_amount * Decimal(requests) / Decimal(total)) <= Decimal("0.01") * max(cells, 1)


def test_kpis_on_the_sample(sample):
    con, config = sample
    coverage = build_allocation_coverage(con, "cost_allocation")
    month = coverage.filter("period_grain = 'month' AND scope = 'overall' AND cost_basis = 'amortized'")
    total, unallocated, cov = month.select("total_cost, unallocated_cost, coverage").fetchall()[0]
    independent = con.execute(
        "SELECT sum(direct_amortized_cost + shared_amortized_cost) FILTER (WHERE team IS NULL), "
        "sum(direct_amortized_cost + shared_amortized_cost) FROM cost_allocation"
    ).fetchall()[0]
    assert (unallocated, total) == independent
    assert cov == pytest.approx(float(1 - unallocated / total))
    # 20 % of usage is untagged or misspelled; shared accounts leave part of it without an owner.
    assert 0.5 < cov < 1.0
    drivers = build_unallocated_drivers(con, config, PERIOD).fetchall()
    assert 0 < len(drivers) <= config.top_unallocated
    assert {r[4] for r in drivers} <= {"no_owner", "unknown_team_tag"}
    compliance = build_tag_compliance(con, config, PERIOD).filter("required_tag = 'all_required'")
    taggable, tagged = compliance.aggregate("sum(taggable_cost), sum(tagged_cost)").fetchall()[0]
    assert 0 < tagged < taggable


# ------------------------------------------------------------------------------------------
# The generated sample


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("generated"))
    generate(root, [PERIOD], 20_000, seed=7, fmt="cur2-parquet")
    (delivery,) = discover(root)
    con = duck.connect(threads=2)
    read_delivery(con, delivery).create("cost_line_items")
    con.execute(
        "CREATE TABLE business_metrics_daily AS SELECT * FROM read_csv($path)",
        {"path": f"{root}/business_metrics/metrics_daily.csv"},
    )
    config = load_config(CONFIG)
    build_cost_allocation(con, config, PERIOD).create("cost_allocation")
    build_shared_cost_split(con, config, PERIOD).create("shared_cost_split")
    yield con, config
    con.close()


def test_generated_sample_gates_and_totals(generated):
    con, config = generated
    assert check_allocated_once(con, config, PERIOD) == []
    assert check_conservation(con, "cost_allocation") == []
    assert check_owners_configured(con, config, "cost_allocation") == []
    per_day = (
        "SELECT usage_date, round(sum(unblended_cost), 2), round(sum(amortized_cost), 2), "
        "round(sum(net_amortized_cost), 2) FROM cost_line_items GROUP BY ALL ORDER BY 1"
    )
    allocated = (
        "SELECT usage_date, sum(direct_unblended_cost + shared_unblended_cost), "
        "sum(direct_amortized_cost + shared_amortized_cost), "
        "sum(direct_net_amortized_cost + shared_net_amortized_cost) FROM cost_allocation GROUP BY ALL ORDER BY 1"
    )
    assert con.execute(allocated).fetchall() == con.execute(per_day).fetchall()


@pytest.mark.parametrize("pool", ["tax", "network", "shared-eks", "support"])
def test_generated_sample_pools(generated, pool):
    con, _ = generated
    raw = con.execute(f"SELECT sum(amortized_cost) FROM cost_line_items WHERE {POOL_PREDICATES[pool]}").fetchall()[0][0]
    shared, cells = con.execute(
        "SELECT sum(shared_amortized_cost), count(*) FROM cost_allocation WHERE pool = $pool", {"pool": pool}
    ).fetchall()[0]
    assert raw > 0
    assert abs(shared - raw) <= Decimal("0.01") * cells
    unsplit = con.execute(
        "SELECT count(*) FROM shared_cost_split WHERE pool = $pool AND recipient IS NULL", {"pool": pool}
    ).fetchall()[0][0]
    assert unsplit == 0  # every pool of the sample has recipients and drivers every day


def test_generated_sample_kpis(generated):
    con, config = generated
    coverage = build_allocation_coverage(con, "cost_allocation")
    month = coverage.filter("period_grain = 'month' AND scope = 'overall' AND cost_basis = 'amortized'")
    (cov,) = month.select("coverage").fetchall()[0]
    tagged_or_owned = con.execute(
        "SELECT sum(direct_amortized_cost + shared_amortized_cost) FILTER (WHERE team IS NOT NULL) "
        "/ sum(direct_amortized_cost + shared_amortized_cost) FROM cost_allocation"
    ).fetchall()[0][0]
    assert cov == pytest.approx(float(tagged_or_owned))
    warnings = check_coverage(con, config, coverage)
    assert all("below the target 90%" in w for w in warnings)
    assert (cov < 0.9) == any(w.startswith(f"{PERIOD}:") for w in warnings)
    compliance = build_tag_compliance(con, config, PERIOD).filter("required_tag = 'all_required'")
    taggable, tagged = compliance.aggregate("sum(taggable_cost), sum(tagged_cost)").fetchall()[0]
    assert 0 < tagged < taggable
