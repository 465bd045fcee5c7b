"""Builders shared by the efficiency, credit score and recommendation tests (no tests here).

Line items are written with every canonical column (transforms/schema.py); the allocation config is
the allocation tests' one (teams alpha, beta, gamma, delta; account 210000000002 owned by beta);
the credit score config is written small and explicit so each test can see its goals and rates.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from allocation_builders import write_config
from transforms.allocation import AllocationConfig
from transforms.efficiency import CreditScoreConfig, load_config
from transforms.schema import COST_LINE_ITEMS, create_table_sql

PERIOD = "2025-02"
ACCOUNT_A = "210000000001"  # no owner: teams come from tags
ACCOUNT_B = "210000000002"  # owned by beta
FULL_TAGS = {"product": "p1", "environment": "prod"}

CREDIT_CONFIG = """\
version: 1
components:
  graviton_coverage:         {goal: 0.20, zero_at: 0.0,  weight: 0.15}
  spot_coverage:             {goal: 0.10, zero_at: 0.0,  weight: 0.05}
  commitment_coverage:       {goal: 0.70, zero_at: 0.0,  weight: 0.15}
  previous_generation_share: {goal: 0.10, zero_at: 1.0,  weight: 0.10}
  gp3_share:                 {goal: 0.50, zero_at: 0.0,  weight: 0.10}
  commitment_utilization:    {goal: 0.95, zero_at: 0.50, weight: 0.05}
  s3_storage_class_share:    {goal: 0.30, zero_at: 0.0,  weight: 0.05}
  tagging_compliance:        {goal: 0.90, zero_at: 0.0,  weight: 0.15}
  budget_adherence:          {goal: 1.00, zero_at: 1.50, weight: 0.10}
  unit_cost_trend:           {goal: 1.00, zero_at: 1.25, weight: 0.10}
saving_rates: {graviton: 0.20, spot: 0.55, commitment: 0.20, gp3: 0.20, s3_tiering: 0.30, previous_generation: 0.10}
graviton_equivalents: {m4: m7g, m5: m7g, c5: c7g, r5: r7g}
previous_generation: {m4: m5}
s3_tiered_classes: [Infrequent Access, Intelligent-Tiering, Archive]
unit_cost:
  default_driver: orders
  teams: {beta: revenue}
recommendations: {top_n: 2, min_monthly_savings: 0.10, resources: 2}
"""


def allocation_config(tmp_path: Path) -> AllocationConfig:
    return write_config(tmp_path)


def credit_config(tmp_path: Path, text: str = CREDIT_CONFIG) -> CreditScoreConfig:
    path = tmp_path / "credit_score.yaml"
    path.write_text(text)
    return load_config(path)


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": 2})
    con.execute(create_table_sql())
    return con


def item(
    team: str | None,
    amortized: str,
    *,
    day: date = date(2025, 2, 3),
    usage_type: str = "BoxUsage:m5.large",
    service: str = "AmazonEC2",
    public: str | None = None,
    line_item_type: str = "Usage",
    purchase_option: str = "OnDemand",
    commitment_type: str | None = None,
    arn: str | None = None,
    instance_family: str | None = None,
    processor: str | None = None,
    operating_system: str | None = None,
    volume: str | None = None,
    storage_class: str | None = None,
    resource_id: str | None = "r-1",
    account: str = ACCOUNT_A,
    tags: dict[str, str] | None = None,
    charge_category: str = "Usage",
) -> dict:
    """One line item of ``team`` (its team tag; None = untagged); public cost defaults to amortized."""
    cost = Decimal(amortized)
    all_tags = ({"team": team} if team else {}) | (tags or {})
    if instance_family is None and "Usage:" in usage_type:
        instance_family = usage_type.split(":")[-1].removeprefix("db.").removeprefix("cache.").split(".")[0]
    return {
        "billing_period": f"{day.year:04d}-{day.month:02d}",
        "usage_start": datetime(day.year, day.month, day.day),
        "usage_date": day,
        "payer_account_id": "111111111111",
        "usage_account_id": account,
        "service_code": service,
        "usage_type": usage_type,
        "operation": "RunInstances",
        "resource_id": resource_id,
        "line_item_type": line_item_type,
        "charge_category": charge_category,
        "purchase_option": purchase_option,
        "commitment_arn": arn,
        "commitment_type": commitment_type,
        "instance_family": instance_family,
        "processor": processor,
        "operating_system": operating_system,
        "storage_class": storage_class,
        "volume_api_name": volume,
        "usage_amount": 1.0,
        "currency": "USD",
        "unblended_cost": cost,
        "net_unblended_cost": cost,
        "amortized_cost": cost,
        "net_amortized_cost": cost,
        "public_on_demand_cost": Decimal(public) if public is not None else cost,
        "tags": list(all_tags.items()),
        "source_format": "cur2-parquet",
        "source_file": "test.parquet",
        "delivery_id": "test",
    }


_ARROW_TYPES = {
    "usage_start": pa.timestamp("us"),
    "usage_date": pa.date32(),
    "usage_amount": pa.float64(),
    "tags": pa.map_(pa.string(), pa.string()),
}


def insert(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """Append rows to cost_line_items (columns the rows lack are NULL)."""
    fields = []
    for col in COST_LINE_ITEMS:
        if col.name not in rows[0]:
            continue
        if col.type.startswith("DECIMAL"):
            fields.append(pa.field(col.name, pa.decimal128(18, 10)))
        else:
            fields.append(pa.field(col.name, _ARROW_TYPES.get(col.name, pa.string())))
    schema = pa.schema(fields)
    table = pa.Table.from_pylist([{f.name: r[f.name] for f in schema} for r in rows], schema=schema)
    con.register("new_rows", table)
    con.execute("INSERT INTO cost_line_items BY NAME SELECT * FROM new_rows")
    con.unregister("new_rows")


def empty_insight_tables(con: duckdb.DuckDBPyConnection) -> None:
    """budget_variance and unit_economics with their columns and no rows (KPIs from line items only)."""
    con.execute(
        "CREATE OR REPLACE TABLE budget_variance (billing_period VARCHAR, team VARCHAR, scope VARCHAR, "
        "budget DECIMAL(18,2), actual_mtd DECIMAL(18,2), days_elapsed INTEGER, days_in_month INTEGER)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE unit_economics (billing_period VARCHAR, grain VARCHAR, period_start DATE, "
        "team VARCHAR, product VARCHAR, allocated_cost DECIMAL(18,2), orders BIGINT, active_users DOUBLE, "
        "revenue DECIMAL(18,2))"
    )
