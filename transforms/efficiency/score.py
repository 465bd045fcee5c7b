"""`credit_score`: one number per team and week (and month), and why it moved.

Each component (an efficiency KPI) scores 0-100 against its goal; components that do not apply
to the team in that window drop out and the remaining weights are scaled to sum to one; the
composite is the weighted sum. Every row carries the component's contribution and its change
against the previous week, so the composite's change is the sum of the contributions' changes.
Formula and worked example: docs/credit_score.md; SQL: sql/credit_score/credit_score.sql.
"""

from __future__ import annotations

import duckdb

from transforms import periods
from transforms.efficiency import inputs
from transforms.efficiency.config import CreditScoreConfig, load_config
from transforms.insights.inputs import fail_on_rows, previous_period
from transforms.sqlrunner import load_sql


def build_credit_score(
    con: duckdb.DuckDBPyConnection,
    billing_period: str,
    kpis: str = "efficiency_kpis",
    config: CreditScoreConfig | None = None,
) -> duckdb.DuckDBPyRelation:
    """The `credit_score` rows of ``billing_period``: grain x period_start x team x component (lazy relation).

    ``kpis`` names an efficiency_kpis relation holding this period and, for the previous
    composite of the first week and of the month, the previous one. Columns: billing_period,
    grain, period_start, team (NULL = organization), component, value, goal, zero_at, weight
    (configured), applies, score (0-100, NULL when not applicable), effective_weight (after
    dropping), contribution (effective_weight x score, points), previous_contribution,
    contribution_change, composite (sum of contributions, NULL when nothing applies),
    previous_composite, composite_change.
    """
    periods.validate(billing_period)
    config = config or load_config()
    previous = previous_period(billing_period)
    inputs.require_columns(con, "efficiency_kpis", kpis, inputs.EFFICIENCY_KPIS)
    inputs.require_period(con, "efficiency_kpis", kpis, billing_period)
    fail_on_rows(
        con,
        "SELECT grain, period_start, team, kpi, count(*) AS rows FROM query_table($name) "
        "WHERE usage_account_id IS NULL AND billing_period IN ($previous, $period) "
        "GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL",
        {"name": kpis, "previous": previous, "period": billing_period},
        f"efficiency_kpis ({kpis!r}): more than one row per (grain, period_start, team, kpi) for all accounts "
        f"(the same period loaded twice?)",
    )
    fail_on_rows(
        con,
        "SELECT billing_period, grain, period_start, team, kpi, value, applies FROM query_table($name) "
        "WHERE usage_account_id IS NULL AND billing_period IN ($previous, $period) "
        "AND (applies IS DISTINCT FROM (value IS NOT NULL) OR isnan(value) OR isinf(value)) ORDER BY ALL",
        {"name": kpis, "previous": previous, "period": billing_period},
        f"efficiency_kpis ({kpis!r}): value must be a finite number exactly when applies is true",
    )
    return con.sql(
        load_sql("credit_score/credit_score"),
        params={
            "kpis": kpis,
            "billing_period": billing_period,
            "previous_period": previous,
            "components": config.components_param(),
        },
    )
