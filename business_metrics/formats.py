"""The two business-metrics file formats (docs/CONTRACTS.md): columns, DuckDB types, keys.

One definition serves the loader (parsing and typing), the validators (keys, non-negative
columns) and the README's column tables.
"""

from __future__ import annotations

from dataclasses import dataclass

REVENUE = "DECIMAL(18,4)"
BUDGET = "DECIMAL(18,2)"


@dataclass(frozen=True)
class Field:
    """A column of a business-metrics file.

    ``kind`` says how a text value is parsed: ``date`` (YYYY-MM-DD), ``period`` (YYYY-MM),
    ``integer`` (no fractional part), ``decimal`` (at most the type's scale of decimals), ``text``.
    ``required`` columns may not be empty; ``non_negative`` ones may not be below zero.
    """

    name: str
    type: str
    kind: str
    description: str
    required: bool = True
    non_negative: bool = False


METRICS_DAILY: tuple[Field, ...] = (
    Field("date", "DATE", "date", "Day (UTC), YYYY-MM-DD."),
    Field("team", "VARCHAR", "text", "Team name, one of the known teams (transforms/generate/org.py TEAM_NAMES)."),
    Field("product", "VARCHAR", "text", "Product name, one of the known products."),
    Field("revenue", REVENUE, "decimal", "Revenue attributed to the team and product that day, at most 4 decimals.", False, True),
    Field("orders", "BIGINT", "integer", "Orders that day.", False, True),
    Field("active_users", "BIGINT", "integer", "Daily active users.", False, True),
    Field("requests", "BIGINT", "integer", "API requests served (a usage driver for shared-cost splits).", False, True),
    Field("currency", "VARCHAR", "text", "ISO 4217 code of revenue, e.g. USD; must be the billing currency."),
)
METRICS_DAILY_KEY: tuple[str, ...] = ("date", "team", "product")

BUDGETS: tuple[Field, ...] = (
    Field("billing_period", "VARCHAR", "period", "Month, YYYY-MM."),
    Field("team", "VARCHAR", "text", "Team name, one of the known teams."),
    Field("service_code", "VARCHAR", "text", "Empty for a whole-team budget, else an AWS product code (AmazonEC2).", False),
    Field("budget", BUDGET, "decimal", "Budget amount on the amortized cost basis, at most 2 decimals.", True, True),
    Field("currency", "VARCHAR", "text", "ISO 4217 code of budget; must be the billing currency."),
)
BUDGETS_KEY: tuple[str, ...] = ("billing_period", "team", "service_code")
