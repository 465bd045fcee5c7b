"""Builders shared by the allocation tests (no tests here): a small config and hand-written line items.

The config names four teams: alpha and beta (product p1), gamma and delta (product p2). delta is
the team that appears in budgets but has no usage.
"""

from __future__ import annotations

import textwrap
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from transforms.allocation import AllocationConfig, load_config
from transforms.schema import COST_LINE_ITEMS, create_table_sql

PERIOD = "2025-01"
DAY1 = date(2025, 1, 1)
DAY2 = date(2025, 1, 2)
ACCOUNT_SHARED = "210000000001"  # no owner
ACCOUNT_BETA = "210000000002"  # owned by beta

BASE_CONFIG = """\
version: 1
dimensions:
  team:
    tag_keys: [team, owner-team, owner]
    aliases: {alfa: alpha}
  product:
    tag_keys: [product]
    values: [p1, p2]
  environment:
    tag_keys: [environment, env]
    values: [prod, dev]
    aliases: {production: prod}
  cost_center:
    tag_keys: [cost-center]
teams:
  alpha: {product: p1, cost_center: CC-1}
  beta:  {product: p1, cost_center: CC-2}
  gamma: {product: p2, cost_center: CC-3}
  delta: {product: p2, cost_center: CC-4}
required_tags: [team, product, environment]
accounts:
  "210000000002": {team: beta}
"""


def write_config(tmp_path: Path, rules: str = "", pools: str = "", extra: str = "") -> AllocationConfig:
    """BASE_CONFIG, then ``extra`` as is (e.g. more accounts), then ``rules:`` / ``pools:`` (dedented)."""
    text = BASE_CONFIG + extra
    if rules:
        text += "rules:\n" + textwrap.indent(textwrap.dedent(rules), "  ")
    if pools:
        text += "pools:\n" + textwrap.indent(textwrap.dedent(pools), "  ")
    path = tmp_path / "allocation.yaml"
    path.write_text(text)
    return load_config(path)


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": 2})
    con.execute(create_table_sql())
    return con


def li(
    cost: str | Decimal,
    *,
    day: date = DAY1,
    tags: dict[str, str] | None = None,
    account: str = ACCOUNT_SHARED,
    service: str = "AmazonEC2",
    usage_type: str = "USE1-BoxUsage:m7g.large",
    line_item_type: str = "Usage",
    charge_category: str = "Usage",
    resource_id: str | None = "i-0001",
    amortized: str | Decimal | None = None,
    usage_amount: float = 1.0,
    operation: str = "RunInstances",
    currency: str = "USD",
    cost_category: dict[str, str] | None = None,
) -> dict:
    """One line item; net columns equal the gross ones, amortized defaults to unblended."""
    unblended = Decimal(cost)
    amort = Decimal(amortized) if amortized is not None else unblended
    return {
        "billing_period": PERIOD,
        "usage_start": datetime(day.year, day.month, day.day),
        "usage_date": day,
        "payer_account_id": "111111111111",
        "usage_account_id": account,
        "service_code": service,
        "usage_type": usage_type,
        "operation": operation,
        "resource_id": resource_id,
        "line_item_type": line_item_type,
        "charge_category": charge_category,
        "purchase_option": "OnDemand",
        "usage_amount": usage_amount,
        "currency": currency,
        "unblended_cost": unblended,
        "net_unblended_cost": unblended,
        "amortized_cost": amort,
        "net_amortized_cost": amort,
        "public_on_demand_cost": Decimal(0),
        "tags": list((tags or {}).items()),
        "cost_category": list((cost_category or {}).items()),
        "source_format": "cur2-parquet",
        "source_file": "test.parquet",
        "delivery_id": "test",
    }


_ARROW_TYPES = {
    "usage_start": pa.timestamp("us"),
    "usage_date": pa.date32(),
    "usage_amount": pa.float64(),
    "tags": pa.map_(pa.string(), pa.string()),
    "cost_category": pa.map_(pa.string(), pa.string()),
}


def insert(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """Append rows to cost_line_items (missing columns NULL)."""
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


def metrics(con: duckdb.DuckDBPyConnection, rows: list[tuple[date, str, str, int]], table: str = "business_metrics_daily") -> None:
    """business_metrics_daily with (date, team, product, requests); the other drivers are 1 or 0."""
    con.execute(
        f'CREATE OR REPLACE TABLE "{table}" (date DATE, team VARCHAR, product VARCHAR, revenue DECIMAL(18,4), '
        "orders BIGINT, active_users BIGINT, requests BIGINT, currency VARCHAR)"
    )
    for d, team, product, requests in rows:
        con.execute(
            f'INSERT INTO "{table}" VALUES (?, ?, ?, 0, 1, 1, ?, \'USD\')', [d, team, product, requests]
        )


def days(n: int) -> list[date]:
    return [DAY1 + timedelta(days=i) for i in range(n)]
