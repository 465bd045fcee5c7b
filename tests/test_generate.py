"""The synthetic bill generator: layouts, schema, exact counts, determinism and the economics.

Every check reads the written files back (pyarrow, DuckDB, gzip/csv) and recomputes what it
asserts from the rows, with the definitions of FINOPS_DEFINITIONS.md and the reference column
list, never with the generator's own code.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import SHARED
from transforms.generate import bill, generate, org, writers

MONTHS = ["2025-01", "2025-02"]
ROWS = 20_000
SEED = 7
REFERENCE = SHARED / "reference" / "aws_data_exports_columns.json"
TEAM_KEYS = ("user_team", "user_Team", "user_owner-team")
# FINOPS_DEFINITIONS.md, amortized cost by line item type.
AMORTIZED = """CASE line_item_line_item_type
    WHEN 'SavingsPlanCoveredUsage' THEN savings_plan_savings_plan_effective_cost
    WHEN 'SavingsPlanRecurringFee' THEN savings_plan_total_commitment_to_date - savings_plan_used_commitment
    WHEN 'SavingsPlanNegation' THEN 0
    WHEN 'SavingsPlanUpfrontFee' THEN 0
    WHEN 'DiscountedUsage' THEN reservation_effective_cost
    WHEN 'RIFee' THEN reservation_unused_amortized_upfront_fee_for_billing_period + reservation_unused_recurring_fee
    ELSE line_item_unblended_cost END"""
TEAM_TAG = "coalesce(resource_tags['user_team'], resource_tags['user_Team'], resource_tags['user_owner-team'])"


@pytest.fixture(scope="module")
def cur2(tmp_path_factory):
    out = tmp_path_factory.mktemp("cur2")
    result = generate(str(out), MONTHS, ROWS, seed=SEED)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW c AS SELECT * FROM read_parquet('{out}/cur2/data/*/*.parquet', filename=true)")
    con.execute(f"CREATE VIEW a AS SELECT *, {AMORTIZED} AS amortized, strftime(bill_billing_period_start_date, '%Y-%m') AS period FROM c")
    return out, result, con


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    out = tmp_path_factory.mktemp("legacy")
    return out, generate(str(out), MONTHS, ROWS, seed=SEED, fmt="legacy-parquet")


def rows_of(con, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def test_every_month_has_exactly_the_requested_rows(cur2):
    out, result, con = cur2
    assert result.rows_per_month == {m: ROWS for m in MONTHS}
    per_file = {f.path: pq.ParquetFile(f.path).metadata.num_rows for f in result.files}
    assert per_file == {f.path: f.rows for f in result.files}
    assert dict(rows_of(con, "SELECT period, count(*) FROM a GROUP BY 1")) == {m: ROWS for m in MONTHS}
    assert all(f.bytes == os.path.getsize(f.path) for f in result.files)


def _reference_type(name: str, glue: str | None) -> pa.DataType:
    """The reference rule, restated: Glue type, else string unless the name says number/date."""
    if glue is None:
        tokens = name.split("_")
        if {"cost", "amount", "quantity"} & set(tokens) or tokens[-1] == "rate":
            glue = "double"
        elif tokens[-1] == "date":
            glue = "timestamp"
        else:
            glue = "string"
    return {
        "string": pa.string(), "double": pa.float64(), "timestamp": pa.timestamp("ms"),
        "map<string,string>": pa.map_(pa.string(), pa.string()),
        "map<string,double>": pa.map_(pa.string(), pa.float64()),
    }[glue]


def test_schema_is_the_reference_cur2_column_list_with_real_maps(cur2):
    _, result, con = cur2
    reference = json.loads(REFERENCE.read_text())["cur2_default"]
    expected = [(c["name"], _reference_type(c["name"], c["type"])) for c in reference]
    for f in result.files:
        schema = pq.read_schema(f.path)
        assert [(x.name, x.type) for x in schema] == expected, f.path
        parquet_schema = str(pq.ParquetFile(f.path).schema)
        for column in ("resource_tags", "product", "cost_category", "discount", "tags"):
            assert f"optional group field_id=-1 {column} (Map)" in parquet_schema
    duck = dict(rows_of(con, "SELECT column_name, column_type FROM (DESCRIBE c)"))
    assert duck["resource_tags"] == "MAP(VARCHAR, VARCHAR)"
    assert duck["discount"] == "MAP(VARCHAR, DOUBLE)"


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    def digest(root: Path) -> dict[str, str]:
        # Manifests name their data files by full path: compare them with the root taken out.
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes().replace(str(root).encode(), b"ROOT")).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    for fmt in bill.FORMATS:
        a, b, c = (tmp_path / fmt / x for x in "abc")
        generate(str(a), ["2025-03"], 10_000, seed=5, fmt=fmt)
        generate(str(b), ["2025-03"], 10_000, seed=5, fmt=fmt)
        generate(str(c), ["2025-03"], 10_000, seed=6, fmt=fmt)
        da, db, dc = digest(a), digest(b), digest(c)
        data = [k for k in da if "/data/" in k or "year=" in k]
        assert data and all(da[k] == db[k] for k in da), fmt
        assert da.keys() == db.keys()
        assert all(da[k] != dc[k] for k in data), fmt


def test_savings_plan_rows_follow_the_definitions(cur2):
    _, _, con = cur2
    covered = rows_of(con, """
        SELECT count(*),
               count(*) FILTER (WHERE abs(line_item_unblended_cost - pricing_public_on_demand_cost) > 1e-9),
               count(*) FILTER (WHERE NOT (savings_plan_savings_plan_effective_cost > 0
                                           AND savings_plan_savings_plan_effective_cost < line_item_unblended_cost)),
               count(*) FILTER (WHERE coalesce(savings_plan_savings_plan_a_r_n, '') = '')
        FROM c WHERE line_item_line_item_type = 'SavingsPlanCoveredUsage'""")[0]
    assert covered[0] > 100 and covered[1:] == (0, 0, 0)
    # One negation per covered row: same resource, hour and usage type, opposite unblended cost.
    pairs = rows_of(con, """
        WITH cov AS (SELECT * FROM c WHERE line_item_line_item_type = 'SavingsPlanCoveredUsage'),
             neg AS (SELECT * FROM c WHERE line_item_line_item_type = 'SavingsPlanNegation')
        SELECT (SELECT count(*) FROM neg), count(*),
               count(*) FILTER (WHERE abs(cov.line_item_unblended_cost + neg.line_item_unblended_cost) > 1e-9)
        FROM cov JOIN neg USING (line_item_resource_id, line_item_usage_start_date, line_item_usage_type)""")[0]
    assert pairs == (covered[0], covered[0], 0)
    # Hourly recurring fee: commitment = unblended, used = covered effective cost of the hour.
    fees = rows_of(con, """
        WITH used AS (
            SELECT savings_plan_savings_plan_a_r_n arn, line_item_usage_start_date h,
                   sum(savings_plan_savings_plan_effective_cost) eff
            FROM c WHERE line_item_line_item_type = 'SavingsPlanCoveredUsage' GROUP BY ALL)
        SELECT count(*),
               count(*) FILTER (WHERE abs(f.savings_plan_total_commitment_to_date - f.line_item_unblended_cost) > 1e-9),
               count(*) FILTER (WHERE abs(f.savings_plan_used_commitment - coalesce(u.eff, 0)) > 1e-6),
               count(*) FILTER (WHERE f.savings_plan_total_commitment_to_date - f.savings_plan_used_commitment < -1e-9),
               count(DISTINCT (f.savings_plan_savings_plan_a_r_n, f.line_item_usage_start_date))
        FROM c f LEFT JOIN used u ON u.arn = f.savings_plan_savings_plan_a_r_n AND u.h = f.line_item_usage_start_date
        WHERE f.line_item_line_item_type = 'SavingsPlanRecurringFee'""")[0]
    hours = (31 + 28) * 24
    assert fees == (2 * hours, 0, 0, 0, 2 * hours)


def test_reservations_balance(cur2):
    _, _, con = cur2
    discounted = rows_of(con, """
        SELECT count(*), count(*) FILTER (WHERE line_item_unblended_cost <> 0 OR NOT reservation_effective_cost > 0
                                          OR coalesce(reservation_reservation_a_r_n, '') = '')
        FROM c WHERE line_item_line_item_type = 'DiscountedUsage'""")[0]
    assert discounted[0] > 100 and discounted[1] == 0
    # Per reservation and month: used effective cost + unused parts = recurring fee + amortized upfront.
    balance = rows_of(con, """
        WITH used AS (SELECT reservation_reservation_a_r_n arn, period, sum(reservation_effective_cost) eff
                      FROM a WHERE line_item_line_item_type = 'DiscountedUsage' GROUP BY ALL)
        SELECT count(*),
               max(abs(coalesce(u.eff, 0) + f.reservation_unused_amortized_upfront_fee_for_billing_period
                       + f.reservation_unused_recurring_fee
                       - f.line_item_unblended_cost - f.reservation_amortized_upfront_fee_for_billing_period)),
               min(least(f.reservation_unused_recurring_fee, f.reservation_unused_amortized_upfront_fee_for_billing_period))
        FROM a f LEFT JOIN used u ON u.arn = f.reservation_reservation_a_r_n AND u.period = f.period
        WHERE f.line_item_line_item_type = 'RIFee'""")[0]
    assert balance[0] >= 2 and balance[1] < 1e-6 and balance[2] >= 0


def test_net_costs_discounts_and_public_prices_are_consistent(cur2):
    _, _, con = cur2
    # Discounted (EDP) rows: one net/gross ratio per payer, below 1; the discount map holds the gap.
    ratios = rows_of(con, """
        SELECT bill_payer_account_id, min(r), max(r) FROM (
            SELECT bill_payer_account_id, line_item_net_unblended_cost / line_item_unblended_cost r FROM c
            WHERE line_item_line_item_type IN ('Usage', 'SavingsPlanCoveredUsage', 'SavingsPlanRecurringFee', 'RIFee')
              AND line_item_unblended_cost > 0.01) GROUP BY 1""")
    assert len(ratios) == 2
    for _, low, high in ratios:
        assert 0.9 < low <= high < 1 and high - low < 1e-6
    mismatched = rows_of(con, """
        SELECT count(*) FILTER (WHERE abs(coalesce(discount['edp_discount'], 0) - discount_total_discount) > 1e-9),
               count(*) FILTER (WHERE abs(line_item_unblended_cost + discount_total_discount - line_item_net_unblended_cost) > 1e-9),
               count(*) FILTER (WHERE line_item_net_unblended_cost IS NULL)
        FROM c WHERE line_item_line_item_type <> 'EdpDiscount'""")[0]
    assert mismatched == (0, 0, 0)
    # EdpDiscount lines return exactly the discounts of their account and service.
    edp = rows_of(con, """
        WITH d AS (SELECT line_item_usage_account_id acct, line_item_product_code code, period, sum(discount_total_discount) s
                   FROM a WHERE line_item_line_item_type <> 'EdpDiscount' GROUP BY ALL HAVING s < -1e-6)
        SELECT count(*), count(e.acct), max(abs(d.s - e.line_item_unblended_cost)), max(abs(e.line_item_net_unblended_cost))
        FROM d LEFT JOIN (SELECT line_item_usage_account_id acct, line_item_product_code code, period, * FROM a
                          WHERE line_item_line_item_type = 'EdpDiscount') e USING (acct, code, period)""")[0]
    assert edp[0] == edp[1] > 0 and edp[2] < 1e-6 and edp[3] == 0
    covered = rows_of(con, """
        SELECT count(*) FILTER (WHERE pricing_public_on_demand_cost + 1e-9 < amortized)
        FROM a WHERE line_item_line_item_type IN ('SavingsPlanCoveredUsage', 'DiscountedUsage')""")[0][0]
    assert covered == 0


def test_credits_refunds_and_tax(cur2):
    _, _, con = cur2
    signs = dict(rows_of(con, """
        SELECT line_item_line_item_type, [count(*), count(*) FILTER (WHERE line_item_unblended_cost < 0),
               count(*) FILTER (WHERE line_item_unblended_cost > 0)]
        FROM c WHERE line_item_line_item_type IN ('Credit', 'Refund', 'Tax') GROUP BY 1"""))
    assert signs["Credit"][0] == signs["Credit"][1] > 0
    assert signs["Refund"][0] == signs["Refund"][1] > 0
    assert signs["Tax"][0] == signs["Tax"][2] > 0
    # Tax is charged on the month: it spans the billing period.
    spans = rows_of(con, """
        SELECT count(*) FROM c WHERE line_item_line_item_type = 'Tax'
          AND (line_item_usage_start_date <> bill_billing_period_start_date
               OR line_item_usage_end_date <> bill_billing_period_end_date OR line_item_tax_type = '')""")[0][0]
    assert spans == 0


def test_about_a_third_of_spend_is_untagged(cur2):
    _, _, con = cur2
    shares = rows_of(con, f"SELECT period, sum(amortized) FILTER (WHERE {TEAM_TAG} IS NULL) / sum(amortized) FROM a GROUP BY 1")
    assert len(shares) == 2
    for period, share in shares:
        assert 0.25 <= share <= 0.45, (period, share)
    keys = {k for (k,) in rows_of(con, "SELECT DISTINCT unnest(map_keys(resource_tags)) FROM c")}
    assert set(TEAM_KEYS) <= keys
    shared = rows_of(con, f"""
        SELECT count(*) FROM c WHERE line_item_product_code = 'AmazonEKS'
          AND {TEAM_TAG} = '{org.SHARED_TEAM}' AND resource_tags['{org.CLUSTER_TAG_KEY}'] = '{org.SHARED_CLUSTER_NAME}'""")[0][0]
    assert shared > 0


def test_all_required_line_item_types_services_and_processors_are_present(cur2):
    _, _, con = cur2
    types = {t for (t,) in rows_of(con, "SELECT DISTINCT line_item_line_item_type FROM c")}
    assert types >= {"Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation",
                     "SavingsPlanRecurringFee", "RIFee", "Fee", "Credit", "Refund", "Tax", "EdpDiscount"}
    present = dict(rows_of(con, r"""
        SELECT k, count(*) FROM (
            SELECT unnest([
                CASE WHEN product['physical_processor'] LIKE 'Intel%' AND line_item_product_code = 'AmazonEC2' THEN 'ec2-intel' END,
                CASE WHEN product['physical_processor'] LIKE 'AMD%' THEN 'ec2-amd' END,
                CASE WHEN product['physical_processor'] LIKE '%Graviton%' AND line_item_product_code = 'AmazonEC2' THEN 'ec2-graviton' END,
                CASE WHEN product['physical_processor'] LIKE '%Graviton%' AND line_item_product_code = 'AmazonRDS' THEN 'rds-graviton' END,
                CASE WHEN regexp_matches(product_instance_type, '^(m4|c4)\.') THEN 'previous-generation' END,
                CASE WHEN line_item_usage_type LIKE '%SpotUsage%' THEN 'spot' END,
                CASE WHEN product['operating_system'] = 'Windows' THEN 'windows' END,
                CASE WHEN line_item_usage_type LIKE '%EBS:VolumeUsage%' THEN 'ebs-' || product['volume_api_name'] END,
                CASE WHEN line_item_product_code = 'AmazonS3' THEN 's3-' || product['storage_class'] END,
                CASE WHEN line_item_usage_type LIKE '%Lambda-GB-Second%' THEN
                     CASE WHEN line_item_usage_type LIKE '%ARM%' THEN 'lambda-arm' ELSE 'lambda-x86' END END,
                CASE WHEN line_item_product_code = 'AmazonEKS' THEN 'eks' END,
                CASE WHEN line_item_usage_type LIKE '%NatGateway-Hours' THEN 'nat-hours' END,
                CASE WHEN line_item_usage_type LIKE '%NatGateway-Bytes' THEN 'nat-bytes' END,
                CASE WHEN line_item_usage_type LIKE '%DataTransfer-Regional-Bytes' THEN 'inter-az' END,
                CASE WHEN line_item_product_code = 'AWSSupportBusiness' AND line_item_line_item_type = 'Fee' THEN 'support' END
            ]) k FROM c) WHERE k IS NOT NULL GROUP BY 1"""))
    for kind in ("ec2-intel", "ec2-amd", "ec2-graviton", "rds-graviton", "previous-generation", "spot", "windows",
                 "ebs-gp2", "ebs-gp3", "lambda-arm", "lambda-x86", "eks", "nat-hours", "nat-bytes", "inter-az", "support"):
        assert present.get(kind, 0) > 0, kind
    assert sum(1 for k in present if k.startswith("s3-") and k != "s3-") >= 3
    hourly = rows_of(con, """
        SELECT count(*) FILTER (WHERE line_item_usage_end_date - line_item_usage_start_date <> INTERVAL 1 HOUR),
               count(*) FILTER (WHERE identity_time_interval <> strftime(line_item_usage_start_date, '%Y-%m-%dT%H:%M:%SZ')
                                 || '/' || strftime(line_item_usage_end_date, '%Y-%m-%dT%H:%M:%SZ')),
               count(*) FILTER (WHERE line_item_usage_start_date < bill_billing_period_start_date
                                   OR line_item_usage_end_date > bill_billing_period_end_date),
               count(DISTINCT line_item_usage_account_id), count(DISTINCT bill_payer_account_id),
               count(*) - count(DISTINCT (identity_line_item_id, identity_time_interval))
        FROM c WHERE line_item_line_item_type IN ('Usage', 'SavingsPlanCoveredUsage', 'DiscountedUsage')""")[0]
    assert hourly[:3] == (0, 0, 0) and hourly[3] >= 8 and hourly[4] == 2 and hourly[5] == 0


def test_legacy_layout_flattens_maps_drifts_and_keeps_the_economics(cur2, legacy):
    _, _, con = cur2
    out, result = legacy
    paths = [Path(f.path).relative_to(out).as_posix() for f in result.files]
    assert paths == ["legacy-cur/legacy-cur/year=2025/month=1/legacy-cur-00001.snappy.parquet",
                     "legacy-cur/legacy-cur/year=2025/month=2/legacy-cur-00001.snappy.parquet"]
    jan, feb = (set(pq.read_schema(f.path).names) for f in result.files)
    assert "resource_tags_user_application" in feb - jan  # a tag activated in the second month
    assert "product_ecu" in jan - feb  # a product attribute AWS dropped
    assert {"resource_tags_user_team", "resource_tags_user_owner_team", "product_physical_processor",
            "product_product_name", "line_item_unblended_cost"} <= jan & feb
    assert not any(pa.types.is_map(f.type) for f in pq.read_schema(result.files[0].path))
    assert "resource_tags_user_Team" not in jan  # Athena lower-cases: user_Team shares user_team's column
    totals = {}
    for f in result.files:
        t = pq.read_table(f.path, columns=["line_item_unblended_cost", "resource_tags_user_team"])
        totals[f.billing_period] = (t.num_rows, sum(v for v in t.column(0).to_pylist() if v is not None))
    expected = dict(rows_of(con, "SELECT period, [count(*), sum(line_item_unblended_cost)] FROM a GROUP BY 1"))
    for period, (n, cost) in totals.items():
        assert n == expected[period][0] and cost == pytest.approx(expected[period][1], abs=1e-6)
    tagged = duckdb.connect().execute(f"""SELECT count(*) FILTER (WHERE resource_tags_user_team <> '')
                            FROM read_parquet('{result.files[0].path}')""").fetchone()[0]
    cur2_tagged = rows_of(con, f"SELECT count(*) FILTER (WHERE {TEAM_TAG} IS NOT NULL AND resource_tags['user_owner-team'] IS NULL) FROM a WHERE period = '2025-01'")[0][0]
    assert tagged == cur2_tagged


def test_manifest_lists_exactly_the_data_files(cur2, tmp_path, monkeypatch):
    out, result, _ = cur2
    for period in MONTHS:
        manifest = json.loads((out / "cur2" / "metadata" / f"BILLING_PERIOD={period}" / "cur2-Manifest.json").read_text())
        on_disk = sorted(str(p) for p in (out / "cur2" / "data" / f"BILLING_PERIOD={period}").iterdir())
        assert sorted(manifest["dataFiles"]) == on_disk
        assert manifest["billingPeriod"]["start"].startswith(period)
        assert [c["name"] for c in manifest["columns"]] == [c["name"] for c in json.loads(REFERENCE.read_text())["cur2_default"]]
    # Several files per month once a file is full; a re-delivery replaces them all.
    monkeypatch.setattr(writers, "ROWS_PER_FILE", 3_000)
    monkeypatch.setattr(bill, "BATCH_ROWS", 1_000)
    again = generate(str(tmp_path), ["2025-02"], 10_000, seed=1)
    assert len(again.files) >= 3 and sum(f.rows for f in again.files) == 10_000
    monkeypatch.setattr(writers, "ROWS_PER_FILE", 1_000_000)
    final = generate(str(tmp_path), ["2025-02"], 10_000, seed=1)
    folder = tmp_path / "cur2" / "data" / "BILLING_PERIOD=2025-02"
    assert [p.name for p in folder.iterdir()] == ["cur2-00001.snappy.parquet"]
    manifest = json.loads((tmp_path / "cur2" / "metadata" / "BILLING_PERIOD=2025-02" / "cur2-Manifest.json").read_text())
    assert manifest["dataFiles"] == [final.files[0].path]


def test_anomalies_file_matches_the_spike_in_the_data(cur2):
    out, result, con = cur2
    labels = json.loads((out / "anomalies.json").read_text())["anomalies"]
    assert {a["billing_period"] for a in labels} == set(MONTHS)
    assert all(2 <= sum(a["billing_period"] == m for a in labels) <= 3 for m in MONTHS)
    for a in labels:
        assert a["team"] in org.TEAM_NAMES and a["resource_ids"]
        con.execute("CREATE OR REPLACE TEMP TABLE ids AS SELECT unnest(?::VARCHAR[]) AS id", [a["resource_ids"]])
        extra, first, last, accounts = rows_of(con, """
            SELECT sum(line_item_unblended_cost), min(line_item_usage_start_date)::DATE,
                   max(line_item_usage_start_date)::DATE, list(DISTINCT line_item_usage_account_id)
            FROM c WHERE line_item_resource_id IN (SELECT id FROM ids)""")[0]
        assert extra == pytest.approx(a["extra_unblended_cost"], rel=1e-9)
        assert (str(first), str(last)) == (a["start_date"], a["end_date"]) and accounts == [a["usage_account_id"]]
        # The team x service daily cost (by tags) on the spike days is several times its usual level.
        daily = dict(rows_of(con, f"""
            SELECT line_item_usage_start_date::DATE::VARCHAR, sum(amortized) FROM a
            WHERE {TEAM_TAG} = ? AND line_item_product_code = ? AND period = ?
              AND line_item_line_item_type IN ('Usage', 'SavingsPlanCoveredUsage', 'DiscountedUsage')
            GROUP BY 1""", [a["team"], a["service_code"], a["billing_period"]]))
        days = [str(d) for (d,) in rows_of(con, "SELECT unnest(range(?::DATE, ?::DATE + INTERVAL 1 MONTH, INTERVAL 1 DAY))::DATE",
                                              [a["billing_period"] + "-01", a["billing_period"] + "-01"])]
        spike = [daily.get(d, 0.0) for d in days if a["start_date"] <= d <= a["end_date"]]
        normal = sorted(daily.get(d, 0.0) for d in days if not a["start_date"] <= d <= a["end_date"])
        assert min(spike) > 0 and min(spike) >= 3 * normal[len(normal) // 2], a["id"]


def test_business_metrics_cover_every_team_and_day_and_follow_spend(cur2):
    out, _, con = cur2
    with open(out / "business_metrics" / "metrics_daily.csv", newline="") as fh:
        metrics = list(csv.DictReader(fh))
    assert list(metrics[0]) == ["date", "team", "product", "revenue", "orders", "active_users", "requests", "currency"]
    assert len(metrics) == (31 + 28) * len(org.TEAMS)
    assert {(m["team"], m["product"]) for m in metrics} == {(t.name, t.product) for t in org.TEAMS}
    con.execute("CREATE OR REPLACE TABLE metrics AS SELECT * FROM read_csv(?, header=true)", [str(out / "business_metrics" / "metrics_daily.csv")])
    # Revenue teams earn on weekends (retail) while API requests dip; every day has requests.
    pattern = rows_of(con, """
        SELECT avg(revenue) FILTER (WHERE dayofweek(date) IN (0, 6)) / avg(revenue) FILTER (WHERE dayofweek(date) NOT IN (0, 6)),
               avg(requests) FILTER (WHERE dayofweek(date) IN (0, 6)) / avg(requests) FILTER (WHERE dayofweek(date) NOT IN (0, 6)),
               min(requests), count(*) FILTER (WHERE revenue > 0 AND orders >= 0 AND active_users >= orders)
        FROM metrics WHERE team IN ('checkout', 'search', 'ads')""")[0]
    assert pattern[0] > 1.03 and pattern[1] < 0.97 and pattern[2] > 0 and pattern[3] == 3 * (31 + 28)
    # Across teams, requests follow tagged amortized spend.
    corr = rows_of(con, f"""
        WITH spend AS (SELECT {TEAM_TAG} team, sum(amortized) s FROM a WHERE {TEAM_TAG} IS NOT NULL GROUP BY 1),
             req AS (SELECT team, sum(revenue) r FROM metrics GROUP BY 1)
        SELECT corr(s, r) FROM spend JOIN req USING (team) WHERE r > 0""")[0][0]
    assert corr > 0.5
    with open(out / "business_metrics" / "budgets.csv", newline="") as fh:
        budgets = list(csv.DictReader(fh))
    whole = [b for b in budgets if b["service_code"] == ""]
    assert {(b["billing_period"], b["team"]) for b in whole} == {(m, t) for m in MONTHS for t in org.TEAM_NAMES}
    assert any(b["service_code"] == "AmazonEC2" for b in budgets)
    # Whole-team budgets sit around the month's usage spend (team factors 0.85-1.2; anomalies
    # are not budgeted).
    for period in MONTHS:
        budget = sum(float(b["budget"]) for b in whole if b["billing_period"] == period)
        spend = rows_of(con, """SELECT sum(amortized) FROM a WHERE period = ?
            AND line_item_line_item_type IN ('Usage', 'SavingsPlanCoveredUsage', 'DiscountedUsage')""", [period])[0][0]
        assert 0.7 * spend < budget < 1.25 * spend, (period, budget, spend)


def test_csv_export_is_gzip_csv_with_json_maps_and_the_same_rows(tmp_path):
    parquet = generate(str(tmp_path / "p"), ["2025-01"], 10_000, seed=3)
    result = generate(str(tmp_path / "c"), ["2025-01"], 10_000, seed=3, fmt="cur2-csv")
    [f] = result.files
    assert f.path.endswith("/cur2/data/BILLING_PERIOD=2025-01/cur2-00001.csv.gz")
    with gzip.open(f.path, "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        first = next(reader)
        count = 1 + sum(1 for _ in reader)
    assert count == 10_000
    assert list(first) == [c["name"] for c in json.loads(REFERENCE.read_text())["cur2_default"]]
    assert isinstance(json.loads(first["product"]), dict) and isinstance(json.loads(first["resource_tags"]), dict)
    assert first["line_item_usage_start_date"].endswith(".000Z")
    con = duckdb.connect()
    total_csv = con.execute(f"SELECT sum(line_item_unblended_cost::DOUBLE) FROM read_csv('{f.path}', all_varchar=true)").fetchone()[0]
    total_parquet = con.execute(f"SELECT sum(line_item_unblended_cost) FROM read_parquet('{parquet.files[0].path}')").fetchone()[0]
    assert total_csv == pytest.approx(total_parquet, abs=1e-6)


def test_writes_to_s3(s3_bucket):
    from transforms import storage

    result = generate(f"{s3_bucket}/exports", ["2025-01"], 10_000, seed=2, business_metrics=False)
    fs = storage.filesystem(s3_bucket)
    [f] = result.files
    assert f.path == f"{s3_bucket}/exports/cur2/data/BILLING_PERIOD=2025-01/cur2-00001.snappy.parquet"
    assert fs.size(storage.strip_protocol(f.path)) == f.bytes
    with fs.open(storage.strip_protocol(result.manifests[0])) as fh:
        assert json.load(fh)["dataFiles"] == [f.path]
    with fs.open(storage.strip_protocol(f.path)) as fh:
        assert pq.ParquetFile(fh).metadata.num_rows == 10_000


def test_a_bill_without_anomalies_differs_only_where_the_anomalies_were(tmp_path):
    labeled = generate(str(tmp_path / "on"), ["2025-04"], 15_000, seed=4)
    clean = generate(str(tmp_path / "off"), ["2025-04"], 15_000, seed=4, anomalies=False, business_metrics=False)
    assert json.loads(Path(clean.anomalies_path).read_text()) == {"anomalies": []}
    ids = [r for a in json.loads(Path(labeled.anomalies_path).read_text())["anomalies"] for r in a["resource_ids"]]
    con = duckdb.connect()
    usage = """SELECT line_item_resource_id, identity_time_interval, line_item_unblended_cost, resource_tags::VARCHAR
               FROM read_parquet(?) WHERE line_item_line_item_type IN ('Usage', 'SavingsPlanCoveredUsage', 'DiscountedUsage')"""
    only_labeled = {r for (r,) in con.execute(f"SELECT DISTINCT line_item_resource_id FROM ({usage} EXCEPT ALL {usage})",
                                              [labeled.files[0].path, clean.files[0].path]).fetchall()}
    only_clean = con.execute(f"SELECT count(*), count(DISTINCT line_item_resource_id) FROM ({usage} EXCEPT ALL {usage})",
                             [clean.files[0].path, labeled.files[0].path]).fetchone()
    assert only_labeled == set(ids)
    assert 0 < only_clean[1] <= 3  # the rows the anomalies take are filled by a few extra resources


def test_a_failure_while_building_rows_reaches_the_caller(tmp_path, monkeypatch):
    from transforms.generate import rows

    def broken(self):
        raise RuntimeError("charges exploded")

    monkeypatch.setattr(rows.MonthRows, "charges_batch", broken)
    with pytest.raises(RuntimeError, match="charges exploded"):
        generate(str(tmp_path), ["2025-01"], 10_000)


@pytest.mark.parametrize("kwargs, message", [
    ({"months": ["2025-13"]}, "2025-13"),
    ({"months": ["2025-01", "2025-01"]}, "more than once"),
    ({"rows_per_month": 500}, "rows_per_month=500"),
    ({"fmt": "focus"}, "cur2-parquet, cur2-csv, legacy-parquet"),
    ({"export_name": "../up"}, "export_name='../up'"),
    ({"seed": -1}, "seed=-1"),
])
def test_bad_arguments_are_rejected_with_a_clear_message(tmp_path, kwargs, message):
    args = {"out": str(tmp_path), "months": ["2025-01"], "rows_per_month": 10_000, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        generate(**args)
    assert not any(tmp_path.iterdir())
