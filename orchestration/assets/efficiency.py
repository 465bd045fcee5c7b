"""The efficiency credit score: KPIs per team and week, the composite score, recommendations.

See docs/credit_score.md. Weeks belong to the billing period of their Sunday, so a period's first
week reads the last days of the previous one: line items, budgets and unit economics are opened
with history. Goals, weights and saving rates: config/credit_score.yaml.
"""

from functools import cache

from transforms import efficiency

from orchestration.assets.curated import BuildContext, CuratedTable, curated_asset, failures_gate


@cache
def _config() -> efficiency.CreditScoreConfig:
    return efficiency.load_config()


def _build_kpis(ctx: BuildContext):
    return efficiency.build_efficiency_kpis(
        ctx.con, ctx.billing_period, allocation_config=ctx.allocation_config, config=_config()
    )


efficiency_kpis = curated_asset(CuratedTable(
    name="efficiency_kpis",
    description="Per team (and account), per week and month, amortized: Graviton, Spot and commitment coverage, "
                "commitment utilization, gp3 and S3 storage-class shares, previous-generation share, tagging "
                "compliance, budget adherence and unit cost trend, each with numerator, denominator, value and goal.",
    build=_build_kpis,
    history_inputs=["cost_line_items", "budget_variance", "unit_economics"],
    gates=[failures_gate("kpi_shares", "Every share KPI is between 0 and 1, present exactly when it applies, and "
                         "equal to numerator / denominator.",
                         lambda ctx, staged: efficiency.check_kpi_shares(ctx.con, staged, ctx.billing_period))],
    group="efficiency",
    sort_by=["grain", "period_start", "team"],
))

credit_score = curated_asset(CuratedTable(
    name="credit_score",
    description="Per team and week (and month): each component's score against its goal, its weight after "
                "dropping components that do not apply, its contribution, the composite and its change against "
                "the previous week.",
    build=lambda ctx: efficiency.build_credit_score(ctx.con, ctx.billing_period, "efficiency_kpis", _config()),
    history_inputs=["efficiency_kpis"],
    gates=[
        failures_gate("weights_sum_to_one", "After dropping components that do not apply, weights sum to one.",
                      lambda ctx, staged: efficiency.check_weights(ctx.con, staged, ctx.billing_period)),
        failures_gate("composite_is_weighted_sum", "The composite equals the weighted sum of its components.",
                      lambda ctx, staged: efficiency.check_composite(ctx.con, staged, ctx.billing_period)),
    ],
    group="efficiency",
    sort_by=["grain", "period_start", "team"],
))

recommendations = curated_asset(CuratedTable(
    name="recommendations",
    description="Per team: what to do (Graviton, Savings Plans, gp3, S3 tiering, Spot, current generations), "
                "category, estimated monthly savings at goal, resources, priority by savings (top five: a sprint).",
    build=lambda ctx: efficiency.build_recommendations(
        ctx.con, ctx.billing_period, allocation_config=ctx.allocation_config, config=_config()
    ),
    inputs=["cost_line_items"],
    group="efficiency",
    sort_by=["team", "priority"],
))

ASSETS = [efficiency_kpis, credit_score, recommendations]
