"""Allocation: every dollar gets an owner; shared pools split to the cent; coverage and tagging KPIs.

The rules live in the allocation config (config/allocation.yaml by default); see docs/allocation.md.
"""

from transforms import allocation as al

from orchestration.assets.curated import BuildContext, CuratedTable, failures_gate, curated_asset


def _cfg(ctx: BuildContext):
    return ctx.allocation_config


cost_allocation = curated_asset(CuratedTable(
    name="cost_allocation",
    description="Cost per day x owner (team, product, environment, cost center) x account x service x "
                "charge category, unblended / amortized / net amortized, split into direct and shared parts, "
                "with the allocation method (tag, account, rule, shared, unallocated) and the pool of shared cost.",
    build=lambda ctx: al.build_cost_allocation(ctx.con, _cfg(ctx), ctx.billing_period),
    inputs=["cost_line_items", "business_metrics_daily"],
    gates=[
        failures_gate("conservation", "Per day, currency and cost basis, direct + shared over all owners equals "
                      "the line items' total to the cent.",
                      lambda ctx, staged: al.check_conservation(ctx.con, staged, "cost_line_items", ctx.billing_period)),
        failures_gate("allocated_exactly_once", "Every line item is allocated exactly once (row count and cost sums match).",
                      lambda ctx, staged: al.check_allocated_once(ctx.con, _cfg(ctx), ctx.billing_period)),
        failures_gate("owners_configured", "No owner outside the configured set unless marked unallocated.",
                      lambda ctx, staged: al.check_owners_configured(ctx.con, _cfg(ctx), staged)),
    ],
    group="allocation",
    sort_by=["usage_date", "team"],
    # Day-scoped: every step of sql/cost_allocation and sql/shared_cost_split (cells, targets,
    # direct-cost, metric and usage drivers, weights, largest-remainder rounding) is grouped or
    # partitioned by usage_date; business metrics are read for the same day only.
    day_column="usage_date",
))

shared_cost_split = curated_asset(CuratedTable(
    name="shared_cost_split",
    description="How each shared pool was split: pool, day, recipient, method, driver value and amount per cost basis.",
    build=lambda ctx: al.build_shared_cost_split(ctx.con, _cfg(ctx), ctx.billing_period),
    inputs=["cost_line_items", "business_metrics_daily"],
    group="allocation",
    # Day-scoped: the same split as cost_allocation, one row per pool, day, basis and recipient.
    day_column="usage_date",
))

allocation_coverage = curated_asset(CuratedTable(
    name="allocation_coverage",
    description="Attributed share of cost per day and month, overall and per account.",
    build=lambda ctx: al.build_allocation_coverage(ctx.con, "cost_allocation"),
    inputs=["cost_allocation"],
    gates=[failures_gate("coverage_at_target", "Allocation coverage at or above the configured target (warning).",
                         lambda ctx, staged: al.check_coverage(ctx.con, _cfg(ctx), staged), blocking=False)],
    group="allocation",
))

unallocated_drivers = curated_asset(CuratedTable(
    name="unallocated_drivers",
    description="The top unallocated cost drivers (service, account, resource ids) a platform lead would fix first.",
    build=lambda ctx: al.build_unallocated_drivers(ctx.con, _cfg(ctx), ctx.billing_period),
    inputs=["cost_line_items"],
    group="allocation",
))

tag_compliance = curated_asset(CuratedTable(
    name="tag_compliance",
    description="Share of taggable cost carrying every required tag.",
    build=lambda ctx: al.build_tag_compliance(ctx.con, _cfg(ctx), ctx.billing_period),
    inputs=["cost_line_items"],
    group="allocation",
))

tag_key_variants = curated_asset(CuratedTable(
    name="tag_key_variants",
    description="Tag keys that look like a required key but differ (edit distance, case), with the cost behind each.",
    build=lambda ctx: al.build_tag_key_variants(ctx.con, _cfg(ctx), ctx.billing_period),
    inputs=["cost_line_items"],
    group="allocation",
))

ASSETS = [cost_allocation, shared_cost_split, allocation_coverage, unallocated_drivers, tag_compliance, tag_key_variants]
