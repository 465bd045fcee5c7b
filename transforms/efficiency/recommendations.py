"""`recommendations`: per owner, what to change to reach each efficiency goal, and what it saves.

Move instance families to Graviton, cover a steady on-demand baseline with a Savings Plan or
reservations, move gp2 volumes to gp3, tier S3 buckets, leave previous-generation families, run
some on-demand EC2 on Spot. Each recommendation carries its category, the estimated monthly
savings at goal (rates in config/credit_score.yaml, documented in docs/credit_score.md), the
resources behind it, and its priority: rank by savings within the owner, the top ``top_n``
flagged as worth a sprint. SQL: sql/recommendations/recommendations.sql.
"""

from __future__ import annotations

import duckdb

from transforms import periods
from transforms.allocation import AllocationConfig
from transforms.efficiency import inputs, sqlparts
from transforms.efficiency.config import CreditScoreConfig, load_config
from transforms.sqlrunner import load_sql


def build_recommendations(
    con: duckdb.DuckDBPyConnection,
    billing_period: str,
    line_items: str = "cost_line_items",
    *,
    allocation_config: AllocationConfig,
    config: CreditScoreConfig | None = None,
) -> duckdb.DuckDBPyRelation:
    """The `recommendations` of ``billing_period`` (lazy relation), sorted by team and priority.

    Columns: billing_period, team (the owner, as in efficiency_kpis), priority (1 = largest
    estimated savings of the team), sprint (priority <= top_n), recommendation_id (stable across
    runs: type|team|service|subject), recommendation (graviton, commitment, spot, gp3, s3_tiering,
    previous_generation), category (compute, database, storage), service_code, action (what to
    do, in words), subject (family, bucket, ...), target, kpi, current_value and goal (the team's
    month KPI), saving_rate, monthly_base_cost (cost the recommendation applies to),
    potential_monthly_savings (if all of it moved), estimated_monthly_savings (savings at goal),
    resource_count, top_resources (costliest first), usage_account_ids.
    A partial month is scaled to a whole one (days in month / days with data).
    """
    periods.validate(billing_period)
    config = config or load_config()
    inputs.require_columns(con, "line_items", line_items, inputs.LINE_ITEMS)
    inputs.require_period(con, "line_items", line_items, billing_period)
    ctes, params = sqlparts.classified_ctes(
        allocation_config, config, line_items, [billing_period], read_from=periods.first_day(billing_period)
    )
    params.update(
        billing_period=billing_period,
        days_in_month=periods.days_in(billing_period),
        goals=[{"kpi": c.kpi, "goal": float(c.goal)} for c in config.components],
        rates=[{"name": name, "rate": float(rate)} for name, rate in config.saving_rates.items()],
        top_n=config.top_n,
        min_savings=float(config.min_monthly_savings),
        resources=config.resources,
    )
    text = sqlparts.compose(ctes, load_sql("recommendations/recommendations"))
    return sqlparts.relation(con, text, params)
