"""`focus_1_2`: each billing period of cost_line_items as a FOCUS 1.2 dataset (see docs/focus.md).

Built like every curated table (read the published cost_line_items partition, build in a
run-local database, gate, publish); the gate checks that the FOCUS totals equal the line items'.
"""

from transforms.focus import focus_relation

from orchestration.assets.curated import BuildContext, CuratedTable, curated_asset, failures_gate


def _build(ctx: BuildContext):
    return focus_relation(ctx.con, ctx.billing_period)


def _totals_match(ctx: BuildContext, staged: str) -> list[str]:
    [(billed, effective, listed, items)] = ctx.con.execute(
        f'SELECT sum(BilledCost), sum(EffectiveCost), sum(ListCost), count(*) FILTER (WHERE x_RowKind = \'LineItem\') FROM "{staged}"'
    ).fetchall()
    [(net, net_amortized, public, rows)] = ctx.con.execute(
        "SELECT sum(net_unblended_cost), sum(net_amortized_cost), sum(public_on_demand_cost), count(*) FROM cost_line_items "
        "WHERE coalesce(operation, '') NOT IN ('EKSPod-EC2', 'ECSTask-EC2')"
    ).fetchall()
    pairs = [("BilledCost", billed, "net_unblended_cost", net), ("EffectiveCost", effective, "net_amortized_cost", net_amortized),
             ("ListCost", listed, "public_on_demand_cost", public), ("line item rows", items, "rows", rows)]
    return [f"{a} total {x} != cost_line_items {b} total {y}" for a, x, b, y in pairs if x != y]


focus_1_2 = curated_asset(CuratedTable(
    name="focus_1_2",
    description="FOCUS 1.2 cost and usage dataset of the billing period (FinOps Foundation spec), from cost_line_items.",
    build=_build,
    inputs=["cost_line_items"],
    gates=[failures_gate("totals_equal_line_items",
                         "BilledCost, EffectiveCost and ListCost totals equal the line items' net unblended, net "
                         "amortized and public on-demand totals; one LineItem row per line item.", _totals_match)],
    group="exports",
    # No sort: the line items are in delivery (time) order already, and a sort of the month's
    # 76-column export cost more than the export itself (BENCHMARKS.md, peer section).
))

ASSETS = [focus_1_2]
