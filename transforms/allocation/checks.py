"""Gates on the allocation tables: each returns a list of failure messages (empty = pass).

Blocking: conservation to the cent, every line item allocated exactly once, no owner outside the
configured set. Warning: coverage below the configured target. Each check queries DuckDB for small
aggregates (per day at most) and compares them here; the totals it compares against come from an
independent query over the line items, not from the allocation SQL.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb

from transforms import periods
from transforms.allocation import sqltext
from transforms.allocation.config import AllocationConfig
from transforms.allocation.lineitems import ALLOCATION_METHODS, allocate_line_items

COST_BASES: tuple[str, ...] = ("unblended", "amortized", "net_amortized")
MAX_MESSAGES = 20


def _truncate(messages: list[str]) -> list[str]:
    """At most MAX_MESSAGES failures, and a count of the rest, so a broken month does not flood the UI."""
    if len(messages) <= MAX_MESSAGES:
        return messages
    return messages[:MAX_MESSAGES] + [f"... and {len(messages) - MAX_MESSAGES} more"]


def check_conservation(
    con: duckdb.DuckDBPyConnection,
    cost_allocation: str | duckdb.DuckDBPyRelation,
    line_items: str = "cost_line_items",
    billing_period: str | None = None,
) -> list[str]:
    """Per day, currency and cost basis: direct + shared over all cost_allocation rows == round(line items, 2).

    ``billing_period`` defaults to the one cost_allocation holds (it must hold exactly one).
    """
    alloc = sqltext.source(con, cost_allocation)
    if billing_period is None:
        found = [r[0] for r in alloc.query("ca", "SELECT DISTINCT billing_period FROM ca").fetchall()]
        if len(found) != 1:
            return [f"cost_allocation must hold exactly one billing period to check conservation, found {sorted(found)}"]
        billing_period = found[0]
    billing_period = periods.validate(billing_period)
    allocated = {
        (day, currency): amounts
        for day, currency, *amounts in alloc.query(
            "ca",
            "SELECT usage_date, currency, "
            "sum(direct_unblended_cost + shared_unblended_cost), "
            "sum(direct_amortized_cost + shared_amortized_cost), "
            "sum(direct_net_amortized_cost + shared_net_amortized_cost) "
            "FROM ca GROUP BY ALL",
        ).fetchall()
    }
    expected = {
        (day, currency): amounts
        for day, currency, *amounts in con.execute(
            f"SELECT usage_date, currency, round(sum(unblended_cost), 2), round(sum(amortized_cost), 2), "
            f"round(sum(net_amortized_cost), 2) FROM {sqltext.quote_ident(line_items)} "
            "WHERE billing_period = $p GROUP BY ALL",
            {"p": billing_period},
        ).fetchall()
    }
    failures = []
    for key in sorted(set(allocated) | set(expected), key=lambda k: (k[0], k[1])):
        day, currency = key
        got = allocated.get(key, [Decimal(0)] * 3)
        want = expected.get(key, [Decimal(0)] * 3)
        for basis, g, w in zip(COST_BASES, got, want):
            if g != w:
                failures.append(
                    f"{billing_period} {day} {currency} {basis}: cost_allocation sums to {g}, "
                    f"cost_line_items to {w} (rounded to the cent); difference {g - w}"
                )
    return _truncate(failures)


def check_allocated_once(
    con: duckdb.DuckDBPyConnection,
    config: AllocationConfig,
    billing_period: str,
    line_items: str = "cost_line_items",
) -> list[str]:
    """Every line item allocated exactly once: same row count and exact cost sums as the line items,
    every row with a known allocation method, and a team exactly where the method gives one."""
    period = periods.validate(billing_period)
    allocated = allocate_line_items(con, config, line_items, billing_period=period)
    got = allocated.query(
        "a",
        "SELECT count(*), sum(unblended_cost), sum(amortized_cost), sum(net_amortized_cost), "
        "count(*) FILTER (WHERE allocation_method IS NULL OR allocation_method NOT IN "
        "('tag', 'account', 'rule', 'shared', 'unallocated')), "
        "count(*) FILTER (WHERE (team IS NULL) <> (allocation_method IN ('shared', 'unallocated'))), "
        "count(*) FILTER (WHERE (pool IS NULL) = (allocation_method = 'shared')) FROM a",
    ).fetchall()[0]
    want = con.execute(
        f"SELECT count(*), sum(unblended_cost), sum(amortized_cost), sum(net_amortized_cost) "
        f"FROM {sqltext.quote_ident(line_items)} WHERE billing_period = $p",
        {"p": period},
    ).fetchall()[0]
    failures = []
    if got[0] != want[0]:
        failures.append(f"{period}: {got[0]} allocated rows for {want[0]} line items in {line_items}")
    for name, g, w in zip(("unblended_cost", "amortized_cost", "net_amortized_cost"), got[1:4], want[1:4]):
        if g != w:
            failures.append(f"{period}: allocated {name} sums to {g}, {line_items} to {w}")
    if got[4]:
        failures.append(f"{period}: {got[4]} line items without an allocation method in {ALLOCATION_METHODS}")
    if got[5]:
        failures.append(f"{period}: {got[5]} line items whose team does not match their allocation method")
    if got[6]:
        failures.append(f"{period}: {got[6]} line items whose pool does not match their allocation method")
    return failures


def check_owners_configured(
    con: duckdb.DuckDBPyConnection, config: AllocationConfig, cost_allocation: str | duckdb.DuckDBPyRelation
) -> list[str]:
    """No owner outside the configured set: every team, product, environment and cost center of
    cost_allocation is configured, and a row has no team exactly when it is marked unallocated."""
    rows = sqltext.source(con, cost_allocation).query(
        "ca",
        "SELECT DISTINCT allocation_method, team, product, environment, cost_center FROM ca",
    ).fetchall()
    allowed = {dim.name: set(dim.values) for dim in config.dimensions}
    failures = []
    for method, *values in sorted(rows, key=lambda r: tuple("" if v is None else v for v in r)):
        row = dict(zip(("team", "product", "environment", "cost_center"), values))
        if method not in ALLOCATION_METHODS:
            failures.append(f"allocation_method {method!r} is not one of {ALLOCATION_METHODS}")
        if (row["team"] is None) != (method == "unallocated"):
            failures.append(f"team {row['team']!r} with allocation_method {method!r}: only unallocated rows have no team")
        for dim, value in row.items():
            if value is not None and value not in allowed[dim]:
                failures.append(f"{dim} {value!r} (allocation_method {method!r}) is not configured in {config.path}")
    return _truncate(failures)


def check_coverage(
    con: duckdb.DuckDBPyConnection,
    config: AllocationConfig,
    allocation_coverage: str | duckdb.DuckDBPyRelation,
    cost_basis: str = "amortized",
) -> list[str]:
    """Warnings: the month's overall coverage, and each day's, below ``config.coverage_target``."""
    if cost_basis not in COST_BASES:
        raise ValueError(f"cost_basis {cost_basis!r} is not one of {COST_BASES}")
    rows = sqltext.source(con, allocation_coverage).query(
        "c",
        "SELECT billing_period, period_grain, usage_date, coverage, unallocated_cost, total_cost, cost_basis FROM c "
        "WHERE scope = 'overall' ORDER BY billing_period, period_grain DESC, usage_date",
    ).fetchall()
    target = float(config.coverage_target)
    warnings = []
    for period, grain, day, coverage, unallocated, total, basis in rows:
        if basis != cost_basis or coverage is None or coverage >= target:
            continue
        when = period if grain == "month" else f"{period} {day}"
        warnings.append(
            f"{when}: allocation coverage {coverage:.1%} ({cost_basis}) is below the target {target:.0%} "
            f"of {config.path}: {unallocated} of {total} unallocated"
        )
    return _truncate(warnings)
