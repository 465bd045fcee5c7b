"""The data dictionary: every lake table and analyst view, its columns, types, meaning, grain and keys.

Why a registry and not only the SQL: the SQL says how a column is computed, not what an analyst
may rely on (its unit, its cost basis, when it is NULL). This module is that reviewed statement.
``cost_line_items`` is documented by its contract (``transforms.schema``); every curated table and
catalog view is documented here, with the types the lake actually holds. A test compares this
registry with ``DESCRIBE`` of a freshly materialized sample lake, so a new, renamed or retyped
column fails the suite until it is documented here, and checks that the declared keys are unique.

``docs/data_dictionary.md`` is generated from it (``python -m transforms.dictionary``; a test
fails when the committed file is stale), and ``table_doc`` hands the same text to Dagster as asset
descriptions and column metadata.

The module also loads the analyst views of ``sql/catalog_views/`` for ``build_catalog``: one
``<view>.sql`` per view, a SELECT over lake tables (or earlier views) whose header names them in a
``-- requires: a, b`` line, so a view whose input is absent from the lake is left out instead of
failing the catalog build.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from transforms import schema
from transforms.catalog import build_catalog, open_catalog
from transforms.lake import list_tables, quote_identifier

REPO_ROOT = Path(__file__).resolve().parent.parent
CATALOG_VIEWS_DIR = REPO_ROOT / "sql" / "catalog_views"
DOCS_PATH = REPO_ROOT / "docs" / "data_dictionary.md"

MONEY2 = "DECIMAL(18,2)"
MONEY10 = "DECIMAL(18,10)"  # line-item precision, kept by the FOCUS export
SUM2 = "DECIMAL(38,2)"
_REQUIRES = re.compile(r"^--\s*requires:\s*(?P<names>.*)$", re.MULTILINE)
_VIEW_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class DictionaryError(LookupError):
    """A table or view that is not documented, or a catalog view file that cannot be used."""


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class TableDoc:
    """What an analyst needs to use a table without reading its SQL."""

    name: str
    kind: str  # "table" (a lake table, Hive-partitioned by billing_period) or "view" (catalog only)
    description: str
    grain: str
    keys: tuple[str, ...]  # columns that identify a row (checked unique on the sample lake)
    defined_in: str  # where the definition lives, relative to the repo root
    columns: tuple[ColumnDoc, ...]


def _cols(*rows: tuple[str, str, str]) -> tuple[ColumnDoc, ...]:
    return tuple(ColumnDoc(*row) for row in rows)


BILLING_PERIOD = ("billing_period", "VARCHAR", "Billing period 'YYYY-MM'; the Hive partition key of the table.")
CURRENCY = ("currency", "VARCHAR", "ISO 4217 currency of the money columns, e.g. USD (the billing currency).")


def _line_item_columns() -> tuple[ColumnDoc, ...]:
    # billing_period is the partition key: the files do not hold it, readers get it back as VARCHAR.
    return tuple(ColumnDoc(c.name, c.type, c.description) for c in schema.COST_LINE_ITEMS)


_DOCS: tuple[TableDoc, ...] = (
    TableDoc(
        "cost_line_items", "table",
        "Every CUR line item in one typed schema, whatever the source format (CUR 2.0, legacy CUR, FOCUS): "
        "usage hour, accounts, service, usage, resource, line item type, charge category, purchase option, "
        "normalized tags, the five cost bases, and the file and delivery each row came from.",
        "one row per line item and usage hour (daily for daily-granularity sources)",
        ("billing_period", "line_item_id", "usage_start"),
        "transforms/schema.py, sql/cost_line_items/",
        _line_item_columns(),
    ),
    TableDoc(
        "business_metrics_daily", "table",
        "Daily revenue, orders, active users and requests per team and product, loaded from the source's "
        "business_metrics/ folder and validated (known teams and products, no duplicates, no negatives, "
        "every day present, one currency).",
        "one row per day, team and product",
        ("billing_period", "date", "team", "product"),
        "sql/business_metrics_daily.sql, business_metrics/",
        _cols(
            ("date", "DATE", "Day (UTC)."),
            ("team", "VARCHAR", "Team name, one of the configured teams."),
            ("product", "VARCHAR", "Product name."),
            ("revenue", "DECIMAL(18,4)", "Revenue attributed to the team and product that day; NULL when not reported."),
            ("orders", "BIGINT", "Orders that day; NULL when not reported."),
            ("active_users", "BIGINT", "Daily active users; NULL when not reported."),
            ("requests", "BIGINT", "API requests served: a usage driver for shared-cost splits."),
            CURRENCY,
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "budgets", "table",
        "Monthly budgets per team (service_code NULL) or per team and service, amortized cost basis, validated.",
        "one row per month, team and service_code (NULL = the whole team)",
        ("billing_period", "team", "service_code"),
        "sql/budgets.sql, business_metrics/",
        _cols(
            ("team", "VARCHAR", "Team the budget belongs to."),
            ("service_code", "VARCHAR", "AWS product code of a service budget (e.g. AmazonEC2); NULL for a team-wide budget."),
            ("budget", MONEY2, "Budget for the month, amortized cost basis."),
            CURRENCY,
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "cost_allocation", "table",
        "Who owns every cent: cost per day and owner (team, product, environment, cost center), account, service "
        "and charge category, in three cost bases, split into the owner's direct cost and its share of shared "
        "pools. Rows without a team are unallocated. For every day and basis the rows add up to the line items' "
        "total rounded to the cent. See docs/allocation.md.",
        "one row per day x team, product, environment, cost center x allocation method, reason, pool x account x "
        "service x charge category x currency",
        ("billing_period", "usage_date", "team", "product", "environment", "cost_center", "allocation_method",
         "allocation_reason", "pool", "usage_account_id", "service_code", "charge_category", "currency"),
        "sql/cost_allocation/",
        _cols(
            ("usage_date", "DATE", "Day of usage (UTC)."),
            ("team", "VARCHAR", "Owning team; NULL exactly when the cost is unallocated."),
            ("product", "VARCHAR", "Product of the owner (rule, tag, account or the team's default)."),
            ("environment", "VARCHAR", "Environment (e.g. prod, staging); NULL when unknown."),
            ("cost_center", "VARCHAR", "Cost center of the owner."),
            ("allocation_method", "VARCHAR", "How the owner was found: tag, account, rule, shared (split from a pool) or unallocated."),
            ("allocation_reason", "VARCHAR", "Why cost is unallocated: unknown_team_tag, no_owner, pool_no_recipients, "
             "pool_zero_driver; NULL for allocated cost."),
            ("pool", "VARCHAR", "Shared pool the cost was split from; NULL for direct cost."),
            ("usage_account_id", "VARCHAR", "Linked account the cost was billed to (shared cost keeps its line items' account)."),
            ("service_code", "VARCHAR", "AWS product code, e.g. AmazonEC2."),
            ("charge_category", "VARCHAR", "FOCUS charge category: Usage, Purchase, Adjustment or Tax."),
            CURRENCY,
            ("direct_unblended_cost", MONEY2, "Unblended cost of the owner's own line items (0 on shared rows)."),
            ("shared_unblended_cost", MONEY2, "Unblended cost received from the pool (0 on direct rows)."),
            ("direct_amortized_cost", MONEY2, "Amortized cost of the owner's own line items (0 on shared rows)."),
            ("shared_amortized_cost", MONEY2, "Amortized cost received from the pool (0 on direct rows)."),
            ("direct_net_amortized_cost", MONEY2, "Net amortized cost of the owner's own line items (0 on shared rows)."),
            ("shared_net_amortized_cost", MONEY2, "Net amortized cost received from the pool (0 on direct rows)."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "shared_cost_split", "table",
        "How each shared pool was split: per pool, day and cost basis, every configured recipient with the method, "
        "driver and its share, and the amount it received; a row with recipient NULL holds pool cost left "
        "unallocated. Amounts are the same cents as the shared rows of cost_allocation.",
        "one row per pool x day x currency x cost basis x recipient",
        ("billing_period", "pool", "usage_date", "currency", "cost_basis", "recipient"),
        "sql/shared_cost_split/",
        _cols(
            ("pool", "VARCHAR", "Shared pool (config/allocation.yaml pools)."),
            ("usage_date", "DATE", "Day of usage (UTC)."),
            CURRENCY,
            ("cost_basis", "VARCHAR", "unblended, amortized or net_amortized."),
            ("recipient", "VARCHAR", "Team receiving a share; NULL for pool cost left unallocated."),
            ("method", "VARCHAR", "Configured split method: proportional, even, weights or driver."),
            ("applied_method", "VARCHAR", "Method applied that day: the configured one, 'even' when every weight was zero, "
             "'none' for unsplit cost."),
            ("driver", "VARCHAR", "What driver_value measures: direct_cost, even, weight, a business metric or usage_amount."),
            ("driver_value", "DECIMAL(38,10)", "The recipient's driver that day (e.g. its direct cost or its requests)."),
            ("driver_share", "DOUBLE", "The recipient's share of the applied weights, a fraction (0.25 = 25 %)."),
            ("pool_amount", MONEY2, "The pool's whole cost that day on this basis."),
            ("amount", MONEY2, "What the recipient received; amounts of a pool-day add up to pool_amount."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "allocation_coverage", "table",
        "Share of cost attributed to an owner, per day and for the month, overall and per account, on each cost "
        "basis, with the cost by allocation method. Shared cost counts as allocated.",
        "one row per period grain (day or month) x day x scope (overall or account) x account x cost basis",
        ("billing_period", "period_grain", "usage_date", "scope", "usage_account_id", "cost_basis"),
        "sql/allocation_coverage/allocation_coverage.sql",
        _cols(
            ("period_grain", "VARCHAR", "'day' (one day) or 'month' (the whole billing period)."),
            ("usage_date", "DATE", "The day for period_grain 'day'; NULL for 'month'."),
            ("scope", "VARCHAR", "'overall' (every account) or 'account' (one account)."),
            ("usage_account_id", "VARCHAR", "The account for scope 'account'; NULL for 'overall'."),
            ("cost_basis", "VARCHAR", "unblended, amortized or net_amortized."),
            ("total_cost", MONEY2, "All cost of the period and scope."),
            ("allocated_cost", MONEY2, "Cost with an owner: tag + account + rule + shared."),
            ("tag_cost", MONEY2, "Cost allocated by the team tag."),
            ("account_cost", MONEY2, "Cost allocated by the account owner."),
            ("rule_cost", MONEY2, "Cost allocated by an owner rule."),
            ("shared_cost", MONEY2, "Pool cost split to owners."),
            ("unallocated_cost", MONEY2, "Cost without an owner."),
            ("coverage", "DOUBLE", "allocated_cost / total_cost, a fraction; NULL when total_cost is 0."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "unallocated_drivers", "table",
        "The largest groups of unallocated line items (by service, account, reason and unknown team tag value), "
        "ranked by amortized cost, with their costliest resources: what a platform lead fixes first.",
        "one row per ranked group (top coverage.top_unallocated of the month)",
        ("billing_period", "rank"),
        "sql/allocation_coverage/unallocated_drivers.sql",
        _cols(
            ("rank", "BIGINT", "1 = the group with the most unallocated amortized cost."),
            ("service_code", "VARCHAR", "AWS product code."),
            ("usage_account_id", "VARCHAR", "Linked account."),
            ("allocation_reason", "VARCHAR", "unknown_team_tag (the team tag names no configured team) or no_owner."),
            ("unknown_team_value", "VARCHAR", "The unrecognized team tag value, for reason unknown_team_tag; else NULL."),
            ("unallocated_amortized_cost", MONEY2, "Amortized cost of the group."),
            ("unallocated_unblended_cost", MONEY2, "Unblended cost of the group."),
            ("share_of_unallocated", "DOUBLE", "Fraction of the month's unallocated line-item cost in this group."),
            ("line_items", "BIGINT", "Line items in the group."),
            ("resources", "BIGINT", "Distinct resource ids in the group."),
            ("top_resource_ids", "VARCHAR[]", "The ten costliest resource ids of the group, costliest first."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "tag_compliance", "table",
        "Share of taggable cost (Usage with a resource id) carrying each required tag with a configured value, per "
        "account and service; required_tag 'all_required' requires every one.",
        "one row per account x service x required tag",
        ("billing_period", "usage_account_id", "service_code", "required_tag"),
        "sql/tag_compliance/tag_compliance.sql",
        _cols(
            ("usage_account_id", "VARCHAR", "Linked account."),
            ("service_code", "VARCHAR", "AWS product code."),
            ("required_tag", "VARCHAR", "A required dimension (e.g. team) or 'all_required'."),
            ("taggable_cost", MONEY2, "Amortized cost of taggable line items."),
            ("tagged_cost", MONEY2, "Part of it carrying a configured value (aliases included)."),
            ("invalid_value_cost", MONEY2, "Part of it carrying the tag with a value that is not configured."),
            ("missing_cost", MONEY2, "Part of it without the tag."),
            ("line_items", "BIGINT", "Taggable line items."),
            ("compliance", "DOUBLE", "tagged_cost / taggable_cost, a fraction; NULL when taggable_cost is 0."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "tag_key_variants", "table",
        "Tag keys on taggable line items that look like a required key but are not accepted (case, separators, a "
        "small edit distance), with the cost behind each: the tagging mistakes behind low compliance.",
        "one row per near-miss tag key",
        ("billing_period", "tag_key"),
        "sql/tag_compliance/tag_key_variants.sql",
        _cols(
            ("tag_key", "VARCHAR", "The tag key as found on the line items."),
            ("required_tag", "VARCHAR", "The required dimension it was probably meant for."),
            ("closest_key", "VARCHAR", "The accepted key it is closest to."),
            ("match_kind", "VARCHAR", "case_or_whitespace, separator or edit_distance."),
            ("distance", "BIGINT", "Damerau-Levenshtein distance to closest_key after normalization."),
            ("line_items", "BIGINT", "Taggable line items carrying the key."),
            ("amortized_cost", MONEY2, "Amortized cost of those line items."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "unit_economics", "table",
        "Per day and per month, per team and product: allocated cost, revenue, orders, active users, cost per order "
        "and per active user, cloud cost share of revenue, gross margin, and change against the previous period. "
        "Ratios are fractions; a ratio that cannot be computed is NULL and its *_null_reason says why. "
        "See docs/unit_economics.md.",
        "one row per grain (day or month) x period start x team x product",
        ("billing_period", "grain", "period_start", "team", "product"),
        "sql/unit_economics/unit_economics.sql",
        _cols(
            ("grain", "VARCHAR", "'day' or 'month'."),
            ("period_start", "DATE", "The day (grain day) or the 1st of the month (grain month)."),
            ("team", "VARCHAR", "Team (unallocated cost is left out: it has no business drivers)."),
            ("product", "VARCHAR", "Product."),
            CURRENCY,
            ("direct_cost", MONEY2, "Direct amortized cost."),
            ("shared_cost", MONEY2, "Share of split pools, amortized."),
            ("allocated_cost", MONEY2, "direct_cost + shared_cost."),
            ("revenue", MONEY2, "Revenue from business_metrics_daily."),
            ("orders", "BIGINT", "Orders."),
            ("active_users", "DOUBLE", "Daily active users; month grain: the mean of the daily values."),
            ("days", "BIGINT", "Days of the row with cost or metrics (1 for a day)."),
            ("cost_per_order", "DOUBLE", "allocated_cost / orders."),
            ("cost_per_order_null_reason", "VARCHAR", "Why cost_per_order is NULL (e.g. 'zero orders'); NULL when it is not."),
            ("cost_per_active_user", "DOUBLE", "allocated_cost / active_users."),
            ("cost_per_active_user_null_reason", "VARCHAR", "Why cost_per_active_user is NULL; NULL when it is not."),
            ("cloud_cost_to_revenue", "DOUBLE", "allocated_cost / revenue, a fraction."),
            ("cloud_cost_to_revenue_null_reason", "VARCHAR", "Why cloud_cost_to_revenue is NULL; NULL when it is not."),
            ("gross_margin", MONEY2, "revenue - allocated_cost."),
            ("gross_margin_ratio", "DOUBLE", "gross_margin / revenue, a fraction."),
            ("gross_margin_ratio_null_reason", "VARCHAR", "Why gross_margin_ratio is NULL; NULL when it is not."),
            ("previous_allocated_cost", MONEY2, "allocated_cost of the previous day (month); 0 if the team had none while others had cost."),
            ("allocated_cost_change", MONEY2, "allocated_cost - previous_allocated_cost."),
            ("allocated_cost_change_ratio", "DOUBLE", "allocated_cost_change / previous_allocated_cost, a fraction."),
            ("allocated_cost_change_ratio_null_reason", "VARCHAR", "Why allocated_cost_change_ratio is NULL; NULL when it is not."),
            ("cost_per_order_change_ratio", "DOUBLE", "Change of cost_per_order against the previous period, a fraction."),
            ("cost_per_order_change_ratio_null_reason", "VARCHAR", "Why cost_per_order_change_ratio is NULL; NULL when it is not."),
            ("cost_per_active_user_change_ratio", "DOUBLE", "Change of cost_per_active_user against the previous period, a fraction."),
            ("cost_per_active_user_change_ratio_null_reason", "VARCHAR", "Why cost_per_active_user_change_ratio is NULL; NULL when it is not."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "budget_variance", "table",
        "Per team (and per service where a service budget exists) and month: budget, actual to date, full-month "
        "forecast (weekday-aware run rate), variance and status. Team rows add up to the whole allocated cost "
        "(teams without a budget have status no_budget). See docs/unit_economics.md.",
        "one row per team (scope team) and per service budget (scope service)",
        ("billing_period", "team", "service_code"),
        "sql/budget_variance/",
        _cols(
            ("team", "VARCHAR", "Team ('unallocated' for cost without an owner)."),
            ("service_code", "VARCHAR", "AWS product code of a service budget; NULL for the team row."),
            ("scope", "VARCHAR", "'team' or 'service'."),
            CURRENCY,
            ("as_of", "DATE", "Last day counted in actual_mtd."),
            ("days_elapsed", "INTEGER", "Day number of as_of in the month."),
            ("days_in_month", "INTEGER", "Days of the month."),
            ("budget", MONEY2, "The budget; NULL without one."),
            ("actual_mtd", MONEY2, "Allocated amortized cost from the 1st to as_of."),
            ("forecast", "DECIMAL(19,2)", "Forecast cost of the whole month."),
            ("forecast_method", "VARCHAR", "weekday, flat (under two weeks of history), complete (as_of is the month end) or no history."),
            ("variance", MONEY2, "forecast - budget."),
            ("variance_ratio", "DOUBLE", "variance / budget, a fraction."),
            ("budget_used_ratio", "DOUBLE", "actual_mtd / budget, a fraction."),
            ("ratio_null_reason", "VARCHAR", "Why the ratios are NULL ('no budget', 'zero budget'); NULL when they are not."),
            ("status", "VARCHAR", "over (actual already above budget), at_risk (forecast above budget), on_track or no_budget."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "forecast_accuracy", "table",
        "For closed months: the forecast as it stood on days 7, 14, 21 and 28 against the final actual; "
        "forecast_accuracy = 1 - |forecast - actual| / actual (FinOps Foundation).",
        "one row per team (and service budget) x checkpoint day",
        ("billing_period", "team", "service_code", "checkpoint_day"),
        "sql/budget_variance/forecast_accuracy.sql",
        _cols(
            ("team", "VARCHAR", "Team."),
            ("service_code", "VARCHAR", "AWS product code of a service budget; NULL for the team series."),
            ("scope", "VARCHAR", "'team' or 'service'."),
            CURRENCY,
            ("checkpoint_day", "INTEGER", "Day of the month the forecast was made (7, 14, 21, 28)."),
            ("as_of", "DATE", "Date of the checkpoint."),
            ("actual_to_date", MONEY2, "Allocated amortized cost from the 1st to as_of."),
            ("forecast", "DECIMAL(19,2)", "Full-month forecast made on as_of."),
            ("forecast_method", "VARCHAR", "weekday, flat or no history."),
            ("actual", MONEY2, "Final allocated amortized cost of the month."),
            ("forecast_error", MONEY2, "forecast - actual."),
            ("forecast_accuracy", "DOUBLE", "1 - |forecast - actual| / actual, a fraction."),
            ("forecast_accuracy_null_reason", "VARCHAR", "Why forecast_accuracy is NULL ('actual is zero', 'actual is negative')."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "cost_anomalies", "table",
        "Daily cost increases of an owner x service x account series that its recent history does not explain "
        "(robust weekday baseline), with expected and actual cost, impact and the resources behind the increase. "
        "An anomaly spanning two months appears in both with the same anomaly_id. See docs/unit_economics.md.",
        "one row per anomaly with a day in the month",
        ("billing_period", "anomaly_id"),
        "sql/cost_anomalies/cost_anomalies.sql",
        _cols(
            ("anomaly_id", "VARCHAR", "team|service_code|usage_account_id (or *)|start_date."),
            ("team", "VARCHAR", "Owner of the series; '(shared)' for the shared part of a service and account."),
            ("service_code", "VARCHAR", "AWS product code."),
            ("usage_account_id", "VARCHAR", "Linked account; NULL when the series sums over accounts."),
            ("start_date", "DATE", "First day of the anomaly."),
            ("first_seen", "DATE", "Day it was first flagged (detection delay = first_seen - start_date)."),
            ("last_seen", "DATE", "Last anomalous day."),
            ("days", "INTEGER", "Number of anomalous days."),
            ("ongoing", "BOOLEAN", "True when it runs to the last day of data."),
            ("detected_by", "VARCHAR", "one_day or two_day: the rule that flagged first_seen."),
            ("expected_cost", MONEY2, "Expected cost summed over the anomaly's days."),
            ("actual_cost", MONEY2, "Actual cost summed over the anomaly's days."),
            ("impact", "DECIMAL(19,2)", "actual_cost - expected_cost."),
            ("max_score", "DOUBLE", "Largest excess / robust scale over its days; NULL when the scale is 0."),
            ("top_resources", 'STRUCT(resource_id VARCHAR, "cost" DECIMAL(18,2), increase DECIMAL(18,2))[]',
             "Up to five resources whose cost rose most: cost over the anomaly's days and increase over their usual cost."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "efficiency_kpis", "table",
        "The efficiency KPIs of the credit score per owner, account and window (ISO week, belonging to the billing "
        "period of its Sunday, or month), long format, with additive numerators and denominators so analysts can "
        "re-add them and divide. See docs/credit_score.md.",
        "one row per grain (week or month) x period start x team x account x KPI",
        ("billing_period", "grain", "period_start", "team", "usage_account_id", "kpi"),
        "sql/efficiency_kpis/",
        _cols(
            ("grain", "VARCHAR", "'week' (ISO week, Monday to Sunday) or 'month' (the billing period)."),
            ("period_start", "DATE", "Monday of the week or the 1st of the month."),
            ("period_end", "DATE", "Sunday of the week or the last day of the month."),
            ("days", "BIGINT", "Days with line items in the window (a first week without the previous month's data has fewer)."),
            ("team", "VARCHAR", "Owner: a team, '(shared)' for shared-pool items, 'unallocated'; NULL = the whole organization."),
            ("usage_account_id", "VARCHAR", "Linked account; NULL = all accounts."),
            ("kpi", "VARCHAR", "graviton_coverage, spot_coverage, commitment_coverage, commitment_utilization, gp3_share, "
             "s3_storage_class_share, previous_generation_share, tagging_compliance, budget_adherence or unit_cost_trend."),
            ("cost_basis", "VARCHAR", "Basis of numerator and denominator: amortized, public_on_demand (Spot) or allocated."),
            ("numerator", MONEY2, "The KPI's numerator (e.g. Graviton compute cost)."),
            ("denominator", MONEY2, "The KPI's denominator (e.g. Graviton-eligible compute cost)."),
            ("value", "DOUBLE", "numerator / denominator of the exact sums; NULL when the KPI does not apply."),
            ("goal", "DOUBLE", "The goal (config/credit_score.yaml)."),
            ("applies", "BOOLEAN", "The denominator is positive: the owner has something the KPI measures."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "credit_score", "table",
        "The efficiency credit score per team and window: each component's score (0-100) against its goal, its "
        "weight after dropping components that do not apply, its contribution, the composite and what moved it "
        "since the previous window. See docs/credit_score.md.",
        "one row per grain (week or month) x period start x team x component",
        ("billing_period", "grain", "period_start", "team", "component"),
        "sql/credit_score/credit_score.sql",
        _cols(
            ("grain", "VARCHAR", "'week' or 'month'."),
            ("period_start", "DATE", "Monday of the week or the 1st of the month."),
            ("team", "VARCHAR", "Owner, as in efficiency_kpis; NULL = the whole organization."),
            ("component", "VARCHAR", "The KPI scored (efficiency_kpis.kpi)."),
            ("value", "DOUBLE", "The KPI's value; NULL when it does not apply."),
            ("goal", "DOUBLE", "Value earning 100 points."),
            ("zero_at", "DOUBLE", "Value earning 0 points (below the goal for 'higher is better', above it otherwise)."),
            ("weight", "DOUBLE", "Configured weight of the component."),
            ("applies", "BOOLEAN", "The component applies to the team in the window (its denominator is positive)."),
            ("score", "DOUBLE", "100 x clamp((value - zero_at) / (goal - zero_at), 0, 1); NULL when it does not apply."),
            ("effective_weight", "DOUBLE", "weight / the sum of the weights that apply; 0 when it does not apply."),
            ("contribution", "DOUBLE", "effective_weight x score: the points it adds to the composite."),
            ("previous_contribution", "DOUBLE", "Its contribution in the previous window (week - 7 days, previous month)."),
            ("contribution_change", "DOUBLE", "contribution - previous_contribution."),
            ("composite", "DOUBLE", "The credit score, 0-100: the sum of the contributions (same on every component row); "
             "NULL when nothing applies."),
            ("previous_composite", "DOUBLE", "The composite of the previous window."),
            ("composite_change", "DOUBLE", "composite - previous_composite (= the sum of the contribution changes)."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "recommendations", "table",
        "What each owner can do to reach its efficiency goals (Graviton, Savings Plans, Spot, gp3, S3 tiering, "
        "current generations), with the estimated monthly savings at goal, ranked per owner; the top five are a "
        "sprint. See docs/credit_score.md.",
        "one row per month x owner x recommendation",
        ("billing_period", "team", "recommendation_id"),
        "sql/recommendations/recommendations.sql",
        _cols(
            ("team", "VARCHAR", "Owner: a team, '(shared)' or 'unallocated'."),
            ("priority", "BIGINT", "Rank by estimated_monthly_savings within the owner (1 = saves most)."),
            ("sprint", "BOOLEAN", "Among the top five: worth a sprint."),
            ("recommendation_id", "VARCHAR", "type|team|service|subject, stable across runs."),
            ("recommendation", "VARCHAR", "Type: graviton, commitment, spot, gp3, s3_tiering or previous_generation."),
            ("category", "VARCHAR", "compute, database or storage."),
            ("service_code", "VARCHAR", "AWS product code."),
            ("action", "VARCHAR", "What to do, in words."),
            ("subject", "VARCHAR", "What it applies to: an instance family, 'ec2', 'lambda', a bucket, 'gp2'."),
            ("target", "VARCHAR", "Where to move it: a Graviton or current family, Spot, gp3, a storage class, a commitment."),
            ("kpi", "VARCHAR", "The efficiency KPI it improves."),
            ("current_value", "DOUBLE", "The owner's month value of that KPI."),
            ("goal", "DOUBLE", "The KPI's goal."),
            ("saving_rate", "DOUBLE", "Fraction of the moved cost saved (config saving_rates)."),
            ("monthly_base_cost", MONEY2, "Cost the recommendation applies to, per month."),
            ("potential_monthly_savings", MONEY2, "Savings if all of the base cost moved: base x saving_rate."),
            ("estimated_monthly_savings", MONEY2, "Savings of moving what reaching the goal takes (CID savings at goal)."),
            ("resource_count", "BIGINT", "Resources concerned."),
            ("top_resources", "VARCHAR[]", "The costliest of them (up to 10), costliest first."),
            ("usage_account_ids", "VARCHAR[]", "Accounts they are in."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "focus_1_2", "table",
        "The billing period's cost_line_items as a FOCUS 1.2 cost and usage dataset (FinOps Foundation spec), for "
        "FOCUS tools and for ingesting back: one row per line item, plus a companion Usage row (x_RowKind "
        "'Amortization') carrying the amortized cost of each Purchase, so EffectiveCost is 0 on purchases and the "
        "unused commitment is Usage with CommitmentDiscountStatus 'Unused'. BilledCost and EffectiveCost add up to "
        "the line items' net unblended and net amortized totals; split cost allocation rows (EKSPod-EC2, "
        "ECSTask-EC2) are left out. Columns cost_line_items lacks are derived or NULL: see docs/focus.md.",
        "one row per line item and usage hour, plus one companion row per Purchase with an amortized cost",
        ("billing_period", "x_LineItemId", "ChargePeriodStart", "x_RowKind"),
        "transforms/focus/export.py, sql/focus_1_2/export.sql, docs/focus.md",
        _cols(
            ("AvailabilityZone", "VARCHAR", "Provider's zone within a region where the resource runs: availability_zone."),
            ("BilledCost", MONEY10, "Cost invoiced for the charge, with discounts, without amortization: net_unblended_cost "
             "(0 on companion rows)."),
            ("BillingAccountId", "VARCHAR", "Account the charges are invoiced to: payer_account_id."),
            ("BillingAccountName", "VARCHAR", "Display name of the billing account: the payer's own usage account name, else its id."),
            ("BillingAccountType", "VARCHAR", "Provider's type of billing account: 'Management Account' (transforms.focus.Provider)."),
            ("BillingCurrency", "VARCHAR", "Currency the charge was billed in: currency."),
            ("BillingPeriodEnd", "TIMESTAMP", "Exclusive end of the billing period: the 1st of the next month, 00:00 UTC."),
            ("BillingPeriodStart", "TIMESTAMP", "Inclusive start of the billing period: the 1st of the month, 00:00 UTC."),
            ("ChargeCategory", "VARCHAR", "Highest-level class of the charge: charge_category (Usage, Purchase, Adjustment, "
             "Tax); Usage on companion rows."),
            ("ChargeClass", "VARCHAR", "'Correction' for a correction of an earlier invoiced period; always NULL (not in the line items)."),
            ("ChargeDescription", "VARCHAR", "Summary of the charge: line item type and usage type (derived; 'Unused commitment "
             "of <arn>' or 'Amortized ...' on companion rows)."),
            ("ChargeFrequency", "VARCHAR", "How often the charge occurs: One-Time (upfront commitment fees, adjustments), "
             "Recurring (other purchases, tax) or Usage-Based (usage, companion rows)."),
            ("ChargePeriodEnd", "TIMESTAMP", "Exclusive end of the charge: usage_start + 1 hour (1 day for daily deliveries), "
             "or the period end for monthly charges starting on the 1st (derived)."),
            ("ChargePeriodStart", "TIMESTAMP", "Inclusive start of the charge: usage_start (UTC)."),
            ("CommitmentDiscountCategory", "VARCHAR", "Whether the commitment is counted in money or quantity: Spend (Savings "
             "Plan) or Usage (reservation); NULL without a commitment."),
            ("CommitmentDiscountId", "VARCHAR", "Provider's id of the commitment discount: commitment_arn."),
            ("CommitmentDiscountName", "VARCHAR", "Display name of the commitment discount; always NULL (not in the line items)."),
            ("CommitmentDiscountQuantity", "DOUBLE", "Amount of the commitment purchased or used, in CommitmentDiscountUnit: "
             "money for Savings Plans, hours for reservations (derived); NULL without a commitment and on Tax "
             "and Adjustment."),
            ("CommitmentDiscountUnit", "VARCHAR", "Unit of CommitmentDiscountQuantity: the currency (Spend) or 'Hours' (Usage); "
             "NULL without a commitment."),
            ("CommitmentDiscountStatus", "VARCHAR", "Used (usage covered by a commitment) or Unused (companion row of the "
             "commitment fee's unused part); NULL on other rows."),
            ("CommitmentDiscountType", "VARCHAR", "Provider's type of commitment: commitment_type (e.g. ComputeSavingsPlans, "
             "Reserved); NULL without a commitment."),
            ("ConsumedQuantity", "DOUBLE", "Volume of the metered SKU used, in ConsumedUnit: usage_amount on Usage rows (0 on a "
             "fee's companion row); NULL on other categories and Unused rows."),
            ("ConsumedUnit", "VARCHAR", "Unit of ConsumedQuantity: pricing_unit in FOCUS UnitFormat (Hrs -> Hours); NULL where "
             "ConsumedQuantity is."),
            ("ContractedCost", MONEY10, "Contracted unit price x PricingQuantity: unblended_cost; 0 on Usage and Purchase rows "
             "with a negative cost and on companion rows."),
            ("ContractedUnitPrice", "DOUBLE", "Agreed unit price per PricingUnit, before commitment discounts: ContractedCost / "
             "PricingQuantity (0 when it is 0); NULL on Tax and Adjustment."),
            ("EffectiveCost", MONEY10, "Amortized cost after discounts and the prepaid purchases that covered it: "
             "net_amortized_cost; 0 on Purchase rows (their companion row carries it)."),
            ("InvoiceId", "VARCHAR", "Provider's id of the invoice holding the charge; always NULL (not in the line items)."),
            ("InvoiceIssuerName", "VARCHAR", "Entity that invoices the charges: 'AWS' (transforms.focus.Provider)."),
            ("ListCost", MONEY10, "List unit price x PricingQuantity: public_on_demand_cost (0 on companion rows)."),
            ("ListUnitPrice", "DOUBLE", "Published unit price per PricingUnit, without discounts: ListCost / PricingQuantity "
             "(0 when it is 0); NULL on Tax and Adjustment."),
            ("PricingCategory", "VARCHAR", "Pricing model of the charge: Standard (OnDemand), Committed (Savings Plan, reserved, "
             "companion rows) or Dynamic (Spot); NULL on Tax and Adjustment."),
            ("PricingCurrency", "VARCHAR", "Currency the SKU was priced in: currency (the billing currency)."),
            ("PricingCurrencyContractedUnitPrice", "DOUBLE", "ContractedUnitPrice in PricingCurrency (the same value)."),
            ("PricingCurrencyEffectiveCost", MONEY10, "EffectiveCost in PricingCurrency (the same value)."),
            ("PricingCurrencyListUnitPrice", "DOUBLE", "ListUnitPrice in PricingCurrency (the same value)."),
            ("PricingQuantity", "DOUBLE", "Volume used or purchased, in PricingUnit: usage_amount (0 on companion rows); NULL on "
             "Tax and Adjustment."),
            ("PricingUnit", "VARCHAR", "Unit the SKU is priced in: pricing_unit in FOCUS UnitFormat ('Units' when absent); "
             "NULL where PricingQuantity is."),
            ("ProviderName", "VARCHAR", "Entity that made the services available for purchase: 'AWS'."),
            ("PublisherName", "VARCHAR", "Entity that produced the services: 'AWS'."),
            ("RegionId", "VARCHAR", "Provider's id of the region where the resource runs: region."),
            ("RegionName", "VARCHAR", "Name of the region (transforms/focus/services.py, else the id); NULL without a region."),
            ("ResourceId", "VARCHAR", "Provider's id of the resource: resource_id."),
            ("ResourceName", "VARCHAR", "Display name of the resource: the resource id (CUR has no names)."),
            ("ResourceType", "VARCHAR", "Kind of resource: product_family, else the service name (derived); NULL without a resource."),
            ("ServiceCategory", "VARCHAR", "Highest-level class of the service (e.g. Compute, Storage), from the service code "
             "(transforms/focus/services.py); 'Other' when unknown."),
            ("ServiceName", "VARCHAR", "Offering purchased from the provider: service_name, else service_code."),
            ("ServiceSubcategory", "VARCHAR", "Secondary class within ServiceCategory (transforms/focus/services.py); "
             "'Other (Other)' when unknown."),
            ("SkuId", "VARCHAR", "Id of the SKU: 16 hex digits of md5(service code, usage type, operation) (derived); Usage and "
             "Purchase rows only."),
            ("SkuMeter", "VARCHAR", "Functionality the SKU meters: usage_type, else line_item_type; Usage and Purchase rows only."),
            ("SkuPriceId", "VARCHAR", "Id of the unit price used: SkuId '-' purchase_option (derived); Usage and Purchase rows only."),
            ("SkuPriceDetails", "VARCHAR", "Properties of the SKU price (JSON); always NULL (not in the line items)."),
            ("SubAccountId", "VARCHAR", "Id of the grouping of resources the charge belongs to: usage_account_id."),
            ("SubAccountName", "VARCHAR", "Name of the sub account: usage_account_name, else its id."),
            ("SubAccountType", "VARCHAR", "Provider's type of sub account: 'Management Account' for the payer's own account, else "
             "'Member Account'."),
            ("Tags", "VARCHAR", "Tags of the resource as JSON object text: tags with normalized keys ('{}' when none)."),
            ("x_Operation", "VARCHAR", "AWS extension: operation (e.g. RunInstances)."),
            ("x_ServiceCode", "VARCHAR", "AWS extension: service_code (e.g. AmazonEC2)."),
            ("x_RowKind", "VARCHAR", "curlake: 'LineItem' (a line item) or 'Amortization' (companion row of a Purchase)."),
            ("x_LineItemType", "VARCHAR", "curlake: line_item_type (a companion row repeats its purchase's)."),
            ("x_LineItemId", "VARCHAR", "curlake: line_item_id (a companion row repeats its purchase's)."),
            ("x_UsageType", "VARCHAR", "curlake: usage_type."),
            ("x_PricingUnit", "VARCHAR", "curlake: pricing_unit as AWS writes it (e.g. Hrs, GB-Mo)."),
            ("x_PurchaseOption", "VARCHAR", "curlake: purchase_option (OnDemand, Spot, SavingsPlan, Reserved)."),
            ("x_UsageAmount", "DOUBLE", "curlake: usage_amount; 0 on companion rows."),
            ("x_UnblendedCost", MONEY10, "curlake: unblended_cost (gross, before discounts); 0 on companion rows."),
            ("x_AmortizedCost", MONEY10, "curlake: amortized_cost (gross); 0 on Purchase rows (their companion row carries it)."),
            ("x_ProductFamily", "VARCHAR", "curlake: product_family."),
            ("x_InstanceType", "VARCHAR", "curlake: instance_type."),
            ("x_Processor", "VARCHAR", "curlake: processor."),
            ("x_OperatingSystem", "VARCHAR", "curlake: operating_system."),
            ("x_StorageClass", "VARCHAR", "curlake: storage_class."),
            ("x_VolumeApiName", "VARCHAR", "curlake: volume_api_name."),
            ("x_CostCategories", "VARCHAR", "curlake: cost_category (AWS Cost Categories) as JSON object text ('{}' when none)."),
            BILLING_PERIOD,
        ),
    ),
    TableDoc(
        "cost_by_team_month", "view",
        "Allocated cost per team and month in three cost bases, direct and shared, with the team's share of the "
        "month. Cost without an owner is team 'unallocated', so a month's rows add up to its whole bill.",
        "one row per month x team x currency",
        ("billing_period", "team", "currency"),
        "sql/catalog_views/cost_by_team_month.sql",
        _cols(
            BILLING_PERIOD,
            ("team", "VARCHAR", "Team, or 'unallocated'."),
            CURRENCY,
            ("direct_amortized_cost", SUM2, "Amortized cost of the team's own line items."),
            ("shared_amortized_cost", SUM2, "Amortized cost received from shared pools."),
            ("amortized_cost", SUM2, "direct + shared amortized cost (the basis of budgets and unit costs)."),
            ("unblended_cost", SUM2, "direct + shared unblended cost (the invoice view)."),
            ("net_amortized_cost", SUM2, "direct + shared net amortized cost."),
            ("share_of_month", "DOUBLE", "amortized_cost / the month's total, a fraction; NULL when the total is not positive."),
        ),
    ),
    TableDoc(
        "top_movers_week_over_week", "view",
        "Per ISO week (Monday to Sunday), each team x service's amortized cost against the previous week, ranked by "
        "the size of the change. `complete` says whether both weeks have cost on all seven days.",
        "one row per week x team x service x currency (weeks with a previous week in the lake)",
        ("week_start", "team", "service_code", "currency"),
        "sql/catalog_views/top_movers_week_over_week.sql",
        _cols(
            ("week_start", "DATE", "Monday of the week."),
            ("team", "VARCHAR", "Team, or 'unallocated'."),
            ("service_code", "VARCHAR", "AWS product code."),
            CURRENCY,
            ("cost", SUM2, "Allocated amortized cost (direct + shared) in the week; 0 if the series stopped."),
            ("previous_week_cost", SUM2, "The same in the week before; 0 if the series is new."),
            ("change", SUM2, "cost - previous_week_cost."),
            ("change_ratio", "DOUBLE", "change / previous_week_cost, a fraction; NULL when the previous week's cost is not positive."),
            ("rank", "BIGINT", "Rank of |change| within the week and currency, 1 = the largest move (ties share a rank)."),
            ("complete", "BOOLEAN", "Both weeks have cost on all seven days (false for the first week and a week in progress)."),
        ),
    ),
    TableDoc(
        "unallocated_cost_by_cause", "view",
        "Cost no team owns, per month, cause, service and account, with its share of the month's unallocated and "
        "total amortized cost. unallocated_drivers has the resources and tag values behind it.",
        "one row per month x currency x cause x service x account",
        ("billing_period", "currency", "cause", "service_code", "usage_account_id"),
        "sql/catalog_views/unallocated_cost_by_cause.sql",
        _cols(
            BILLING_PERIOD,
            CURRENCY,
            ("cause", "VARCHAR", "cost_allocation.allocation_reason: unknown_team_tag, no_owner, pool_no_recipients, pool_zero_driver."),
            ("cause_description", "VARCHAR", "The cause in words."),
            ("service_code", "VARCHAR", "AWS product code."),
            ("usage_account_id", "VARCHAR", "Linked account."),
            ("unallocated_amortized_cost", SUM2, "Unallocated amortized cost."),
            ("unallocated_unblended_cost", SUM2, "Unallocated unblended cost."),
            ("share_of_unallocated", "DOUBLE", "Fraction of the month's unallocated amortized cost."),
            ("share_of_month", "DOUBLE", "Fraction of the month's total amortized cost."),
        ),
    ),
)

TABLES: Mapping[str, TableDoc] = {d.name: d for d in _DOCS}


def get(name: str) -> TableDoc:
    """The documentation of a table or view, or a DictionaryError naming the documented ones."""
    try:
        return TABLES[name]
    except KeyError:
        raise DictionaryError(
            f"{name!r} is not in the data dictionary (transforms/dictionary.py); documented: {', '.join(sorted(TABLES))}"
        ) from None


def table_doc(name: str) -> tuple[str, list[tuple[str, str, str]]]:
    """``(description, [(column, type, description), ...])`` of a table or view, for Dagster.

    The description carries the grain and keys too, so the asset page answers "one row per what?".
    """
    doc = get(name)
    text = f"{doc.description}\n\nGrain: {doc.grain}. Keys: {', '.join(doc.keys)}."
    return text, [(c.name, c.type, c.description) for c in doc.columns]


def _normalize_type(type_text: str) -> str:
    return re.sub(r"\s+", " ", type_text.strip()).upper()


def check_relation(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """Differences between the documentation of ``name`` and the relation ``name`` on ``con``.

    One message per undocumented column, documented column that is absent, and type that differs;
    empty when they agree. The relation is read with DESCRIBE (no rows are scanned).
    """
    try:
        doc = get(name)
    except DictionaryError as exc:
        return [str(exc)]
    actual = {row[0]: row[1] for row in con.execute(f"DESCRIBE {quote_identifier(name)}").fetchall()}
    documented = {c.name: c.type for c in doc.columns}
    problems = [
        f"{name}.{col} ({typ}) has no description: add it to {name!r} in transforms/dictionary.py"
        for col, typ in actual.items() if col not in documented
    ]
    problems += [f"{name}.{col} is documented but the {doc.kind} has no such column" for col in documented if col not in actual]
    problems += [
        f"{name}.{col} is {actual[col]} but documented as {typ}"
        for col, typ in documented.items()
        if col in actual and _normalize_type(actual[col]) != _normalize_type(typ)
    ]
    return problems


# ----------------------------------------------------------------------------------- markdown


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    """The text of docs/data_dictionary.md."""
    out = [
        "# Data dictionary",
        "",
        "<!-- Generated by `python -m transforms.dictionary` from transforms/dictionary.py and transforms/schema.py: "
        "edit those, not this file. -->",
        "",
        "Every table of the lake and every analyst view of `<lake>/catalog.duckdb`. Tables live under "
        "`<lake>/<table>/billing_period=YYYY-MM/*.parquet` (Hive-partitioned: `billing_period` comes from the "
        "folder name); views exist only in the catalog. Money is DECIMAL: DECIMAL(18,10) on line items, cents "
        "(DECIMAL(18,2)) on curated tables, DECIMAL(38,2) for sums in views. Ratios are DOUBLE fractions "
        "(0.12 = 12 %). Amortized cost is the default basis (docs/unit_economics.md); see "
        "/work/shared/reference/FINOPS_DEFINITIONS.md for the cost bases.",
        "",
        "| name | kind | grain |",
        "|---|---|---|",
    ]
    out += [f"| [`{d.name}`](#{d.name}) | {d.kind} | {_cell(d.grain)} |" for d in _DOCS]
    for d in _DOCS:
        out += [
            "",
            f"## {d.name}",
            "",
            d.description,
            "",
            f"- **Kind**: {'lake table, partitioned by billing_period' if d.kind == 'table' else 'catalog view'}",
            f"- **Grain**: {d.grain}",
            f"- **Keys**: {', '.join(f'`{k}`' for k in d.keys)}",
            f"- **Defined in**: {', '.join(f'`{p.strip()}`' for p in d.defined_in.split(','))}",
            "",
            "| column | type | description |",
            "|---|---|---|",
        ]
        out += [f"| `{c.name}` | {_cell(c.type)} | {_cell(c.description)} |" for c in d.columns]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------- catalog views


@dataclass(frozen=True)
class CatalogView:
    name: str
    requires: tuple[str, ...]
    sql: str
    path: Path


def load_catalog_views(folder: Path = CATALOG_VIEWS_DIR) -> list[CatalogView]:
    """The views of ``folder`` (``<name>.sql`` each), ordered so a view comes after the views it reads."""
    views = {}
    for path in sorted(folder.glob("*.sql")):
        name = path.stem
        if not _VIEW_NAME.match(name):
            raise DictionaryError(f"{path}: view name {name!r} must be lowercase letters, digits and '_', starting with a letter")
        text = path.read_text(encoding="utf-8")
        found = _REQUIRES.search(text)
        if not found:
            raise DictionaryError(f"{path}: no '-- requires: <table>, ...' line naming the tables the view reads")
        requires = tuple(n.strip() for n in found.group("names").split(",") if n.strip())
        if not requires:
            raise DictionaryError(f"{path}: the '-- requires:' line names no table")
        if name in requires:
            raise DictionaryError(f"{path}: the view requires itself")
        body = text.strip().rstrip(";").strip()
        views[name] = CatalogView(name, requires, body, path)
    ordered: list[CatalogView] = []
    pending = dict(views)
    while pending:
        ready = [v for v in pending.values() if not any(r in pending for r in v.requires)]
        if not ready:
            raise DictionaryError(f"{folder}: views require each other in a cycle: {', '.join(sorted(pending))}")
        for v in ready:
            ordered.append(v)
            del pending[v.name]
    return ordered


def catalog_views(available: Iterable[str], folder: Path = CATALOG_VIEWS_DIR) -> dict[str, str]:
    """``build_catalog``'s ``extra_views``: name -> SELECT of every view whose inputs are available.

    ``available`` are the lake's tables (``lake.list_tables``). A view needing an absent table, or
    a view that was itself left out, is left out too: a lake without (say) ``cost_allocation`` yet
    still gets a catalog of the tables it has.
    """
    have = set(available)
    out: dict[str, str] = {}
    for view in load_catalog_views(folder):
        if all(r in have for r in view.requires):
            out[view.name] = view.sql
            have.add(view.name)
    return out


def build_analyst_catalog(lake: str) -> str:
    """``build_catalog`` of every lake table plus the analyst views their inputs allow; returns its path."""
    tables = list_tables(lake)
    return build_catalog(lake, tables, extra_views=catalog_views(tables))


def main(argv: list[str] | None = None) -> int:
    """``python -m transforms.dictionary [--check LAKE] [--out PATH]``: regenerate the markdown.

    With ``--check``, first compare the registry with the tables and views of the lake's catalog
    and refuse to write while any column is undocumented or mistyped.
    """
    p = argparse.ArgumentParser(prog="python -m transforms.dictionary", description=main.__doc__)
    p.add_argument("--check", metavar="LAKE", help="lake whose catalog must match the registry")
    p.add_argument("--out", default=str(DOCS_PATH), help=f"markdown file to write (default {DOCS_PATH})")
    args = p.parse_args(argv)
    if args.check:
        con = open_catalog(args.check)
        try:
            names = [r[0] for r in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database() ORDER BY 1").fetchall()]
            problems = [msg for name in names for msg in check_relation(con, name)]
        finally:
            con.close()
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return 1
    Path(args.out).write_text(render_markdown(), encoding="utf-8")
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
