"""Gates on the built efficiency tables: lists of failure messages, empty when the table passes.

The lead runs them on the staged table before publishing (orchestration.assets.efficiency).
Each message names the table, period, owner, window and the figures that disagree.
"""

from __future__ import annotations

import duckdb

from transforms import periods
from transforms.efficiency.config import SHARE_KPIS
from transforms.insights.inputs import relation_name
from transforms.sqlrunner import load_sql


def _window(grain: str, start: object, team: str | None) -> str:
    return f"grain={grain} period_start={start} team={team if team is not None else '(organization)'}"


def check_kpi_shares(con: duckdb.DuckDBPyConnection, kpis: str, billing_period: str) -> list[str]:
    """Every share KPI in [0, 1]; a value exactly when the KPI applies; value = numerator / denominator (to the cent)."""
    periods.validate(billing_period)
    relation_name("efficiency_kpis", kpis)
    rows = con.sql(
        load_sql("efficiency_kpis/check_shares"),
        params={"kpis": kpis, "billing_period": billing_period, "share_kpis": list(SHARE_KPIS)},
    ).fetchall()
    return [
        f"efficiency_kpis {billing_period}: {check}: {_window(grain, start, team)} "
        f"account={account or '(all)'} kpi={kpi}: numerator={num} denominator={den} value={value}"
        for check, grain, start, team, account, kpi, num, den, value in rows
    ]


def check_weights(con: duckdb.DuckDBPyConnection, credit_score: str, billing_period: str) -> list[str]:
    """After dropping components that do not apply, the weights of each owner and window sum to one."""
    periods.validate(billing_period)
    relation_name("credit_score", credit_score)
    rows = con.sql(
        load_sql("credit_score/check_weights"),
        params={"credit_score": credit_score, "billing_period": billing_period},
    ).fetchall()
    return [
        f"credit_score {billing_period}: weights: {_window(grain, start, team)}: effective weights sum to "
        f"{weight_sum} (expected 1 when a component applies), {dropped} dropped component(s) with a weight, "
        f"any component applies: {any_applies}, composite: {composite}"
        for grain, start, team, weight_sum, dropped, any_applies, composite in rows
    ]


def check_composite(con: duckdb.DuckDBPyConnection, credit_score: str, billing_period: str) -> list[str]:
    """The composite equals the weighted sum of its components, and its change the difference with the previous one."""
    periods.validate(billing_period)
    relation_name("credit_score", credit_score)
    rows = con.sql(
        load_sql("credit_score/check_composite"),
        params={"credit_score": credit_score, "billing_period": billing_period},
    ).fetchall()
    return [
        f"credit_score {billing_period}: {check}: {_window(grain, start, team)}: composite={composite} "
        f"sum of contributions={contributions} previous={previous} change={change}"
        for check, grain, start, team, composite, contributions, previous, change in rows
    ]
