"""Gather what a showback report shows, for one team and month, from the lake's tables.

The results are small aggregates (a month of days, a dozen services, a few pools): DuckDB scans
and sums the tables, Python receives tens of rows. ``cost_allocation`` is required; every other
input may be absent (a lake being built, a table not produced yet), and its section then says so
instead of failing the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb

from transforms import duck, lake as lake_io, periods
from transforms.report import queries

TREND_MONTHS = 12
MAX_RECOMMENDATIONS = 10


class ReportError(ValueError):
    """The report cannot be made: unknown team or month, missing cost_allocation, mixed currencies."""


Row = dict[str, Any]


@dataclass
class ShowbackData:
    """Everything a showback report for one team and month shows (amortized cost basis)."""

    team: str
    period: str
    previous: str
    currency: str
    products: list[str]
    cost_centers: list[str]
    last_day: date
    monthly: list[Row]
    daily: list[Row]
    services: list[Row]
    direct_by_method: list[Row]
    # None: the input table is absent from the lake.
    shared_sources: list[Row] | None
    unit_daily: list[Row] | None
    unit_monthly: list[Row] | None
    budget: list[Row] | None
    accuracy: list[Row] | None
    anomalies: list[Row] | None
    credit_components: list[Row] | None
    credit_weeks: list[Row] | None
    recommendations: list[Row] | None

    @property
    def direct(self) -> Decimal:
        return sum((r["direct"] for r in self.daily), Decimal(0))

    @property
    def shared(self) -> Decimal:
        return sum((r["shared"] for r in self.daily), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.direct + self.shared

    @property
    def previous_total(self) -> Decimal | None:
        """Allocated cost of the previous month; None when the lake has no cost for the team then."""
        for r in self.monthly:
            if r["billing_period"] == self.previous:
                return r["direct"] + r["shared"]
        return None

    @property
    def team_budget(self) -> Row | None:
        return next((r for r in self.budget or [] if r["scope"] == "team"), None)

    @property
    def credit(self) -> Row | None:
        """The month's composite score, previous and change (the same on every component row)."""
        return self.credit_components[0] if self.credit_components else None


previous_period = periods.previous_period


def open_lake(lake: str, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per lake table over its current, pinned files.

    Pinned files (``lake.read_partition_sql``) give one consistent version per partition while
    the pipeline publishes; unlike the catalog, this needs no catalog rebuild to see new tables.
    """
    con = duck.connect(memory_limit=memory_limit)
    try:
        for table in lake_io.list_tables(lake):
            con.execute(f"CREATE VIEW {lake_io.quote_identifier(table)} AS SELECT * FROM {lake_io.read_partition_sql(lake, table)}")
    except Exception:
        con.close()
        raise
    return con


def relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the tables and views the connection can read."""
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def _rows(con: duckdb.DuckDBPyConnection, sql: str, **params: Any) -> list[Row]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def available_months(con: duckdb.DuckDBPyConnection) -> list[str]:
    _require(con, "cost_allocation")
    return [r["billing_period"] for r in _rows(con, queries.MONTHS)]


def check_month(con: duckdb.DuckDBPyConnection, period: str) -> str:
    """``period`` if the lake has allocated cost for it, else a ReportError listing the months it has."""
    months = available_months(con)
    if periods.validate(period) not in months:
        raise ReportError(f"no allocated cost for billing period {period}; months in the lake: {', '.join(months) or 'none'}")
    return period


def teams(con: duckdb.DuckDBPyConnection, period: str) -> list[str]:
    """Teams with allocated cost in ``period`` (unallocated cost has no team to report to)."""
    _require(con, "cost_allocation")
    return [r["team"] for r in _rows(con, queries.TEAMS, period=periods.validate(period))]


def _require(con: duckdb.DuckDBPyConnection, table: str) -> None:
    if table not in relations(con):
        raise ReportError(f"the lake has no {table} table: materialize it before making reports")


def month_overview(con: duckdb.DuckDBPyConnection, period: str) -> list[Row]:
    """Every team's allocated cost of the month, with its budget, forecast and status where known."""
    period = periods.validate(period)
    _require(con, "cost_allocation")
    rows = _rows(con, queries.MONTH_COST, period=period)
    if "budget_variance" in relations(con):
        budgets = {r["team"]: r for r in _rows(con, queries.MONTH_BUDGETS, period=period)}
    else:
        budgets = {}
    for r in rows:
        b = budgets.get(r["team"], {})
        r.update(budget=b.get("budget"), forecast=b.get("forecast"), status=b.get("status"))
    return rows


def gather(con: duckdb.DuckDBPyConnection, team: str, period: str) -> ShowbackData:
    """The report data of ``team`` in ``period``; ReportError naming what is known if either is unknown."""
    period = check_month(con, period)
    known = teams(con, period)
    if team not in known:
        raise ReportError(f"team {team!r} has no allocated cost in {period}; teams with cost then: {', '.join(known)}")
    currencies = [r["currency"] for r in _rows(con, queries.CURRENCIES, period=period)]
    if len(currencies) != 1:
        raise ReportError(f"{period} is billed in {len(currencies)} currencies ({', '.join(currencies)}): "
                          "a showback report adds costs up and needs one")
    have = relations(con)
    previous, first = previous_period(period), previous_period(period, TREND_MONTHS - 1)
    scope = {"team": team, "period": period}

    def optional(table: str, sql: str, **params: Any) -> list[Row] | None:
        return _rows(con, sql, **params) if table in have else None

    owner = _rows(con, queries.OWNER, **scope)[0]
    return ShowbackData(
        team=team,
        period=period,
        previous=previous,
        currency=currencies[0],
        products=owner["products"],
        cost_centers=owner["cost_centers"],
        last_day=owner["last_day"],
        monthly=_rows(con, queries.MONTHLY, first=first, **scope),
        daily=_rows(con, queries.DAILY, **scope),
        services=_rows(con, queries.SERVICES, previous=previous, **scope),
        direct_by_method=_rows(con, queries.DIRECT_BY_METHOD, **scope),
        shared_sources=optional("shared_cost_split", queries.SHARED_SOURCES, **scope),
        unit_daily=optional("unit_economics", queries.UNIT_DAILY, **scope),
        unit_monthly=optional("unit_economics", queries.UNIT_MONTHLY, first=first, **scope),
        budget=optional("budget_variance", queries.BUDGET, **scope),
        accuracy=optional("forecast_accuracy", queries.ACCURACY, **scope),
        anomalies=optional("cost_anomalies", queries.ANOMALIES, **scope),
        credit_components=optional("credit_score", queries.CREDIT_COMPONENTS, **scope),
        credit_weeks=optional("credit_score", queries.CREDIT_WEEKS, **scope),
        recommendations=optional("recommendations", queries.RECOMMENDATIONS, limit=MAX_RECOMMENDATIONS, **scope),
    )
